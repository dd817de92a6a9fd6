"""`elixir-coder train` end to end on a tiny corpus (contract 1 format) with a real KG: outputs,
exact resume, bad input, and DDP with two CPU processes on gloo (torchrun)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from elixir_coder.cli import main
from model.modeling import ElixirCoder
from tests.conftest import REPO

ARGS = ["--max-steps", "4", "--batch-size", "2", "--eval-steps", "2", "--eval-examples", "2"]


def run(corpus, tokenizer, kg, out, *extra):
    return main(["train", "--config", "tiny", "--corpus", str(corpus), "--tokenizer", str(tokenizer.dir),
                 "--kg", str(kg), "--out", str(out), *ARGS, *extra, "--json"])


@pytest.fixture(scope="module")
def trained(corpus, tokenizer, shop_kg_path, tmp_path_factory):
    """One uninterrupted 4-step run: (output directory, its --json summary)."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("train") / "out"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert run(corpus, tokenizer, shop_kg_path, out) == 0
    return out, json.loads(buf.getvalue())


def test_train_end_to_end(trained):
    out, summary = trained
    assert summary["steps"] == 4 and summary["parameters"] < 5e6
    assert "eval_loss" in summary["eval"] and "eval_span_loss" in summary["eval"]
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert {"step", "loss"} <= set(rows[0])
    train_rows = [r for r in rows if r["split"] == "train"]
    eval_rows = [r for r in rows if r["split"] == "eval"]
    assert [int(r["step"]) for r in train_rows] == [2, 4]
    assert {"span", "fim", "all"} <= {r["objective"] for r in eval_rows}
    for r in eval_rows:
        assert float(r["perplexity"]) == pytest.approx(torch.exp(torch.tensor(float(r["loss"]))).item(), rel=1e-3)
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model = ElixirCoder.from_pretrained(out)
    assert model.config.knowledge and model.config.gnn
    ids = model.generate_ids(["defmodule Shop.X do"], max_new_tokens=3)
    assert ids.shape[0] == 1
    try:
        from model.coder import Coder
    except ImportError:
        Coder = None
    if Coder is not None:
        assert Coder.from_pretrained(out) is not None


def test_resume_is_exact(trained, corpus, tokenizer, shop_kg_path, tmp_path, capsys):
    a, b = trained[0], tmp_path / "b"
    # a run interrupted after step 2 leaves what the full run had then: its first checkpoint, its log
    (b / "checkpoints").mkdir(parents=True)
    shutil.copytree(a / "checkpoints" / "checkpoint-2", b / "checkpoints" / "checkpoint-2")
    rows = [r for r in csv.DictReader((a / "log.csv").open()) if int(r["step"]) <= 2]
    with (b / "log.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert run(corpus, tokenizer, shop_kg_path, b) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["resumed_from"].endswith("checkpoint-2")
    wa = load_file(a / "checkpoints" / "checkpoint-4" / "model.safetensors")
    wb = load_file(b / "checkpoints" / "checkpoint-4" / "model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    la = [r for r in csv.DictReader((a / "log.csv").open()) if r["split"] == "train"]
    lb = [r for r in csv.DictReader((b / "log.csv").open()) if r["split"] == "train"]
    assert [(r["step"], r["loss"]) for r in la] == [(r["step"], r["loss"]) for r in lb]


def test_bad_input_is_a_clear_error(corpus, tokenizer, shop_kg_path, tmp_path, capsys):
    assert main(["train", "--corpus", str(tmp_path), "--tokenizer", str(tokenizer.dir),
                 "--out", str(tmp_path / "o")]) == 2
    assert "no manifest.json" in capsys.readouterr().err
    assert main(["train", "--config", "huge", "--corpus", str(corpus), "--tokenizer", str(tokenizer.dir),
                 "--out", str(tmp_path / "o")]) == 2
    assert "unknown model config" in capsys.readouterr().err
    assert main(["train", "--corpus", str(corpus), "--tokenizer", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "no tokenizer.json" in capsys.readouterr().err


def test_ddp_two_cpu_processes(corpus, tokenizer, shop_kg_path, tmp_path):
    out = tmp_path / "ddp"
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or shutil.which("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    import socket
    with socket.socket() as sock:        # a free port for the rendezvous
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    proc = subprocess.run(
        [torchrun, "--nproc_per_node", "2", "--master_port", port, "-m", "model.train",
         "--corpus", str(corpus), "--tokenizer", str(tokenizer.dir), "--kg", str(shop_kg_path), "--out", str(out),
         "--max-steps", "2", "--batch-size", "2", "--eval-steps", "2", "--eval-examples", "2", "--json"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = json.loads((out / "checkpoints" / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert len([r for r in rows if r["split"] == "train"]) == 1       # rank 0 writes the log once
    assert state["num_input_tokens_seen"] > 0
    assert ElixirCoder.from_pretrained(out).num_parameters() > 0
