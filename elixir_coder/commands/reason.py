"""`elixir-coder kg reason`: run the KG-scale rules (reasoning/rules.py) inside the store.

Each source graph's inferred graph (class/property hierarchy, inverses, implementsCallback,
callback findings) is dropped and recomputed in one transaction; the source graphs are not
touched, so running it twice gives the same store.
"""

from __future__ import annotations

import json
import sys


def add_reason_command(kg_subparsers) -> None:
    """Add ``reason`` to the ``kg`` sub-command group."""
    p = kg_subparsers.add_parser(
        "reason", help="materialise hierarchy, inverses, implementsCallback and callback findings in the store",
        description="Run the ontology's rules as SPARQL UPDATE inside the store: for each source graph "
                    "G, the graph …/graph/inferred/G is recomputed (one transaction each). Findings: "
                    "missing required callbacks, @impl on a function that is no callback.")
    from elixir_coder.commands import add_store_options

    add_store_options(p, store_help="store directory (built with `kg build`)")
    p.add_argument("--graph", nargs="+", metavar="NAME",
                   help="only these source graphs (NAME@VERSION, beam/APP@VERSION or a full IRI)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_reason)


def cmd_reason(args) -> int:
    from elixir_coder.commands.kg import resolve_graph
    from reasoning import rules
    from elixir_coder.commands import open_kg

    kg = open_kg(args, must_exist=True)
    if kg is None:
        return 2
    with kg:
        try:
            graphs = [resolve_graph(kg, n) for n in args.graph] if args.graph else rules.source_graphs(kg)
        except LookupError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        bad = [g.value for g in graphs if rules.is_inferred(g)]
        if bad:
            print(f"error: {', '.join(bad)}: an inferred graph; name its source graph instead", file=sys.stderr)
            return 2
        if not graphs:
            print("error: the store has no source graph (build one with `elixir-coder kg build`)", file=sys.stderr)
            return 2
        summaries = rules.reason(kg, graphs)
    if args.json:
        print(json.dumps([s.__dict__ for s in summaries], indent=2))
    else:
        for s in summaries:
            print(f"{s.graph} -> {s.inferred}: {s.triples} triples, {s.findings} findings, {s.seconds:.3f} s")
    return 0
