"""The corpus build: sources -> records -> quality filter -> dedup -> pairs -> splits -> files.

Owns the order of the stages, the counts reported after each, and the output directory
(contract 1): ``files/<split>-NNNNN.jsonl``, ``pairs/<split>-NNNNN.jsonl``, ``manifest.json``,
``stats.json`` (the statistics report) and ``removed.jsonl`` (every file that went, and why).
Everything is written under ``out``; the work directory (Hex extraction, the temporary KG)
is ``out/.work`` and is removed at the end. A bad source is reported and the others go on.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from model.corpus import dedup as D
from model.corpus import pairs as P
from model.corpus import quality as Q
from model.corpus import records as R
from model.corpus import sources as S
from model.corpus import splits as SP

FORMAT = 1


@dataclass
class BuildConfig:
    quality: Q.QualityConfig = field(default_factory=Q.QualityConfig)
    dedup: D.DedupConfig = field(default_factory=D.DedupConfig)
    fractions: dict = field(default_factory=lambda: dict(SP.DEFAULT_FRACTIONS))
    pairs: bool = True
    beam_apps: tuple[str, ...] = S.BEAM_APPS


class Reporter:
    """Progress callbacks; the CLI passes a rich-backed one, tests and the API a silent one."""

    def stage(self, name: str, total: int | None = None) -> None: ...
    def advance(self, done: int, total: int | None = None, label: str = "") -> None: ...
    def warn(self, message: str) -> None: ...
    def done(self) -> None: ...


class BuildError(RuntimeError):
    """Nothing could be built (no source usable); the message says why."""


def _parse_all(records: list[dict], reporter: Reporter) -> str | None:
    """Parse every record with the real Elixir; a message when the parser is not available
    (records then keep ``parses: null`` and the parse filter lets them through)."""
    from kg.sidecar import SidecarError, shared

    reporter.stage("parse check (real Elixir)", len(records))
    try:
        sidecar = shared()
        sidecar.ping()
    except (SidecarError, OSError) as e:
        return f"parse check skipped: the Elixir sidecar is not available ({e})"
    for i, rec in enumerate(records):
        if rec["parses"] is None and rec["path"].endswith(S.EXTENSIONS):
            try:
                res = sidecar.parse(rec["text"], file=rec["path"])
            except SidecarError as e:  # one file that stalls the parser: unknown, not fatal
                rec["parse_error"] = str(e)
                continue
            rec["parses"] = bool(res.ok)
            if not res.ok:
                rec["parse_error"] = f"line {res.line}: {res.message}".strip()
        reporter.advance(i + 1, len(records))
    return None


def build(srcs: list[str], out: str | Path, *, debian: list[str] = (), beam_docs: bool = False,
          config: BuildConfig | None = None, reporter: Reporter | None = None) -> dict:
    """Build the corpus at ``out`` from ``srcs`` (directories or Hex .tar files), Debian
    source packages and (``beam_docs``) the installed BEAM's docs; the statistics report."""
    cfg = config or BuildConfig()
    rep = reporter or Reporter()
    t0 = time.monotonic()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BuildError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not (out / "manifest.json").is_file():
        raise BuildError(f"{out}: not empty and not a corpus directory; refusing to write into it")
    if not srcs and not debian and not beam_docs:
        raise BuildError("nothing to build: give SRC directories or Hex tarballs, --debian PKG or --beam-docs")
    out.mkdir(parents=True, exist_ok=True)
    work = out / ".work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        return _build(srcs, out, work, debian, beam_docs, cfg, rep, t0)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        rep.done()


def _build(srcs, out, work, debian, beam_docs, cfg, rep, t0) -> dict:
    errors: list[str] = []
    unreadable: list[dict] = []
    projects: list[S.Project] = []
    source_names: list[str] = []

    # 1. sources -> projects
    rep.stage("sources", len(srcs) + len(debian))
    n = 0
    for src in srcs:
        p = Path(src)
        try:
            if S.is_hex_tarball(p):
                found = S.open_hex(p, work / "hex")
            elif p.is_file():
                raise S.SourceError(f"{p}: not a directory or a Hex package tarball (.tar)")
            else:
                found = S.projects_in_dir(p, origin=f"dir:{p}")
            if not found:
                raise S.SourceError(f"{p}: no Elixir files (.ex, .exs) found")
            projects += found
            source_names.append(str(src))
        except S.SourceError as e:
            errors.append(str(e))
            rep.warn(str(e))
        n += 1
        rep.advance(n)
    for pkg in debian:
        try:
            found = S.debian_projects(pkg)
            if not found:
                raise S.SourceError(f"debian {pkg}: no Elixir files in the source package")
            projects += found
            source_names.append(f"debian:{pkg}")
        except S.SourceError as e:
            errors.append(str(e))
            rep.warn(str(e))
        n += 1
        rep.advance(n)

    # 2. read files -> records
    records: list[dict] = []
    total_files = sum(len(p.files) for p in projects)
    rep.stage("read files", total_files)
    done = 0
    for proj in projects:
        for path in proj.files:
            text, why = S.read_text(proj.root / path)
            if why:
                unreadable.append({"project": proj.name, "path": path, "detail": why})
            else:
                records.append(R.make_record(proj.name, proj.version, path, text,
                                             licence=proj.licence, parses=None))
            done += 1
            rep.advance(done, total_files)

    beam_items: list[dict] = []
    if beam_docs:
        rep.stage("installed BEAM docs")
        try:
            beam_items, problems = S.beam_doc_items(cfg.beam_apps, progress=lambda app, d, t: rep.advance(d, t, app))
            for problem in problems:
                errors.append(problem)
                rep.warn(problem)
            records += _beam_records(beam_items)
            source_names.append("beam-docs")
        except Exception as e:  # the sidecar cannot start: say so, go on with the rest
            msg = f"beam docs: {type(e).__name__}: {e}"
            errors.append(msg)
            rep.warn(msg)

    if not records and not unreadable:
        raise BuildError("no Elixir files in any source" + (": " + "; ".join(errors) if errors else ""))
    files_in = len(records) + len(unreadable)

    # 3. parse + quality filter
    problem = _parse_all(records, rep)
    if problem:
        errors.append(problem)
        rep.warn(problem)
    kept, removed = Q.apply(records, cfg.quality)
    after_filters = {"read": files_in - len(unreadable)}
    remaining = after_filters["read"]
    for rule in Q.FILTERS:
        remaining -= len(removed[rule])
        after_filters[rule] = remaining

    # 4. dedup
    rep.stage("dedup (exact + MinHash LSH)", len(kept))
    kept, dups = D.dedup(kept, cfg.dedup, progress=lambda d, t: rep.advance(d, t))

    # 5. splits
    SP.assign(kept, cfg.fractions)

    # 6. pairs
    pairs: list[dict] = []
    cross_split = 0
    if cfg.pairs:
        texts: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
        for r in kept:
            if r.get("_origin") != "beam":
                texts[(r["project"], r["version"])][r["path"]] = r["text"]
        rep.stage("code-test pairs (temporary KG)", len(projects))
        pairs, problems = P.kg_pairs(projects, texts, work / "kg",
                                     progress=lambda d, t, label: rep.advance(d, t, label))
        for problem in problems:
            errors.append(problem)
            rep.warn(problem)
        if beam_items:
            have = {(p["module"], p["function"]) for p in pairs if p["kind"] == "doctest"}
            pairs += P.beam_doctest_pairs(beam_items, have)
        n = len(pairs)
        pairs = _pair_splits(pairs, kept)
        cross_split = n - len(pairs)
    leaks = SP.leakage(kept, pairs)
    dropped_leaks = 0
    if leaks["pair_code"] or leaks["pair_test"]:
        pairs, dropped_leaks = _drop_leaking_pairs(pairs)
        leaks = SP.leakage(kept, pairs)

    # 7. write
    rep.stage("write", 1)
    manifest, stats = _write(out, kept, pairs, source_names, cfg, files_in, after_filters, removed,
                             dups, unreadable, errors, leaks, dropped_leaks + cross_split, t0)
    rep.advance(1, 1)
    return stats


def _beam_records(items: list[dict]) -> list[dict]:
    out = []
    for item in items:
        if item["blocks"]:
            text = "\n".join(item["blocks"])
            rec = R.make_record(item["app"], item["version"], f"docs/{item['module']}.exs", text,
                                licence="Apache-2.0", parses=True, is_test=False, ttype=None)
            rec["_origin"] = "beam"
            out.append(rec)
        if item["doctests"]:
            text = P.format_doctests([(e, x) for _, e, x in item["doctests"]])
            rec = R.make_record(item["app"], item["version"], f"docs/{item['module']}.doctest", text,
                                licence="Apache-2.0", parses=True, is_test=True, ttype="doctest")
            rec["_origin"] = "beam"
            out.append(rec)
    return out


def _pair_splits(pairs: list[dict], kept: list[dict]) -> list[dict]:
    """Give each pair the split of its code file; drop (and count) a pair whose test file lies
    in another split (possible when one project is split by directory)."""
    by_path = {(r["project"], r["path"]): r["split"] for r in kept}
    by_project: dict[str, str] = {}
    for r in kept:
        by_project.setdefault(r["project"], r["split"])
    out = []
    for p in pairs:
        split = by_path.get((p["project"], p["code_path"]))
        if split is None:  # BEAM docs pairs: the split of the project's records
            split = by_project.get(p["project"], "train")
        tests = {by_path.get((p["project"], t)) for t in (p["test_path"] or "").split(",")} - {None}
        if tests - {split}:
            continue
        p["split"] = split
        out.append(p)
    return out


def _drop_leaking_pairs(pairs: list[dict]) -> tuple[list[dict], int]:
    """Drop validation/test pairs whose code or test text also appears in another split."""
    train = {R.normalised_hash(p[k]) for p in pairs if p["split"] == "train" for k in ("code", "test")}
    seen: dict[str, str] = {}
    kept, dropped = [], 0
    for p in sorted(pairs, key=lambda p: SP.SPLITS.index(p["split"])):
        hs = [R.normalised_hash(p["code"]), R.normalised_hash(p["test"])]
        if p["split"] != "train" and (any(h in train for h in hs) or any(seen.get(h, p["split"]) != p["split"] for h in hs)):
            dropped += 1
            continue
        for h in hs:
            seen.setdefault(h, p["split"])
        kept.append(p)
    return kept, dropped


def _write(out: Path, kept, pairs, source_names, cfg, files_in, after_filters, removed, dups,
           unreadable, errors, leaks, dropped_leaks, t0):
    for sub in ("files", "pairs"):
        shutil.rmtree(out / sub, ignore_errors=True)
    manifest = {"format": FORMAT, "sources": source_names, "splits": {}, "pairs": {}, "counts": {}}
    by_split = {s: [r for r in kept if r["split"] == s] for s in SP.SPLITS}
    pairs_by_split = {s: [p for p in pairs if p["split"] == s] for s in SP.SPLITS}
    for s in SP.SPLITS:
        rows = sorted(by_split[s], key=lambda r: (r["project"], r["path"]))
        manifest["splits"][s] = [f"files/{n}" for n in R.write_shards(out / "files", s, rows, R.FILE_FIELDS)]
        prow = sorted(pairs_by_split[s], key=lambda p: (p["project"], p["kind"], p["module"] or "", p["function"] or ""))
        manifest["pairs"][s] = [f"pairs/{n}" for n in R.write_shards(out / "pairs", s, prow, R.PAIR_FIELDS + ("method",))]
    with open(out / "removed.jsonl", "w", encoding="utf-8") as fh:
        for entry in unreadable:
            fh.write(json.dumps({"stage": "unreadable", **entry}) + "\n")
        for rule, entries in removed.items():
            for entry in entries:
                fh.write(json.dumps({"stage": rule, **entry}) + "\n")
        for kind, entries in dups.items():
            for entry in entries:
                fh.write(json.dumps({"stage": f"dedup-{kind}", **entry}) + "\n")

    tests = [r for r in kept if r["is_test"] and r["test_type"]]
    tt = Counter(r["test_type"] for r in tests)
    written = sum(tt[t] for t in R.TARGET_BALANCE) or 1
    balance = {t: {"files": tt[t], "share": round(tt[t] / written, 3), "target": R.TARGET_BALANCE[t]}
               for t in R.TARGET_BALANCE}
    pair_kinds = Counter(p["kind"] for p in pairs)
    counts = {
        "files_in": files_in,
        "after_filters": after_filters,
        "after_dedup": len(kept),
        "removed": {"unreadable": len(unreadable), **{k: len(v) for k, v in removed.items()},
                    "dedup_exact": len(dups["exact"]), "dedup_near": len(dups["near"])},
        "files": {s: len(by_split[s]) for s in SP.SPLITS},
        "lines": {s: sum(r["lines"] for r in by_split[s]) for s in SP.SPLITS},
        "chars": {s: sum(len(r["text"]) for r in by_split[s]) for s in SP.SPLITS},
        "pairs": {s: len(pairs_by_split[s]) for s in SP.SPLITS},
        "pair_kinds": {k: pair_kinds.get(k, 0) for k in ("module_test", "function_test", "doctest")},
        "projects": {s: sorted({r["project"] for r in by_split[s]}) for s in SP.SPLITS},
        "test_files": len(tests),
        "test_types": dict(sorted(tt.items())),
    }
    manifest["counts"] = counts
    stats = {
        "out": str(out), "sources": source_names, "counts": counts, "test_balance": balance,
        "leakage": {k: len(v) for k, v in leaks.items()}, "pairs_dropped_for_leakage": dropped_leaks,
        "config": {"quality": cfg.quality.to_dict(), "dedup": vars(cfg.dedup), "fractions": cfg.fractions},
        "errors": errors, "seconds": round(time.monotonic() - t0, 1),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (out / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    return manifest, stats
