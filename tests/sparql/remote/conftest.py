"""Real SPARQL servers for the remote-backend tests: an ``oxigraph serve`` per test module and one
private Virtuoso per session (both on free loopback ports, in temporary directories, stopped
afterwards), plus the fixture project's KG built into each backend."""

from __future__ import annotations

import shutil

import pytest

from kg.build import build
from sparql.servers import OxigraphServer, VirtuosoServer
from sparql.store import KnowledgeGraph

from remote_helpers import SHOP, open_oxigraph, open_virtuoso


@pytest.fixture(scope="session")
def virtuoso(tmp_path_factory):
    if shutil.which("virtuoso-t") is None:
        pytest.fail("virtuoso-t is not installed: run `bash scripts/setup.sh` (virtuoso-opensource)")
    server = VirtuosoServer(directory=tmp_path_factory.mktemp("virtuoso")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def oxigraph_server(tmp_path_factory):
    server = OxigraphServer(location=tmp_path_factory.mktemp("oxigraph") / "store").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def shop_kgs(tmp_path_factory, oxigraph_server, virtuoso):
    """{"embedded", "oxigraph", "virtuoso"} -> the shop project's KG built through that backend
    (the remote ones emptied of our graphs first)."""
    kgs = {"embedded": KnowledgeGraph.open(tmp_path_factory.mktemp("embedded") / "store"),
           "oxigraph": open_oxigraph(oxigraph_server),
           "virtuoso": open_virtuoso(virtuoso)}
    summaries = {}
    for name, kg in kgs.items():
        if name != "embedded":
            kg.drop_all()
        summaries[name] = build(kg, SHOP)
    kgs["_summaries"] = summaries
    yield kgs
    for name, kg in kgs.items():
        if name != "_summaries":
            kg.close()
