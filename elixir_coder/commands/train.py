"""`elixir-coder train`: train the model on a corpus (calls ``model.train.train``)."""

from __future__ import annotations

import json
import sys


def add_arguments(p) -> None:
    p.add_argument("--config", default="tiny", metavar="NAME", help="model size: tiny, small, base, large")
    p.add_argument("--corpus", required=True, metavar="DIR", help="corpus directory (elixir-coder corpus build)")
    p.add_argument("--tokenizer", required=True, metavar="DIR", help="tokenizer directory (elixir-coder tokenizer train)")
    p.add_argument("--kg", metavar="STORE", help="KG store for K-BERT knowledge (without it: no knowledge)")
    p.add_argument("--out", required=True, metavar="DIR", help="output: model, checkpoints/, log.csv, loss.png")
    p.add_argument("--max-steps", type=int, metavar="N", help="optimizer steps (default: --epochs over the corpus)")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--minutes", type=float, metavar="M", help="stop after M minutes (a time budget)")
    p.add_argument("--batch-size", type=int, default=8, help="per device")
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--eval-steps", type=int, metavar="N", help="evaluate (and checkpoint) every N steps")
    p.add_argument("--eval-examples", type=int, default=16, metavar="N", help="evaluation examples per objective")
    p.add_argument("--patience", type=int, default=5, help="early stopping: evaluations without improvement")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-resume", action="store_true", help="start over even if OUT/checkpoints has one")
    p.add_argument("--no-knowledge", action="store_true", help="ablation: no K-BERT knowledge, no GNN")
    p.add_argument("--no-visible-matrix", action="store_true", help="ablation: branches visible to every token")
    p.add_argument("--no-gnn", action="store_true", help="ablation: no GNN <graph> soft tokens")
    p.add_argument("--no-curriculum", action="store_true")
    p.add_argument("--weights", metavar="JSON", help='objective weights, e.g. \'{"span": 1, "fim": 1}\'')
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def register(sub) -> None:
    p = sub.add_parser("train", help="train the encoder-decoder model on a corpus",
                       description="Train the K-BERT encoder-decoder model (HF Trainer). Resumes from "
                                   "OUT/checkpoints when one is there; runs under torchrun for DDP.")
    add_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from model.config import ConfigError
    from model.train import TrainError, train

    weights = None
    if args.weights:
        try:
            weights = json.loads(args.weights)
        except json.JSONDecodeError as e:
            print(f"error: --weights is not JSON: {e}", file=sys.stderr)
            return 2
    try:
        result = train(args.config, args.corpus, args.tokenizer, args.kg, args.out, max_steps=args.max_steps,
                       epochs=args.epochs, minutes=args.minutes, batch_size=args.batch_size,
                       grad_accum=args.grad_accum, lr=args.lr, eval_steps=args.eval_steps,
                       eval_per_objective=args.eval_examples, patience=args.patience, seed=args.seed,
                       resume=not args.no_resume, knowledge=not args.no_knowledge,
                       visible_matrix=not args.no_visible_matrix, gnn=not args.no_gnn, weights=weights,
                       curriculum=not args.no_curriculum, progress=not args.json)
    except (TrainError, ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(f"trained {result.steps} steps ({result.parameters:,} parameters) in {result.seconds}s; "
              f"train loss {result.train_loss}; model in {result.out}")
        for k, v in sorted(result.eval.items()):
            print(f"  {k}: {v:.4f}")
    return 0
