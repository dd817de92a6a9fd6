"""Build the code KG of a real Elixir project and print what it cost.

Default source: the Elixir 1.14 source from Debian (`apt-get source elixir-lang`, fetched once
into the cache). Measures, in process (no interpreter start-up in the numbers):

* a fresh build: files, lines, lines/s, triples, seconds, peak RSS (this process and the
  extraction workers), store size on disk;
* re-ingest after touching one file: an mtime-only touch, and a real edit of one typical file
  (the build re-extracts it, swaps its facts in one transaction and re-resolves the links
  that can change), each repeated and reported as p50/max;
* a no-op rebuild (nothing changed).

    .venv/bin/python benchmarks/kg_build.py [SRC] [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kg.build import build  # noqa: E402
from kg.debian import fetch_source, source_version  # noqa: E402
from sparql.store import KnowledgeGraph  # noqa: E402


def _dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _peak_rss_mib() -> tuple[float, float]:
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return me, kids


def _typical_file(root: Path) -> Path:
    """The median-sized .ex file under lib/: what a developer usually edits."""
    files = sorted((p for p in root.rglob("*.ex") if "/lib/" in str(p)), key=lambda p: p.stat().st_size)
    return files[len(files) // 2]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", nargs="?", help="project directory (default: Debian elixir-lang source)")
    ap.add_argument("--graph", help="graph NAME@VERSION (default: elixir@<VERSION> for the Debian source)")
    ap.add_argument("--repeat", type=int, default=5, help="re-ingest repetitions (default 5)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", metavar="DIR", help="build the store here and keep it (default: a temp dir)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    if args.src:
        original = Path(args.src)
        graph = args.graph
    else:
        original = fetch_source("elixir-lang")
        graph = args.graph or f"elixir@{source_version(original) or '0.0.0'}"
    work = Path(tempfile.mkdtemp(prefix="ec-bench-"))
    try:
        src = work / "src"
        shutil.copytree(original, src, symlinks=True)  # the edits below must not touch the cache
        store_dir = Path(args.keep) if args.keep else work / "store"
        if store_dir.exists():
            shutil.rmtree(store_dir)
        kg = KnowledgeGraph.open(store_dir)

        t0 = time.perf_counter()
        s = build(kg, src, graph=graph, workers=args.workers)
        fresh = time.perf_counter() - t0
        kg.close()
        rss_me, rss_kids = _peak_rss_mib()
        size = _dir_size(store_dir)
        kg = KnowledgeGraph.open(store_dir)

        t0 = time.perf_counter()
        noop = build(kg, src, graph=graph, workers=args.workers)
        noop_s = time.perf_counter() - t0
        assert noop.files_changed == 0, noop.to_dict()

        target = _typical_file(src)
        original_text = target.read_text()
        touch_times, edit_times = [], []
        for i in range(args.repeat):
            os.utime(target)  # mtime only: the hash says nothing changed
            t0 = time.perf_counter()
            build(kg, src, graph=graph, workers=args.workers)
            touch_times.append(time.perf_counter() - t0)
            # A real edit: a new public function that calls an existing one.
            text = original_text if i % 2 else original_text.rstrip()[:-3] + (
                f"\n  def bench_added_{i}(x), do: Enum.map(x, & &1)\nend\n")
            target.write_text(text)
            t0 = time.perf_counter()
            r = build(kg, src, graph=graph, workers=args.workers)
            edit_times.append(time.perf_counter() - t0)
            assert r.files_changed == 1, r.to_dict()
        kg.close()

        out = {
            "source": str(original),
            "graph": s.graph,
            "files": s.files,
            "lines": s.lines_read,
            "parse_errors": s.parse_errors,
            "skipped": len(s.skipped),
            "modules": s.modules,
            "functions": s.functions,
            "call_sites": s.call_sites,
            "tests": s.tests,
            "triples": s.triples,
            "fresh_build_s": round(fresh, 2),
            "lines_per_s": round(s.lines_read / fresh),
            "peak_rss_mib_main": round(rss_me),
            "peak_rss_mib_worker": round(rss_kids),
            "store_mib": round(size / 2**20, 1),
            "noop_rebuild_ms": round(noop_s * 1000, 1),
            "edited_file": str(target.relative_to(src)),
            "edited_file_lines": original_text.count("\n"),
            "touch_reingest_ms_p50": round(statistics.median(touch_times) * 1000, 1),
            "touch_reingest_ms_max": round(max(touch_times) * 1000, 1),
            "edit_reingest_ms_p50": round(statistics.median(edit_times) * 1000, 1),
            "edit_reingest_ms_max": round(max(edit_times) * 1000, 1),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)

    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    targets = {"lines_per_s": "target >= 50,000", "edit_reingest_ms_p50": "target <= 30 ms"}
    width = max(len(k) for k in out)
    for k, v in out.items():
        note = f"   ({targets[k]})" if k in targets else ""
        print(f"{k.ljust(width)}  {v:,}{note}" if isinstance(v, (int, float)) else f"{k.ljust(width)}  {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
