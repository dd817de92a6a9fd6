"""Constrained vs unconstrained decoding, side by side, on the MultiPL-E style benchmark.

Runs ``model.evaluate.evaluate`` twice with the same model, KG, problems, samples and seeds —
once plain, once with the syntax processor + KG monitor — and prints:

* syntax errors (real parser) and their reduction (target: -96 %, SynCode's result);
* hallucinated remote calls (KG; target 0) and callback errors;
* pass@1 (and pass@k), mean and p95 latency per problem (target < 5 s on CPU);
* the per-token overhead of the constraints: time spent inside the logits processors per
  generated token, relative to the unconstrained time per token (target <= 10 %), and the
  wall-clock difference per token.

Usage::

    python benchmarks/eval_constrained.py --model DIR --kg STORE \\
        [--benchmark benchmarks/data/elixir_eval.jsonl] [--limit N] [--samples K] [--json]

Never run as a test. A model trained for minutes on two CPU cores writes poor Elixir; the point
is how much the symbolic side changes validity, measured honestly on the same samples budget.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--kg", help="KG store (kg stdlib / kg build)")
    ap.add_argument("--benchmark", default=str(ROOT / "benchmarks/data/elixir_eval.jsonl"))
    ap.add_argument("--limit", type=int)
    ap.add_argument("--samples", type=int, default=1)
    ap.add_argument("--temperature", type=float)
    ap.add_argument("--max-new-tokens", type=int, default=160)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--overhead-problems", type=int, default=8,
                    help="problems for the equal-length overhead measurement")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    import torch

    from model.coder import Coder
    from model.evaluate import evaluate, load_benchmark
    from sparql.store import KnowledgeGraph

    kg = KnowledgeGraph.open(args.kg, read_only=True) if args.kg else None
    coder = Coder.from_pretrained(args.model, kg=kg)
    problems = load_benchmark(args.benchmark, args.limit)
    # warm up the sidecar, the sandbox and the token tables outside the measurement
    coder.oracle("x = 1\n")
    coder.complete("defmodule W do\n", constrained=True, max_new_tokens=2)
    reports = {}
    for constrained in (False, True):
        torch.manual_seed(args.seed)
        reports["constrained" if constrained else "unconstrained"] = evaluate(
            coder, problems, samples=args.samples, constrained=constrained, temperature=args.temperature,
            max_new_tokens=args.max_new_tokens, progress=not args.json)
    overhead = equal_length_overhead(coder, problems[:args.overhead_problems], args.max_new_tokens)
    probe = remote_call_probe(coder, problems) if kg is not None else None
    u, c = reports["unconstrained"], reports["constrained"]
    for r in (u, c):
        r.pop("per_problem", None)
    summary = {
        "problems": u["problems"],
        "samples_per_problem": args.samples,
        "syntax_errors": {"unconstrained": u["syntax_errors"], "constrained": c["syntax_errors"],
                          "reduction_pct": _reduction(u["syntax_errors"], c["syntax_errors"])},
        "syntax_valid_rate": {"unconstrained": u["syntax_valid_rate"], "constrained": c["syntax_valid_rate"]},
        "syntax_error_kinds": {"unconstrained": u["syntax_error_kinds"], "constrained": c["syntax_error_kinds"]},
        "hallucinated_calls": {"unconstrained": u["hallucinated_calls"], "constrained": c["hallucinated_calls"],
                               "checked_unconstrained": u["remote_calls_checked"],
                               "checked_constrained": c["remote_calls_checked"]},
        "callback_errors": {"unconstrained": u["callback_errors"], "constrained": c["callback_errors"]},
        "pass_at_1": {"unconstrained": u["pass_at_1"], "constrained": c["pass_at_1"]},
        "p95_latency_s": {"unconstrained": u["p95_latency_s"], "constrained": c["p95_latency_s"]},
        "mean_latency_s": {"unconstrained": u["mean_latency_s"], "constrained": c["mean_latency_s"]},
        "seconds_per_token": {"unconstrained": u["seconds_per_token"], "constrained": c["seconds_per_token"]},
        # time inside the logits processors relative to the rest of the constrained generation
        "constraint_overhead_pct_per_token": round(
            100 * c["constraint_seconds"] / max(1e-9, c["mean_latency_s"] * c["problems"] - c["constraint_seconds"]), 2),
        "equal_length_overhead": overhead,
        "remote_call_probe": probe,
        "sandbox": c["sandbox"],
        "full": reports,
    }
    if args.samples > 1:
        k = f"pass_at_{args.samples}"
        summary[k] = {"unconstrained": u.get(k), "constrained": c.get(k)}
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"problems: {summary['problems']}  samples/problem: {args.samples}  sandbox: {summary['sandbox']}")
    print(f"{'':34}{'unconstrained':>15}{'constrained':>15}")
    for key in ("syntax_errors", "syntax_error_kinds", "syntax_valid_rate", "hallucinated_calls", "callback_errors", "pass_at_1",
                "mean_latency_s", "p95_latency_s", "seconds_per_token"):
        row = summary[key]
        print(f"{key:34}{row['unconstrained']!s:>15}{row['constrained']!s:>15}")
    print(f"syntax error reduction: {summary['syntax_errors']['reduction_pct']} %  (target -96 %)")
    if probe:
        print(f"remote-call probe (prompt + '    Enum.'/'String.'/'Map.', {probe['calls']} calls each way): "
              f"names the KG's module lacks: unconstrained {probe['unconstrained_bad']}, "
              f"constrained {probe['constrained_bad']}")
    o = summary["equal_length_overhead"]
    print(f"constraint time per token: {summary['constraint_overhead_pct_per_token']} % of the model's time "
          f"(target <= 10 %); equal length ({o['tokens']} tokens each): plain {o['plain_s']} s, constrained "
          f"{o['constrained_s']} s, overhead {o['overhead_pct']} % (processor itself: {o['processor_pct']} %)")
    return 0


def remote_call_probe(coder, problems, tokens: int = 8) -> dict:
    """Force a remote call: each prompt followed by ``    Enum.`` / ``String.`` / ``Map.``
    (round robin), ``tokens`` greedy tokens, plain vs constrained (syntax + KG monitor); count
    the written names that are not public functions of that module in the KG (any arity)."""
    import re

    from reasoning.behaviour import module_functions

    mods = ["Enum", "String", "Map"]
    bad = {False: 0, True: 0}
    examples = {False: [], True: []}
    for i, p in enumerate(problems):
        mod = mods[i % len(mods)]
        names = {n for (n, _a), pub in (module_functions(coder.kg, mod) or {}).items() if pub}
        for constrained in (False, True):
            c = coder.complete(p["prompt"] + f"    {mod}.", constrained=constrained, max_new_tokens=tokens)[0]
            m = re.match(r"[a-z_][A-Za-z0-9_]*[?!]?", c.text)
            name = m.group(0) if m else c.text[:12]
            ended = m is not None and len(c.text) > len(name)
            ok = name in names if ended else any(n.startswith(name) for n in names) and bool(m)
            if not ok:
                bad[constrained] += 1
                if len(examples[constrained]) < 5:
                    examples[constrained].append(f"{mod}.{c.text[:20]}")
    return {"calls": len(problems), "unconstrained_bad": bad[False], "constrained_bad": bad[True],
            "examples_unconstrained": examples[False], "examples_constrained": examples[True]}


def equal_length_overhead(coder, problems, max_new_tokens: int) -> dict:
    """Plain vs constrained greedy decoding of the same prompts forced to the same length
    (``min_new_tokens``): the per-token cost of the constraints without the confound that
    unconstrained samples stop earlier. The token tables and caches are warm (a first pass)."""
    import time

    from transformers import LogitsProcessorList

    from model import tokens as T
    from model.constrained.syntax import SyntaxLogitsProcessor

    def run(constrained: bool) -> tuple[float, int, float]:
        secs = proc_secs = 0.0
        toks = 0
        for p in problems:
            kw = dict(max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens, do_sample=False)
            proc = None
            if constrained:
                proc = SyntaxLogitsProcessor(coder.tokenizer, [p["prompt"]], max_new_tokens=max_new_tokens,
                                             oracle=coder.oracle, texts=coder.texts, cache=coder._syntax_cache)
                kw["logits_processor"] = LogitsProcessorList([proc])
                kw.pop("min_new_tokens")
            t0 = time.perf_counter()
            ids = coder.model.generate_ids([T.TASKS["generate"] + p["prompt"]], **kw)
            secs += time.perf_counter() - t0
            toks += ids.shape[1] - 1
            proc_secs += proc.stats["seconds"] if proc else 0.0
        return secs, toks, proc_secs

    run(True)  # warm the caches once
    plain_s, plain_t, _ = run(False)
    cons_s, cons_t, proc_s = run(True)
    per_plain, per_cons = plain_s / max(1, plain_t), cons_s / max(1, cons_t)
    return {"problems": len(problems), "tokens": plain_t // max(1, len(problems)),
            "plain_s": round(plain_s, 3), "constrained_s": round(cons_s, 3),
            "plain_tokens": plain_t, "constrained_tokens": cons_t,
            "overhead_pct": round(100 * (per_cons - per_plain) / per_plain, 2),
            "processor_pct": round(100 * proc_s / max(1e-9, cons_s - proc_s), 2)}


def _reduction(before: int, after: int):
    if before == 0:
        return None
    return round(-100.0 * (before - after) / before, 1)


if __name__ == "__main__":
    sys.exit(main())
