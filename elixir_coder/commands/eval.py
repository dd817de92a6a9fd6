"""`elixir-coder eval --model DIR --kg STORE --benchmark FILE.jsonl`: the MultiPL-E style
evaluation (model/evaluate.py): pass@1 (pass@k), syntax validity, hallucinated calls,
callback errors and latency, constrained or not."""

from __future__ import annotations

import json
import sys

SUMMARY = ("problems", "pass_at_1", "syntax_valid_rate", "hallucinated_call_rate", "callback_errors",
           "mean_latency_s", "p95_latency_s", "constraint_share", "sandbox")


def register(sub) -> None:
    c = sub.add_parser("eval", help="evaluate a model on a MultiPL-E format benchmark",
                       description="Generate completions for each problem of a MultiPL-E style JSONL "
                                   "benchmark (name, prompt, tests, stop_tokens), run prompt + completion + "
                                   "tests in the sandbox, and report pass@1 (unbiased; pass@k with --samples), "
                                   "syntax_valid_rate (real parser), hallucinated_call_rate (KG), "
                                   "callback_errors and latency.")
    c.add_argument("--model", required=True, metavar="DIR")
    c.add_argument("--kg", metavar="STORE", help="KG store (for the monitor and the call/callback checks)")
    c.add_argument("--benchmark", required=True, metavar="FILE.jsonl")
    c.add_argument("--limit", type=int, metavar="N", help="only the first N problems")
    c.add_argument("--samples", type=int, default=1, metavar="K", help="samples per problem (pass@K)")
    c.add_argument("--temperature", type=float, help="default 0 (greedy) for 1 sample, 0.8 otherwise")
    c.add_argument("--max-new-tokens", type=int, default=160)
    c.add_argument("--unconstrained", action="store_true", help="plain decoding (no syntax/KG constraints)")
    c.add_argument("--per-problem", action="store_true", help="include every problem's details in --json")
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    c.set_defaults(func=cmd_eval)


def cmd_eval(args) -> int:
    from model.evaluate import BenchmarkError, evaluate, load_benchmark

    if args.limit is not None and args.limit < 1 or args.samples < 1:
        print("error: --limit and --samples must be at least 1", file=sys.stderr)
        return 2
    try:
        problems = load_benchmark(args.benchmark, args.limit)
    except BenchmarkError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from elixir_coder.commands.generate import load_coder
    coder = load_coder(args.model, args.kg)
    if coder is None:
        return 2
    report = evaluate(coder, problems, samples=args.samples, constrained=not args.unconstrained,
                      temperature=args.temperature, max_new_tokens=args.max_new_tokens,
                      progress=not args.json or sys.stderr.isatty())
    if not args.per_problem:
        report.pop("per_problem")
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    keys = list(SUMMARY) + [k for k in report if k.startswith("pass_at_") and k != "pass_at_1"]
    for k in keys:
        if k in report:
            print(f"{k:24} {report[k]}")
    return 0
