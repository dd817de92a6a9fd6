"""reasoning.check_module: a module being written, checked against a real store built from
real Elixir sources (a project with a behaviour, and GenServer's callbacks in a graph of its own
as `kg stdlib` would give them)."""

from __future__ import annotations

import pytest

from kg.build import build
from reasoning import behaviour
from reasoning.behaviour import Diagnostic, check_module, complete
from tests.conftest import behaviour_kg

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
  defp secret(x), do: x
end
'''

STUB = '''defmodule GenServer do
  @callback init(term) :: term
  @callback handle_call(term, term, term) :: term
  @callback handle_cast(term, term) :: term
  @optional_callbacks handle_call: 3, handle_cast: 2
end

defmodule Exception do
  @callback exception(term) :: term
  @callback message(term) :: String.t()
  @callback blame(term, term) :: term
  @optional_callbacks blame: 2
end
'''


@pytest.fixture(scope="module")
def kg(tmp_path_factory):
    d = tmp_path_factory.mktemp("check")
    kg = behaviour_kg(d, LIB, STUB)
    yield kg
    behaviour.clear_cache(kg)
    kg.close()


def _kinds(diags):
    return sorted(((d.kind, d.line) for d in diags), key=lambda x: (x[1], x[0]))


def test_a_correct_module_has_no_result(kg):
    src = '''defmodule My.Good do
  use GenServer
  @behaviour Beh.Store
  alias Beh.Mem

  @impl true
  def init(x), do: {:ok, x}

  @impl GenServer
  def handle_call(:get, _from, s), do: {:reply, Mem.get(s), s}

  @impl Beh.Store
  def get(k), do: Mem.put(k) || Mem.put(k, 1)

  @impl true
  def put(k, v), do: helper(k, v)

  defp helper(a, b), do: {a, b}
end
'''
    assert check_module(kg, src) == []


def test_behaviour_problems_with_spans(kg):
    src = '''defmodule My.Bad do
  use GenServer
  @behaviour Beh.Store

  @impl true
  def get(k), do: k

  @impl Beh.Store
  def put(k), do: k

  @impl true
  def handle_call(:get, from), do: from

  @impl GenServer
  def start(x), do: x

  @impl Beh.Other
  def info, do: %{}
end
'''
    diags = check_module(kg, src)
    assert all(isinstance(d, Diagnostic) for d in diags)
    assert _kinds(diags) == [
        ("missing-callback", 1),   # GenServer init/1 (the compiler's stopgap does not count)
        ("missing-callback", 1),   # Beh.Store put/2
        ("impl-not-callback", 8),  # @impl Beh.Store on put/1
        ("callback-arity", 9),     # put/1 vs put/2
        ("impl-not-callback", 11),  # @impl true on handle_call/2
        ("callback-arity", 12),    # handle_call/2 vs handle_call/3
        ("impl-not-callback", 14),  # start/1 is no GenServer callback
        ("impl-not-callback", 17),  # Beh.Other is not declared
    ]
    by_line = {(d.kind, d.line): d for d in diags}
    missing = sorted(d.message for d in diags if d.kind == "missing-callback")
    assert "init/1" in missing[1] and "GenServer" in missing[1]
    assert "put/2" in missing[0] and "Beh.Store" in missing[0]
    assert "takes 3 arguments" in by_line[("callback-arity", 12)].message
    assert "does not declare behaviour Beh.Other" in by_line[("impl-not-callback", 17)].message
    impl = by_line[("impl-not-callback", 8)]
    assert (impl.column, impl.end_line, impl.end_column) == (3, 8, 18)  # `@impl Beh.Store`


def test_calls_to_functions_the_kg_does_not_have(kg):
    src = '''defmodule My.Caller do
  alias Beh.Mem

  def run(x) do
    Mem.gett(x)
    Mem.get(x, 2)
    Mem.secret(x)
    Unknown.Module.anything(x)
    Beh.Mem.put(x, 1, 2)
    local(x)
  end

  def local(a, b), do: {a, b}
end
'''
    diags = check_module(kg, src)
    assert _kinds(diags) == [
        ("undefined-function", 5), ("wrong-arity", 6), ("undefined-function", 7),
        ("wrong-arity", 9), ("wrong-arity", 10)]
    msgs = {d.line: d for d in diags}
    assert "did you mean Beh.Mem.get" in msgs[5].message
    assert "takes 1 argument" in msgs[6].message
    assert "private" in msgs[7].message
    assert "takes 1 or 2 arguments" in msgs[9].message
    assert (msgs[5].line, msgs[5].column, msgs[5].end_line, msgs[5].end_column) == (5, 5, 5, 16)


def test_partial_module_being_written(kg):
    src = '''defmodule My.Partial do
  @behaviour Beh.Store

  @impl true
  def get(k) do
    case Beh.Mem.get(k, :x) do
      nil ->
        Beh.Mem.'''
    fixed = complete(src.encode())
    assert fixed is not None and fixed.startswith(src.encode().rsplit(b"\n", 1)[0])
    diags = check_module(kg, src)
    assert _kinds(diags) == [("missing-callback", 1), ("wrong-arity", 6)]
    # spans stay inside the text given
    assert all(d.end_line <= src.count("\n") + 1 for d in diags)


def test_source_that_cannot_be_read_says_so(kg):
    diags = check_module(kg, "defmodule X do\n" + ")))\n" * 6)
    assert [d.kind for d in diags] == ["syntax"]
    assert "only the forms without syntax errors were checked" in diags[0].message and diags[0].line == 1


def test_cache_sees_a_rebuilt_store_after_clear(kg, tmp_path):
    src = "defmodule My.C do\n  def f, do: Beh.Mem.fresh()\nend\n"
    assert [d.kind for d in check_module(kg, src)] == ["undefined-function"]
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib/more.ex").write_text("defmodule Beh.Mem do\n  def fresh, do: :ok\nend\n")
    build(kg, tmp_path, graph="more@0.1.0")
    behaviour.clear_cache(kg)
    assert check_module(kg, src) == []


def test_impl_before_a_head_with_defaults(kg):
    # only the full arity carries the @impl (Elixir records it so); get/1 is the callback
    src = """defmodule My.Defaults do
  @behaviour Beh.Store
  @impl true
  def get(k, opts \\\\ []), do: {k, opts}
  @impl Beh.Store
  def put(k, v, extra \\\\ nil), do: {k, v, extra}
end
"""
    assert check_module(kg, src) == []
    bad = src.replace("def get(k, opts", "def get(k, j, opts")
    assert [(d.kind, d.line) for d in check_module(kg, bad)] == [
        ("missing-callback", 1), ("impl-not-callback", 3), ("callback-arity", 4), ("callback-arity", 4)]


def test_defexception_declares_exception_as_behaviour(kg):
    src = """defmodule My.Error do
  defexception [:message]
  @impl true
  def message(e), do: e.message
  @impl true
  def nope(x), do: x
end
"""
    diags = check_module(kg, src)
    assert [(d.kind, d.line) for d in diags] == [("impl-not-callback", 5)]
    assert "no callback of Exception" in diags[0].message
