"""Shared fixtures. Real components only: the real Elixir, real stores on disk."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def elixir_bin() -> str:
    path = shutil.which("elixir")
    if path is None:
        pytest.fail("elixir is not installed: run `bash scripts/setup.sh` (apt-get install elixir)")
    return path


def behaviour_kg(directory: Path, lib: str, stub: str):
    """A real store at ``directory/store`` built from two Elixir sources: ``lib`` as project graph
    ``lib@0.1.0`` and ``stub`` (behaviours, the way `kg stdlib` gives GenServer's callbacks) as a
    graph of its own, ``stub@1.0.0``. The caller closes it."""
    from kg.build import build
    from sparql.store import KnowledgeGraph

    (directory / "lib/lib").mkdir(parents=True)
    (directory / "stub/lib").mkdir(parents=True)
    (directory / "lib/lib/beh.ex").write_text(lib)
    (directory / "stub/lib/gen_server.ex").write_text(stub)
    kg = KnowledgeGraph.open(directory / "store")
    build(kg, directory / "lib", graph="lib@0.1.0")
    build(kg, directory / "stub", graph="stub@1.0.0")
    return kg
