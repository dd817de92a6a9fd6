"""Functions that literal compile-time loops, same-file macros and protocol deriving define
(docs/kg-model.md, "Generated functions"), from tests/fixtures/elixir/loops.ex, checked against
what `elixirc` really exports for the same file; and what stays dynamic when anything is not
literal."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pyoxigraph import RdfFormat, Store

from kg.extract import DERIVABLE, FileContext, extract_source
from ontologies import sparql_prefixes

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "elixir" / "loops.ex"
SHADES = FIXTURE.parent / "beyond_oracle" / "loops_interpolated.ex"


def store_of(src: bytes | None = None) -> Store:
    store = Store()
    for i, text in enumerate([FIXTURE.read_bytes(), SHADES.read_bytes()] if src is None else [src]):
        store.load(extract_source(text, FileContext("shop", "0.1.0", f"lib/loops{i}.ex")).ntriples(),
                   format=RdfFormat.N_TRIPLES)
    return store


def functions(store: Store, module: str) -> dict[tuple[str, int], tuple]:
    """(name, arity) -> (kind, visibility, generator or None, doc or None)."""
    out = {}
    for s in store.query(sparql_prefixes() + f"""
            SELECT ?n ?a ?k ?v ?g ?d WHERE {{ ?f a ec:Function ; ec:inModule/ec:name "{module}" ;
              ec:name ?n ; ec:arity ?a ; ec:kind ?k ; ec:visibility ?v .
              OPTIONAL {{ ?f ec:generated true ; ec:generator ?g }} OPTIONAL {{ ?f ec:doc ?d }} }}"""):
        out[(s["n"].value, int(s["a"].value))] = tuple(
            None if s[k] is None else s[k].value for k in ("k", "v", "g", "d"))
    return out


def dynamic_names(store: Store) -> set[str]:
    return {s["d"].value for s in store.query(sparql_prefixes() + "SELECT ?d WHERE { ?x ec:dynamicName ?d }")}


def test_literal_loops_define_written_functions():
    fs = functions(store_of(), "Loops.Log")
    # `for level <- @levels do defmacro unquote(level)(message, metadata \\ [])`
    for level in ("error", "info"):
        for arity in (1, 2):
            assert fs[(level, arity)] == ("defmacro", "public", None, "Logs at #{level}.")
    # keyword list, Enum.with_index of a module variable, interpolated atoms, a pattern that
    # skips elements ({:skip, :bg}), and a module variable naming a defdelegate
    assert {k for k, v in fs.items() if v[0] == "def"} == {("red", 0), ("green", 0)}
    assert set(functions(store_of(), "Loops.Shades")) == {("dark_fg", 0), ("light_fg", 0)}
    assert fs[("renamed_flatten", 1)][0] == "defdelegate"
    # the quote template of Loops.Seq stays what it is: a dynamic name inside a macro
    assert dynamic_names(store_of()) == {"unquote(name)"}


def test_same_file_macro_calls_define_generated_functions():
    fs = functions(store_of(), "Loops.Ansi")
    gen2, gen3 = "macro Loops.Seq.defseq/2", "macro Loops.Seq.defseq/3"
    assert fs[("reset", 0)] == ("def", "public", gen2, "Resets.")  # the @doc before the call
    assert fs[("home", 0)] == ("def", "public", gen3, None)
    for name in ("black", "red", "black_background", "red_background"):
        assert fs[(name, 0)][:3] == ("def", "public", gen2)
    # the static `defp seq_name(unquote(name))` of the quote: the module writes its own
    assert fs[("seq_name", 1)] == ("defp", "private", None, None)
    assert ("const", 2) not in fs and fs[("answer", 0)][2] is None


def test_derived_implementations_are_modules_with_generated_functions():
    store = store_of()
    for target, how in (("Loops.Point", "@derive"), ("Loops.Secret", "Protocol.derive")):
        impl = f"Inspect.{target}"
        assert functions(store, impl) == {("__impl__", 1): ("def", "public", how, None),
                                          ("inspect", 2): ("def", "public", how, None)}
        (row,) = list(store.query(sparql_prefixes() + f"""
            SELECT ?p ?t WHERE {{ ?m ec:name "{impl}" ; a ec:ProtocolImplementation ;
              ec:protocol ?p ; ec:forType ?t ; ec:implementsProtocol ?pm }}"""))
        assert (row["p"].value, row["t"].value) == ("Inspect", target)


def test_anything_not_literal_stays_dynamic():
    src = b'''defmodule D do
  import M
  for name <- String.split("a b"), do: def unquote(name)(), do: 1
  for x <- [:a, :b], x != :a, do: def unquote(x)(), do: 1
  @xs Enum.map([:c], & &1)
  for x <- @xs, do: def unquote(x)(), do: 1
  @derive [Mine]
  defstruct [:a]
end
'''
    store = store_of(src)
    assert set(functions(store, "D")) == {("__struct__", 0), ("__struct__", 1)}
    assert dynamic_names(store) == {"unquote(name)", "unquote(x)"}
    # a protocol the table does not know: nothing is derived (its functions are unknown)
    assert not bool(store.query(sparql_prefixes() + 'ASK { ?m ec:name "Mine.D" }'))


def test_macro_without_bind_quoted_needs_a_literal_argument():
    src = b'''defmodule S do
  defmacro one(name), do: (quote do: def unquote(name)(), do: 1)
end
defmodule U do
  require S
  S.one(:direct)
  for n <- [:looped], do: S.one(n)
end
'''
    fs = functions(store_of(src), "U")
    # without bind_quoted the macro gets the AST: a variable is no name, only a literal atom
    assert set(fs) == {("direct", 0)} and fs[("direct", 0)][2] == "macro S.one/1"


def test_extracted_public_functions_are_what_elixirc_exports(elixir_bin, tmp_path):
    elixirc = str(Path(elixir_bin).with_name("elixirc"))
    proc = subprocess.run([elixirc, "-o", str(tmp_path), str(FIXTURE), str(SHADES)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    script = """
    for f <- Path.wildcard(Path.join(hd(System.argv()), "*.beam")) do
      m = f |> Path.basename(".beam") |> String.to_atom()
      for {n, a} <- m.module_info(:exports), {n, a} not in [module_info: 0, module_info: 1, __info__: 1] do
        {n, a} = case Atom.to_string(n) do
          "MACRO-" <> name -> {name, a - 1}
          name -> {name, a}
        end
        IO.puts(inspect(m) <> "\\t" <> n <> "\\t" <> Integer.to_string(a))
      end
    end
    """
    proc = subprocess.run([elixir_bin, "-pa", str(tmp_path), "-e", script, str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    exported = {(m, n, int(a)) for m, n, a in (line.split("\t") for line in proc.stdout.splitlines())}
    assert ("Loops.Ansi", "black_background", 0) in exported  # the comparison is not vacuous
    ours = {(s["m"].value, s["n"].value, int(s["a"].value)) for s in store_of().query(sparql_prefixes() + """
        SELECT ?m ?n ?a WHERE { ?f a ec:Function ; ec:visibility "public" ; ec:name ?n ; ec:arity ?a ;
          ec:inModule/ec:name ?m }""")}
    assert ours == exported


def test_derivable_table_is_what_the_protocols_declare(elixir_bin):
    script = """
    for p <- System.argv() do
      m = Module.concat([p])
      Code.ensure_loaded(m)
      fs = m.__protocol__(:functions) |> Enum.map_join(",", fn {n, a} -> "#{n}/#{a}" end)
      IO.puts(p <> "\\t" <> fs)
    end
    """
    proc = subprocess.run([elixir_bin, "-e", "Application.ensure_all_started(:iex)\n" + script, *DERIVABLE],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    declared = {p: set(fs.split(",")) for p, fs in (line.split("\t") for line in proc.stdout.splitlines())}
    assert declared == {p: {f"{n}/{a}" for n, a in fns} for p, fns in DERIVABLE.items()}
