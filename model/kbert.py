"""K-BERT knowledge injection: sentence trees, soft positions, visible matrices, graph slots.

Owns :class:`KnowledgeInjector`. For each entity a text mentions (``GenServer``, ``Enum.map``,
an aliased module; found by ``encoders.graphs.EntityIndex``) it attaches KG triples as branches
of a sentence tree (``<kg> callback handle_call/3 </kg>`` after the anchor ``Shop.Server``), plus
one ``<graph>`` token per entity whose input embedding the GNN replaces (a soft token). The tree
is flattened with the branches right after their anchor; soft position ids continue the anchor's
position inside a branch and resume after it in the main text; the visible matrix lets a branch
see only itself and its anchor, and only the anchor see the branch (a 4-D attention mask).

Ablation switches live in the model config: ``knowledge`` (off: the plain text),
``visible_matrix`` (off: every token sees every branch), ``gnn`` (off: no ``<graph>`` tokens).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from model.tokens import GRAPH, KG_CLOSE, KG_OPEN


@dataclass
class Tree:
    """One flattened sentence tree."""
    input_ids: list[int]
    position_ids: list[int]
    visible: np.ndarray | None                 # [n, n] bool, None = everything sees everything
    graph: object | None = None                # torch_geometric Data of the entities' subgraph
    graph_slots: list[tuple[int, int]] = field(default_factory=list)  # (token position, node index)
    branches: list[tuple[str, list[int], list[int]]] = field(default_factory=list)  # (entity, anchor pos, branch pos)
    n_main: int = 0


class KnowledgeInjector:
    """Builds sentence trees for texts; ``kg=None`` (or ``config.knowledge`` off) gives plain trees."""

    def __init__(self, tokenizer, config, kg=None, index=None):
        self.tok = tokenizer
        self.config = config
        self.kg = kg
        self.index = index
        if self.index is None and kg is not None and config.knowledge:
            from encoders.graphs import EntityIndex
            self.index = EntityIndex(kg, tokenize=self._ids, pad_id=tokenizer.pad_token_id,
                                     max_label_tokens=config.gnn_max_label_tokens)
        self._branch_cache: dict[tuple[str, str], list[int]] = {}
        self.graph_id = tokenizer.convert_tokens_to_ids(GRAPH)
        self.kg_open = tokenizer.convert_tokens_to_ids(KG_OPEN)
        self.kg_close = tokenizer.convert_tokens_to_ids(KG_CLOSE)

    def _ids(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False)["input_ids"]

    @property
    def active(self) -> bool:
        return bool(self.config.knowledge and self.index is not None)

    def _branch_ids(self, rel: str, obj: str) -> list[int]:
        key = (rel, obj)
        if key not in self._branch_cache:
            body = self._ids(f" {rel} {obj}")[: max(1, self.config.max_branch_tokens - 2)]
            self._branch_cache[key] = [self.kg_open, *body, self.kg_close]
        return self._branch_cache[key]

    def build(self, text: str, max_len: int | None = None) -> Tree:
        """The sentence tree of ``text`` (main text truncated to ``max_len`` tokens including
        the final ``</s>``; knowledge adds at most ``config.max_knowledge_tokens`` more, and at
        most ``knowledge_ratio`` of the text's tokens unless that is below
        ``min_knowledge_tokens``: the cost of knowledge stays a bounded share of training)."""
        cfg = self.config
        max_len = max_len or cfg.max_source_len
        enc = self.tok(text, add_special_tokens=False, return_offsets_mapping=True,
                       truncation=True, max_length=max_len - 1)
        main = list(enc["input_ids"]) + [self.tok.eos_token_id]
        n_main = len(main)
        if not self.active:
            return Tree(main, list(range(n_main)), None, n_main=n_main)
        offsets = list(enc["offset_mapping"])
        # entities: first mention of each, at most max_entities; anchor = tokens overlapping it
        anchors: list[tuple[str, list[int]]] = []
        seen: set[str] = set()
        for m in self.index.mentions(text):
            if m.iri in seen or len(anchors) >= cfg.max_entities:
                continue
            toks = [i for i, (a, b) in enumerate(offsets) if a < m.end and b > m.start and b > a]
            if not toks:
                continue      # truncated away
            seen.add(m.iri)
            anchors.append((m.iri, toks))
        if not anchors:
            return Tree(main, list(range(n_main)), None, n_main=n_main)
        graph = None
        node_of: dict[str, int] = {}
        if cfg.gnn:
            graph = self.index.subgraph([iri for iri, _ in anchors], hops=cfg.hops,
                                        max_nodes=cfg.max_graph_nodes, dataflow=cfg.dataflow)
            node_of = {iri: k for k, iri in enumerate(graph.iris)}
        # branches per anchor: [(token ids, is_graph)]
        budget = min(cfg.max_knowledge_tokens, max(cfg.min_knowledge_tokens, int(cfg.knowledge_ratio * n_main)))
        per_anchor: dict[int, list[list[int]]] = {}
        order: list[tuple[str, list[int]]] = []
        for iri, toks in anchors:
            branches = []
            if cfg.gnn and iri in node_of and budget >= 1:
                branches.append([self.graph_id])
                budget -= 1
            for rel, obj in self.index.facts(iri)[: cfg.max_triples]:
                ids = self._branch_ids(rel, obj)
                if len(ids) > budget:
                    break
                branches.append(ids)
                budget -= len(ids)
            if branches:
                per_anchor[toks[-1]] = branches
                order.append((iri, toks))
        if not per_anchor:
            return Tree(main, list(range(n_main)), None, n_main=n_main)
        # flatten: main token i keeps soft position i; a branch continues its anchor's position
        ids: list[int] = []
        pos: list[int] = []
        main_at: list[int] = []            # flattened index of main token i
        branch_spans: dict[int, list[list[int]]] = {}
        for i, t in enumerate(main):
            main_at.append(len(ids))
            ids.append(t)
            pos.append(i)
            for br in per_anchor.get(i, []):
                span = []
                for j, b in enumerate(br):
                    span.append(len(ids))
                    ids.append(b)
                    pos.append(i + 1 + j)
                branch_spans.setdefault(i, []).append(span)
        n = len(ids)
        visible = None
        slots: list[tuple[int, int]] = []
        tree_branches = []
        is_main = np.zeros(n, dtype=bool)
        is_main[main_at] = True
        if cfg.visible_matrix:
            visible = np.zeros((n, n), dtype=bool)
            visible[np.ix_(is_main, is_main)] = True
        for iri, toks in order:
            anchor_pos = [main_at[t] for t in toks]
            for span in branch_spans.get(toks[-1], []):
                if visible is not None:
                    group = anchor_pos + span
                    visible[np.ix_(span, group)] = True   # a branch sees itself and its anchor
                    visible[np.ix_(anchor_pos, span)] = True  # the anchor sees its branch
                if len(span) == 1 and ids[span[0]] == self.graph_id:
                    slots.append((span[0], node_of[iri]))
                tree_branches.append((iri, anchor_pos, span))
        return Tree(ids, pos, visible, graph if slots else None, slots, tree_branches, n_main=n_main)

    # ---- batching -----------------------------------------------------------------------------
    def collate(self, trees: list[Tree]) -> dict:
        """Pad trees into encoder inputs: ``input_ids``, ``attention_mask`` (2-D padding),
        ``position_ids``, and when any tree has one, ``visible`` ([B, 1, n, n] bool), ``graph``
        (a PyG Batch) and ``graph_index`` ([M, 3]: batch row, token position, node index)."""
        b = len(trees)
        n = max(len(t.input_ids) for t in trees)
        pad = self.tok.pad_token_id
        input_ids = torch.full((b, n), pad, dtype=torch.long)
        attn = torch.zeros((b, n), dtype=torch.long)
        position_ids = torch.zeros((b, n), dtype=torch.long)
        for r, t in enumerate(trees):
            k = len(t.input_ids)
            input_ids[r, :k] = torch.tensor(t.input_ids)
            attn[r, :k] = 1
            position_ids[r, :k] = torch.tensor(t.position_ids)
        out = {"input_ids": input_ids, "attention_mask": attn, "position_ids": position_ids}
        if any(t.visible is not None for t in trees):
            vis = np.zeros((b, 1, n, n), dtype=bool)
            for r, t in enumerate(trees):
                k = len(t.input_ids)
                vis[r, 0, :k, :k] = t.visible if t.visible is not None else True
                vis[r, 0, np.arange(k, n), np.arange(k, n)] = True   # padding rows see themselves
            out["visible"] = torch.from_numpy(vis)
        graphs = [(r, t) for r, t in enumerate(trees) if t.graph is not None and t.graph_slots]
        if graphs:
            from torch_geometric.data import Batch
            batch = Batch.from_data_list([t.graph for _, t in graphs], exclude_keys=["iris", "labels"])
            rows = []
            offset = 0
            for (r, t) in graphs:
                for p, node in t.graph_slots:
                    rows.append((r, p, offset + node))
                offset += t.graph.num_nodes
            out["graph"] = batch
            out["graph_index"] = torch.tensor(rows, dtype=torch.long)
        return out

    def encode_texts(self, texts: list[str], max_len: int | None = None) -> dict:
        return self.collate([self.build(t, max_len) for t in texts])
