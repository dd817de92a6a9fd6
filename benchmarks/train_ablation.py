"""Held-out loss with vs without K-BERT knowledge injection at the same training budget.

Trains the same config on the same corpus from the same seed once per mode -- ``knowledge``
(branches + GNN soft tokens + visible matrix), ``plain`` (no knowledge: the K-BERT no-knowledge
ablation), optionally ``no-visible`` and ``no-gnn`` -- for the same number of optimizer steps
(``--max-steps``) or the same wall-clock budget (``--minutes``), then measures every model on
the same held-out examples (the corpus's ``test`` split, else ``validation``): token-weighted
loss and perplexity per objective and their mean. Knowledge gains can vanish (K-BERT's own
issues): this measures, it assumes nothing. Long runs belong to the coordinator; never a test.

    .venv/bin/python benchmarks/train_ablation.py --corpus ~/.cache/elixir-coder/corpus/default \
        --tokenizer ~/.cache/elixir-coder/tokenizer/default --kg STORE --config tiny --max-steps 300
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MODES = {
    "knowledge": dict(knowledge=True, visible_matrix=True, gnn=True),
    "plain": dict(knowledge=False, visible_matrix=True, gnn=False),
    "no-visible": dict(knowledge=True, visible_matrix=False, gnn=True),
    "no-gnn": dict(knowledge=True, visible_matrix=True, gnn=False),
}


def build_kg_from_corpus(corpus: str | Path, directory: str | Path) -> Path:
    """A KG store of the corpus's own files (every split), for machines without the real store:
    the file records are written back under ``directory/src/<project>/`` and built there with
    ``kg.build`` (tree-sitter only, no Elixir needed). Returns the store path."""
    from kg.build import build
    from model.corpus import SPLITS, iter_files
    from sparql.store import KnowledgeGraph

    directory = Path(directory)
    projects: set[str] = set()
    for split in SPLITS:
        for rec in iter_files(corpus, split):
            project = (rec.get("project") or "unknown").replace("/", "_")
            dest = directory / "src" / project / rec["path"]
            if ".." in Path(rec["path"]).parts:
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(rec.get("text") or "")
            projects.add(project)
    store = directory / "kg"
    kg = KnowledgeGraph.open(store)
    for project in sorted(projects):
        build(kg, directory / "src" / project)
    kg.close()
    return store


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", required=True)
    p.add_argument("--tokenizer", required=True)
    kg_src = p.add_mutually_exclusive_group(required=True)
    kg_src.add_argument("--kg", help="KG store (read-only)")
    kg_src.add_argument("--build-kg", metavar="DIR", help="build a KG of the corpus's files in DIR first")
    p.add_argument("--config", default="tiny")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--max-steps", type=int, default=None)
    budget.add_argument("--minutes", type=float, default=None, help="wall-clock budget per mode")
    p.add_argument("--modes", default="knowledge,plain", help=f"comma-separated, of {', '.join(MODES)}")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--eval-examples", type=int, default=32, help="held-out examples per objective")
    p.add_argument("--out", help="directory for the trained models (default: a temporary one)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    modes = args.modes.split(",")
    bad = [m for m in modes if m not in MODES]
    if bad:
        p.error(f"unknown mode(s) {bad}; choose from {', '.join(MODES)}")
    if args.max_steps is None and args.minutes is None:
        args.max_steps = 200

    from encoders.graphs import EntityIndex
    from model.collators import OBJECTIVES, Context
    from model.modeling import ElixirCoder, _load_tokenizer
    from model.train import TrainError, eval_sets, evaluate_examples, load_manifest, load_units, train
    from sparql.store import KnowledgeGraph

    try:
        manifest = load_manifest(args.corpus)
    except TrainError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    split = "test" if manifest.get("splits", {}).get("test") else "validation"
    if args.build_kg:
        t0 = time.time()
        args.kg = str(build_kg_from_corpus(args.corpus, args.build_kg))
        if not args.json:
            print(f"built a KG of the corpus in {time.time() - t0:.1f}s: {args.kg}", flush=True)
    tok = _load_tokenizer(args.tokenizer)
    kg = KnowledgeGraph.open(args.kg, read_only=True)
    held = load_units(args.corpus, split)
    if not held:
        print(f"error: {args.corpus}: no held-out ({split}) records", file=sys.stderr)
        return 2
    ctx = Context(tok, EntityIndex(kg), max_chars=1024)
    examples = {k: v.examples for k, v in eval_sets(held, ctx, list(OBJECTIVES), args.eval_examples, args.seed).items()}
    out_root = Path(args.out or tempfile.mkdtemp(prefix="ec-ablation-"))
    results = {"config": args.config, "split": split, "budget": {"max_steps": args.max_steps, "minutes": args.minutes},
               "examples": {k: len(v) for k, v in examples.items()}, "modes": {}}
    for mode in modes:
        t0 = time.time()
        r = train(args.config, args.corpus, args.tokenizer, args.kg, out_root / mode, max_steps=args.max_steps,
                  minutes=args.minutes, batch_size=args.batch_size, lr=args.lr, seed=args.seed, resume=False,
                  progress=False, eval_per_objective=8, **MODES[mode])
        model = ElixirCoder.from_pretrained(out_root / mode)
        import torch
        if torch.cuda.is_available():
            model = model.cuda()
        held_loss = evaluate_examples(model, examples, kg if MODES[mode]["knowledge"] else None, args.batch_size)
        results["modes"][mode] = {"steps": r.steps, "train_seconds": r.seconds, "train_tokens": r.tokens,
                                  "train_loss": r.train_loss, "heldout": held_loss,
                                  "wall_seconds": round(time.time() - t0, 1)}
        if not args.json:
            print(f"{mode:11s} steps {r.steps:5d}  held-out loss {held_loss['all']['loss']:.4f} "
                  f"(ppl {held_loss['all']['perplexity']:.2f})  "
                  + "  ".join(f"{k} {v['loss']:.3f}" for k, v in held_loss.items() if k != "all"), flush=True)
    if "knowledge" in results["modes"] and "plain" in results["modes"]:
        k = results["modes"]["knowledge"]["heldout"]["all"]["loss"]
        b = results["modes"]["plain"]["heldout"]["all"]["loss"]
        results["knowledge_minus_plain"] = round(k - b, 4)
        if not args.json:
            print(f"held-out loss, knowledge - plain: {k - b:+.4f} ({'knowledge better' if k < b else 'no gain'})")
    if args.json:
        print(json.dumps(results, indent=2))
    kg.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
