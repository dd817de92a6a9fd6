"""KG-scale rules (reasoning/rules.py): the same derived triples as owlrl where both express
them, and the callback rules and findings on a real project built into a real store."""

from __future__ import annotations

import io
from pathlib import Path

import owlrl
import pytest
import rdflib

from kg.build import build
from ontologies import EC, FILES, ID, OTP, function_iri, module_iri
from reasoning import rules
from sparql.store import KnowledgeGraph

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ONT = "https://w3id.org/elixir-coder/ontology/"

BEH = '''defmodule Beh.Store do
  @callback get(key :: term) :: term
  @callback put(term, term) :: :ok
  @callback info() :: map
  @optional_callbacks info: 0
end

defmodule Beh.Mem do
  @behaviour Beh.Store
  @impl true
  def get(k), do: k
  @impl true
  def helper(x), do: x
  @impl Beh.Store
  def other(x), do: x
  @impl false
  def plain(x), do: x
end

defmodule Beh.Full do
  @behaviour Beh.Store
  @impl Beh.Store
  def get(k), do: k
  @impl true
  def put(_, _), do: :ok
end

defmodule Beh.Server do
  use GenServer
  @impl true
  def handle_call(_, _, s), do: {:reply, :ok, s}
end

defmodule Beh.Defaults do
  @behaviour Beh.Store
  @impl true
  def get(k, opts \\\\ []), do: {k, opts}
  @impl true
  def put(k, v), do: {k, v}
end

defmodule Beh.Unknown do
  @behaviour Some.Unknown
  @impl true
  def whatever(x), do: x
end
'''

# GenServer's callbacks as the stdlib graph would give them (kg stdlib is too slow for a unit
# test): a real Elixir module built into its own graph.
STUB = '''defmodule GenServer do
  @callback init(term) :: term
  @callback handle_call(term, term, term) :: term
  @callback handle_cast(term, term) :: term
  @optional_callbacks handle_call: 3, handle_cast: 2
end
'''


def _beh_store(d: Path) -> KnowledgeGraph:
    (d / "beh/lib").mkdir(parents=True)
    (d / "stub/lib").mkdir(parents=True)
    (d / "beh/lib/beh.ex").write_text(BEH)
    (d / "stub/lib/gen_server.ex").write_text(STUB)
    kg = KnowledgeGraph.open(d / "store")
    build(kg, d / "beh", graph="beh@0.1.0")
    build(kg, d / "stub", graph="stub@1.0.0")
    return kg


@pytest.fixture(scope="module")
def beh_kg(tmp_path_factory):
    kg = _beh_store(tmp_path_factory.mktemp("rules"))
    yield kg
    kg.close()


def _findings(kg):
    return {(r["rule"].value, r["about"].value): r["msg"].value for r in kg.query(
        """SELECT ?rule ?about ?msg WHERE { GRAPH ?g { ?f a q:Finding ; q:rule ?rule ; q:about ?about ;
           q:findingMessage ?msg ; q:severity ?s } }""", graphs=[])}


def _graph_triples(kg, graph):
    return {(q.subject, q.predicate, q.object) for q in kg._store.quads_for_pattern(None, None, None, graph)}


def test_findings_for_missing_callbacks_and_impl_on_non_callbacks(beh_kg):
    summaries = rules.reason(beh_kg)
    assert {s.graph for s in summaries} == {g.value for g in rules.source_graphs(beh_kg)}
    found = _findings(beh_kg)
    missing, impl = rules.RULE_MISSING_CALLBACK.value, rules.RULE_IMPL_NOT_CALLBACK.value
    assert set(found) == {
        (missing, module_iri("Beh.Mem").value),       # put/2 required, not defined
        (missing, module_iri("Beh.Server").value),    # init/1: only the compiler's stopgap
        (impl, function_iri("Beh.Mem", "helper", 1).value),
        (impl, function_iri("Beh.Mem", "other", 1).value),
    }
    assert "put/2" in found[(missing, module_iri("Beh.Mem").value)]
    assert "init/1" in found[(missing, module_iri("Beh.Server").value)]
    assert "@impl Beh.Store" in found[(impl, function_iri("Beh.Mem", "other", 1).value)]


def test_implements_callback(beh_kg):
    rules.reason(beh_kg)
    got = {(r["f"].value, r["cb"].value) for r in beh_kg.query(
        "SELECT ?f ?cb WHERE { ?f otp:implementsCallback ?cb }", graphs=rules.source_graphs(beh_kg) + [
            rules.inferred_graph(g) for g in rules.source_graphs(beh_kg)])}
    cb = lambda m, n, a: f"{ID}callback/{m}/{n}/{a}"  # noqa: E731
    assert got == {
        (function_iri("Beh.Mem", "get", 1).value, cb("Beh.Store", "get", 1)),
        (function_iri("Beh.Full", "get", 1).value, cb("Beh.Store", "get", 1)),
        (function_iri("Beh.Full", "put", 2).value, cb("Beh.Store", "put", 2)),
        # `def get(k, opts \\ [])` defines get/1 too: the @impl on get/2 is right, no finding
        (function_iri("Beh.Defaults", "get", 1).value, cb("Beh.Store", "get", 1)),
        (function_iri("Beh.Defaults", "put", 2).value, cb("Beh.Store", "put", 2)),
        # written, and the generated defaults of `use GenServer` (handle_cast/2); the stopgap
        # init/1 implements nothing
        (function_iri("Beh.Server", "handle_call", 3).value, cb("GenServer", "handle_call", 3)),
        (function_iri("Beh.Server", "handle_cast", 2).value, cb("GenServer", "handle_cast", 2)),
    }


def test_rerun_is_idempotent_and_leaves_sources_alone(beh_kg):
    src = rules.source_graphs(beh_kg)
    before = {g.value: _graph_triples(beh_kg, g) for g in src}
    rules.reason(beh_kg)
    first = {g.value: _graph_triples(beh_kg, rules.inferred_graph(g)) for g in src}
    rules.reason(beh_kg)
    assert {g.value: _graph_triples(beh_kg, rules.inferred_graph(g)) for g in src} == first
    assert {g.value: _graph_triples(beh_kg, g) for g in src} == before
    # the inferred graphs are not sources: reasoning never reasons over its own output
    assert all(not rules.is_inferred(g) for g in rules.source_graphs(beh_kg))
    with pytest.raises(ValueError):
        rules.inferred_graph(rules.inferred_graph(src[0]))


def test_same_hierarchy_and_inverse_triples_as_owlrl(tmp_path):
    """On the shop fixture: types (named classes of our ontologies), subproperty and inverse
    triples about the KG's nodes are the same in owlrl's OWL 2 RL closure of source + ontology
    schema as in source + inferred graph + schema."""
    kg = KnowledgeGraph.open(tmp_path / "store")
    build(kg, FIXTURES / "projects" / "shop")
    [src] = rules.source_graphs(kg)
    rules.reason(kg)
    buf, inf = io.BytesIO(), io.BytesIO()
    kg.export(buf, "nt", graph=src)
    kg.export(inf, "nt", graph=rules.inferred_graph(src))
    kg.close()
    # The TBox only: the ontology files' own individuals (GenServer's callbacks, security
    # sinks) are not the KG's, and the store rules reason over the KG's graphs.
    schema = rdflib.Graph()
    for path in FILES.values():
        g = rdflib.Graph().parse(path, format="turtle")
        for t in g:
            if not str(t[0]).startswith(ID):
                schema.add(t)
    source = rdflib.Graph().parse(data=buf.getvalue().decode(), format="nt")
    nodes = {str(x) for t in source for x in (t[0], t[2]) if isinstance(x, rdflib.URIRef)}
    s = rules.schema()
    props = set(s.superproperties) | {q for v in s.superproperties.values() for q in v} | {
        p for pq in s.inverses for p in pq}

    def both_express(t) -> bool:
        subj, p, o = t
        if str(subj) not in nodes:
            return False
        if p == rdflib.RDF.type:
            return isinstance(o, rdflib.URIRef) and str(o).startswith(ONT)
        return str(p) in props

    closure = rdflib.Graph()
    for t in source:
        closure.add(t)
    for t in schema:
        closure.add(t)
    owlrl.DeductiveClosure(owlrl.OWLRL_Semantics).expand(closure)
    expected = {t for t in closure if both_express(t)}
    ours = rdflib.Graph().parse(data=inf.getvalue().decode(), format="nt")
    got = {t for t in (set(source) | set(ours) | set(schema)) if both_express(t)}
    assert len(expected) > len({t for t in source if both_express(t)})  # owlrl derived some
    assert got == expected
    # and the store added what the extractor leaves out (inverses at least)
    assert any(p == rdflib.URIRef(OTP.implOf.value) for _, p, _ in ours)
    assert any(p == rdflib.URIRef(EC.hasClause.value) for _, p, _ in ours)


def test_kg_reason_command(tmp_path, capsys):
    import argparse
    import json

    from elixir_coder.commands.reason import add_reason_command

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd")
    add_reason_command(sub)
    # a missing store is a clear error, and nothing is created
    args = parser.parse_args(["reason", "--store", str(tmp_path / "none")])
    assert args.func(args) == 2
    assert "no knowledge graph store" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()
    _beh_store(tmp_path).close()
    store = str(tmp_path / "store")
    args = parser.parse_args(["reason", "--store", store, "--graph", "beh@0.1.0", "--json"])
    assert args.func(args) == 0
    [summary] = json.loads(capsys.readouterr().out)
    assert summary["graph"].endswith("/graph/beh@0.1.0") and summary["findings"] == 4
    args = parser.parse_args(["reason", "--store", store, "--graph", "nope@1"])
    assert args.func(args) == 2
    assert "no graph 'nope@1'" in capsys.readouterr().err
    args = parser.parse_args(["reason", "--store", store])  # every source graph
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "beh@0.1.0" in out and "stub@1.0.0" in out and "4 findings" in out
