"""`elixir-coder query`: SPARQL (text, file or a named query) over the store, results as a
table or in the W3C SPARQL results formats."""

from __future__ import annotations

import sys


def register(sub) -> None:
    q = sub.add_parser("query", help="run SPARQL or a named query over the KG",
                       description="Run a SPARQL query over the union of the KG's graphs (the ontology "
                                   "PREFIXes ec:, otp:, test:, id: ... are predeclared).")
    q.add_argument("sparql", nargs="?", metavar="SPARQL", help="query text")
    from elixir_coder.commands import add_store_options

    add_store_options(q, required=False)
    q.add_argument("--file", metavar="F", help="read the query from F")
    q.add_argument("--named", metavar="NAME", help="run a named query (see --list)")
    q.add_argument("--param", action="append", default=[], metavar="K=V", help="named query parameter (repeatable)")
    q.add_argument("--format", choices=("table", "json", "csv", "tsv"), default="table")
    q.add_argument("--graph", metavar="NAME", help="query only this graph (NAME or NAME@VERSION)")
    q.add_argument("--limit", type=int, metavar="N", help="show at most N rows (table format)")
    q.add_argument("--list", action="store_true", help="list the named queries and their parameters")
    q.set_defaults(func=cmd_query)


def _list(out) -> int:
    from sparql.named import load_all

    for nq in load_all().values():
        out.write(f"{nq.name}\n    {nq.description}\n")
        for p in nq.params:
            need = "required" if p.required else "optional"
            out.write(f"    --param {p.name}=<{p.type}>  ({need}) {p.description}\n")
    return 0


def cmd_query(args) -> int:
    from sparql import results
    from sparql.named import QueryError, get, parse_param_args
    from elixir_coder.commands import open_kg

    if args.list:
        return _list(sys.stdout)
    given = [x for x in (args.sparql, args.file, args.named) if x]
    if len(given) != 1:
        print("error: give exactly one of SPARQL, --file F or --named NAME (or --list)", file=sys.stderr)
        return 2
    if not args.store and not args.endpoint:
        print("error: --store DIR or --endpoint URL is required", file=sys.stderr)
        return 2
    params = {}
    try:
        if args.named:
            nq = get(args.named)
            text = nq.text
            params = nq.bind(parse_param_args(args.param))
        else:
            if args.param:
                raise QueryError("--param only applies to --named queries")
            if args.file:
                try:
                    with open(args.file, encoding="utf-8") as fh:
                        text = fh.read()
                except (OSError, UnicodeDecodeError) as e:
                    raise QueryError(f"cannot read {args.file}: {e}") from None
            else:
                text = args.sparql
    except QueryError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    kg = open_kg(args, read_only=True)
    if kg is None:
        return 2
    with kg:
        graphs = None
        if args.graph:
            from elixir_coder.commands.kg import resolve_graph
            try:
                graphs = [resolve_graph(kg, args.graph)]
            except LookupError as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
        try:
            res = kg.query(text, params=params, graphs=graphs)
            results.write(res, args.format, sys.stdout.buffer, limit=args.limit)
        except SyntaxError as e:
            print(f"error: SPARQL syntax error: {e}", file=sys.stderr)
            return 2
        except (OSError, RuntimeError, ValueError) as e:
            print(f"error: query failed: {e}", file=sys.stderr)
            return 2
        finally:
            sys.stdout.buffer.flush()
    return 0
