#!/usr/bin/env python3
"""How much of what the installed BEAM exports the KG built from source finds.

Builds (or reads, with ``--store``) one store holding two views of Elixir 1.14.0:

* the KG extracted from the Elixir source tree (Debian source package ``elixir-lang``,
  ``kg build SRC --graph elixir-src@1.14.0``; a graph name of its own, because ``kg stdlib``
  owns the ``elixir@1.14.0`` graph name);
* the stdlib graphs introspected from the installed BEAM (``kg stdlib``), one per app.

and compares, per app (elixir, eex, ex_unit, iex, logger, mix):

* public functions and macros, keyed (module, name, arity): what the BEAM exports, how many the
  source KG has with the right arity, the misses and the extras;
* callbacks (``otp:Callback``, keyed (behaviour, name, arity)) the same way.

Which source files count for an app: only those under ``lib/<app>/lib/`` (tests, scripts and
other apps' files are not in the app's BEAM files), and for ``elixir`` also
``lib/elixir/unicode/*.ex``: the Makefile compiles unicode.ex, security.ex and tokenizer.ex
into ``lib/elixir/ebin`` (String.Unicode, String.Break, String.Tokenizer...: written modules,
whose functions read the Unicode data files at compile time). BEAM side: the functions every module gets
from the compiler, not from anything written or from a generator macro, are left out:
``module_info/0,1``, ``__info__/1`` and ``behaviour_info/1``. Functions made by the standard
generators (``defstruct``'s ``__struct__/0,1``, ``defexception``'s ``exception/1`` and
``message/1``, ``defprotocol``/``defimpl``'s ``__protocol__/1``, ``impl_for/1``,
``impl_for!/1``, ``__impl__/1``, ``use GenServer``'s ``child_spec/1`` ...) do count: the KG
marks them ``ec:generated``.

Every miss is given a reason class (``erlang-source``: an Erlang module of ``lib/<app>/src``;
``module-outside-lib``: the module is defined in a file outside ``lib/<app>/lib``;
``derived-impl``: ``Proto.Type`` made by ``@derive`` /
``Protocol.derive``; ``no-module``: no source file defines the module; ``dynamic-def``: the module has ``def
unquote(name)`` heads, functions defined in loops; ``custom-macro``: a macro of another module
of the same file defines them (``def unquote(name)`` in its quote); ``wrong-arity``,
``private-in-source``, ``unexplained``) with counts and examples.

    .venv/bin/python benchmarks/kg_vs_beam.py [SRC] [--store DIR] [--json] [--show N]

This is a measurement, never run as a test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pyoxigraph import Store  # noqa: E402

from ontologies import beam_graph_iri, graph_iri, sparql_prefixes  # noqa: E402

DEFAULT_SRC = Path("/root/.cache/elixir-coder/debian/elixir-lang/elixir-lang-1.14.0.dfsg")
APPS = ("elixir", "eex", "ex_unit", "iex", "logger", "mix")
VERSION = "1.14.0"
SOURCE_GRAPH = f"elixir-src@{VERSION}"
#: Added to every module by the compiler itself, whatever the source says.
COMPILER_ONLY = {("module_info", 0), ("module_info", 1), ("__info__", 1), ("behaviour_info", 1)}
CLI = [sys.executable, "-m", "elixir_coder.cli"]


def _cli(*args: str) -> None:
    exe = REPO / ".venv" / "bin" / "elixir-coder"
    cmd = [str(exe), *args] if exe.exists() else [*CLI, *args]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")


def build_store(src: Path, store: Path, apps: tuple[str, ...]) -> dict:
    """Both graphs into ``store``; returns the seconds each build took."""
    t0 = time.perf_counter()
    _cli("kg", "build", str(src), "--store", str(store), "--graph", SOURCE_GRAPH)
    t1 = time.perf_counter()
    _cli("kg", "stdlib", "--store", str(store), "--apps", *apps)
    t2 = time.perf_counter()
    return {"source_build_s": round(t1 - t0, 1), "stdlib_build_s": round(t2 - t1, 1)}


def _v(term):
    return None if term is None else term.value


def beam_side(store: Store, app: str) -> tuple[dict, set, list]:
    """(functions {(module, name, arity): kind}, callbacks {(module, name, arity)},
    compiler-only functions left out)."""
    g = beam_graph_iri(app, VERSION).value
    q = sparql_prefixes()
    funcs, skipped = {}, []
    for s in store.query(q + f"""SELECT ?mn ?n ?a ?k WHERE {{ GRAPH <{g}> {{
            ?f a ec:Function ; ec:name ?n ; ec:arity ?a ; ec:kind ?k ; ec:inModule/ec:name ?mn }} }}"""):
        key = (s["mn"].value, s["n"].value, int(s["a"].value))
        if key[1:] in COMPILER_ONLY:
            skipped.append(key)
        else:
            funcs[key] = s["k"].value
    cbs = {(s["mn"].value, s["n"].value, int(s["a"].value)) for s in store.query(q + f"""
        SELECT ?mn ?n ?a WHERE {{ GRAPH <{g}> {{
            ?c a otp:Callback ; ec:name ?n ; ec:arity ?a ; otp:callbackOf/ec:name ?mn }} }}""")}
    return funcs, cbs, skipped


class SourceSide:
    """Everything the source graph says, indexed for the comparison."""

    def __init__(self, store: Store):
        g = graph_iri(*SOURCE_GRAPH.split("@")).value
        q = sparql_prefixes()
        # module -> the files that define it (a module may be defined in several, e.g. per OS)
        self.module_files: dict[str, set[str]] = defaultdict(set)
        for s in store.query(q + f"""SELECT ?mn ?p WHERE {{ GRAPH <{g}> {{
                ?m a ec:Module ; ec:name ?mn ; ec:inFile/ec:relativePath ?p }} }}"""):
            self.module_files[s["mn"].value].add(s["p"].value)
        # (module, name, arity) -> [(visibility, kind, generated, generator, file)]
        self.funcs: dict[tuple, list] = defaultdict(list)
        for s in store.query(q + f"""SELECT ?mn ?n ?a ?vis ?k ?gen ?gtor ?p WHERE {{ GRAPH <{g}> {{
                ?f a ec:Function ; ec:name ?n ; ec:arity ?a ; ec:kind ?k ; ec:visibility ?vis ;
                   ec:inModule ?m . ?m ec:name ?mn ; ec:inFile/ec:relativePath ?p .
                OPTIONAL {{ ?f ec:generated ?gen }} OPTIONAL {{ ?f ec:generator ?gtor }} }} }}"""):
            key = (s["mn"].value, s["n"].value, int(s["a"].value))
            self.funcs[key].append((s["vis"].value, s["k"].value, _v(s["gen"]) == "true",
                                    _v(s["gtor"]), s["p"].value))
        self.by_name: dict[tuple, set[int]] = defaultdict(set)
        for m, n, a in self.funcs:
            self.by_name[(m, n)].add(a)
        self.callbacks: dict[tuple, set[str]] = defaultdict(set)
        for s in store.query(q + f"""SELECT ?mn ?n ?a ?p WHERE {{ GRAPH <{g}> {{
                ?c a otp:Callback ; ec:name ?n ; ec:arity ?a ; otp:callbackOf ?m .
                ?m ec:name ?mn ; ec:inFile/ec:relativePath ?p }} }}"""):
            self.callbacks[(s["mn"].value, s["n"].value, int(s["a"].value))].add(s["p"].value)
        # modules with `def unquote(name)(...)` heads: functions a macro defines in a loop
        self.dynamic: dict[str, list[str]] = defaultdict(list)
        for s in store.query(q + f"""SELECT ?mn ?d WHERE {{ GRAPH <{g}> {{
                ?x ec:dynamicName ?d ; ec:inModule/ec:name ?mn }} }}"""):
            self.dynamic[s["mn"].value].append(s["d"].value)


#: Source folders compiled into each app's ebin besides ``lib/<app>/lib/`` (the Makefile's
#: ``unicode`` target).
EXTRA_APP_DIRS = {"elixir": ("lib/elixir/unicode/",)}


def in_app(path: str, app: str) -> bool:
    return path.startswith(f"lib/{app}/lib/") or path.startswith(EXTRA_APP_DIRS.get(app, ("\0",)))


def classify(key: tuple, app: str, src: SourceSide) -> str:
    """Why the source KG of ``app`` lacks the BEAM's public function ``key``."""
    module, name, arity = key
    if module.startswith(":"):
        return "erlang-source"
    files = src.module_files.get(module)
    if not files:
        # Proto.Type where both exist in source: an implementation derived at compile time
        # (`@derive {Inspect, ...}`, `Protocol.derive/3`), which no literal form names
        parts = module.split(".")
        for i in range(1, len(parts)):
            proto, typ = ".".join(parts[:i]), ".".join(parts[i:])
            if proto in src.module_files and typ in src.module_files:
                return "derived-impl"
        return "no-module"
    if not any(in_app(p, app) for p in files):
        return "module-outside-lib"
    if src.dynamic.get(module):
        return "dynamic-def"
    # a macro of another module of the same file defines it (IO.ANSI's defsequence)
    if any(src.dynamic.get(m) and src.module_files[m] & files for m in src.dynamic):
        return "custom-macro"
    rows = [r for r in src.funcs.get(key, ()) if in_app(r[4], app)]
    if rows and all(r[0] == "private" for r in rows):
        return "private-in-source"
    if src.by_name.get((module, name)):
        return "wrong-arity"
    return "unexplained"


def compare_app(store: Store, app: str, src: SourceSide) -> dict:
    beam, beam_cbs, skipped = beam_side(store, app)
    ours = {k for k, rows in src.funcs.items()
            if any(r[0] == "public" and in_app(r[4], app) for r in rows)}
    found = set(beam) & ours
    missing = sorted(set(beam) - ours)
    extra = sorted(k for k in ours - set(beam)
                   if not k[0].startswith(":"))  # an Elixir app's modules only
    # only count extras of modules the BEAM has: a module the app does not ship (a test
    # support module under lib/, a module compiled only on another OS) is listed apart
    beam_modules = {k[0] for k in beam}
    extra_mod = [k for k in extra if k[0] in beam_modules]
    extra_other = [k for k in extra if k[0] not in beam_modules]
    generated_found = sum(1 for k in found if any(r[2] for r in src.funcs[k]))
    ours_cbs = {k for k, files in src.callbacks.items() if any(in_app(p, app) for p in files)}
    cb_found = beam_cbs & ours_cbs
    reasons: dict[str, list] = defaultdict(list)
    for k in missing:
        reasons[classify(k, app, src)].append(k)
    kind_mismatch = []
    for k in found:
        want = "defmacro" if beam[k] == "defmacro" else "def"
        kinds = {r[1] for r in src.funcs[k] if r[0] == "public" and in_app(r[4], app)}
        have = {"defmacro" if kd in ("defmacro", "defguard") else "def" for kd in kinds}
        if want not in have:
            kind_mismatch.append((*k, beam[k], ",".join(sorted(kinds))))
    return {
        "app": app,
        "beam_functions": len(beam), "found": len(found), "missing": len(missing),
        "share_pct": round(100.0 * len(found) / len(beam), 3) if beam else 100.0,
        "found_generated": generated_found,
        "extra": len(extra_mod), "extra_in_modules_not_shipped": len(extra_other),
        "beam_elixir_functions": sum(1 for k in beam if not k[0].startswith(":")),
        "found_elixir": sum(1 for k in found if not k[0].startswith(":")),
        "compiler_only_excluded": len(skipped),
        "beam_callbacks": len(beam_cbs), "callbacks_found": len(cb_found),
        "callbacks_missing": sorted(beam_cbs - ours_cbs),
        "callbacks_extra": sorted(ours_cbs - beam_cbs),
        "callbacks_share_pct": round(100.0 * len(cb_found) / len(beam_cbs), 3) if beam_cbs else 100.0,
        "misses": {r: ks for r, ks in sorted(reasons.items())},
        "extras": extra_mod, "extras_not_shipped": extra_other,
        "kind_mismatch": sorted(kind_mismatch),
    }


def measure(store_dir: Path, apps: tuple[str, ...]) -> dict:
    store = Store(str(store_dir))
    src = SourceSide(store)
    if not src.module_files:
        raise SystemExit(f"the store has no graph {SOURCE_GRAPH} (build it with kg build --graph {SOURCE_GRAPH})")
    per_app = [compare_app(store, app, src) for app in apps]
    tot = Counter()
    for r in per_app:
        for k in ("beam_functions", "found", "missing", "extra", "beam_callbacks", "callbacks_found",
                  "beam_elixir_functions", "found_elixir", "found_generated"):
            tot[k] += r[k]
    reasons = Counter()
    for r in per_app:
        for why, ks in r["misses"].items():
            reasons[why] += len(ks)
    return {
        "apps": per_app,
        "total": {**tot,
                  "share_pct": round(100.0 * tot["found"] / tot["beam_functions"], 3),
                  "elixir_share_pct": round(100.0 * tot["found_elixir"] / tot["beam_elixir_functions"], 3),
                  "callbacks_share_pct": round(100.0 * tot["callbacks_found"] / tot["beam_callbacks"], 3)},
        "miss_reasons": dict(reasons.most_common()),
        "excluded_from_beam": sorted(f"{n}/{a}" for n, a in COMPILER_ONLY),
    }


def render(r: dict, show: int) -> str:
    out = ["BEAM public functions and macros (module, name, arity) found in the KG built from source",
           f"(left out on the BEAM side, added by the compiler to every module: "
           f"{', '.join(r['excluded_from_beam'])})", ""]
    hdr = f"{'app':<9}{'beam':>7}{'found':>7}{'missing':>9}{'extra':>7}{'share':>9}" \
          f"{'  elixir-only share':>20}{'generated':>11}"
    out.append(hdr)

    def share(a, b):
        return 100.0 * a / b if b else 100.0

    for a in r["apps"] + [dict(r["total"], app="total")]:
        out.append(f"{a['app']:<9}{a['beam_functions']:>7}{a['found']:>7}{a['missing']:>9}{a['extra']:>7}"
                   f"{share(a['found'], a['beam_functions']):>8.2f}%"
                   f"{share(a['found_elixir'], a['beam_elixir_functions']):>19.2f}%{a['found_generated']:>11}")
    out += ["", "callbacks (behaviour, name, arity)", f"{'app':<9}{'beam':>7}{'found':>7}{'missing':>9}{'extra':>7}{'share':>9}"]
    for a in r["apps"]:
        out.append(f"{a['app']:<9}{a['beam_callbacks']:>7}{a['callbacks_found']:>7}"
                   f"{len(a['callbacks_missing']):>9}{len(a['callbacks_extra']):>7}{a['callbacks_share_pct']:>8.2f}%")
    t = r["total"]
    out.append(f"{'total':<9}{t['beam_callbacks']:>7}{t['callbacks_found']:>7}"
               f"{t['beam_callbacks'] - t['callbacks_found']:>9}{'':>7}{t['callbacks_share_pct']:>8.2f}%")
    out += ["", "misses by reason:"]
    for why, n in r["miss_reasons"].items():
        ex = [f"{m}.{f}/{a}" for app in r["apps"] for m, f, a in app["misses"].get(why, [])][:show]
        out.append(f"  {why:<20}{n:>6}   e.g. {', '.join(ex)}")
    for a in r["apps"]:
        for m in a["callbacks_missing"][:show]:
            out.append(f"  callback missing ({a['app']}): {m[0]}.{m[1]}/{m[2]}")
    extras = [(a["app"], k) for a in r["apps"] for k in a["extras"]]
    if extras:
        out += ["", f"extras (public in source, not exported by the BEAM): {len(extras)}"]
        for app, k in extras[:show]:
            out.append(f"  {app}: {k[0]}.{k[1]}/{k[2]}")
    km = [(a["app"], k) for a in r["apps"] for k in a["kind_mismatch"]]
    if km:
        out += ["", f"found with another kind (BEAM says macro, source def, or the reverse): {len(km)}"]
        for app, k in km[:show]:
            out.append(f"  {app}: {k[0]}.{k[1]}/{k[2]} beam {k[3]} source {k[4]}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Compare the public functions, macros and callbacks the KG finds in the Elixir "
                    "1.14 source with those the installed BEAM exports, per app, and list every miss "
                    "with its reason.")
    ap.add_argument("source", nargs="?", type=Path, default=DEFAULT_SRC,
                    help=f"the Elixir source tree (default: {DEFAULT_SRC})")
    ap.add_argument("--store", type=Path, metavar="DIR",
                    help=f"use this store (built with kg build SRC --graph {SOURCE_GRAPH} and kg stdlib) "
                         "instead of building both into a temporary one")
    ap.add_argument("--apps", nargs="+", default=list(APPS), help=f"apps to compare (default: {' '.join(APPS)})")
    ap.add_argument("--json", action="store_true", help="print the full result as JSON")
    ap.add_argument("--show", type=int, default=8, metavar="N", help="examples per list (default 8)")
    args = ap.parse_args(argv)
    apps = tuple(a for v in args.apps for a in v.split(",") if a)
    timings = {}
    if args.store is not None:
        if not args.store.is_dir():
            ap.error(f"{args.store} is not a store directory")
        result = measure(args.store, apps)
    else:
        if not args.source.is_dir():
            ap.error(f"{args.source} is not a directory (apt-get source elixir-lang, or give SRC)")
        with tempfile.TemporaryDirectory(prefix="kg-vs-beam-") as tmp:
            timings = build_store(args.source.resolve(), Path(tmp) / "store", apps)
            result = measure(Path(tmp) / "store", apps)
    result.update(timings)
    if args.json:
        json.dump(result, sys.stdout, indent=1)
        print()
    else:
        print(render(result, args.show))
    return 0


if __name__ == "__main__":
    sys.exit(main())
