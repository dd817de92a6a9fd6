"""Latency of every named query (sparql/queries/*.rq) on a real code KG.

Runs each named query with parameters that make sense for the Elixir 1.14 source KG (built with
`elixir-coder kg build` over the elixir-lang source, plus `elixir-coder kg stdlib`), the way the
CLI does (`KnowledgeGraph.query` over the union of the fact graphs, read-only store), and prints
rows, p50, p95 and max milliseconds against the issue's target (p95 <= 20 ms).

Every run consumes the whole result (each term of each row is read). One warm-up run comes
first and is reported as "first"; it is not part of the percentiles. The queries run in a worker
process: a query whose first run takes longer than --timeout seconds is reported as a timeout,
the worker is replaced and the next query goes on; a slow query (first run > 1 s) is repeated
only as often as fits in --timeout seconds.

    .venv/bin/python benchmarks/kg_queries.py --store /tmp/kgq --repeat 20
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_MS = 20.0

# (query, params): realistic questions about the Elixir source. Every named query appears at
# least once; queries with an optional module parameter run with and without it.
CASES: list[tuple[str, dict[str, str]]] = [
    ("modules", {}),
    ("modules", {"module": "Enum"}),
    ("functions", {"module": "Enum"}),
    ("functions", {}),
    ("callers", {"module": "Enum", "name": "map", "arity": "2"}),
    ("callers", {"module": "Enum", "name": "map"}),
    ("callers", {"module": "String.Chars", "name": "to_string", "arity": "1"}),
    ("callers", {"module": "Mix.Dep", "name": "load_on_environment", "arity": "1", "transitive": "true"}),
    ("callers", {"module": "Code.Formatter", "name": "to_algebra", "arity": "2", "transitive": "true"}),
    ("callers", {"module": "String.Chars", "name": "to_string", "arity": "1", "transitive": "true"}),
    ("callees", {"module": "Enum", "name": "map", "arity": "2"}),
    ("callees", {"module": "Kernel", "name": "inspect"}),
    ("behaviour-implementations", {}),
    ("behaviour-implementations", {"behaviour": "GenServer"}),
    ("missing-callbacks", {}),
    ("missing-callbacks", {"module": "IEx.Broker"}),
    ("untested-functions", {}),
    ("untested-functions", {"module": "Enum"}),
    ("doc-coverage", {}),
    ("doc-coverage", {"module": "Enum"}),
    ("spec-coverage", {}),
    ("spec-coverage", {"module": "Enum"}),
    ("module-dependencies", {"module": "Enum"}),
    ("module-dependencies", {}),
    ("protocol-implementations", {"protocol": "Enumerable"}),
    ("protocol-implementations", {}),
    ("struct-fields", {"module": "Range"}),
    ("struct-fields", {"module": "Date"}),
    ("struct-fields", {}),
    ("unused-private-functions", {}),
    ("unused-private-functions", {"module": "Enum"}),
    # a call in the Elixir source (Mix.Dep.load_and_cache/0, lib/mix/lib/mix/dep.ex line 114)
    ("data-flow-into", {"module": "Mix.Dep", "name": "load_and_cache", "arity": "0", "line": "114",
                        "called_name": "write_cached_deps"}),
]


def _worker(store_path: str, conn) -> None:
    """Open the store read-only once; answer (query, params, repeat, budget_s) requests."""
    from sparql import named
    from sparql.store import KnowledgeGraph

    kg = KnowledgeGraph.open(store_path, read_only=True)
    library = named.load_all()

    def once(nq, bound) -> tuple[float, int]:
        t0 = time.perf_counter()
        rows = 0
        for row in kg.query(nq.text, params=bound):
            for term in row:  # read every term, as a user printing the table would
                if term is not None:
                    term.value
            rows += 1
        return (time.perf_counter() - t0) * 1000, rows

    while True:
        req = conn.recv()
        if req is None:
            return
        name, params, repeat, budget_s = req
        try:
            nq = library[name]
            bound = nq.bind(params)
            first, rows = once(nq, bound)
            conn.send(("first", first, rows))
            n = repeat if first < 1000 else max(1, min(repeat, int(budget_s * 1000 / first)))
            times = [once(nq, bound)[0] for _ in range(n)]
            conn.send(("done", times))
        except Exception as e:  # a broken query is a result to report, not a crash
            conn.send(("error", f"{type(e).__name__}: {e}"))


class Runner:
    """The worker process, replaced when a query runs past the timeout."""

    def __init__(self, store: str):
        self.store = store
        self.ctx = mp.get_context("spawn")
        self.proc = None

    def _start(self):
        self.conn, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_worker, args=(self.store, child), daemon=True)
        self.proc.start()

    def kill(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.join()
            self.proc = None

    def run(self, name, params, repeat, timeout_s) -> dict:
        if self.proc is None:
            self._start()
        self.conn.send((name, params, repeat, timeout_s))
        # The first answer also waits for the worker to open the store (once).
        if not self.conn.poll(timeout_s + (30 if not hasattr(self, "_opened") else 0)):
            self.kill()
            return {"status": "timeout", "note": f"first run > {timeout_s:g} s"}
        self._opened = True
        msg = self.conn.recv()
        if msg[0] == "error":
            return {"status": "error", "note": msg[1]}
        _, first, rows = msg
        if not self.conn.poll(timeout_s * 2 + 5):
            self.kill()
            return {"status": "timeout", "rows": rows, "first_ms": first, "note": "repeats ran past the timeout"}
        msg = self.conn.recv()
        if msg[0] == "error":
            return {"status": "error", "note": msg[1]}
        times = sorted(msg[1])
        return {"status": "ok", "rows": rows, "first_ms": first, "runs": len(times),
                "p50_ms": statistics.median(times), "p95_ms": _percentile(times, 95), "max_ms": times[-1]}

    def close(self):
        if self.proc is not None:
            self.conn.send(None)
            self.proc.join(10)
            self.kill()


def _percentile(sorted_times: list[float], p: float) -> float:
    """Nearest-rank percentile (with 20 runs, p95 is the 19th fastest)."""
    k = max(0, min(len(sorted_times) - 1, -(-len(sorted_times) * p // 100) - 1))
    return sorted_times[int(k)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", default="/tmp/kgq", help="KG store directory, opened read-only (default /tmp/kgq)")
    ap.add_argument("--repeat", type=int, default=20, help="timed runs per query after one warm-up run (default 20)")
    ap.add_argument("--timeout", type=float, default=30.0,
                    help="seconds a first run may take before the query is reported as a timeout (default 30)")
    ap.add_argument("--only", action="append", default=[], metavar="NAME", help="run only this named query (repeatable)")
    ap.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    args = ap.parse_args(argv)
    if not (Path(args.store) / "CURRENT").exists():
        ap.error(f"{args.store}: no KG store here (build one with `elixir-coder kg build` and `kg stdlib`)")
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")

    from sparql import named
    library = named.load_all()
    cases = [(n, p) for n, p in CASES if not args.only or n in args.only]
    unknown = {n for n, _ in cases} - set(library)
    if unknown:
        ap.error(f"the library has no query {', '.join(sorted(unknown))}")
    missing = set(library) - {n for n, _ in CASES}
    if missing and not args.only:
        print(f"note: no benchmark case for {', '.join(sorted(missing))}", file=sys.stderr)

    runner = Runner(args.store)
    results = []
    if not args.json:
        print(f"store {args.store}, {args.repeat} runs after a warm-up, target p95 <= {TARGET_MS:g} ms")
        print(f"{'query':<26} {'params':<62} {'rows':>6} {'first':>9} {'p50':>8} {'p95':>8} {'max':>8}  target")
    try:
        for name, params in cases:
            r = runner.run(name, params, args.repeat, args.timeout)
            r.update(query=name, params=params)
            results.append(r)
            if args.json:
                print(json.dumps(r), flush=True)
                continue
            ps = " ".join(f"{k}={v}" for k, v in params.items()) or "-"
            if r["status"] == "ok":
                ok = "ok" if r["p95_ms"] <= TARGET_MS else "MISS"
                print(f"{name:<26} {ps:<62} {r['rows']:>6} {r['first_ms']:>9.1f} {r['p50_ms']:>8.1f} "
                      f"{r['p95_ms']:>8.1f} {r['max_ms']:>8.1f}  {ok}" + (f" ({r['runs']} runs)" if r["runs"] < args.repeat else ""),
                      flush=True)
            else:
                print(f"{name:<26} {ps:<62} {r.get('rows', ''):>6} {'':>9} {'':>8} {'':>8} {'':>8}  "
                      f"{r['status'].upper()}: {r['note']}", flush=True)
    finally:
        runner.close()
    if not args.json:
        met = sum(1 for r in results if r["status"] == "ok" and r["p95_ms"] <= TARGET_MS)
        print(f"{met}/{len(results)} cases meet p95 <= {TARGET_MS:g} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
