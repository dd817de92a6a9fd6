"""The training corpus (contract 1): build it (``model.corpus.build``) and read it back.

A corpus directory holds ``manifest.json``, file records in ``files/<split>-NNNNN.jsonl`` and
code-test pairs in ``pairs/<split>-NNNNN.jsonl``. This module is the reading API every other
stage uses: :func:`load_manifest`, :func:`iter_files`, :func:`iter_pairs`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from model.corpus.records import read_jsonl

SPLITS = ("train", "validation", "test")


class CorpusError(ValueError):
    """The directory is not a corpus (or a damaged one); the message says what is wrong."""


def load_manifest(directory: str | Path) -> dict:
    path = Path(directory) / "manifest.json"
    if not path.is_file():
        raise CorpusError(f"{directory}: no manifest.json here (build a corpus with `elixir-coder corpus build`)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise CorpusError(f"{path}: not valid JSON ({e.msg})") from None
    if manifest.get("format") != 1:
        raise CorpusError(f"{path}: unknown corpus format {manifest.get('format')!r} (expected 1)")
    return manifest


def _iter(directory: str | Path, split: str, key: str) -> Iterator[dict]:
    if split not in SPLITS:
        raise CorpusError(f"unknown split {split!r}: one of {', '.join(SPLITS)}")
    manifest = load_manifest(directory)
    for name in manifest.get(key, {}).get(split, []):
        path = Path(directory) / name
        if not path.is_file():
            raise CorpusError(f"{path}: listed in manifest.json but missing")
        yield from read_jsonl(path)


def iter_files(directory: str | Path, split: str = "train") -> Iterator[dict]:
    """File records of one split (``id, project, version, path, licence, is_test, test_type,
    lines, parses, sha256, split, text``)."""
    return _iter(directory, split, "splits")


def iter_pairs(directory: str | Path, split: str = "train") -> Iterator[dict]:
    """Code-test pairs of one split (``kind`` module_test | function_test | doctest, ``split,
    project, code, test, module, function, code_path, test_path``)."""
    return _iter(directory, split, "pairs")


__all__ = ["CorpusError", "SPLITS", "iter_files", "iter_pairs", "load_manifest"]
