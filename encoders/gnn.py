"""The graph encoder: a relational GNN over typed edges, projected to the transformer's width.

Owns :class:`GraphEncoder`: node features from the tokens of each node's label (the mean of
their embeddings: the transformer's word embeddings when given, so the GNN adds no vocabulary-sized
table) plus a node-type embedding, ``RGCNConv`` layers
(torch_geometric) over the edge types of ``encoders.graphs.EDGE_TYPES`` and their reverses, and
a linear projection to the transformer's hidden size. Its outputs become K-BERT ``<graph>``
soft tokens (``model/kbert.py``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import RGCNConv

from encoders.graphs import EDGE_TYPES, NODE_TYPES, NUM_RELATIONS


class GraphEncoder(nn.Module):
    def __init__(self, vocab_size: int, out_dim: int, hidden: int = 64, layers: int = 2,
                 pad_id: int = 0, num_bases: int = 4, dropout: float = 0.1, token_dim: int | None = None):
        """``token_dim`` given: node labels are embedded by the caller's embedding table
        (``encode(data, embed)``) of that width; otherwise the GNN owns a ``vocab_size`` table."""
        super().__init__()
        self.pad_id = pad_id
        self.own_tokens = nn.Embedding(vocab_size, hidden, padding_idx=pad_id) if token_dim is None else None
        self.tokens = nn.Linear(token_dim or hidden, hidden)
        self.node_type = nn.Embedding(len(NODE_TYPES), hidden)
        self.convs = nn.ModuleList(
            RGCNConv(hidden, hidden, NUM_RELATIONS, num_bases=min(num_bases, NUM_RELATIONS)) for _ in range(layers))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, out_dim)

    def features(self, x_tokens: torch.Tensor, embed: nn.Module | None = None) -> torch.Tensor:
        """Mean embedding of each node's label tokens (padding ignored)."""
        table = embed if embed is not None else self.own_tokens
        if table is None:
            raise ValueError("this GraphEncoder embeds labels with the caller's table: pass embed=")
        mask = (x_tokens != self.pad_id).unsqueeze(-1).to(table.weight.dtype)
        summed = (table(x_tokens) * mask).sum(1)
        return summed / mask.sum(1).clamp(min=1.0)

    def forward(self, x: torch.Tensor, node_type: torch.Tensor, edge_index: torch.Tensor,
                edge_type: torch.Tensor) -> torch.Tensor:
        """Node embeddings ``[num_nodes, out_dim]`` from label features ``x`` (``features``).
        Edges are used in both directions (a reverse edge has type ``t + len(EDGE_TYPES)``)."""
        h = self.tokens(x) + self.node_type(node_type)
        rev = edge_index.flip(0)
        ei = torch.cat([edge_index, rev], dim=1)
        et = torch.cat([edge_type, edge_type + len(EDGE_TYPES)])
        for conv, norm in zip(self.convs, self.norms):
            h = norm(h + self.dropout(torch.relu(conv(h, ei, et))))
        return self.out(h)

    def encode(self, data, embed: nn.Module | None = None) -> torch.Tensor:
        """Node embeddings of a PyG ``Data``/``Batch`` built by ``encoders.graphs``."""
        return self(self.features(data.x_tokens, embed), data.node_type, data.edge_index, data.edge_type)
