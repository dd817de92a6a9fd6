"""Training objectives: each example can be undone (source + target give back the text), the
rates the issue asks for, the mixture's weights and the curriculum."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest
import torch

from encoders.graphs import EntityIndex
from model.collators import (DEFAULT_WEIGHTS, OBJECTIVES, Context, Curriculum, MixtureCollator,
                             doc_code_pairs, make_example)
from model.config import ElixirCoderConfig
from model.kbert import KnowledgeInjector
from model.tokens import FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX, ONTOLOGY, SENTINELS, TASKS
from tests.model.conftest import shop_files

FILES = dict(shop_files())
CART = FILES["lib/shop/cart.ex"]
TEST = FILES["test/cart_test.exs"]
_SENT = re.compile("|".join(re.escape(s) for s in SENTINELS[::-1]))


def fill(source: str, target: str) -> str:
    """Put the target's spans back at the source's sentinels."""
    parts = re.split(f"({_SENT.pattern})", target)
    spans = {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}
    return _SENT.sub(lambda m: spans[m.group(0)], source)


@pytest.fixture(scope="module")
def ctx(tokenizer):
    return Context(tokenizer)


def test_span_corruption_rate_and_round_trip(ctx, tokenizer):
    n_tokens = len(tokenizer(CART, add_special_tokens=False)["input_ids"])
    noise, spans = [], []
    for seed in range(20):
        ex = OBJECTIVES["span"]({"text": CART}, random.Random(seed), ctx)
        assert ex.source.startswith(TASKS["span"])
        assert fill(ex.source[len(TASKS["span"]):], ex.target) == CART
        k = len(_SENT.findall(ex.target))
        assert _SENT.findall(ex.source) == list(SENTINELS[:k])
        masked = sum(len(tokenizer(s, add_special_tokens=False)["input_ids"]) for s in _SENT.split(ex.target)[1:])
        noise.append(masked / n_tokens)
        spans.append(masked / k)
    assert 0.10 < sum(noise) / len(noise) < 0.22          # 15% (retokenising spans is approximate)
    assert 2.0 < sum(spans) / len(spans) < 4.5             # mean span 3


def test_fim_both_orders_at_rate_one_half(ctx):
    orders = Counter()
    for seed in range(200):
        ex = OBJECTIVES["fim"]({"text": CART}, random.Random(seed), ctx)
        body = ex.source[len(TASKS["fim"]):]
        assert body.endswith(FIM_MIDDLE)
        if body.startswith(FIM_PREFIX):
            prefix, suffix = body[len(FIM_PREFIX):-len(FIM_MIDDLE)].split(FIM_SUFFIX)
            orders["psm"] += 1
        else:
            suffix, prefix = body[len(FIM_SUFFIX):-len(FIM_MIDDLE)].split(FIM_PREFIX)
            orders["spm"] += 1
        assert prefix + ex.target + suffix == CART
    assert 70 < orders["spm"] < 130


def test_identifier_masking_hides_every_occurrence(ctx):
    ex = OBJECTIVES["ident"]({"text": CART}, random.Random(3), ctx)
    names = [n for n in re.split(_SENT.pattern, ex.target) if n]
    assert names
    for name in names:
        assert not re.search(rf"(?<![\w:@.]){re.escape(name)}(?![\w])", ex.source)
    assert fill(ex.source[len(TASKS["ident"]):], ex.target) == CART


def test_assert_completion_masks_expected_values(ctx):
    ex = OBJECTIVES["assert"]({"text": TEST}, random.Random(0), ctx)
    assert "[item]" in ex.target and "== " + SENTINELS[0] in ex.source
    assert fill(ex.source[len(TASKS["assert"]):], ex.target) == TEST
    doctest = '  @doc """\n  iex> Shop.Cart.total([])\n  0\n  """\n'
    ex = OBJECTIVES["assert"]({"text": doctest}, random.Random(0), ctx)
    assert ex.target == SENTINELS[0] + "  0"


def test_pairs_and_docs(ctx):
    unit = {"kind": "pair", "code": CART, "test": TEST}
    c2t = OBJECTIVES["code2test"](unit, random.Random(0), ctx)
    t2c = OBJECTIVES["test2code"](unit, random.Random(0), ctx)
    assert (c2t.source, c2t.target) == (TASKS["code2test"] + CART, TEST)
    assert (t2c.source, t2c.target) == (TASKS["test2code"] + TEST, CART)
    pairs = doc_code_pairs(CART)
    assert ("Adds an item.", "  @spec add(list, Item.t()) :: list\n  def add(cart, %Item{} = item), do: [item | cart]") in pairs
    d2c = OBJECTIVES["doc2code"]({"text": CART}, random.Random(0), ctx)
    assert d2c.source.startswith(TASKS["doc2code"]) and "def " in d2c.target
    c2d = OBJECTIVES["code2doc"]({"text": CART}, random.Random(0), ctx)
    assert (c2d.target, c2d.source[len(TASKS["code2doc"]):]) in pairs


def test_ontology_prefix_from_the_kg(tokenizer, shop_kg):
    ctx = Context(tokenizer, EntityIndex(shop_kg))
    text = FILES["lib/shop/payment_gateway.ex"]
    ex = OBJECTIVES["ontology"]({"text": text}, random.Random(0), ctx)
    assert ex.source.startswith(ONTOLOGY)
    assert "Shop.PaymentGateway callback charge/2" in ex.source
    assert ex.source.endswith("defmodule Shop.PaymentGateway do") and text.endswith(ex.target)
    assert OBJECTIVES["ontology"]({"text": text}, random.Random(0), Context(tokenizer)) is None   # no KG


def test_mixture_follows_weights_and_curriculum(ctx):
    units = [{"kind": "file", "text": CART}, {"kind": "file", "text": TEST}]
    counts = Counter(make_example(units[i % 2], random.Random(i), ctx, DEFAULT_WEIGHTS).task for i in range(600))
    assert counts["span"] > counts["fim"] > counts["assert"] > 0
    assert "code2test" not in counts          # file units never give pair objectives
    cur = Curriculum(total_steps=100, warmup=0.5, start=0.25)
    early = cur.weights(DEFAULT_WEIGHTS, 0)
    assert {k for k, w in early.items() if w > 0} == {"span", "fim"}
    assert cur.weights(DEFAULT_WEIGHTS, 50) == DEFAULT_WEIGHTS
    assert cur.length_fraction(0) == 0.25 and cur.length_fraction(80) == 1.0


def test_collator_batch(tokenizer, shop_kg):
    cfg = ElixirCoderConfig.named("tiny", vocab_size=len(tokenizer))
    inj = KnowledgeInjector(tokenizer, cfg, shop_kg)
    col = MixtureCollator(tokenizer, inj, cfg, curriculum=Curriculum(10), seed=1, samples_per_step=2)
    feats = [{"idx": i, "unit": {"kind": "file", "text": t}} for i, t in enumerate([CART, TEST, CART, TEST])]
    a, b = col(feats), col(feats)
    assert torch.equal(a["input_ids"], b["input_ids"]) and torch.equal(a["labels"], b["labels"])  # deterministic
    assert a["labels"].shape[0] == 4 and a["input_ids"].shape[0] == 4
    eos = tokenizer.eos_token_id
    for row in a["labels"]:
        kept = row[row != -100]
        assert kept[-1] == eos
    assert {col.example(f).task for f in feats} <= {"span", "fim"}      # step 0-1 of the curriculum
    with pytest.raises(ValueError, match="unknown objective"):
        MixtureCollator(tokenizer, inj, cfg, weights={"nope": 1.0})
