"""Training throughput (tokens/s) per model config, with and without K-BERT knowledge injection.

For each config the same examples (drawn once from the objective mixture) are encoded twice:
plain, and as sentence trees with KG branches, GNN soft tokens and the visible matrix. Then a
fixed number of optimizer steps (AdamW, forward + backward + step; bf16 autocast on a GPU) is
timed after warm-up steps, the two modes' steps interleaved so that both see the same machine
load. Tokens counted are the *text* tokens (encoder main text + decoder
targets), the same in both modes, so the ratio of the two rates is the cost of knowledge:
``overhead = tokens/s without / tokens/s with`` (target <= 1.25). Collation (knowledge lookup by
SPARQL included, cached per entity) is timed separately, cold (empty caches) and warm (what a
long run sees), and ``overhead_with_collate`` adds the warm collation time to the step time.

Without --corpus/--tokenizer/--kg it uses the shop fixture project (a KG built into a temporary
directory, a tokenizer trained on it). Never run as a test.

    .venv/bin/python benchmarks/train_throughput.py --configs tiny,small --steps 5
    .venv/bin/python benchmarks/train_throughput.py --corpus ~/.cache/elixir-coder/corpus/default \
        --tokenizer ~/.cache/elixir-coder/tokenizer/default --kg STORE --configs tiny,small,base --json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
TARGET = 1.25


def fixture_setup(tmp: Path):
    from kg.build import build
    from model.tokenizer import train_tokenizer
    from sparql.store import KnowledgeGraph

    shop = REPO / "tests" / "fixtures" / "projects" / "shop"
    texts = [p.read_text() for p in sorted(shop.rglob("*.ex*"))]
    tok = train_tokenizer(texts * 5, 2000)
    kg = KnowledgeGraph.open(tmp / "kg")
    build(kg, shop)
    units = [{"kind": "file", "text": t} for t in texts]
    return tok, kg, units


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", help="corpus directory (contract 1); default: the shop fixture")
    p.add_argument("--tokenizer", help="tokenizer directory")
    p.add_argument("--kg", help="KG store (read-only)")
    p.add_argument("--build-kg", metavar="DIR", help="instead of --kg: build a KG of the corpus's files in DIR")
    p.add_argument("--configs", default="tiny,small", help="comma-separated config names")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--steps", type=int, default=5, help="timed optimizer steps per mode")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--max-source-len", type=int, default=256)
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    import torch

    from model.collators import DEFAULT_WEIGHTS, Context, make_example
    from model.modeling import ElixirCoder
    from model.collators import MixtureCollator

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    tmp = Path(tempfile.mkdtemp(prefix="ec-throughput-"))
    if args.corpus:
        from model.modeling import _load_tokenizer
        from model.train import load_units
        from sparql.store import KnowledgeGraph

        if not (args.tokenizer and (args.kg or args.build_kg)):
            p.error("--corpus needs --tokenizer and --kg (or --build-kg)")
        if args.build_kg:
            from train_ablation import build_kg_from_corpus
            args.kg = str(build_kg_from_corpus(args.corpus, args.build_kg))
        tok = _load_tokenizer(args.tokenizer)
        kg = KnowledgeGraph.open(args.kg, read_only=True)
        units = load_units(args.corpus, "train")
    else:
        tok, kg, units = fixture_setup(tmp)
    rng = random.Random(args.seed)
    n_batches = args.steps + args.warmup
    ctx = Context(tok, None, max_chars=args.max_source_len * 4)
    weights = {k: v for k, v in DEFAULT_WEIGHTS.items() if k != "ontology"}
    examples = [make_example(rng.choice(units), random.Random(i), ctx, weights)
                for i in range(n_batches * args.batch_size)]
    results = []
    amp = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" else \
        (lambda: torch.autocast("cpu", enabled=False))

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    for name in args.configs.split(","):
        row = {"config": name, "device": str(device), "batch_size": args.batch_size}
        runs = {}
        for knowledge in (False, True):
            key = "with" if knowledge else "without"
            torch.manual_seed(args.seed)
            model = ElixirCoder.from_config(name, tok, knowledge=knowledge, gnn=knowledge,
                                            max_source_len=args.max_source_len).to(device)
            cfg = model.config
            collator = MixtureCollator(tok, model.injector(kg if knowledge else None), cfg)
            # collation twice: cold (KG caches empty) and warm (a long run's steady state)
            times = []
            for _ in range(2):
                t0 = time.perf_counter()
                batches = [collator.encode(examples[i * args.batch_size:(i + 1) * args.batch_size])
                           for i in range(n_batches)]
                times.append(time.perf_counter() - t0)
            row[f"collate_cold_ms_{key}"] = round(1000 * times[0] / n_batches, 1)
            row[f"collate_ms_{key}"] = round(1000 * times[1] / n_batches, 1)
            row[f"encoder_tokens_{key}"] = sum(int(b["attention_mask"].sum()) for b in batches)
            row["parameters"] = model.num_parameters()
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
            model.train()
            runs[key] = (model, opt, batches)
        # text tokens: decoder targets + the plain tokenisation of the sources (the same in both modes)
        plain = [len(tok(e.source, add_special_tokens=False, truncation=True,
                         max_length=args.max_source_len - 1)["input_ids"]) + 1 for e in examples]
        batches = runs["without"][2]
        text_tokens = [int((b["labels"] != -100).sum()) + sum(plain[i * args.batch_size:(i + 1) * args.batch_size])
                       for i, b in enumerate(batches)]

        def step(key, i):
            model, opt, bs = runs[key]
            b = {k: (v.to(device) if hasattr(v, "to") else v) for k, v in bs[i].items()}
            sync()
            t0 = time.perf_counter()
            with amp():
                loss = model(**b).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            sync()
            return time.perf_counter() - t0

        for i in range(args.warmup):
            step("without", i)
            step("with", i)
        # interleaved, so that both modes see the same machine load
        spent = {"without": 0.0, "with": 0.0}
        for i in range(args.warmup, n_batches):
            for key in (("without", "with") if i % 2 else ("with", "without")):
                spent[key] += step(key, i)
        timed_tokens = sum(text_tokens[args.warmup:])
        for key in ("without", "with"):
            row[f"tokens_per_s_{key}"] = round(timed_tokens / spent[key], 1)
            row[f"step_ms_{key}"] = round(1000 * spent[key] / args.steps, 1)
        del runs
        row["overhead"] = round(row["tokens_per_s_without"] / row["tokens_per_s_with"], 3)
        row["overhead_with_collate"] = round(
            (row["step_ms_with"] + row["collate_ms_with"]) / (row["step_ms_without"] + row["collate_ms_without"]), 3)
        row["knowledge_token_share"] = round(row["encoder_tokens_with"] / row["encoder_tokens_without"], 3)
        row["meets_target"] = row["overhead"] <= TARGET
        results.append(row)
        if not args.json:
            print(f"{name:6s} {row['parameters'] / 1e6:7.1f}M  tokens/s without {row['tokens_per_s_without']:9.1f}  "
                  f"with {row['tokens_per_s_with']:9.1f}  overhead {row['overhead']:.3f}x "
                  f"(target <= {TARGET}; with collation {row['overhead_with_collate']:.3f}x; "
                  f"encoder tokens x{row['knowledge_token_share']})", flush=True)
    if args.json:
        print(json.dumps({"device": str(device), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
