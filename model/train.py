"""Training on the HF Trainer: corpus units, per-objective evaluation, logs, checkpoints, resume.

Owns :func:`train` (what ``elixir-coder train`` runs): reads a corpus directory (contract 1),
builds the model of a named config with the tokenizer (contract 2), K-BERT knowledge from a KG
store, the objective mixture with its curriculum (``model/collators.py``), and runs the
``transformers`` ``Trainer``: checkpoints under ``OUT/checkpoints`` with exact resume (the
collator's choices are a function of (seed, index, step), the RNG states are restored by the
Trainer), evaluation loss and perplexity per objective, early stopping on the mean evaluation
loss, a cosine LR schedule with warm-up, bf16 on a GPU, ``torchrun`` DDP (gloo on CPU), a
progress bar, ``OUT/log.csv`` and ``OUT/loss.png``. The final model is saved to ``OUT`` with
``ElixirCoder.save_pretrained`` (``Coder.from_pretrained(OUT)`` loads it).
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from model.collators import DEFAULT_WEIGHTS, OBJECTIVES, Context, Curriculum, MixtureCollator
from model.config import ConfigError

LOG_COLUMNS = ["step", "split", "objective", "loss", "perplexity", "learning_rate", "epoch", "tokens", "seconds"]


class TrainError(RuntimeError):
    """Bad input for a training run (message says what to do)."""


# ---- corpus ------------------------------------------------------------------------------------------
def load_manifest(corpus: str | Path) -> dict:
    """The corpus manifest (model.corpus), with corpus errors as TrainError."""
    from model.corpus import CorpusError, load_manifest as corpus_manifest

    try:
        return corpus_manifest(corpus)
    except CorpusError as e:
        raise TrainError(str(e)) from None


def _records(corpus: Path, split: str, kind: str):
    from model.corpus import CorpusError, iter_files, iter_pairs

    try:
        yield from (iter_files if kind == "files" else iter_pairs)(corpus, split)
    except CorpusError as e:
        raise TrainError(str(e)) from None


def load_units(corpus: str | Path, split: str, window_chars: int = 2048) -> list[dict]:
    """Training units of a split: file windows (at line boundaries, at most ``window_chars``)
    and code-test pairs."""
    corpus = Path(corpus)
    units: list[dict] = []
    for rec in _records(corpus, split, "files"):
        text = rec.get("text") or ""
        start = 0
        while start < len(text):
            end = len(text) if len(text) - start <= window_chars else text.rfind("\n", start, start + window_chars) + 1
            if end <= start:
                end = start + window_chars
            piece = text[start:end]
            if piece.strip():
                units.append({"kind": "file", "text": piece, "is_test": bool(rec.get("is_test")),
                              "path": rec.get("path")})
            start = end
    for rec in _records(corpus, split, "pairs"):
        if rec.get("code") and rec.get("test"):
            units.append({"kind": "pair", "code": rec["code"], "test": rec["test"], "pair_kind": rec.get("kind")})
    return units


class UnitDataset(Dataset):
    """The training stream laid out in time: sample ``i`` is unit ``perm_e[i % N]`` of epoch
    ``e = i // N`` (a permutation seeded by (seed, e)), read sequentially. A sample's index is
    therefore its position in the run: the collator seeds its draws and the curriculum with it,
    which makes a resumed run see exactly what the interrupted one would have seen."""

    def __init__(self, units: list[dict], length: int | None = None, seed: int = 0):
        self.units = units
        self.length = max(length or len(units), 1)
        self.seed = seed
        self._perms: dict[int, list[int]] = {}

    def __len__(self):
        return self.length

    def __getitem__(self, i):
        n = len(self.units)
        epoch = i // n
        perm = self._perms.get(epoch)
        if perm is None:
            perm = list(range(n))
            random.Random(f"{self.seed}-epoch-{epoch}").shuffle(perm)
            self._perms = {epoch: perm}
        return {"idx": i, "unit": self.units[perm[i % n]]}


class ExampleDataset(Dataset):
    def __init__(self, examples):
        self.examples = examples

    def __len__(self):
        return len(self.examples)

    def __getitem__(self, i):
        return {"example": self.examples[i]}


def eval_sets(units: list[dict], ctx: Context, objectives, per_objective: int, seed: int = 0) -> dict:
    """Fixed evaluation examples per objective (the same for every run with the same data)."""
    out = {}
    for name in objectives:
        rng = random.Random(f"{seed}-{name}")
        examples = []
        for unit in units:
            ex = OBJECTIVES[name]({**unit, "text": (unit.get("text") or "")[: ctx.max_chars]}, rng, ctx)
            if ex is not None:
                examples.append(ex)
                if len(examples) >= per_objective:
                    break
        if examples:
            out[name] = ExampleDataset(examples)
    return out


# ---- trainer -------------------------------------------------------------------------------------------
def _trainer_class():
    from safetensors.torch import load_model, save_model
    from transformers import Trainer

    class ElixirTrainer(Trainer):
        def _get_train_sampler(self, train_dataset=None):
            # UnitDataset is already shuffled and laid out in time (see its doc)
            from torch.utils.data import SequentialSampler
            return SequentialSampler(train_dataset if train_dataset is not None else self.train_dataset)

        """Trainer that saves the composite model with shared embeddings (safetensors
        ``save_model``) and averages the per-objective evaluation losses into ``eval_loss``."""

        def _save(self, output_dir=None, state_dict=None):
            output_dir = output_dir or self.args.output_dir
            if not self.args.should_save:
                return
            os.makedirs(output_dir, exist_ok=True)
            model = self.accelerator.unwrap_model(self.model)
            save_model(model, os.path.join(output_dir, "model.safetensors"))
            model.config.save(output_dir)
            torch.save(self.args, os.path.join(output_dir, "training_args.bin"))

        def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
            path = os.path.join(resume_from_checkpoint, "model.safetensors")
            if not os.path.exists(path):
                raise TrainError(f"{resume_from_checkpoint}: no model.safetensors (not a checkpoint of this trainer)")
            load_model(self.accelerator.unwrap_model(model or self.model), path, device=self._device())

        def _device(self) -> str:
            d = self.args.device
            return "cpu" if d.type == "cpu" else str(d)

        def _load_best_model(self):
            best = self.state.best_model_checkpoint
            if best and os.path.exists(os.path.join(best, "model.safetensors")):
                load_model(self.accelerator.unwrap_model(self.model), os.path.join(best, "model.safetensors"),
                           device=self._device())

        def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):
            metrics = super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
            if eval_dataset is None and isinstance(self.eval_dataset, dict) and metric_key_prefix == "eval":
                losses = [v for k, v in metrics.items() if k.startswith("eval_") and k.endswith("_loss")
                          and k != "eval_loss"]
                if losses:
                    metrics["eval_loss"] = float(sum(losses) / len(losses))
                    self.log({"eval_loss": metrics["eval_loss"]})
                    # the per-objective evaluations each told the callbacks; now the mean (early stopping)
                    self.control = self.callback_handler.on_evaluate(
                        self.args, self.state, self.control, {"eval_loss": metrics["eval_loss"]})
            return metrics

    return ElixirTrainer


def _callbacks(collator, out: Path, minutes: float | None, patience: int | None = None):
    from transformers import EarlyStoppingCallback, TrainerCallback

    class MeanEarlyStopping(EarlyStoppingCallback):
        """Early stopping on the mean per-objective loss (``eval_loss``); the per-objective
        evaluations that come before it are not its business."""

        def on_evaluate(self, args, state, control, metrics=None, **kw):
            if metrics and "eval_loss" in metrics:
                super().on_evaluate(args, state, control, metrics, **kw)

    class CsvLog(TrainerCallback):
        """``OUT/log.csv``: one row per training log (split=train) and per objective evaluation
        (split=eval, with perplexity); ``OUT/loss.png`` redrawn at each evaluation and at the end."""

        def __init__(self):
            self.t0 = time.time()
            self.path = out / "log.csv"

        def _write(self, rows):
            new = not self.path.exists()
            with self.path.open("a", newline="") as f:
                w = csv.DictWriter(f, fieldnames=LOG_COLUMNS)
                if new:
                    w.writeheader()
                w.writerows(rows)

        def on_log(self, args, state, control, logs=None, **kw):
            if not state.is_world_process_zero or not logs:
                return
            base = {"step": state.global_step, "epoch": round(state.epoch or 0, 4),
                    "seconds": round(time.time() - self.t0, 2), "tokens": state.num_input_tokens_seen or ""}
            rows = []
            if "loss" in logs:
                rows.append({**base, "split": "train", "objective": "mixture", "loss": logs["loss"],
                             "perplexity": _ppl(logs["loss"]), "learning_rate": logs.get("learning_rate", "")})
            for k, v in logs.items():
                if k.startswith("eval_") and k.endswith("_loss"):
                    name = k[len("eval_"):-len("_loss")] or "all"
                    rows.append({**base, "split": "eval", "objective": name, "loss": v, "perplexity": _ppl(v)})
            if rows:
                self._write(rows)

        def on_evaluate(self, args, state, control, metrics=None, **kw):
            if state.is_world_process_zero and metrics and "eval_loss" in metrics:
                plot_losses(self.path, out / "loss.png")

    class TimeBudget(TrainerCallback):
        def on_train_begin(self, args, state, control, **kw):
            self.t0 = time.time()

        def on_step_end(self, args, state, control, **kw):
            if minutes is not None and time.time() - self.t0 > minutes * 60:
                control.should_training_stop = True
                control.should_evaluate = True
                control.should_save = True

    cbs = [CsvLog()]
    if patience:
        cbs.append(MeanEarlyStopping(early_stopping_patience=patience))
    if minutes is not None:
        cbs.append(TimeBudget())
    return cbs


def _truncate_log(path: Path, step: int) -> None:
    """Drop the log rows written after the checkpoint a run resumes from."""
    if not path.exists():
        return
    with path.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=LOG_COLUMNS)
        w.writeheader()
        w.writerows(rows)


def _ppl(loss) -> float:
    try:
        return round(math.exp(min(float(loss), 50.0)), 4)
    except (TypeError, ValueError):
        return float("nan")


def plot_losses(log_csv: Path, png: Path) -> None:
    """Training loss per step and evaluation loss per objective, from ``log.csv``."""
    if not log_csv.exists():
        return
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train, evals = [], {}
    with log_csv.open() as f:
        for row in csv.DictReader(f):
            if row["split"] == "train":
                train.append((int(row["step"]), float(row["loss"])))
            else:
                evals.setdefault(row["objective"], []).append((int(row["step"]), float(row["loss"])))
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot(*zip(*train), label="train", color="black")
    for name, pts in sorted(evals.items()):
        ax.plot(*zip(*pts), marker="o", linestyle="--", label=f"eval {name}", linewidth=2 if name == "all" else 1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


@dataclass
class TrainResult:
    out: str
    steps: int
    train_loss: float | None
    eval: dict
    parameters: int
    seconds: float
    tokens: int
    resumed_from: str | None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def train(config: str = "tiny", corpus: str | Path = "", tokenizer: str | Path = "", kg: str | Path | None = None,
          out: str | Path = "", *, max_steps: int | None = None, epochs: float = 1.0, minutes: float | None = None,
          batch_size: int = 8, grad_accum: int = 1, lr: float = 5e-4, warmup: float = 0.05,
          eval_steps: int | None = None, save_steps: int | None = None, eval_per_objective: int = 16,
          patience: int = 5, seed: int = 0, resume: bool = True, knowledge: bool = True,
          visible_matrix: bool = True, gnn: bool = True, weights: dict | None = None,
          curriculum: bool = True, progress: bool = True, config_overrides: dict | None = None) -> TrainResult:
    """Train a model of ``config`` on ``corpus`` and save it to ``out`` (see module doc)."""
    from transformers import TrainingArguments
    from transformers.utils import logging as hf_logging

    from model.kbert import KnowledgeInjector
    from model.modeling import ElixirCoder

    hf_logging.set_verbosity_error()
    out = Path(out)
    if not str(out):
        raise TrainError("--out is required")
    tokenizer_dir = Path(tokenizer)
    if not (tokenizer_dir / "tokenizer.json").exists():
        raise TrainError(f"{tokenizer_dir}: no tokenizer.json (train one with `elixir-coder tokenizer train`)")
    from model.modeling import _load_tokenizer
    tok = _load_tokenizer(tokenizer_dir)
    train_units = load_units(corpus, "train")
    if not train_units:
        raise TrainError(f"{corpus}: the train split is empty")
    eval_units = load_units(corpus, "validation") or train_units[: max(1, len(train_units) // 10)]

    store = None
    if kg is not None and knowledge:
        from sparql.store import KnowledgeGraph, StoreError
        try:
            store = KnowledgeGraph.open(kg, read_only=True)
        except StoreError as e:
            raise TrainError(str(e)) from None
    overrides = dict(config_overrides or {})
    overrides.update(knowledge=knowledge and store is not None, visible_matrix=visible_matrix,
                     gnn=gnn and knowledge and store is not None)
    from transformers import set_seed
    set_seed(seed)   # the initial weights too: the same command gives the same model
    try:
        model = ElixirCoder.from_config(config, tok, **overrides)
    except ConfigError as e:
        raise TrainError(str(e)) from None
    cfg = model.config
    injector = KnowledgeInjector(tok, cfg, store)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    total = max_steps or max(1, int(epochs * len(train_units) / batch_size / grad_accum / world))
    per_step = batch_size * grad_accum * world
    collator = MixtureCollator(tok, injector, cfg, weights or DEFAULT_WEIGHTS,
                               Curriculum(total) if curriculum else None, seed=seed, samples_per_step=per_step)
    ctx = collator.ctx
    evals = eval_sets(eval_units, ctx, [k for k, w in collator.weights.items() if w > 0], eval_per_objective, seed)
    eval_steps = eval_steps or max(1, total // 10)
    save_steps = save_steps or eval_steps
    if save_steps % eval_steps:
        save_steps = eval_steps * max(1, round(save_steps / eval_steps))
    ckpt_dir = out / "checkpoints"
    out.mkdir(parents=True, exist_ok=True)
    cuda = torch.cuda.is_available()
    args = TrainingArguments(
        output_dir=str(ckpt_dir), max_steps=total, num_train_epochs=1,
        per_device_train_batch_size=batch_size, per_device_eval_batch_size=batch_size,
        gradient_accumulation_steps=grad_accum, learning_rate=lr, lr_scheduler_type="cosine",
        warmup_steps=warmup, weight_decay=0.01, max_grad_norm=1.0,
        eval_strategy="steps" if evals else "no", eval_steps=eval_steps, save_strategy="steps",
        save_steps=save_steps, save_total_limit=2, logging_steps=max(1, min(10, eval_steps)),
        load_best_model_at_end=bool(evals), metric_for_best_model="eval_loss", greater_is_better=False,
        bf16=bool(cuda and torch.cuda.is_bf16_supported()), use_cpu=not cuda,
        ddp_backend=("nccl" if cuda else "gloo") if world > 1 else None,
        ddp_find_unused_parameters=True if world > 1 else None,
        dataloader_num_workers=0, seed=seed, data_seed=seed, report_to="none",
        disable_tqdm=not progress, remove_unused_columns=False, include_num_input_tokens_seen=True,
        save_only_model=False,
    )
    stream = UnitDataset(train_units, total * per_step, seed)
    trainer = _trainer_class()(model=model, args=args, train_dataset=stream,
                               eval_dataset=evals or None, data_collator=collator,
                               callbacks=_callbacks(collator, out, minutes, patience if evals else None))
    if not progress:   # machine output (--json): nothing but the result on stdout
        from transformers.trainer_callback import PrinterCallback
        trainer.remove_callback(PrinterCallback)
    resume_from = None
    if resume and ckpt_dir.exists():
        from transformers.trainer_utils import get_last_checkpoint
        resume_from = get_last_checkpoint(str(ckpt_dir))
        if resume_from:
            _truncate_log(out / "log.csv", int(Path(resume_from).name.rsplit("-", 1)[-1]))
    t0 = time.time()
    result = trainer.train(resume_from_checkpoint=resume_from)
    evaluated = [h for h in trainer.state.log_history if "eval_loss" in h]
    best = trainer.state.best_model_checkpoint
    last = f"checkpoint-{trainer.state.global_step}"
    if evals and (not evaluated or evaluated[-1].get("step") != trainer.state.global_step
                  or (best and Path(best).name != last)):
        final_eval = trainer.evaluate()   # the model kept at the end (the best one) or the last steps
    else:   # the last evaluation was of this very model: gather its per-objective rows
        last_step = evaluated[-1]["step"] if evaluated else None
        final_eval = {k: v for h in trainer.state.log_history if h.get("step") == last_step
                      for k, v in h.items() if k.startswith("eval_")}
    if trainer.is_world_process_zero():
        model.save_pretrained(out)
        plot_losses(out / "log.csv", out / "loss.png")
        summary = TrainResult(
            out=str(out), steps=trainer.state.global_step, train_loss=result.training_loss,
            eval={k: v for k, v in final_eval.items() if k.endswith("_loss")},
            parameters=model.num_parameters(), seconds=round(time.time() - t0, 2),
            tokens=int(trainer.state.num_input_tokens_seen or 0), resumed_from=resume_from)
        (out / "train_summary.json").write_text(json.dumps(summary.to_dict(), indent=2) + "\n")
    else:
        summary = TrainResult(str(out), trainer.state.global_step, result.training_loss, {}, 0, 0.0, 0, resume_from)
    if store is not None:
        store.close()
    return summary


def main(argv=None) -> int:
    """``python -m model.train ...`` (for ``torchrun``): the same flags as ``elixir-coder train``."""
    import argparse

    from elixir_coder.commands.train import add_arguments, run

    p = argparse.ArgumentParser(prog="python -m model.train")
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())


# ---- held-out evaluation (benchmarks/train_ablation.py) -------------------------------------------------
@torch.no_grad()
def evaluate_examples(model, examples: dict, kg=None, batch_size: int = 8) -> dict:
    """Token-weighted loss and perplexity per objective of ``examples`` ({objective: [Example]})
    for a trained model, knowledge from ``kg`` injected as its config says; plus ``all`` (the
    mean over objectives) and ``tokens`` (all target tokens)."""
    from model.collators import MixtureCollator

    model.eval()
    collator = MixtureCollator(model.tokenizer, model.injector(kg), model.config)
    device = model.device
    out, total_tokens = {}, 0
    for name, exs in examples.items():
        loss_sum, n_tok = 0.0, 0
        for i in range(0, len(exs), batch_size):
            batch = collator.encode(exs[i:i + batch_size])
            batch = {k: (v.to(device) if hasattr(v, "to") else v) for k, v in batch.items()}
            n = int((batch["labels"] != -100).sum())
            loss_sum += float(model(**batch).loss) * n
            n_tok += n
        if n_tok:
            out[name] = {"loss": loss_sum / n_tok, "perplexity": _ppl(loss_sum / n_tok), "tokens": n_tok}
            total_tokens += n_tok
    if out:
        mean = sum(v["loss"] for v in out.values()) / len(out)
        out["all"] = {"loss": mean, "perplexity": _ppl(mean), "tokens": total_tokens}
    return out
