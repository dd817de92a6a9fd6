"""The same KG on three backends: the embedded pyoxigraph store, the Oxigraph server and a
private Virtuoso (sparql/servers.py): load time and triples/s into each, and each named query's
latency on each (plus a few aggregates, where Virtuoso's column store shines).

The KG is built once from Elixir sources into an embedded store (``--source``, by default the
Elixir 1.14 source tree from ``kg.debian.fetch_source('elixir-lang')``; ``--subset`` picks
sub-projects such as ``lib/mix`` to run on part of it), exported as N-Quads, then loaded:

* embedded: ``Store.bulk_load`` of the N-Quads into a fresh on-disk store;
* oxigraph-server, virtuoso: the remote backend's write path (batched Graph Store Protocol
  POSTs, the path ``kg build --endpoint`` uses);
* virtuoso-bulk: Virtuoso's own bulk loader (``ld_dir`` + ``rdf_loader_run`` + checkpoint) on
  N-Quads files, into a second fresh instance (the billion-triple path of docs/scaling.md).

With ``--build`` the whole ``kg build`` also runs through each endpoint (extraction included).
Queries: benchmarks/kg_queries.py's cases, one warm-up run, then the median of ``--repeat``
runs, every row read; rows are compared across backends (a mismatch is flagged).

    .venv/bin/python benchmarks/backends.py --subset lib/mix lib/eex --repeat 5
    .venv/bin/python benchmarks/backends.py --json > backends.json      # the whole source
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

AGGREGATES = [
    ("agg: count triples", "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"),
    ("agg: instances per class", "SELECT ?t (COUNT(?s) AS ?n) WHERE { ?s a ?t } GROUP BY ?t ORDER BY DESC(?n)"),
    ("agg: triples per predicate", "SELECT ?p (COUNT(*) AS ?n) WHERE { ?s ?p ?o } GROUP BY ?p ORDER BY DESC(?n)"),
    ("agg: most called modules", "SELECT ?m (COUNT(?c) AS ?n) WHERE { ?c ec:resolvesTo ?f . ?f ec:inModule ?m } "
                                 "GROUP BY ?m ORDER BY DESC(?n) LIMIT 10"),
    ("agg: functions per module", "SELECT ?m (COUNT(?f) AS ?n) WHERE { ?f a ec:Function ; ec:inModule ?m } "
                                  "GROUP BY ?m ORDER BY DESC(?n) LIMIT 10"),
]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build_embedded(sources: list[Path], store_dir: Path) -> tuple[float, int]:
    from kg.build import build
    from sparql.store import KnowledgeGraph

    t0 = time.perf_counter()
    with KnowledgeGraph.open(store_dir) as kg:
        for src in sources:
            log(f"building {src} (embedded) ...")
            build(kg, src)
        n = sum(kg.counts(g)["triples"] for g in kg.graphs())
    return time.perf_counter() - t0, n


def export_nquads(store_dir: Path, out: Path) -> int:
    from sparql.store import KnowledgeGraph

    with KnowledgeGraph.open(store_dir, read_only=True) as kg, out.open("wb") as fh:
        return kg.export(fh, "nq")


def run_cases(kg, cases, repeat: int) -> dict[str, dict]:
    out = {}
    for label, text, params in cases:
        times, rows, error = [], None, None
        try:
            for i in range(repeat + 1):
                t0 = time.perf_counter()
                res = kg.query(text, params=params)
                got = [tuple(_norm(t) for t in row) for row in res]
                dt = (time.perf_counter() - t0) * 1000
                if i:
                    times.append(dt)
                elif dt > 20_000:  # a slow query: its first run is its number
                    times.append(dt)
                    break
                rows = got
        except Exception as e:  # noqa: BLE001 (reported per query, the benchmark goes on)
            error = f"{type(e).__name__}: {str(e)[:160]}"
        out[label] = {"ms": round(statistics.median(times), 2) if times else None,
                      "rows": len(rows) if rows is not None else None,
                      "answer": sorted(map(str, rows)) if rows is not None else None, "error": error}
        log(f"  {label:60s} {out[label]['ms']} ms, {out[label]['rows']} rows {error or ''}")
    return out


def _norm(term):
    """A term's value for comparing answers across backends: numbers by value (Virtuoso keeps
    xsd:nonNegativeInteger, Oxigraph says xsd:integer), booleans as 1/0 (Virtuoso returns a
    query's boolean constants as integers). docs/scaling.md lists these differences."""
    import pyoxigraph as ox
    from decimal import Decimal, InvalidOperation

    if term is None:
        return None
    if isinstance(term, ox.Literal):
        kind = term.datatype.value.rsplit("#", 1)[-1]
        if kind == "boolean":
            return "1" if term.value in ("true", "1") else "0"
        if kind in ("integer", "decimal", "nonNegativeInteger", "int", "long", "double", "float"):
            try:
                return str(Decimal(term.value).normalize())
            except InvalidOperation:
                return term.value
    return term.value


def cases_list() -> list[tuple[str, str, dict]]:
    from kg_queries import CASES

    from sparql import named

    out = []
    for name, params in CASES:
        nq = named.get(name)
        label = name + (" " + " ".join(f"{k}={v}" for k, v in params.items()) if params else "")
        out.append((label, nq.text, nq.bind(params)))
    for label, text in AGGREGATES:
        out.append((label, text, {}))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", type=Path, help="Elixir source tree (default: the elixir-lang Debian source)")
    ap.add_argument("--subset", nargs="+", metavar="REL",
                    help="build only these sub-projects of --source (e.g. lib/mix lib/eex); default: the whole tree")
    ap.add_argument("--backends", default="embedded,oxigraph,virtuoso,virtuoso-bulk",
                    help="comma-separated: embedded, oxigraph, virtuoso, virtuoso-bulk")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--build", action="store_true", help="also time `kg build` through each endpoint")
    ap.add_argument("--batch", type=int, default=50_000, help="triples per Graph Store Protocol POST")
    ap.add_argument("--workdir", type=Path, help="keep stores here (default: a temporary directory)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    args = ap.parse_args(argv)

    import pyoxigraph as ox

    from sparql.servers import OxigraphServer, VirtuosoServer
    from sparql.store import KnowledgeGraph

    source = args.source
    if source is None:
        from kg.debian import fetch_source

        source = fetch_source("elixir-lang")
    sources = [source / s for s in args.subset] if args.subset else [source]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    tmp = tempfile.TemporaryDirectory(prefix="ec-backends-")
    work = args.workdir or Path(tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    result = {"source": str(source), "subset": args.subset, "repeat": args.repeat, "load": {}, "build": {}, "queries": {}}

    secs, _ = build_embedded(sources, work / "built")
    result["build"]["embedded"] = round(secs, 2)
    nq = work / "kg.nq"
    triples = export_nquads(work / "built", nq)
    result["triples"] = triples
    log(f"KG: {triples} triples ({nq.stat().st_size / 1e6:.0f} MB of N-Quads); embedded build {secs:.1f} s")
    cases = cases_list()
    servers = []
    try:
        for backend in backends:
            log(f"== {backend}")
            if backend == "embedded":
                d = work / "embedded"
                store = ox.Store(str(d))
                t0 = time.perf_counter()
                store.bulk_load(path=str(nq), format=ox.RdfFormat.N_QUADS)
                store.flush()
                dt = time.perf_counter() - t0
                del store
                kg = KnowledgeGraph.open(d, read_only=True)
            elif backend == "oxigraph":
                server = OxigraphServer(location=work / "oxigraph").start()
                servers.append(server)
                kg = KnowledgeGraph.open(server.query_url, update_url=server.update_url, batch_triples=args.batch)
                t0 = time.perf_counter()
                kg.remote._write(ox.parse(path=str(nq), format=ox.RdfFormat.N_QUADS))
                dt = time.perf_counter() - t0
            elif backend == "virtuoso":
                server = VirtuosoServer(directory=work / "virtuoso").start()
                servers.append(server)
                kg = KnowledgeGraph.open(server.query_url, update_url=server.update_url, auth=server.auth,
                                         batch_triples=args.batch, timeout=600)
                t0 = time.perf_counter()
                kg.remote._write(ox.parse(path=str(nq), format=ox.RdfFormat.N_QUADS))
                server.isql("checkpoint;")
                dt = time.perf_counter() - t0
            elif backend == "virtuoso-bulk":
                shard = work / "shards"
                shard.mkdir(exist_ok=True)
                (shard / "kg.nq").write_bytes(nq.read_bytes())
                server = VirtuosoServer(directory=work / "virtuoso-bulk", dirs_allowed=[str(shard)]).start()
                servers.append(server)
                t0 = time.perf_counter()
                server.bulk_load(shard, "*.nq")
                dt = time.perf_counter() - t0
                kg = KnowledgeGraph.open(server.query_url, timeout=600)
            else:
                raise SystemExit(f"unknown backend {backend!r}")
            result["load"][backend] = {"seconds": round(dt, 2), "triples_per_s": round(triples / dt)}
            log(f"  load: {dt:.1f} s, {triples / dt:,.0f} triples/s")
            if args.build and backend in ("oxigraph", "virtuoso"):
                from kg.build import build

                kg.drop_all()
                t0 = time.perf_counter()
                for src in sources:
                    build(kg, src)
                result["build"][backend] = round(time.perf_counter() - t0, 2)
                log(f"  kg build through the endpoint: {result['build'][backend]} s")
            result["queries"][backend] = run_cases(kg, cases, args.repeat)
            kg.close()
    finally:
        for s in servers:
            s.stop()
    # rows compared with the embedded store
    ref = result["queries"].get("embedded", {})
    for backend, qs in result["queries"].items():
        for label, r in qs.items():
            base = ref.get(label)
            r["same_as_embedded"] = None if base is None or r["answer"] is None else r["answer"] == base["answer"]
    for qs in result["queries"].values():
        for r in qs.values():
            r.pop("answer")
    report(result, backends, sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(result, indent=2))
    tmp.cleanup()
    return 0


def report(result: dict, backends: list[str], out) -> None:
    w = out.write
    w(f"\nKG of {result['source']} {result['subset'] or ''}: {result['triples']:,} triples\n\n")
    w(f"{'load':16s} {'seconds':>9s} {'triples/s':>12s}\n")
    for b, r in result["load"].items():
        w(f"{b:16s} {r['seconds']:9.1f} {r['triples_per_s']:12,d}\n")
    if len(result["build"]) > 1:
        w("\nkg build (extraction included): " + ", ".join(f"{b} {s} s" for b, s in result["build"].items()) + "\n")
    qb = [b for b in backends if b in result["queries"]]
    w(f"\n{'query (median ms)':62s}" + "".join(f"{b:>15s}" for b in qb) + "  rows\n")
    labels = list(next(iter(result["queries"].values())).keys()) if result["queries"] else []
    for label in labels:
        cells = []
        for b in qb:
            r = result["queries"][b][label]
            cell = "error" if r["error"] else f"{r['ms']:.1f}"
            if r.get("same_as_embedded") is False:
                cell += "!"
            cells.append(f"{cell:>15s}")
        rows = result["queries"][qb[0]][label]["rows"]
        w(f"{label[:62]:62s}" + "".join(cells) + f"  {rows}\n")
    w("(! = rows differ from the embedded store's)\n")


if __name__ == "__main__":
    raise SystemExit(main())
