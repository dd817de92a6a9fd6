"""`elixir-coder kg build|export`: wires kg.build to the store (sparql.store)."""

from __future__ import annotations

import json
import sys


def register(sub) -> None:
    from elixir_coder.commands import add_store_options

    kg = sub.add_parser("kg", help="build, update and export the code knowledge graph")
    kgsub = kg.add_subparsers(dest="kg_command", metavar="KG_COMMAND", required=True)

    b = kgsub.add_parser("build", help="build or update the KG from Elixir sources (incremental)",
                         description="Build or update one named graph per SRC (project@version from "
                                     "mix.exs). Only changed files are re-read; deleted files' facts are dropped.")
    b.add_argument("src", nargs="+", metavar="SRC", help="project directory (or one file)")
    add_store_options(b, store_help="store directory (created if missing)")
    b.add_argument("--graph", metavar="NAME", help="graph name NAME or NAME@VERSION (one SRC only)")
    b.add_argument("--json", action="store_true", help="print the summary as JSON (a list for several SRC)")
    b.add_argument("--strict", action="store_true", help="exit 1 when a file was skipped or had parse errors")
    b.add_argument("--max-file-size", type=float, default=5.0, metavar="MB",
                   help="skip (and report) files larger than this (default 5 MB)")
    b.add_argument("--workers", type=int, default=2, help="extraction processes (default 2)")
    b.set_defaults(func=cmd_build)

    e = kgsub.add_parser("export", help="write the KG as N-Quads, N-Triples, Turtle or TriG")
    add_store_options(e)
    e.add_argument("--format", choices=("nq", "nt", "ttl", "trig"), default="nq")
    e.add_argument("--graph", metavar="NAME", help="only this graph (NAME@VERSION, or a full graph IRI)")
    e.add_argument("--output", metavar="FILE", help="write here instead of stdout")
    e.set_defaults(func=cmd_export)

    from elixir_coder.commands.stdlib import add_stdlib_command

    add_stdlib_command(kgsub)

    from elixir_coder.commands.reason import add_reason_command

    add_reason_command(kgsub)


def _progress_bar(enabled: bool):
    """A rich progress bar on stderr (only on a terminal, so logs and pipes stay clean)."""
    if not enabled:
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        console=Console(stderr=True), transient=True)
    return progress


def cmd_build(args) -> int:
    from kg.build import build
    from elixir_coder.commands import open_kg
    from sparql.store import StoreError

    if args.graph and len(args.src) > 1:
        print("error: --graph names one graph: give one SRC with it", file=sys.stderr)
        return 2
    kg = open_kg(args)
    if kg is None:
        return 2
    summaries = []
    bar = _progress_bar(sys.stderr.isatty())
    try:
        with kg:
            for src in args.src:
                if bar is not None:
                    bar.start()
                    task = bar.add_task(f"extracting {src}", total=None)

                    def progress(done, total, task=task):
                        bar.update(task, completed=done, total=total)
                else:
                    progress = None
                try:
                    summaries.append(build(kg, src, graph=args.graph, max_bytes=int(args.max_file_size * 1024 * 1024),
                                           workers=args.workers, progress=progress))
                except (FileNotFoundError, ValueError) as e:
                    print(f"error: {e}", file=sys.stderr)
                    return 2
                finally:
                    if bar is not None:
                        bar.stop()
    except StoreError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        data = [s.to_dict() for s in summaries]
        print(json.dumps(data[0] if len(data) == 1 else data, indent=2))
    else:
        for s in summaries:
            _print_summary(s)
    return 1 if args.strict and any(s.failed for s in summaries) else 0


def _print_summary(s) -> None:
    print(f"graph       {s.graph}")
    print(f"files       {s.files} ({s.files_changed} changed, {s.files_deleted} deleted)")
    print(f"parse errors {s.parse_errors}")
    print(f"skipped     {len(s.skipped)}")
    print(f"modules     {s.modules}")
    print(f"functions   {s.functions}")
    print(f"call sites  {s.call_sites}")
    print(f"tests       {s.tests}")
    print(f"triples     {s.triples}")
    print(f"seconds     {s.seconds}")
    for d in s.skipped:
        print(f"skipped: {d['path']}: {d['reason']}", file=sys.stderr)
    for d in s.parse_error_files:
        print(f"parse error: {d['path']}: {d['reason']}", file=sys.stderr)


def graph_node(name: str):
    """``--graph`` as a graph IRI: a full IRI, NAME@VERSION, beam/APP@VERSION (an installed
    app from ``kg stdlib``), or NAME (any version, if one)."""
    from pyoxigraph import NamedNode

    from ontologies import beam_graph_iri, graph_iri

    if "://" in name:
        return NamedNode(name)
    if name.startswith("beam/") and "@" in name:
        app, version = name[5:].rsplit("@", 1)
        return beam_graph_iri(app, version)
    if "@" in name:
        project, version = name.rsplit("@", 1)
        return graph_iri(project, version)
    return None  # resolved against the store's graphs by the caller


def resolve_graph(kg, name: str):
    g = graph_node(name)
    graphs = kg.graphs()
    if g is not None:
        if g not in graphs:
            raise LookupError(f"no graph {name!r} in the store; it has: {', '.join(x.value for x in graphs) or 'none'}")
        return g
    from urllib.parse import quote

    from ontologies import GRAPH

    matches = [x for x in graphs if x.value.startswith(GRAPH + quote(name, safe="") + "@")]
    if len(matches) != 1:
        what = "no graph" if not matches else "several graphs"
        raise LookupError(f"{what} named {name!r} in the store; it has: {', '.join(x.value for x in graphs) or 'none'}")
    return matches[0]


def cmd_export(args) -> int:
    from elixir_coder.commands import open_kg

    kg = open_kg(args, read_only=True)
    if kg is None:
        return 2
    with kg:
        try:
            graph = resolve_graph(kg, args.graph) if args.graph else None
        except LookupError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        if args.output:
            with open(args.output, "wb") as fh:
                n = kg.export(fh, args.format, graph)
            print(f"wrote {n} statements to {args.output}", file=sys.stderr)
        else:
            kg.export(sys.stdout.buffer, args.format, graph)
            sys.stdout.buffer.flush()
    return 0
