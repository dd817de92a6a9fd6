"""The commands a user runs against an endpoint (`--endpoint URL [--update-endpoint URL]
[--user U --password-env VAR]`), and `elixir-coder serve` answering a SPARQL client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sparql.store import KnowledgeGraph, StoreError

from remote_helpers import SHOP, open_virtuoso

REPO = Path(__file__).resolve().parents[3]


def cli(*args, check=None, env=None):
    r = subprocess.run([sys.executable, "-m", "elixir_coder.cli", *map(str, args)], cwd=REPO,
                       capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300)
    if check is not None:
        assert r.returncode == check, r.stderr
    return r


@pytest.fixture(scope="module")
def remote(virtuoso):
    """--endpoint options of the session's Virtuoso, emptied of our graphs."""
    open_virtuoso(virtuoso).drop_all()
    return {"args": ["--endpoint", virtuoso.query_url, "--update-endpoint", virtuoso.update_url,
                     "--user", virtuoso.user, "--password-env", "EC_TEST_PASSWORD"],
            "env": {"EC_TEST_PASSWORD": virtuoso.password}}


def test_build_query_export_reason_through_virtuoso(remote, tmp_path):
    r = cli("kg", "build", SHOP, *remote["args"], "--json", check=0, env=remote["env"])
    summary = json.loads(r.stdout)
    assert (summary["files"], summary["modules"], summary["functions"], summary["tests"]) == (9, 11, 32, 2)

    r = cli("query", "--named", "missing-callbacks", "--format", "json", *remote["args"][:2], check=0)
    rows = json.loads(r.stdout)["results"]["bindings"]
    assert [(b["module"]["value"], b["callback"]["value"]) for b in rows] == [("Shop.Gateways.Voucher", "refund")]

    out = tmp_path / "kg.nq"
    cli("kg", "export", *remote["args"][:2], "--output", out, check=0)
    local = tmp_path / "store"
    cli("kg", "build", SHOP, "--store", local, check=0)
    cli("kg", "export", "--store", local, "--output", tmp_path / "local.nq", check=0)
    assert len(out.read_text().splitlines()) == len((tmp_path / "local.nq").read_text().splitlines()) > 1500

    r = cli("kg", "reason", *remote["args"], "--json", check=0, env=remote["env"])
    assert [s["findings"] for s in json.loads(r.stdout)] == [1]


def test_endpoint_option_errors(remote, virtuoso, tmp_path):
    r = cli("kg", "build", SHOP, *remote["args"][:4], "--user", "u", check=2)
    assert "--password-env" in r.stderr
    r = cli("kg", "build", SHOP, *remote["args"], check=2)  # the variable is not set
    assert "EC_TEST_PASSWORD" in r.stderr and "not set" in r.stderr
    r = cli("kg", "build", SHOP, "--store", tmp_path / "s", "--endpoint", "http://127.0.0.1:1/sparql", check=2)
    assert "not allowed with" in r.stderr
    r = cli("query", "ASK {}", "--endpoint", "ftp://example.org/sparql", check=2)
    assert "http://" in r.stderr
    # updates without credentials: refused, nothing written
    r = cli("kg", "build", SHOP, *remote["args"][:4], "--graph", "other@1", check=2)
    assert "not authorized" in r.stderr
    assert not any("other@1" in g.value for g in open_virtuoso(virtuoso).graphs())


def test_serve_answers_sparql_clients_read_only(tmp_path):
    store = tmp_path / "store"
    cli("kg", "build", SHOP, "--store", store, check=0)
    proc = subprocess.Popen([sys.executable, "-m", "elixir_coder.cli", "serve", "--store", str(store),
                             "--bind", "127.0.0.1:0", "--json"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        info = json.loads(proc.stdout.readline())
        assert info["read_only"] and info["query"].startswith("http://127.0.0.1:")
        served = cli("query", "--named", "modules", "--format", "csv", "--endpoint", info["query"], check=0)
        local = cli("query", "--named", "modules", "--format", "csv", "--store", store, check=0)
        assert served.stdout == local.stdout and "Shop.Cart" in served.stdout
        # a plain SPARQL client sees the KG in the default graph (union of the graphs)
        kg = KnowledgeGraph.open(info["query"])
        n = next(iter(kg._store.query("SELECT (COUNT(*) AS ?n) WHERE { ?s a <https://w3id.org/elixir-coder/ontology/core#Module> }")))["n"]
        assert int(n.value) >= 11
        writer = KnowledgeGraph.open(info["query"], update_url=info["query"].replace("/query", "/update"))
        with pytest.raises(StoreError):
            writer.update("INSERT DATA { GRAPH <http://example.org/g> { <http://example.org/a> <http://example.org/b> 1 } }")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert proc.returncode == 0, proc.stderr.read()


def test_serve_warns_when_not_on_loopback(tmp_path):
    store = tmp_path / "store"
    cli("kg", "build", SHOP, "--store", store, check=0)
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: the server cannot bind and nothing listens
    r = cli("serve", "--store", store, "--bind", "192.0.2.1:0", check=2)
    assert "warning: listening on 192.0.2.1, not loopback" in r.stderr
    r = cli("serve", "--store", tmp_path / "missing", check=2)
    assert "no knowledge graph store" in r.stderr


def test_stdlib_through_virtuoso(remote, virtuoso):
    """`kg stdlib --endpoint`: an installed app's graph replaced through the endpoint (runs last
    in this module: it adds the stdlib graph)."""
    r = cli("kg", "stdlib", "--apps", "elixir", "--modules", "GenServer", *remote["args"], "--json",
            check=0, env=remote["env"])
    summary = json.loads(r.stdout)
    assert summary["modules"] == 1 and summary["callbacks"] > 5
    kg = open_virtuoso(virtuoso)
    graph = next(g for g in kg.graphs() if "/graph/beam/elixir@" in g.value)
    callbacks = {row["n"].value for row in kg.query(
        "SELECT ?n WHERE { ?cb otp:callbackOf <https://w3id.org/elixir-coder/id/module/GenServer> ; ec:name ?n }",
        graphs=[graph])}
    assert {"init", "handle_call", "handle_cast"} <= callbacks
    # run again: the graph is replaced, not doubled
    cli("kg", "stdlib", "--apps", "elixir", "--modules", "GenServer", *remote["args"], check=0, env=remote["env"])
    assert kg.counts(graph)["triples"] == summary["triples"]
