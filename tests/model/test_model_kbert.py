"""K-BERT injection: sentence trees, soft positions, the visible matrix, GNN soft tokens, and
the issue's test that a branch reaches its anchor and nothing that cannot see it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.config import ElixirCoderConfig
from model.kbert import KnowledgeInjector
from model.modeling import ElixirCoder
from model.tokens import GRAPH, KG_CLOSE, KG_OPEN

TEXT = ("defmodule Shop.Stripe do\n  @behaviour Shop.PaymentGateway\n  def charge(x, n), do: Shop.Cart.total(x)\n"
        "end\n")


def tiny(tokenizer, **kw):
    torch.manual_seed(0)
    kw.setdefault("max_branch_tokens", 48)   # the test tokenizer is small: words take many tokens
    kw.setdefault("knowledge_ratio", 1.0)
    return ElixirCoder.from_config("tiny", tokenizer, dropout=0.0, **kw).eval()


def hidden(model, batch):
    with torch.no_grad():
        return model.encode(**batch).last_hidden_state[0]


def branch_of(tree, model, entity_suffix, graph=False):
    for iri, anchor, span in tree.branches:
        if iri.endswith(entity_suffix) and (model.tokenizer.convert_ids_to_tokens(tree.input_ids[span[0]]) == GRAPH) == graph:
            return anchor, span
    raise AssertionError(f"no branch for {entity_suffix}")


def reach(visible: np.ndarray, source: list[int], layers: int) -> set[int]:
    """Positions whose hidden state after ``layers`` layers can depend on ``source`` positions."""
    cur = np.zeros(len(visible), dtype=bool)
    cur[source] = True
    for _ in range(layers):
        cur = cur | visible[:, cur].any(1)
    return set(np.flatnonzero(cur).tolist())


def test_sentence_tree_shape(tokenizer, shop_kg):
    model = tiny(tokenizer)
    tree = model.injector(shop_kg).build(TEXT)
    toks = tokenizer.convert_ids_to_tokens(tree.input_ids)
    anchor, span = branch_of(tree, model, "module/Shop.PaymentGateway")
    branch_text = tokenizer.decode([tree.input_ids[i] for i in span])
    assert toks[span[0]] == KG_OPEN and toks[span[-1]] == KG_CLOSE
    assert branch_text.replace(" ", "") in ("<kg>isbehaviour</kg>", "<kg>callbackcharge/2</kg>")
    # soft positions: the branch continues after its anchor, the main text resumes there too
    assert tree.position_ids[span[0]] == tree.position_ids[anchor[-1]] + 1
    main_after = [i for i in range(anchor[-1] + 1, len(toks)) if all(i not in s for _, _, s in tree.branches)][0]
    assert tree.position_ids[main_after] == tree.position_ids[anchor[-1]] + 1
    # the visible matrix: branch <-> anchor only
    v = tree.visible
    others = [i for i in range(len(toks)) if i not in anchor and i not in span
              and all(i not in s for _, _, s in tree.branches)]
    assert v[np.ix_(span, anchor)].all() and v[np.ix_(anchor, span)].all()
    assert not v[np.ix_(others, span)].any() and not v[np.ix_(span, others)].any()
    # the main text is the plain tokenisation
    main = [tree.input_ids[i] for i in range(len(toks)) if all(i not in s for _, _, s in tree.branches)]
    assert main == tokenizer(TEXT, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    # a GNN soft token per entity that has a node in the subgraph
    assert tree.graph is not None and len(tree.graph_slots) >= 1
    assert all(toks[p] == GRAPH for p, _ in tree.graph_slots)


@pytest.mark.parametrize("layers", [1, 2])
def test_branch_token_changes_anchor_and_nothing_that_cannot_see_it(tokenizer, shop_kg, layers):
    model = tiny(tokenizer, encoder_layers=layers)
    inj = model.injector(shop_kg)
    tree = inj.build(TEXT)
    anchor, span = branch_of(tree, model, "module/Shop.PaymentGateway")
    batch = inj.collate([tree])
    before = hidden(model, batch)
    changed = dict(batch)
    ids = batch["input_ids"].clone()
    j = span[1]                                     # a triple token (not <kg>)
    ids[0, j] = (ids[0, j] + 7) % len(tokenizer)
    changed["input_ids"] = ids
    after = hidden(model, changed)
    diff = (after - before).abs().amax(-1)
    assert diff[anchor].max() > 1e-4                               # the anchor hears its branch
    can_see = reach(tree.visible, [j], layers)
    untouched = [i for i in range(len(tree.input_ids)) if i not in can_see]
    assert untouched, "the test needs tokens that cannot see the branch"
    assert diff[untouched].max() < 1e-6
    if layers == 1:   # with one layer that is every main token but the anchor
        main_others = [i for i in range(tree.n_main + sum(len(s) for _, _, s in tree.branches))
                       if i not in anchor and all(i not in s for _, _, s in tree.branches)]
        assert diff[main_others].max() < 1e-6


def test_without_visible_matrix_every_token_hears_the_branch(tokenizer, shop_kg):
    model = tiny(tokenizer, encoder_layers=1, visible_matrix=False)
    inj = model.injector(shop_kg)
    tree = inj.build(TEXT)
    assert tree.visible is None and tree.branches
    anchor, span = branch_of(tree, model, "module/Shop.PaymentGateway")
    batch = inj.collate([tree])
    before = hidden(model, batch)
    ids = batch["input_ids"].clone()
    ids[0, span[1]] = (ids[0, span[1]] + 7) % len(tokenizer)
    after = hidden(model, {**batch, "input_ids": ids})
    assert (after - before).abs().amax(-1).min() > 1e-6


def test_graph_soft_token_reaches_only_its_anchor(tokenizer, shop_kg):
    model = tiny(tokenizer, encoder_layers=1)
    inj = model.injector(shop_kg)
    tree = inj.build(TEXT)
    anchor, span = branch_of(tree, model, "module/Shop.PaymentGateway", graph=True)
    batch = inj.collate([tree])
    before = hidden(model, batch)
    # perturb the GNN (not uniformly: the embedding LayerNorm would remove it): its output is
    # the soft token's input embedding
    with torch.no_grad():
        model.gnn.out.bias.add_(torch.linspace(-1.0, 1.0, model.gnn.out.bias.numel()))
    after = hidden(model, batch)
    diff = (after - before).abs().amax(-1)
    assert diff[span].max() > 1e-4 and diff[anchor].max() > 1e-4
    graph_slots = {p for p, _ in tree.graph_slots}
    seers = reach(tree.visible, sorted(graph_slots), 1)
    assert diff[[i for i in range(len(tree.input_ids)) if i not in seers]].max() < 1e-6


def test_ablation_switches(tokenizer, shop_kg):
    plain = KnowledgeInjector(tokenizer, ElixirCoderConfig.named("tiny", knowledge=False), shop_kg).build(TEXT)
    assert plain.input_ids == tokenizer(TEXT, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    assert plain.visible is None and not plain.branches and plain.position_ids == list(range(len(plain.input_ids)))
    no_gnn = KnowledgeInjector(tokenizer, ElixirCoderConfig.named("tiny", gnn=False), shop_kg).build(TEXT)
    assert no_gnn.branches and no_gnn.graph is None
    assert tokenizer.convert_tokens_to_ids(GRAPH) not in no_gnn.input_ids
    # no KG at all: plain text
    assert KnowledgeInjector(tokenizer, ElixirCoderConfig.named("tiny")).build(TEXT).input_ids == plain.input_ids


def test_knowledge_budget_and_batching(tokenizer, shop_kg):
    cfg = ElixirCoderConfig.named("tiny", max_knowledge_tokens=20, min_knowledge_tokens=0)
    inj = KnowledgeInjector(tokenizer, cfg, shop_kg)
    tree = inj.build(TEXT)
    assert 0 < len(tree.input_ids) - tree.n_main <= min(20, 0.2 * tree.n_main)
    long = KnowledgeInjector(tokenizer, cfg.replace(knowledge_ratio=1.0, max_knowledge_tokens=500), shop_kg).build(TEXT)
    assert len(long.input_ids) - long.n_main > 20
    batch = inj.collate([tree, inj.build("x = 1")])
    n = batch["input_ids"].shape[1]
    assert batch["visible"].shape == (2, 1, n, n)
    # padding rows attend to themselves only (no all-masked rows); padding columns hidden
    k = int(batch["attention_mask"][1].sum())
    assert not batch["visible"][1, 0, :k, k:].any() and batch["visible"][1, 0, k:, k:].diagonal().all()
