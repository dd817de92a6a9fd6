"""KG subgraphs and data-flow graphs built from a real store of the shop project."""

from __future__ import annotations

import pytest
import torch

from encoders.graphs import EDGE_TYPES, NODE_TYPES, EntityIndex, dataflow_graph, to_hetero
from ontologies import function_iri, module_iri


@pytest.fixture(scope="module")
def index(shop_kg):
    return EntityIndex(shop_kg, tokenize=lambda s: [1 + (ord(c) % 50) for c in s])


def edges(g):
    return {(g.iris[s], EDGE_TYPES[t], g.iris[o]) for (s, o), t in zip(g.edge_index.t().tolist(), g.edge_type.tolist())}


def test_mentions_resolve_modules_functions_and_aliases(index):
    text = "alias Shop.Cart\ncart = Cart.add(Cart.new(), item)\nShop.PaymentGateway.charge(g, 1)\nNope.x()"
    found = [(text[m.start:m.end], m.iri) for m in index.mentions(text)]
    assert ("Shop.Cart", module_iri("Shop.Cart").value) in found
    assert ("Cart.add", function_iri("Shop.Cart", "add", 2).value) in found      # through the alias
    assert ("Cart.new", function_iri("Shop.Cart", "new", 0).value) in found
    assert ("Shop.PaymentGateway", module_iri("Shop.PaymentGateway").value) in found  # charge/2 is a callback
    assert not any("Nope" in t for t, _ in found)


def test_facts_of_a_behaviour_list_its_callbacks(index):
    facts = index.facts(module_iri("Shop.PaymentGateway").value)
    assert ("is", "behaviour") in facts
    assert {("callback", "charge/2"), ("callback", "refund/1"), ("callback", "name/0")} <= set(facts)
    server = index.facts(module_iri("Shop.Server").value)
    assert ("implements", "GenServer") in server


def test_k_hop_subgraph_has_typed_edges_and_grows_with_k(index):
    gw = module_iri("Shop.PaymentGateway").value
    g0 = index.subgraph([gw], hops=0)
    g1 = index.subgraph([gw], hops=1)
    g2 = index.subgraph([gw], hops=2)
    assert g0.num_nodes == 1 and g0.edge_index.size(1) == 0
    assert g1.num_nodes < g2.num_nodes
    e1 = edges(g1)
    cb = "https://w3id.org/elixir-coder/id/callback/Shop.PaymentGateway/charge/2"
    assert (cb, "callbackOf", gw) in e1
    card = module_iri("Shop.Gateways.Card").value
    assert (card, "implementsBehaviour", gw) in e1
    # two hops: the implementation's functions
    assert (function_iri("Shop.Gateways.Card", "charge", 2).value, "inModule", card) in edges(g2)
    assert g1.anchor_index.tolist() == [0]
    assert g1.x_tokens.shape == (g1.num_nodes, 8)
    labels = dict(zip(g1.iris, g1.labels))
    assert labels[cb] == "charge"
    assert g1.node_type[g1.iris.index(cb)] == NODE_TYPES.index("callback")


def test_subgraph_is_capped(index):
    g = index.subgraph([module_iri("Shop.Cart").value], hops=3, max_nodes=5)
    assert g.num_nodes == 5
    assert int(g.edge_index.max()) < 5


def test_dataflow_graph_of_a_function(shop_kg, index):
    f = function_iri("Shop.Server", "handle_call", 3)
    g = dataflow_graph(shop_kg, f, tokenize=lambda s: [1 + (ord(c) % 50) for c in s])
    names = g.labels
    assert {"item", "cart"} <= set(names)
    assert all(t == NODE_TYPES.index("variable") for t in g.node_type.tolist())
    kinds = {EDGE_TYPES[t] for t in g.edge_type.tolist()}
    assert "comesFrom" in kinds
    # each comesFrom edge joins occurrences of one variable (a use and its binding)
    for (s, o), t in zip(g.edge_index.t().tolist(), g.edge_type.tolist()):
        if EDGE_TYPES[t] == "comesFrom":
            assert names[s] == names[o]
    # in the subgraph around the function, the variables hang off it
    sg = index.subgraph([f.value], hops=1, dataflow=True)
    assert any(r == "hasVariable" and s == f.value for s, r, _ in edges(sg))


def test_hetero_view_keeps_nodes_and_edges(index):
    g = index.subgraph([module_iri("Shop.PaymentGateway").value], hops=2)
    h = to_hetero(g)
    assert sum(h[t].num_nodes for t in h.node_types) == g.num_nodes
    assert sum(h[e].edge_index.size(1) for e in h.edge_types) == g.edge_index.size(1)
    assert ("callback", "callbackOf", "module") in h.edge_types
    assert torch.equal(h["callback"].x_tokens, g.x_tokens[g.node_type == NODE_TYPES.index("callback")])
