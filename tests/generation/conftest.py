"""Fixtures of the generation tests: a throwaway tokenizer and an untrained tiny model (real
classes, random weights: what the symbolic side does is visible even on noise), and a real
KG store built from real Elixir sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import FIXTURES, behaviour_kg

LIB = '''defmodule Beh.Store do
  @callback get(key :: term) :: term
  @callback put(term, term) :: :ok
  @callback info() :: map
  @optional_callbacks info: 0
end

defmodule Beh.Mem do
  @behaviour Beh.Store
  def get(k), do: k
  def put(k, v \\\\ nil), do: {k, v}
  def pop(k), do: k
  defp secret(x), do: x
end

defmodule Enum do
  def map(list, f), do: :lists.map(f, list)
  def sum(list), do: :lists.sum(list)
  def filter(list, f), do: :lists.filter(f, list)
  def reduce(list, acc, f), do: :lists.foldl(f, acc, list)
end
'''

STUB = '''defmodule GenServer do
  @callback init(term) :: term
  @callback handle_call(term, term, term) :: term
  @callback handle_cast(term, term) :: term
  @callback handle_info(term, term) :: term
  @optional_callbacks handle_call: 3, handle_cast: 2, handle_info: 2
end
'''


def fixture_texts() -> list[str]:
    return [p.read_text(encoding="utf-8", errors="replace")
            for p in sorted(FIXTURES.rglob("*.ex*")) if p.is_file()]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    import torch

    from model.modeling import ElixirCoder
    from model.tokenizer import train_tokenizer

    d = tmp_path_factory.mktemp("tiny-model")
    tok = train_tokenizer(fixture_texts() + [LIB, STUB], 700)
    torch.manual_seed(0)
    ElixirCoder.from_config("tiny", tok).save_pretrained(d)
    return d


@pytest.fixture(scope="session")
def gen_kg(tmp_path_factory):
    from reasoning import behaviour

    d = tmp_path_factory.mktemp("gen-kg")
    kg = behaviour_kg(d, LIB, STUB)
    yield kg
    behaviour.clear_cache(kg)
    kg.close()
