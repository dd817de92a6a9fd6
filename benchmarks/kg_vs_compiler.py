#!/usr/bin/env python3
"""How closely the extractor (kg/extract.py) agrees with the real Elixir compiler.

Runs ``tests/kg/oracle.exs`` once (one BEAM, ``Code.string_to_quoted`` on every file, walking
the AST the way Kernel/Protocol define modules and functions) and the tree-sitter extractor
over the same files, then compares:

* modules: (file, full name)
* def heads: (file, module, name, arity, kind), one per arity a head with defaults generates

and prints counts, agreement (agreed / union, so that misses and extras both cost) and the
first differences. The extractor's facts are read back with SPARQL from a pyoxigraph store,
the way a user sees them (a function's file is ``ec:hasSpan/ec:inFile``). Files the real parser
rejects are left out of the comparison; modules made at run time (``defmodule name`` with a
variable, ``Module.create/3``) are counted as "dynamic", never compared. Both sides unroll
compile-time ``for`` loops over literal lists and attributes (``for level <- @levels do def
unquote(level)(msg)``): those defs are written ones and compared. Functions the extractor marks
``ec:generated`` (defstruct, ``use GenServer``, same-file macros such as IO.ANSI's
``defsequence``) and the modules ``@derive`` / ``Protocol.derive`` make are not written by
the source: left out of the comparison and counted apart. It also reports the
extractor's speed (extraction only, one process, no store), in source lines per second of
wall time and of CPU time (the one to compare across runs when the machine is shared).

    .venv/bin/python benchmarks/kg_vs_compiler.py [SRC] [--json] [--show N]

SRC defaults to the Elixir 1.14 source tree unpacked by ``apt-get source elixir-lang``.
This is a measurement, never run as a test.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pyoxigraph import RdfFormat, Store  # noqa: E402

from kg.extract import FileContext, extract_source  # noqa: E402
from ontologies import sparql_prefixes  # noqa: E402

DEFAULT_SRC = Path("/root/.cache/elixir-coder/debian/elixir-lang/elixir-lang-1.14.0.dfsg")
ORACLE = REPO / "tests" / "kg" / "oracle.exs"


@dataclass
class Side:
    modules: set = field(default_factory=set)  # (file, module)
    defs: set = field(default_factory=set)  # (file, module, name, arity, kind)
    derived: set = field(default_factory=set)  # (file, module) made by @derive: not compared
    generated: int = 0  # ec:generated functions: not compared


@dataclass
class OracleRun(Side):
    errors: set = field(default_factory=set)  # files the real parser rejects
    dynamic: list = field(default_factory=list)  # (file, line, what)


def source_files(root: Path) -> list[str]:
    """Relative POSIX paths of every .ex/.exs file under root, sorted."""
    return sorted(p.relative_to(root).as_posix() for ext in ("*.ex", "*.exs") for p in root.rglob(ext)
                  if p.is_file())


def run_oracle(root: Path, files: list[str], elixir: str) -> OracleRun:
    # File names go through stdin: a big tree's paths would not fit on a command line.
    proc = subprocess.run([elixir, str(ORACLE), "-"], input="\n".join(files) + "\n", cwd=root,
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"the oracle failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    run = OracleRun()
    for line in proc.stdout.splitlines():
        kind, file, *rest = line.split("\t")
        if kind == "module":
            run.modules.add((file, rest[0]))
        elif kind == "def":
            run.defs.add((file, rest[0], rest[1], int(rest[2]), rest[3]))
        elif kind == "error":
            run.errors.add(file)
        elif kind == "dynamic":
            run.dynamic.append((file, int(rest[0] or 0), rest[1]))
    return run


def run_extractor(root: Path, files: list[str]) -> tuple[Side, float, float, int]:
    """(facts read back with SPARQL, wall and CPU seconds spent in extract_source, lines)."""
    store = Store()
    wall = cpu = 0.0
    lines = 0
    for rel in files:
        src = (root / rel).read_bytes()
        t0, c0 = time.perf_counter(), time.process_time()
        facts = extract_source(src, FileContext("bench", "0", rel))
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        lines += facts.line_count
        store.load(facts.ntriples(), format=RdfFormat.N_TRIPLES)
    side = Side()
    q = sparql_prefixes()
    side.modules = {(s["p"].value, s["n"].value) for s in store.query(q + """
        SELECT ?p ?n WHERE { ?m a ec:Module ; ec:name ?n ; ec:inFile ?f . ?f ec:relativePath ?p
          # a module @derive / Protocol.derive makes is written nowhere: not the oracle's
          FILTER NOT EXISTS { ?g ec:inModule ?m ; ec:name "__impl__" ; ec:generator ?how .
                              FILTER (?how IN ("@derive", "Protocol.derive")) } }""")}
    side.derived = {(s["p"].value, s["n"].value) for s in store.query(q + """
        SELECT ?p ?n WHERE { ?m a ec:Module ; ec:name ?n ; ec:inFile/ec:relativePath ?p .
          ?g ec:inModule ?m ; ec:name "__impl__" ; ec:generator ?how .
          FILTER (?how IN ("@derive", "Protocol.derive")) }""")}
    side.generated = int(next(iter(store.query(q + """
        SELECT (COUNT(*) AS ?n) WHERE { ?fn a ec:Function ; ec:generated true }""")))["n"].value)
    side.defs = {(s["p"].value, s["mn"].value, s["n"].value, int(s["a"].value), s["k"].value)
                 for s in store.query(q + """
        SELECT ?p ?mn ?n ?a ?k WHERE {
          ?fn a ec:Function ; ec:name ?n ; ec:arity ?a ; ec:kind ?k ; ec:inModule ?m .
          ?m ec:name ?mn .
          ?fn ec:hasSpan/ec:inFile/ec:relativePath ?p
          # the oracle lists the def heads written; generated functions have none
          FILTER NOT EXISTS { ?fn ec:generated true } }""")}
    return side, wall, cpu, lines


def compare(oracle: set, ours: set) -> dict:
    agreed = oracle & ours
    union = oracle | ours
    return {
        "oracle": len(oracle), "extractor": len(ours), "agreed": len(agreed),
        "missing": sorted(oracle - ours), "extra": sorted(ours - oracle),
        "agreement_pct": round(100.0 * len(agreed) / len(union), 3) if union else 100.0,
    }


def measure(root: Path, elixir: str) -> dict:
    files = source_files(root)
    if not files:
        raise SystemExit(f"no .ex/.exs files under {root}")
    t0 = time.perf_counter()
    oracle = run_oracle(root, files, elixir)
    oracle_s = time.perf_counter() - t0
    ours, extract_s, extract_cpu, lines = run_extractor(root, files)
    # Files Elixir cannot parse have no compiler truth: leave them out on both sides.
    keep = lambda rows: {r for r in rows if r[0] not in oracle.errors}  # noqa: E731
    return {
        "source": str(root), "files": len(files), "lines": lines,
        "files_rejected_by_elixir": sorted(oracle.errors),
        "dynamic_modules": [list(d) for d in oracle.dynamic],
        "modules": compare(keep(oracle.modules), keep(ours.modules)),
        "defs": compare(keep(oracle.defs), keep(ours.defs)),
        "not_compared": {"generated_functions": ours.generated,
                         "derived_modules": sorted(keep(ours.derived))},
        "oracle_seconds": round(oracle_s, 2),
        "extract_seconds": round(extract_s, 3),
        "extract_lines_per_s": round(lines / extract_s) if extract_s else None,
        # CPU time: the figure to compare across runs on a shared, busy machine
        "extract_cpu_seconds": round(extract_cpu, 3),
        "extract_lines_per_cpu_s": round(lines / extract_cpu) if extract_cpu else None,
    }


def render(r: dict, show: int) -> str:
    out = [f"source: {r['source']}",
           f"files: {r['files']}  lines: {r['lines']}  rejected by Elixir's parser: "
           f"{len(r['files_rejected_by_elixir'])}  dynamic modules (not compared): {len(r['dynamic_modules'])}",
           "",
           f"{'':<10}{'oracle':>9}{'extractor':>11}{'agreed':>9}{'missing':>9}{'extra':>7}{'agreement':>11}"]
    for key, label in (("modules", "modules"), ("defs", "def heads")):
        c = r[key]
        out.append(f"{label:<10}{c['oracle']:>9}{c['extractor']:>11}{c['agreed']:>9}"
                   f"{len(c['missing']):>9}{len(c['extra']):>7}{c['agreement_pct']:>10.2f}%")
    out.append(f"not compared (the source writes no def for them): {r['not_compared']['generated_functions']} "
               f"ec:generated functions, {len(r['not_compared']['derived_modules'])} modules made by "
               "@derive / Protocol.derive")
    out.append("")
    out.append(f"extraction (one process, no store): {r['extract_seconds']:.2f} s wall, "
               f"{r['extract_lines_per_s']:,} lines/s; {r['extract_cpu_seconds']:.2f} s CPU, "
               f"{r['extract_lines_per_cpu_s']:,} lines/CPU-s")
    out.append(f"oracle (one BEAM, parse and walk only): {r['oracle_seconds']:.1f} s")
    diffs = [("module missing", d) for d in r["modules"]["missing"]] + \
            [("module extra", d) for d in r["modules"]["extra"]] + \
            [("def missing", d) for d in r["defs"]["missing"]] + \
            [("def extra", d) for d in r["defs"]["extra"]]
    if diffs and show:
        out.append("")
        out.append(f"first {min(show, len(diffs))} of {len(diffs)} differences "
                   "(missing: Elixir defines it, the extractor does not; extra: the reverse):")
        for what, d in diffs[:show]:
            out.append(f"  {what:<15} {d[0]}  " + "  ".join(map(str, d[1:])))
    if r["dynamic_modules"] and show:
        out.append("")
        out.append("dynamic modules (named at run time, not compared):")
        for f, line, what in r["dynamic_modules"][:show]:
            out.append(f"  {f}:{line}  {what}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Compare the modules and def heads the extractor finds with those the real "
                    "Elixir compiler would define (tests/kg/oracle.exs), over a source tree.")
    ap.add_argument("source", nargs="?", type=Path, default=DEFAULT_SRC,
                    help=f"directory of .ex/.exs files (default: {DEFAULT_SRC})")
    ap.add_argument("--json", action="store_true", help="print the full result as JSON")
    ap.add_argument("--show", type=int, default=20, metavar="N",
                    help="how many differences to list in the table (default 20)")
    ap.add_argument("--elixir", default=shutil.which("elixir"), help="the elixir executable")
    args = ap.parse_args(argv)
    if not args.source.is_dir():
        ap.error(f"{args.source} is not a directory")
    if not args.elixir:
        ap.error("elixir is not installed (apt-get install elixir) and --elixir was not given")
    result = measure(args.source.resolve(), args.elixir)
    if args.json:
        json.dump(result, sys.stdout, indent=1, default=list)
        print()
    else:
        print(render(result, args.show))
    return 0


if __name__ == "__main__":
    sys.exit(main())
