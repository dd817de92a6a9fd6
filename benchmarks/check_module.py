"""Latency of reasoning.check_module (the decoder's behaviour/call validation) on a warm store.

Checks real module sources (the shop fixture's and tests/fixtures/elixir's files, whole and cut
at half their lines as a module being written) against a store: by default a fresh one with
the shop project and the fixtures built into it, or --store DIR (e.g. the Elixir source KG
plus `kg stdlib`, opened read-only). The first call of each source runs with an empty cache
("cold"); the warm calls reuse the per-KG cache, as the decoder does. Prints p50, p95 and max
milliseconds against the issue's target (warm <= 10 ms per call).

    .venv/bin/python benchmarks/check_module.py --repeat 50
    .venv/bin/python benchmarks/check_module.py --store /tmp/kgq
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REPO = Path(__file__).resolve().parent.parent
TARGET_MS = 10.0


def sources() -> list[tuple[str, str]]:
    out = []
    files = sorted((REPO / "tests/fixtures/projects/shop/lib").rglob("*.ex")) + sorted(
        (REPO / "tests/fixtures/elixir").glob("*.ex"))
    for f in files:
        text = f.read_text()
        lines = text.splitlines(keepends=True)
        out.append((f"{f.name}", text))
        out.append((f"{f.name} (half)", "".join(lines[: max(1, len(lines) // 2)])))
    return out


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=Path, help="an existing store (read-only); default: build one")
    ap.add_argument("--repeat", type=int, default=30, help="warm calls per source (default 30)")
    args = ap.parse_args()

    from kg.build import build
    from reasoning import behaviour
    from sparql.store import KnowledgeGraph

    tmp = None
    if args.store:
        kg = KnowledgeGraph.open(args.store, read_only=True)
    else:
        tmp = tempfile.TemporaryDirectory()
        kg = KnowledgeGraph.open(Path(tmp.name) / "store")
        build(kg, REPO / "tests/fixtures/projects/shop")
        build(kg, REPO / "tests/fixtures/elixir", graph="fixtures@0.0.0")
    rows = []
    all_warm: list[float] = []
    for name, text in sources():
        behaviour.clear_cache(kg)
        t0 = time.perf_counter()
        diags = behaviour.check_module(kg, text)
        cold = (time.perf_counter() - t0) * 1000
        warm = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            behaviour.check_module(kg, text)
            warm.append((time.perf_counter() - t0) * 1000)
        all_warm += warm
        rows.append((name, len(text.splitlines()), len(diags), cold, statistics.median(warm), pct(warm, 0.95), max(warm)))
    kg.close()
    if tmp:
        tmp.cleanup()
    print(f"{'source':<34} {'lines':>5} {'results':>7} {'cold ms':>8} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}")
    for name, n, d, cold, p50, p95, mx in rows:
        print(f"{name:<34} {n:>5} {d:>7} {cold:>8.2f} {p50:>7.2f} {p95:>7.2f} {mx:>7.2f}")
    p95 = pct(all_warm, 0.95)
    print(f"\nall warm calls: p50 {statistics.median(all_warm):.2f} ms, p95 {p95:.2f} ms, max {max(all_warm):.2f} ms"
          f"  target <= {TARGET_MS:.0f} ms: {'ok' if p95 <= TARGET_MS else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
