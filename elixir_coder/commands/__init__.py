"""Sub-command registration. Each module adds its sub-commands and calls into the stages."""

from __future__ import annotations


def register(sub) -> None:
    from elixir_coder.commands import demo, kg, query

    kg.register(sub)
    query.register(sub)
    demo.register(sub)
    from elixir_coder.commands import check
    check.register(sub)
    from elixir_coder.commands import onto
    onto.register(sub)
    import importlib
    # Stage commands added this session; each module has register(sub).
    for name in ("serve", "corpus", "tokenizer", "train", "generate", "eval"):
        try:
            module = importlib.import_module(f"elixir_coder.commands.{name}")
        except ModuleNotFoundError as e:  # not written yet (TODO: drop this guard at integration)
            if e.name != f"elixir_coder.commands.{name}":
                raise
            continue
        module.register(sub)


def open_store(path, read_only: bool = False, must_exist: bool = False):
    """The KnowledgeGraph at ``path``, or None after printing why not (callers exit 2).
    ``must_exist`` refuses to create a store (commands that only make sense on a built KG)."""
    import sys
    from pathlib import Path

    from sparql.store import KnowledgeGraph, StoreError

    if must_exist and not read_only and not (Path(path) / "CURRENT").exists():
        print(f"error: {path}: no knowledge graph store here (build one with `elixir-coder kg build`)",
              file=sys.stderr)
        return None
    try:
        return KnowledgeGraph.open(path, read_only=read_only)
    except StoreError as e:
        print(f"error: {e}", file=sys.stderr)
        return None
