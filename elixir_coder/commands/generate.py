"""`elixir-coder generate --model DIR [--kg STORE] PROMPT`: code from a prompt through the
generation API (model/coder.py), printing the code and the checks it passed."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def register(sub) -> None:
    c = sub.add_parser("generate", help="generate Elixir code from a prompt (constrained, checked, repaired)",
                       description="Generate Elixir code that continues PROMPT (a file path, '-' for stdin, "
                                   "or the text itself), with syntax-constrained decoding, the KG monitor "
                                   "(with --kg), and generate-check-repair (parse, KG, compile in the sandbox).")
    c.add_argument("prompt", metavar="PROMPT", help="prompt text, a file holding it, or - for stdin")
    c.add_argument("--model", required=True, metavar="DIR", help="a saved model directory (elixir-coder train --out)")
    c.add_argument("--kg", metavar="STORE", help="knowledge graph store (elixir-coder kg build / kg stdlib)")
    c.add_argument("--max-new-tokens", type=int, default=160)
    c.add_argument("--samples", type=int, default=1, help="samples to draw (the best-checked one is kept)")
    c.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    c.add_argument("--repair-rounds", type=int, default=2)
    c.add_argument("--unconstrained", action="store_true", help="no syntax/KG constraints while decoding")
    c.add_argument("--clarify", action="store_true",
                   help="with --samples > 1: ask clarifying questions when the samples disagree")
    c.add_argument("--tests", action="store_true", help="also generate an ExUnit test module for the code")
    c.add_argument("--explain", action="store_true", help="also generate an explanation of the code")
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    c.set_defaults(func=cmd_generate)


def _read_prompt(p: str) -> str | None:
    if p == "-":
        return sys.stdin.read()
    path = Path(p)
    if path.is_file():
        return path.read_text(encoding="utf-8")
    return p


def load_coder(model: str, kg_store: str | None):
    """The Coder for ``--model`` with the KG at ``--kg`` (read-only), or None after printing why
    not (callers exit 2). Shared by ``generate`` and ``eval``."""
    from model.config import ConfigError

    if not Path(model).is_dir():
        print(f"error: {model}: no such model directory", file=sys.stderr)
        return None
    kg = None
    if kg_store:
        from elixir_coder.commands import open_store
        kg = open_store(kg_store, read_only=True, must_exist=True)
        if kg is None:
            return None
    from model.coder import Coder
    try:
        return Coder.from_pretrained(model, kg=kg)
    except (ConfigError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return None


def cmd_generate(args) -> int:
    coder = load_coder(args.model, args.kg)
    if coder is None:
        return 2
    prompt = _read_prompt(args.prompt)
    g = coder.generate(prompt, constrained=not args.unconstrained, max_new_tokens=args.max_new_tokens,
                       num_samples=args.samples, temperature=args.temperature,
                       repair_rounds=args.repair_rounds, clarify=args.clarify)
    out = g.to_dict()
    if args.tests and g.code:
        out["tests"] = coder.generate_tests(g.code)
    if args.explain and g.code:
        out["explanation"] = coder.explain(g.code)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    if g.clarification is not None:
        print("The prompt is ambiguous; the samples disagree:")
        for q in g.clarification.questions:
            print(f"  - {q['question']}")
        return 0
    print(g.code)
    print("# checks:")
    for name, c in g.checks.items():
        print(f"#   {name}: {'passed' if c['passed'] else 'FAILED'}"
              + ("" if c["passed"] else f" ({_short(c['detail'])})"))
    for r in g.repairs:
        print(f"#   repair round {r['round']}: {r['check']} error at line {r['line']}: {r['error'][:120]}"
              f" -> {'fixed' if r['fixed_that_error'] else 'not fixed'}")
    if "tests" in out:
        print("# tests:\n" + out["tests"])
    if "explanation" in out:
        print("# explanation:\n" + out["explanation"])
    return 0


def _short(detail) -> str:
    return json.dumps(detail)[:200] if not isinstance(detail, str) else detail[:200]
