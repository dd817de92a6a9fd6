"""`elixir-coder corpus build` and `elixir-coder tokenizer train` as a user runs them
(subprocesses), and the installed BEAM's docs as a source (real sidecar)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


from model.corpus import iter_files, iter_pairs, load_manifest

REPO = Path(__file__).resolve().parent.parent.parent
SHOP = REPO / "tests" / "fixtures" / "projects" / "shop"


def cli(*args):
    return subprocess.run([sys.executable, "-m", "elixir_coder.cli", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True)


def test_help():
    r = cli("corpus", "build", "--help")
    assert r.returncode == 0
    for flag in ("--out", "--debian", "--beam-docs", "--json", "--near-dup-threshold", "--max-line-length"):
        assert flag in r.stdout
    r = cli("tokenizer", "train", "--help")
    assert r.returncode == 0 and "--vocab-size" in r.stdout and "--corpus" in r.stdout


def test_build_then_train(tmp_path):
    out = tmp_path / "corpus"
    r = cli("corpus", "build", SHOP, "--out", out, "--json")
    assert r.returncode == 0, r.stderr
    stats = json.loads(r.stdout)
    assert stats["counts"]["files_in"] == 9 and stats["counts"]["after_dedup"] == 9
    assert stats["counts"]["pair_kinds"]["module_test"] == 1
    assert load_manifest(out)["sources"] == [str(SHOP)]
    # a rebuild into the same directory replaces the corpus
    r = cli("corpus", "build", SHOP, "--out", out, "--no-pairs")
    assert r.returncode == 0, r.stderr
    assert "files in" in r.stdout and "after dedup" in r.stdout
    assert sum(1 for s in ("train", "validation", "test") for _ in iter_pairs(out, s)) == 0

    tok_dir = tmp_path / "tok"
    r = cli("tokenizer", "train", "--corpus", out, "--vocab-size", "700", "--out", tok_dir, "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["round_trip_ok"] == summary["files"] == len(list(iter_files(out, "train")))
    assert summary["unknown_tokens"] == 0 and summary["symbols_single"] == summary["symbols_total"]
    assert summary["vocab_size"] <= 700 and (tok_dir / "tokenizer.json").is_file()


def test_clear_errors(tmp_path):
    r = cli("corpus", "build", "--out", tmp_path / "c")
    assert r.returncode == 1 and "nothing to build" in r.stderr
    r = cli("corpus", "build", SHOP, "--out", tmp_path / "c", "--split", "1,x,2")
    assert r.returncode == 2 and "--split" in r.stderr
    r = cli("tokenizer", "train", "--corpus", tmp_path / "nope", "--out", tmp_path / "t")
    assert r.returncode == 1 and "no manifest.json" in r.stderr and "corpus build" in r.stderr
    assert not (tmp_path / "t").exists()
    r = cli("corpus", "build", SHOP, "--out", tmp_path / "c2", "--no-pairs")
    r = cli("tokenizer", "train", "--corpus", tmp_path / "c2", "--vocab-size", "50", "--out", tmp_path / "t")
    assert r.returncode == 2 and "too small" in r.stderr


def test_beam_docs_source(tmp_path):
    from model.corpus.build import BuildConfig, build

    out = tmp_path / "corpus"
    stats = build([], out, beam_docs=True, config=BuildConfig(beam_apps=("eex",)))
    records = [r for s in ("train", "validation", "test") for r in iter_files(out, s)]
    code = [r for r in records if r["path"].endswith(".exs")]  # code blocks of EEx's docs
    assert code and all(r["path"].startswith("docs/EEx") and r["project"] == "eex" for r in code)
    from kg.sidecar import shared

    for r in code:  # only blocks the real parser accepts are kept
        assert r["parses"] is True and shared().parse(r["text"]).ok
    doctest_records = [r for r in records if r["test_type"] == "doctest"]
    pairs = [p for s in ("train", "validation", "test") for p in iter_pairs(out, s)]
    if doctest_records:  # EEx documents some functions with iex> examples
        assert all(r["text"].startswith("iex> ") for r in doctest_records)
        assert pairs and all(p["kind"] == "doctest" and p["test"].startswith("iex> ") for p in pairs)
    assert stats["sources"] == ["beam-docs"]
