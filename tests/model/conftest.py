"""Fixtures of the model tests: a tokenizer, a KG of the shop project and a tiny corpus, all real
and built here (corpus in the format of contract 1, tokenizer with model.tokenizer)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.conftest import FIXTURES

SHOP = FIXTURES / "projects" / "shop"


def shop_files() -> list[tuple[str, str]]:
    return sorted((str(p.relative_to(SHOP)), p.read_text()) for p in SHOP.rglob("*.ex*") if p.is_file())


@pytest.fixture(scope="session")
def shop_kg(tmp_path_factory):
    from kg.build import build
    from sparql.store import KnowledgeGraph

    path = tmp_path_factory.mktemp("kg") / "store"
    kg = KnowledgeGraph.open(path)
    build(kg, SHOP)
    kg.close()
    ro = KnowledgeGraph.open(path, read_only=True)
    yield ro
    ro.close()


@pytest.fixture(scope="session")
def shop_kg_path(shop_kg):
    return shop_kg.path


@pytest.fixture(scope="session")
def tokenizer(tmp_path_factory):
    from model.tokenizer import train_tokenizer

    texts = [t for _, t in shop_files()]
    tok = train_tokenizer(texts * 3, 800)
    d = tmp_path_factory.mktemp("tok")
    tok.save_pretrained(str(d))
    tok.dir = d
    return tok


def write_corpus(root: Path, files: list[tuple[str, str]]) -> Path:
    """A corpus directory in the format of contract 1 (manifest, sharded file records, pairs)."""
    (root / "files").mkdir(parents=True, exist_ok=True)
    (root / "pairs").mkdir(exist_ok=True)
    recs = {"train": [], "validation": []}
    for i, (path, text) in enumerate(files):
        split = "validation" if i % 4 == 3 else "train"
        recs[split].append({
            "id": f"shop@0.1.0/{path}", "project": "shop", "version": "0.1.0", "path": path, "licence": "MIT",
            "is_test": path.startswith("test/"), "test_type": "exunit" if path.startswith("test/") else None,
            "lines": text.count("\n"), "parses": True, "sha256": hashlib.sha256(text.encode()).hexdigest(),
            "split": split, "text": text})
    code = dict(files)["lib/shop/cart.ex"]
    test = dict(files)["test/cart_test.exs"]
    pairs = {"train": [{"kind": "module_test", "split": "train", "project": "shop", "code": code, "test": test,
                        "module": "Shop.Cart", "function": None, "code_path": "lib/shop/cart.ex",
                        "test_path": "test/cart_test.exs"}], "validation": []}
    manifest = {"format": 1, "sources": [str(SHOP)], "splits": {}, "pairs": {}, "counts": {}}
    for split in ("train", "validation"):
        name = f"files/{split}-00000.jsonl"
        (root / name).write_text("".join(json.dumps(r) + "\n" for r in recs[split]))
        manifest["splits"][split] = [name]
        pname = f"pairs/{split}-00000.jsonl"
        (root / pname).write_text("".join(json.dumps(r) + "\n" for r in pairs[split]))
        manifest["pairs"][split] = [pname]
        manifest["counts"][split] = len(recs[split])
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return root


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("corpus"), shop_files())
