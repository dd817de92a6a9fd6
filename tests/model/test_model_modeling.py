"""The composite model: sizes, forward/loss, generation with and without knowledge, and the
save_pretrained / from_pretrained round trip."""

from __future__ import annotations

import pytest
import torch
from transformers import LogitsProcessor, LogitsProcessorList

from model.config import ConfigError, ElixirCoderConfig
from model.modeling import ElixirCoder

PROMPT = "defmodule Shop.Stripe do\n  @behaviour Shop.PaymentGateway\n"


@pytest.mark.parametrize("name,low,high", [("tiny", 0, 5e6), ("small", 20e6, 45e6),
                                           ("base", 100e6, 160e6), ("large", 300e6, 420e6)])
def test_named_sizes(name, low, high):
    with torch.device("meta"):     # count without allocating
        model = ElixirCoder(ElixirCoderConfig.named(name, vocab_size=32000), None)
    assert low <= model.num_parameters() <= high


def test_unknown_config_is_a_clear_error(tokenizer):
    with pytest.raises(ConfigError, match="unknown model config 'huge'"):
        ElixirCoder.from_config("huge", tokenizer)


def test_forward_loss_and_gradients_reach_the_gnn(tokenizer, shop_kg):
    torch.manual_seed(0)
    model = ElixirCoder.from_config("tiny", tokenizer)
    batch = model.encode_texts([PROMPT, "x = 1"], shop_kg)
    assert "graph" in batch and "visible" in batch
    labels = tokenizer(["  def charge(a, b), do: a", "y"], padding=True, return_tensors="pt")["input_ids"]
    labels[labels == tokenizer.pad_token_id] = -100
    out = model(**batch, labels=labels)
    assert out.loss.item() == pytest.approx(torch.log(torch.tensor(float(len(tokenizer)))).item(), rel=0.3)
    out.loss.backward()
    assert model.gnn.convs[0].weight.grad is not None and model.gnn.convs[0].weight.grad.abs().sum() > 0


class Ban(LogitsProcessor):
    def __init__(self, token):
        self.token = token

    def __call__(self, input_ids, scores):
        scores[:, self.token] = -float("inf")
        return scores


def test_generate_ids_with_knowledge_and_processors(tokenizer, shop_kg):
    torch.manual_seed(0)
    model = ElixirCoder.from_config("tiny", tokenizer).eval()
    greedy = model.generate_ids([PROMPT], kg=shop_kg, max_new_tokens=6)
    assert greedy.shape[0] == 1 and greedy[0, 0] == tokenizer.bos_token_id and greedy.shape[1] <= 7
    banned = int(greedy[0, 1])
    other = model.generate_ids([PROMPT], kg=shop_kg, max_new_tokens=6,
                               logits_processor=LogitsProcessorList([Ban(banned)]))
    assert banned not in other[0, 1:].tolist()
    sampled = model.generate_ids([PROMPT, "x"], do_sample=True, temperature=1.0, num_return_sequences=3,
                                 max_new_tokens=4)
    assert sampled.shape[0] == 6
    enc = model.encode_prompt([PROMPT], kg=shop_kg)
    plain = model.encode_prompt([PROMPT])
    assert enc["encoder_outputs"].last_hidden_state.shape[1] == enc["attention_mask"].shape[1]
    assert enc["attention_mask"].shape[1] > plain["attention_mask"].shape[1]     # branches were added


def test_save_and_from_pretrained_round_trip(tokenizer, shop_kg, tmp_path):
    torch.manual_seed(0)
    model = ElixirCoder.from_config("tiny", tokenizer, hops=2, max_triples=2).eval()
    model.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "model.safetensors").exists() and (tmp_path / "m" / "tokenizer.json").exists()
    loaded = ElixirCoder.from_pretrained(tmp_path / "m")
    assert loaded.config == model.config
    assert loaded.tokenizer.get_vocab() == tokenizer.get_vocab()
    a = {k: v for k, v in model.state_dict().items()}
    b = loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # shared embeddings stay shared after loading
    emb = loaded.seq2seq.encoder.embeddings.word_embeddings.weight
    assert loaded.seq2seq.decoder.cls.predictions.decoder.weight is emb
    x = model.encode_prompt([PROMPT], kg=shop_kg)["encoder_outputs"].last_hidden_state
    y = loaded.encode_prompt([PROMPT], kg=shop_kg)["encoder_outputs"].last_hidden_state
    assert torch.equal(x, y)
    assert torch.equal(model.generate_ids([PROMPT], kg=shop_kg, max_new_tokens=5),
                       loaded.generate_ids([PROMPT], kg=shop_kg, max_new_tokens=5))
    # switches can be turned off at load time (the no-knowledge ablation of a trained model)
    off = ElixirCoder.from_pretrained(tmp_path / "m", knowledge=False)
    assert off.encode_prompt([PROMPT], kg=shop_kg)["attention_mask"].shape[1] < x.shape[1]


def test_from_pretrained_of_a_directory_without_a_model(tmp_path):
    with pytest.raises(ConfigError, match="no model.safetensors"):
        ElixirCoder.from_pretrained(tmp_path)
