"""Fixtures of the encoder tests: a real KG store of the shop fixture project."""

from __future__ import annotations

import pytest

from tests.conftest import FIXTURES


@pytest.fixture(scope="module")
def shop_kg(tmp_path_factory):
    from kg.build import build
    from sparql.store import KnowledgeGraph

    path = tmp_path_factory.mktemp("kg") / "store"
    kg = KnowledgeGraph.open(path)
    build(kg, FIXTURES / "projects" / "shop")
    yield kg
    kg.close()
