"""The relational GNN: typed edges carry messages, isolated nodes do not hear them."""

from __future__ import annotations

import torch
from torch import nn

from encoders.gnn import GraphEncoder
from encoders.graphs import EDGE_TYPES


def graph():
    torch.manual_seed(0)
    x_tokens = torch.randint(1, 30, (5, 4))
    node_type = torch.tensor([0, 1, 1, 2, 0])
    edge_index = torch.tensor([[1, 2, 3], [0, 0, 0]])   # node 4 is isolated
    edge_type = torch.tensor([EDGE_TYPES.index("inModule"), EDGE_TYPES.index("inModule"),
                              EDGE_TYPES.index("callbackOf")])
    return x_tokens, node_type, edge_index, edge_type


def test_output_width_and_gradients():
    enc = GraphEncoder(vocab_size=30, out_dim=24, hidden=16, layers=2)
    x_tokens, node_type, ei, et = graph()
    h = enc(enc.features(x_tokens), node_type, ei, et)
    assert h.shape == (5, 24)
    h.sum().backward()
    assert enc.convs[0].weight.grad is not None and enc.convs[0].weight.grad.abs().sum() > 0


def test_edge_types_matter_and_isolated_nodes_are_untouched():
    enc = GraphEncoder(vocab_size=30, out_dim=8, hidden=16, layers=2).eval()
    x_tokens, node_type, ei, et = graph()
    x = enc.features(x_tokens)
    a = enc(x, node_type, ei, et)
    b = enc(x, node_type, ei, torch.tensor([EDGE_TYPES.index("dependsOn")] * 3))
    assert not torch.allclose(a[0], b[0])          # the hub hears its neighbours through other relations
    assert torch.allclose(a[4], b[4])              # the isolated node hears nothing
    c = enc(x, node_type, ei[:, :0], et[:0])       # no edges at all
    assert torch.allclose(a[4], c[4]) and not torch.allclose(a[0], c[0])


def test_labels_embedded_with_a_shared_table():
    table = nn.Embedding(30, 12, padding_idx=0)
    enc = GraphEncoder(vocab_size=30, out_dim=8, hidden=16, layers=1, token_dim=12)
    assert enc.own_tokens is None
    x_tokens = torch.tensor([[3, 4, 0, 0], [3, 4, 0, 0], [5, 0, 0, 0]])
    f = enc.features(x_tokens, table)
    assert torch.allclose(f[0], (table.weight[3] + table.weight[4]) / 2)   # padding ignored
    assert torch.allclose(f[0], f[1]) and not torch.allclose(f[0], f[2])
