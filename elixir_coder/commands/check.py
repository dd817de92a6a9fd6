"""`elixir-coder check PATH...`: run the quality and security rules (reasoning/checks.py) over
Elixir code like a linter: builds the KG of each PATH (a temporary store, or --store DIR which
then keeps the findings graphs), prints the findings as text, JSON or SARIF 2.1.0, and exits
non-zero when there are findings at or above --fail-on (like Credo), 2 on usage errors."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

LEVELS = {"low": "note", "medium": "warning", "high": "error"}  # SARIF result levels


def register(sub) -> None:
    c = sub.add_parser("check", help="run quality and security rules over Elixir code",
                       description="Check Elixir sources and templates with Credo-style quality rules and "
                                   "Sobelow-style security rules. Exit status: 0 no findings at or above "
                                   "--fail-on, 1 findings, 2 usage error or unreadable input.")
    c.add_argument("paths", nargs="*", metavar="PATH", help="project directory or file to check")
    c.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    from elixir_coder.commands import add_store_options

    add_store_options(c, required=False,
                      store_help="build into (or reuse) this store and keep the findings there (default: a temporary store)")
    c.add_argument("--fail-on", choices=("low", "medium", "high", "never"), default="low",
                   help="lowest severity that makes the exit status 1 (default: any finding)")
    c.add_argument("--rule", action="append", default=[], metavar="ID",
                   help="run only this rule (repeatable; see --list-rules)")
    c.add_argument("--list-rules", action="store_true", help="list the rules and exit")
    c.set_defaults(func=cmd_check)


def cmd_check(args) -> int:
    from reasoning.checks import RULES

    if args.list_rules:
        for r in RULES.values():
            print(f"{r.id:36} {r.severity:6} {r.title}")
        return 0
    if not args.paths:
        print("error: give at least one PATH to check (or --list-rules)", file=sys.stderr)
        return 2
    unknown = [r for r in args.rule if r not in RULES]
    if unknown:
        print(f"error: unknown rule {', '.join(unknown)} (see --list-rules)", file=sys.stderr)
        return 2
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        print(f"error: {', '.join(missing)}: no such file or directory", file=sys.stderr)
        return 2
    if args.store or args.endpoint:
        findings, errors, code = _run(args, args.store)
    else:
        with tempfile.TemporaryDirectory(prefix="elixir-coder-check-") as tmp:
            findings, errors, code = _run(args, Path(tmp) / "store")
    if code:
        return code
    if args.rule:
        findings = [f for f in findings if f.rule in args.rule]
    out = sys.stdout
    if args.format == "json":
        json.dump([f.as_json() for f in findings], out, indent=2)
        out.write("\n")
    elif args.format == "sarif":
        json.dump(sarif(findings), out, indent=2)
        out.write("\n")
    else:
        for f in findings:
            out.write(f"{f.file}:{f.line}:{f.column}: {f.rule} [{f.severity}] {f.message}\n")
        counts = {s: sum(f.severity == s for f in findings) for s in ("high", "medium", "low")}
        print(f"{len(findings)} finding(s): " + ", ".join(f"{n} {s}" for s, n in counts.items()), file=sys.stderr)
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    if errors:
        return 2
    order = ("low", "medium", "high")
    if args.fail_on != "never" and any(order.index(f.severity) >= order.index(args.fail_on) for f in findings):
        return 1
    return 0


def _run(args, store_dir):
    """Build the KG of every PATH, run the checks and store the findings per source graph.
    Returns (findings, unreadable-file errors, usage error code or 0)."""
    from reasoning.checks import check_paths
    from elixir_coder.commands import endpoint_options
    from sparql.store import KnowledgeGraph, StoreError

    try:
        options = endpoint_options(args)
        location = args.endpoint if options is not None else store_dir
        with KnowledgeGraph.open(location, **(options or {})) as kg:
            findings, errors = check_paths(kg, args.paths)
    except (FileNotFoundError, ValueError, StoreError) as e:
        print(f"error: {e}", file=sys.stderr)
        return [], [], 2
    return findings, errors, 0


def sarif(findings) -> dict:
    """A minimal SARIF 2.1.0 log: one run, the rules that fired, one result per finding."""
    from reasoning.checks import RULES

    used = sorted({f.rule for f in findings})
    index = {r: i for i, r in enumerate(used)}
    rules = [{
        "id": r,
        "name": RULES[r].title,
        "shortDescription": {"text": RULES[r].title},
        "fullDescription": {"text": RULES[r].description},
        "defaultConfiguration": {"level": LEVELS[RULES[r].severity]},
        "properties": {"category": RULES[r].category, "severity": RULES[r].severity},
    } for r in used]
    results = [{
        "ruleId": f.rule,
        "ruleIndex": index[f.rule],
        "level": LEVELS[f.severity],
        "message": {"text": f.message},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": Path(f.file).as_posix()},
            "region": {"startLine": f.line, "startColumn": f.column,
                       "endLine": f.end_line, "endColumn": f.end_column},
        }}],
    } for f in findings]
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "elixir-coder", "rules": rules}}, "results": results}],
    }
