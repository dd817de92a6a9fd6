"""`kg reason` (SPARQL UPDATE inside the store) against owlrl (OWL 2 RL in Python).

For each project: build its graph into a fresh store, time reasoning.rules.reason (one
transaction per graph, best of --repeat), then time owlrl's OWL 2 RL closure over the same
graph plus the ontologies' TBox (their own individuals left out, as in tests/reasoning). owlrl
does not finish on large graphs (minutes for 100k triples), so on a graph larger than
--owlrl-max triples it runs on the first --owlrl-max triples of the export only, and the table
says so: the speed-up then compares owlrl with the rules run on that same subset (loaded as the
graph of a fresh store); the rules' time on the whole graph is shown beside it.

    .venv/bin/python benchmarks/kg_reason.py                       # shop + tests/fixtures/elixir
    .venv/bin/python benchmarks/kg_reason.py --elixir-source /root/.cache/elixir-coder/debian/elixir-lang/elixir-lang-1.14.0.dfsg
    .venv/bin/python benchmarks/kg_reason.py --store /tmp/kgq --graph elixir@1.14.0   # a store built before
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REPO = Path(__file__).resolve().parent.parent
TARGET = 100.0


def tbox():
    import rdflib

    from ontologies import FILES, ID

    g = rdflib.Graph()
    for path in FILES.values():
        for t in rdflib.Graph().parse(path, format="turtle"):
            if not str(t[0]).startswith(ID):
                g.add(t)
    return g


def bench(name: str, src: Path | None, graph: str | None, repeat: int, owlrl_max: int, workdir: Path) -> dict:
    """``src`` None: ``workdir`` is an existing store and ``graph`` one of its graphs."""
    import owlrl
    import rdflib

    from elixir_coder.commands.kg import resolve_graph
    from kg.build import build
    from reasoning import rules
    from sparql.store import KnowledgeGraph

    if src is None:
        kg = KnowledgeGraph.open(workdir)
        g = resolve_graph(kg, graph)
    else:
        kg = KnowledgeGraph.open(workdir / name)
        build(kg, src, graph=graph)
        [g] = rules.source_graphs(kg)
    triples = kg.counts(g)["triples"]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        [summary] = rules.reason(kg, [g])
        times.append(time.perf_counter() - t0)
    buf = io.BytesIO()
    kg.export(buf, "nt", graph=g)
    kg.close()
    lines = buf.getvalue().decode().splitlines()
    subset = len(lines) > owlrl_max
    data = rdflib.Graph().parse(data="\n".join(lines[:owlrl_max]) + "\n", format="nt")
    for t in tbox():
        data.add(t)
    t0 = time.perf_counter()
    owlrl.DeductiveClosure(owlrl.OWLRL_Semantics).expand(data)
    t_owl = time.perf_counter() - t0
    same_input = min(times)
    if subset:
        # the rules on exactly owlrl's input: the subset loaded as the graph of a fresh store
        import pyoxigraph as ox

        with tempfile.TemporaryDirectory() as d:
            sub = KnowledgeGraph.open(Path(d) / "subset")
            sub._store.load(("\n".join(lines[:owlrl_max]) + "\n").encode(), ox.RdfFormat.N_TRIPLES, to_graph=g)
            sub_times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                rules.reason(sub, [g])
                sub_times.append(time.perf_counter() - t0)
            sub.close()
        same_input = min(sub_times)
    return {"name": name, "triples": triples, "inferred": summary.triples, "findings": summary.findings,
            "rules_s": min(times), "owlrl_triples": min(len(lines), owlrl_max), "owlrl_s": t_owl,
            "rules_same_s": same_input, "subset": subset}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--owlrl-max", type=int, default=20000, metavar="N",
                    help="run owlrl on at most N triples of a graph (default 20000)")
    ap.add_argument("--elixir-source", type=Path, help="also the Elixir source tree (elixir@1.14.0)")
    ap.add_argument("--store", type=Path, help="also an existing store (its inferred graph is rewritten)")
    ap.add_argument("--graph", default="elixir@1.14.0", help="the graph of --store to reason over")
    args = ap.parse_args()
    cases = [("shop", REPO / "tests/fixtures/projects/shop", None),
             ("fixtures-elixir", REPO / "tests/fixtures/elixir", "fixtures@0.0.0")]
    if args.elixir_source:
        cases.append(("elixir-1.14", args.elixir_source, "elixir@1.14.0"))
    with tempfile.TemporaryDirectory() as d:
        rows = [bench(n, s, g, args.repeat, args.owlrl_max, Path(d)) for n, s, g in cases]
    if args.store:
        rows.append(bench(args.graph, None, args.graph, args.repeat, args.owlrl_max, args.store))
    print(f"{'project':<16} {'triples':>9} {'inferred':>9} {'findings':>8} {'rules s':>9} "
          f"{'owlrl on':>9} {'owlrl s':>9} {'rules s':>9} {'speed-up':>9}  target >= {TARGET:.0f}x")
    print(f"{'':<16} {'':>9} {'':>9} {'':>8} {'(graph)':>9} {'triples':>9} {'':>9} {'(same)':>9}")
    for r in rows:
        # speed-up on the same input: owlrl's time against the rules' on the triples owlrl read
        speed = r["owlrl_s"] / r["rules_same_s"] if r["rules_same_s"] else float("inf")
        note = " (owlrl and rules on the first triples of the export only)" if r["subset"] else ""
        print(f"{r['name']:<16} {r['triples']:>9} {r['inferred']:>9} {r['findings']:>8} {r['rules_s']:>9.3f} "
              f"{r['owlrl_triples']:>9} {r['owlrl_s']:>9.2f} {r['rules_same_s']:>9.3f} {speed:>8.0f}x  "
              f"{'ok' if speed >= TARGET else 'MISSED'}{note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
