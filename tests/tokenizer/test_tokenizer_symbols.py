"""The Elixir-aware BPE (model/tokenizer.py): symbols single tokens in code context, identifiers
that merely contain a symbol left whole, exact round trip, no unknown tokens, special tokens,
save/load. Trained for real on the Elixir files of the test fixtures (tiny vocabulary)."""

from __future__ import annotations

from pathlib import Path

import pytest

from model import tokens as T
from model.tokenizer import (SYMBOLS, check, load_tokenizer, symbol_examples, symbol_is_single_token,
                             train_tokenizer)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _texts() -> list[str]:
    files = sorted(FIXTURES.rglob("*.ex")) + sorted(FIXTURES.rglob("*.exs"))
    texts = []
    for f in files:
        try:
            texts.append(f.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            continue
    return texts


@pytest.fixture(scope="module")
def texts():
    t = _texts()
    assert len(t) > 10
    return t


@pytest.fixture(scope="module")
def tok(texts):
    return train_tokenizer(texts, 1200)


@pytest.fixture(scope="module")
def plain(texts):
    return train_tokenizer(texts, 1200, symbols=False)


TRICKY = [
    "defmodule A do\r\n\tdef f(x), do: x |> g()\r\nend\r\n",
    "  trailing spaces   \n\n\n   \t \n",
    "s = \"héllo wörld — ünïcödé 😀 日本語\"\n",
    "x = ~r/[a-z]+/iu and ~S'''\nraw\n'''\n",
    "<s></s><pad> literal special-looking text <task_fim> in a string\n",
    "",
    " ",
    "\n",
    "a\u00a0b\u2028c\x00d\x7f",
]


def test_every_listed_symbol_is_one_token_in_code_context(tok, plain):
    examples = symbol_examples()
    assert len(examples) == len(SYMBOLS) and {"|>", ":ok", "@moduledoc", "defmodule", "~r", "check all"} <= set(SYMBOLS)
    missing = [s for s, code, at in examples if not symbol_is_single_token(tok, code, at, s)]
    assert missing == []
    # The plain byte-level BPE trained on the same texts does not manage this (the check can fail).
    plain_missing = [s for s, code, at in examples if not symbol_is_single_token(plain, code, at, s)]
    assert len(plain_missing) > len(SYMBOLS) // 3


@pytest.mark.parametrize("code,ident,symbol", [
    ("{:okay, x}", ":okay", ":ok"), ("endpoint = 1", "endpoint", "end"), ("done = 2", "done", "do"),
    ("@docs []", "@docs", "@doc"), ("foo_end(x)", "foo_end", "end"), ("testing(x)", "testing", "test"),
    ("defaults = []", "defaults", "def"), ("[:errors]", ":errors", ":error"), ("nil?(x)", "nil?", "nil"),
    ("truevalue", "truevalue", "true"), ("do_something()", "do_something", "do"),
    ("x.test_y", "test_y", "test"), ("~rest", "rest", "~r"),
])
def test_identifiers_containing_a_symbol_stay_whole(tok, code, ident, symbol):
    pre = tok.backend_tokenizer.pre_tokenizer.pre_tokenize_str(code)
    chunks = [c.replace("Ġ", " ").strip() for c, _ in pre]
    # the identifier is one pre-token: BPE sees it whole (it may still use sub-words)
    assert ident in chunks, chunks
    # and the symbol's own token is never produced for it
    sym_ids = {tok.convert_tokens_to_ids(f) for f in (symbol, "Ġ" + symbol)} - {tok.unk_token_id}
    if symbol.startswith((":", "@")):
        assert not sym_ids & set(tok.encode(code, add_special_tokens=False))


def test_keyword_is_one_token_next_to_an_identifier_that_contains_it(tok):
    code = "  endpoint = done\n  end\n"
    enc = tok(code, add_special_tokens=False, return_offsets_mapping=True)
    pieces = [code[s:e] for s, e in enc["offset_mapping"]]
    assert pieces[-2].strip() == "end" and pieces[-1] == "\n"
    end_ids = {tok.convert_tokens_to_ids(t) for t in ("end", "Ġend")}
    assert len(end_ids & set(enc["input_ids"])) == 1  # the keyword's token, once: not in endpoint


@pytest.mark.parametrize("text", TRICKY)
def test_round_trip_is_exact(tok, text):
    ids = tok.encode(text, add_special_tokens=False)
    assert tok.decode(ids) == text
    assert tok.unk_token_id not in ids


def test_round_trip_and_no_unknown_on_every_file(tok, texts):
    result = check(tok, texts)
    assert result["round_trip_ok"] == result["files"] == len(texts)
    assert result["unknown_tokens"] == 0
    assert result["symbols_single"] == result["symbols_total"]
    assert result["tokens_per_char"] < 0.6  # BPE merges happened: far fewer tokens than bytes


def test_special_tokens(tok):
    assert (tok.pad_token, tok.bos_token, tok.eos_token, tok.unk_token, tok.mask_token) == (T.PAD, T.BOS, T.EOS, T.UNK, T.MASK)
    assert tok.pad_token_id == 0
    assert set(T.ALL_SPECIAL) <= set(tok.all_special_tokens)
    for s in T.ALL_SPECIAL:
        ids = tok.encode(f"x {s} y", add_special_tokens=False)
        assert tok.convert_tokens_to_ids(s) in ids
    ids = tok.encode("a<fim_prefix>b", add_special_tokens=False)
    assert tok.decode(ids, skip_special_tokens=True) == "ab"


def test_vocab_size_is_respected_and_checked(texts):
    small = train_tokenizer(texts, 900)
    assert len(small) <= 900
    with pytest.raises(ValueError, match="too small"):
        train_tokenizer(texts, 300)


def test_save_and_load(tok, tmp_path):
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    tok.save_pretrained(tmp_path)
    assert (tmp_path / "tokenizer.json").is_file()
    again = load_tokenizer(tmp_path)
    code = "defmodule X do\n  @spec f(t) :: {:ok, t}\n  def f(x), do: {:ok, x}\nend\n"
    assert again.encode(code) == tok.encode(code)
    assert again.pad_token_id == tok.pad_token_id and len(again) == len(tok)
    auto = AutoTokenizer.from_pretrained(str(tmp_path))
    assert isinstance(auto, PreTrainedTokenizerFast) and auto.encode(code) == tok.encode(code)
    assert auto.decode(auto.encode(code)) == code


def test_load_missing_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer train"):
        load_tokenizer(tmp_path / "nothing")
