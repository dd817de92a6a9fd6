"""Helpers shared by the remote-backend tests (imported by name: the test directory is on
sys.path)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyoxigraph as ox

from sparql.servers import OxigraphServer, VirtuosoServer
from sparql.store import KnowledgeGraph

SHOP = Path(__file__).resolve().parents[2] / "fixtures" / "projects" / "shop"


def open_virtuoso(server: VirtuosoServer, **options) -> KnowledgeGraph:
    return KnowledgeGraph.open(server.query_url, update_url=server.update_url, auth=server.auth, **options)


def open_oxigraph(server: OxigraphServer, **options) -> KnowledgeGraph:
    return KnowledgeGraph.open(server.query_url, update_url=server.update_url, **options)


_NUMERIC = {"integer", "decimal", "double", "float", "int", "long", "short", "nonNegativeInteger",
            "positiveInteger", "unsignedInt"}


def norm(term, booleans: bool = False) -> str:
    """A term for comparing answers across backends: numbers by value (Virtuoso keeps a stored
    xsd:nonNegativeInteger where Oxigraph computes an xsd:integer), and with ``booleans`` a
    boolean as 0/1 (Virtuoso returns boolean constants of a query as xsd:integer 1/0)."""
    if term is None:
        return ""
    if isinstance(term, ox.Literal):
        kind = term.datatype.value.rsplit("#", 1)[-1]
        if kind in _NUMERIC:
            return f"number:{Decimal(term.value).normalize()}"
        if booleans and kind == "boolean":
            return f"number:{1 if term.value in ('true', '1') else 0}"
    return str(term)
