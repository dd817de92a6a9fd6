"""Syntax-check latency: the warm Elixir sidecar vs a fresh `elixir` process per check.

Target (issue "KG depth"): a warm check of a 50-line snippet in <= 5 ms; a fresh `elixir`
costs ~300 ms or more. Run: `.venv/bin/python benchmarks/sidecar_latency.py [--n 500] [--json]`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kg.sidecar import Sidecar  # noqa: E402


def snippet(lines: int = 50) -> str:
    """A realistic module of exactly ``lines`` lines: a GenServer with pipes, maps, guards."""
    head = ["defmodule Bench.Counter do", "  use GenServer", "",
            "  def start_link(opts), do: GenServer.start_link(__MODULE__, opts, name: __MODULE__)", "",
            "  @impl true", "  def init(opts), do: {:ok, %{count: Keyword.get(opts, :start, 0), log: []}}", ""]
    body: list[str] = []
    i = 0
    while len(head) + len(body) + 4 + 1 <= lines:  # room for one more def and the final end
        body += [f"  def step_{i}(state, x) when is_integer(x) and x > {i} do",
                 f"    state |> Map.update!(:count, &(&1 + x * {i})) |> Map.put(:last, {{:step, {i}, x}})",
                 "  end", ""]
        i += 1
    while len(head) + len(body) + 1 < lines:
        body.append(f"  # padding {len(body)}")
    return "\n".join(head + body + ["end"]) + "\n"


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))
    return xs[k]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=500, help="warm checks to time (default 500)")
    ap.add_argument("--fresh", type=int, default=5, help="fresh `elixir` runs to time (default 5)")
    ap.add_argument("--lines", type=int, default=50)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    src = snippet(args.lines)
    elixir = shutil.which("elixir")
    if elixir is None:
        print("elixir is not installed", file=sys.stderr)
        return 2
    with Sidecar(elixir) as sc:
        t0 = time.perf_counter()
        assert sc.parse(src).ok, "the snippet must be valid Elixir"
        first = time.perf_counter() - t0  # includes starting the BEAM
        for _ in range(20):  # warm-up
            sc.parse(src)
        warm = []
        for _ in range(args.n):
            t = time.perf_counter()
            r = sc.parse(src)
            warm.append(time.perf_counter() - t)
            assert r.ok

    fresh = []
    with tempfile.NamedTemporaryFile("w", suffix=".ex", delete=False) as fh:
        fh.write(src)
    code = f'{{:ok, _}} = Code.string_to_quoted(File.read!("{fh.name}"), columns: true)'
    for _ in range(args.fresh):
        t = time.perf_counter()
        subprocess.run([elixir, "-e", code], check=True, capture_output=True)
        fresh.append(time.perf_counter() - t)
    Path(fh.name).unlink()

    res = {
        "snippet_lines": src.count("\n"), "snippet_bytes": len(src.encode()),
        "warm_n": args.n,
        "warm_p50_ms": round(percentile(warm, 50) * 1000, 3),
        "warm_p95_ms": round(percentile(warm, 95) * 1000, 3),
        "warm_max_ms": round(max(warm) * 1000, 3),
        "first_request_incl_start_ms": round(first * 1000, 1),
        "fresh_n": args.fresh,
        "fresh_p50_ms": round(statistics.median(fresh) * 1000, 1),
        "fresh_p95_ms": round(percentile(fresh, 95) * 1000, 1),
        "target_warm_ms": 5.0,
    }
    res["speedup_p50"] = round(res["fresh_p50_ms"] / res["warm_p50_ms"], 1)
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(f"syntax check of a {res['snippet_lines']}-line snippet ({res['snippet_bytes']} bytes)")
        print(f"  warm sidecar  p50 {res['warm_p50_ms']:.3f} ms  p95 {res['warm_p95_ms']:.3f} ms  "
              f"max {res['warm_max_ms']:.3f} ms  (n={args.n}; target <= 5 ms)")
        print(f"  fresh elixir  p50 {res['fresh_p50_ms']:.1f} ms  p95 {res['fresh_p95_ms']:.1f} ms  (n={args.fresh})")
        print(f"  first sidecar request incl. BEAM start {res['first_request_incl_start_ms']:.0f} ms; "
              f"warm is {res['speedup_p50']}x faster than fresh")
    return 0


if __name__ == "__main__":
    sys.exit(main())
