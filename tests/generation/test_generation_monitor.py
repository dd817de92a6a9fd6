"""The KG monitor against a real store built from real Elixir sources (tests/generation/conftest.py)."""

from __future__ import annotations

import torch

from model.constrained.monitor import KGMonitor, parse_aliases

PROMPT = '''defmodule Shop.Cart do
  alias Beh.Mem
  alias Beh.{Store}

  def total(items) do
'''


def test_aliases_resolve_single_multi_and_as():
    a = parse_aliases("alias Beh.Mem\nalias Foo.{Bar, Baz.Qux}\nalias Some.Long, as: L\n")
    assert a == {"Mem": "Beh.Mem", "Bar": "Foo.Bar", "Baz": "Foo.Baz.Qux", "L": "Some.Long"}


def test_after_an_alias_only_that_modules_public_functions_continue(gen_kg):
    m = KGMonitor(gen_kg, PROMPT)
    m.advance("    Mem.")
    assert m.ok("g") and m.ok("get") and m.ok("put(") and m.ok("pop(")
    assert not m.ok("x")           # no function of Beh.Mem starts with x
    assert not m.ok("secret(")     # private
    assert not m.ok("getx(")       # a name that ended and is none of Mem's
    # the full name works too, and Enum (in this KG) is checked the same way
    m2 = KGMonitor(gen_kg, PROMPT)
    m2.advance("    Enum.")
    assert m2.ok("map(") and not m2.ok("mapp(") and not m2.ok("flat_map(")


def test_unknown_modules_and_strings_are_not_constrained(gen_kg):
    m = KGMonitor(gen_kg, PROMPT)
    assert m.ok("    Nope.whatever(1)")     # the KG knows nothing of Nope: nothing proven
    assert m.ok('    "Mem.xyz(1, 2, 3)"')   # inside a string
    assert m.ok("    # Mem.xyz\n")          # inside a comment


def test_arity_of_finished_calls(gen_kg):
    m = KGMonitor(gen_kg, PROMPT)
    m.advance("    Mem.get(")
    assert m.ok("items)")
    assert not m.ok(")")                     # get/0 does not exist
    assert not m.ok("items, 2)")             # get/2 neither: the comma already goes beyond
    m2 = KGMonitor(gen_kg, PROMPT)
    m2.advance("    Mem.put(")
    assert m2.ok("1)") and m2.ok("1, 2)") and not m2.ok("1, 2, 3")
    assert m2.ok("foo(1, 2, 3), 2)")         # commas of nested calls are theirs
    assert m2.ok("[1, 2, 3])")


def test_impl_true_def_allows_only_callbacks_and_their_arity(gen_kg):
    prompt = "defmodule My.Server do\n  use GenServer\n\n  @impl true\n  def "
    m = KGMonitor(gen_kg, prompt)
    assert m.ok("init(") and m.ok("handle_call(") and m.ok("handle_info(")
    assert not m.ok("start_link(")
    m.advance("handle_cast(")
    assert m.ok("msg, state) do")
    assert not m.ok("msg) do")
    # @impl with a named behaviour
    m2 = KGMonitor(gen_kg, "defmodule X do\n  @behaviour Beh.Store\n  @impl Beh.Store\n  def ")
    assert m2.ok("get(k)") and m2.ok("info()") and not m2.ok("init(")


def test_missing_required_callbacks_are_reported_before_the_end(gen_kg):
    src = "defmodule My.Store do\n  @behaviour Beh.Store\n  def get(k), do: k\nend\n"
    m = KGMonitor(gen_kg, "")
    assert m.allow_eos(src)  # never blocks the end
    assert [d.kind for d in m.reports] == ["missing-callback"]
    assert "put" in m.reports[0].message


def test_queries_are_cached_per_generation(gen_kg):
    m = KGMonitor(gen_kg, PROMPT)
    for _ in range(5):
        m.ok("    Mem.get(x) + Mem.put(x) + Enum.sum([1])")
    assert m.stats["queries"] == 2  # Beh.Mem and Enum, once each


def test_constrained_generation_with_the_monitor_writes_only_known_calls(tiny_model_dir, gen_kg):
    """An untrained model after `Mem.`: without the monitor it writes noise; with it, the
    name it writes is one of Beh.Mem's functions."""
    from model.coder import Coder
    coder = Coder.from_pretrained(tiny_model_dir, kg=gen_kg)
    prompt = PROMPT + "    Mem."
    names = set()
    for seed in range(3):
        torch.manual_seed(seed)
        c = coder.complete(prompt, constrained=True, max_new_tokens=12, temperature=1.0)[0]
        import re
        m = re.match(r"[a-z_]\w*[?!]?", c.text)
        assert m, repr(c.text)
        name = m.group(0)
        names.add(name)
        if len(c.text) > len(name):  # the name ended: it must be a whole function name
            assert name in {"get", "put", "pop", "module_info", "__info__"}, repr(c.text)
        else:
            assert any(f.startswith(name) for f in ("get", "put", "pop", "module_info", "__info__")), repr(c.text)
    assert names
