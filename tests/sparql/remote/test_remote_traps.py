"""Virtuoso's traps, shown on a real Virtuoso started with tiny limits (ResultSetMaxRows 100,
MaxQueryExecutionTime 1 s, MaxSortedTopRows 1000): the adapter never returns a partial answer
as complete, and every refusal says what happened. Plus the errors a user meets on any
endpoint: unreachable, unauthorized, read-only, bad syntax."""

from __future__ import annotations

import io

import pyoxigraph as ox
import pytest

from sparql.remote import RemoteError, RemoteTimeout, ResultTruncated
from sparql.servers import VirtuosoServer, free_port
from sparql.store import KnowledgeGraph, StoreError

from kg.build import build
from ontologies import META_GRAPH

from remote_helpers import SHOP, open_virtuoso

BIG = "https://w3id.org/elixir-coder/graph/big@1"
ROWS = 3000


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    server = VirtuosoServer(directory=tmp_path_factory.mktemp("virtuoso-tiny"), result_set_max_rows=100,
                            max_query_seconds=1, max_sorted_top_rows=1000).start()
    kg = open_virtuoso(server)
    kg.replace_graph(BIG, "".join(f'<http://example.org/s{i}> <http://example.org/p> "v{i}" .\n' for i in range(ROWS)))
    yield kg
    kg.close()
    server.stop()


def test_a_truncated_answer_raises_instead_of_returning_part(tiny):
    with pytest.raises(ResultTruncated, match="ResultSetMaxRows"):
        list(tiny.query("SELECT ?s WHERE { ?s ?p ?o }"))
    # under the cap the answer is whole
    assert len(list(tiny.query("SELECT ?s WHERE { ?s ?p ?o } LIMIT 40"))) == 40
    n = next(iter(tiny.query("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")))["n"]
    assert int(n.value) == ROWS


def test_export_pages_past_the_row_cap(tiny):
    out = io.BytesIO()
    assert tiny.export(out, "nq") == ROWS
    quads = list(ox.parse(out.getvalue(), ox.RdfFormat.N_QUADS))
    assert len({q.subject.value for q in quads}) == ROWS
    assert {q.graph_name.value for q in quads} == {BIG}


def test_sorted_offset_limit_is_reported(tiny):
    with pytest.raises(RemoteError, match="SR353"):
        list(tiny.query("SELECT ?s WHERE { ?s ?p ?o } ORDER BY ?s OFFSET 2000 LIMIT 10"))


def test_server_time_limit_raises_timeout(tiny):
    with pytest.raises(RemoteTimeout, match="MaxQueryExecutionTime"):
        list(tiny.query("SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?x ?y ?z }"))


def test_unscoped_queries_see_our_graphs_only(virtuoso, tmp_path):
    """Virtuoso's default graph is every graph (its system graphs included): the adapter sends
    the KG's graphs as the dataset, so other graphs stay out."""
    kg = open_virtuoso(virtuoso)
    build(kg, SHOP)  # the KG (and its meta graph) is there
    kg.update('INSERT DATA { GRAPH <http://example.org/not-ours> { <http://example.org/x> a <http://example.org/Thing> } }')
    try:
        assert not bool(kg.query("ASK { <http://example.org/x> ?p ?o }"))
        assert all(g.value.startswith("https://w3id.org/elixir-coder/") for g in kg.graphs())
        # graphs=[]: an empty default graph, yet GRAPH still reaches the KG's named graphs
        assert not bool(kg.query("ASK { ?s ?p ?o }", graphs=[]))
        assert bool(kg.query(f"ASK {{ GRAPH {META_GRAPH} {{ ?s ?p ?o }} }}", graphs=[]))
        assert not bool(kg.query("ASK { GRAPH <http://example.org/not-ours> { ?s ?p ?o } }", graphs=[]))
        assert not bool(kg.query("ASK { GRAPH <http://example.org/nothing-here> { ?s ?p ?o } }", graphs=[]))
    finally:
        kg.update("DROP SILENT GRAPH <http://example.org/not-ours>")


def test_unreachable_endpoint_is_retried_then_reported():
    from sparql.remote import RemoteStore

    port = free_port()
    store = RemoteStore(f"http://127.0.0.1:{port}/sparql", retries=2, backoff=0.01)
    with pytest.raises(StoreError, match="cannot reach the endpoint after 3 tries"):
        store.query("ASK {}")
    assert store.requests == 3
    with pytest.raises(StoreError, match="cannot reach"):
        KnowledgeGraph.open(f"http://127.0.0.1:{port}/sparql", retries=0)


def test_updates_need_credentials(virtuoso):
    anonymous = KnowledgeGraph.open(virtuoso.query_url, update_url=virtuoso.update_url)
    with pytest.raises(StoreError, match="not authorized"):
        anonymous.update("INSERT DATA { GRAPH <http://example.org/g> { <http://example.org/a> <http://example.org/b> 1 } }")
    wrong = KnowledgeGraph.open(virtuoso.query_url, update_url=virtuoso.update_url, auth=(virtuoso.user, "wrong"))
    with pytest.raises(StoreError, match="not authorized"):
        wrong.update("INSERT DATA { GRAPH <http://example.org/g> { <http://example.org/a> <http://example.org/b> 1 } }")
    assert not bool(open_virtuoso(virtuoso).query("ASK { GRAPH <http://example.org/g> { ?s ?p ?o } }", graphs=[]))


def test_read_only_and_syntax_errors(virtuoso):
    kg = KnowledgeGraph.open(virtuoso.query_url, read_only=True)
    with pytest.raises(StoreError, match="read-only"):
        kg.update("CLEAR ALL")
    with pytest.raises(SyntaxError, match="SP030"):
        kg.query("SELECT ?s WHERE { ?s ?p }")


def test_not_a_url_or_not_an_endpoint(tmp_path):
    with pytest.raises(StoreError, match="endpoint URL only"):
        KnowledgeGraph.open(tmp_path / "store", update_url="http://127.0.0.1:1/update")
