"""The extractor against the real Elixir: its parser as oracle, and its compiler.

One `elixir tests/kg/oracle.exs` process reads every fixture file; its modules and def heads
(name, arity, kind) must be exactly what SPARQL finds in the extracted facts. For the fixtures
that compile, a second one compiles them and the modules and definitions in the BEAM debug info
must match too; and the `use X` -> behaviour table is checked against compiled modules."""

from __future__ import annotations

import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
from pyoxigraph import RdfFormat, Store

from kg.extract import USE_BEHAVIOURS, FileContext, extract_source
from ontologies import sparql_prefixes

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "elixir"
ORACLE = Path(__file__).resolve().parent / "oracle.exs"
FILES = sorted(p for p in FIXTURES.iterdir() if p.suffix in (".ex", ".exs"))


@pytest.fixture(scope="session")
def oracle(elixir_bin) -> dict[str, dict[str, set]]:
    """file name -> {"module": {names}, "def": {(module, name, arity, kind)}, "error": {lines}}."""
    proc = subprocess.run([elixir_bin, str(ORACLE), *map(str, FILES)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    facts: dict[str, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    for line in proc.stdout.splitlines():
        kind, file, *rest = line.split("\t")
        name = Path(file).name
        if kind == "def":
            mod, fname, arity, dkind = rest
            facts[name]["def"].add((mod, fname, int(arity), dkind))
        elif kind == "module":
            facts[name]["module"].add(rest[0])
        elif kind == "error":
            facts[name]["error"].add(int(rest[0]))
    return facts


def _store(path: Path):
    facts = extract_source(path.read_bytes(), FileContext("fixtures", "0.0.0", path.name))
    store = Store()
    store.load(facts.ntriples(), format=RdfFormat.N_TRIPLES)
    return facts, store


def _rows(store: Store, query: str) -> set[tuple]:
    out = set()
    for sol in store.query(sparql_prefixes() + query):
        out.add(tuple(int(v.value) if v.datatype.value.endswith("integer") else v.value
                      for v in sol))
    return out


NOT_DERIVED = """FILTER NOT EXISTS { ?g ec:inModule ?m ; ec:name "__impl__" ; ec:generator ?how .
                                     FILTER (?how IN ("@derive", "Protocol.derive")) }"""


def test_oracle_sees_every_fixture(oracle):
    # Guards the comparison itself: an oracle that printed nothing would make it vacuous.
    assert {p.name for p in FILES} <= set(oracle) | {"broken.ex"}
    assert sum(len(v["def"]) for v in oracle.values()) > 80


@pytest.mark.parametrize("path", [p for p in FILES if p.name != "broken.ex"], ids=lambda p: p.name)
def test_modules_and_def_heads_match_elixir(path, oracle):
    facts, store = _store(path)
    assert facts.status == "ok", facts.problems
    expected = oracle[path.name]
    # The oracle reads what the source writes: not the modules @derive / Protocol.derive make,
    # nor the functions generators and same-file macros inject (ec:generated).
    modules = {r[0] for r in _rows(store, f"SELECT ?n WHERE {{ ?m a ec:Module ; ec:name ?n {NOT_DERIVED} }}")}
    assert modules == expected["module"]
    defs = _rows(store, """
        SELECT ?mn ?n ?a ?k WHERE {
          ?f a ec:Function ; ec:name ?n ; ec:arity ?a ; ec:kind ?k ; ec:inModule ?m .
          ?m ec:name ?mn FILTER NOT EXISTS { ?f ec:generated true } }""")
    assert defs == expected["def"]
    assert facts.counts["modules"] == len(_rows(store, "SELECT ?n WHERE { ?m a ec:Module ; ec:name ?n }"))
    assert facts.counts["functions"] == len(defs)


def test_broken_file_error_line_matches_elixir(oracle):
    facts, store = _store(FIXTURES / "broken.ex")
    assert facts.status == "error"
    assert oracle["broken.ex"]["error"] == {p.line for p in facts.problems}


# ---- against the compiler itself ---------------------------------------------------------
# Fixtures that compile on their own: for them the truth is what `Code.compile_file` puts in
# each module's debug info, not a model of it. Left out: those whose macros inject definitions
# the source does not write (`use GenServer` adds child_spec/1..., defexception message/1),
# which the extractor rightly does not report as the module's written functions.
COMPILES = [FIXTURES / n for n in ("attributes.ex", "calls.ex", "edge_cases.ex", "loops.ex", "modules.ex",
                                   "protocols.ex", "tokenizer.ex")]
# Definitions the compiler generates (defstruct, defprotocol, defimpl), left out on both sides:
# the extractor's other generated functions (defexception's, a same-file macro's, a derived
# implementation's inspect/2) are compared with the BEAM like written ones.
GENERATED = {"__struct__", "__protocol__", "__impl__", "__deriving__", "impl_for", "impl_for!",
             "struct_impl_for"}
# How the compiler records what the source calls defguard / defdelegate.
COMPILED_KIND = {"defguard": "defmacro", "defguardp": "defmacrop", "defdelegate": "def"}


@pytest.fixture(scope="session")
def compiled(elixir_bin) -> dict[str, dict[str, set]]:
    proc = subprocess.run([elixir_bin, str(ORACLE), "--compile", *map(str, COMPILES)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    facts: dict[str, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    for line in proc.stdout.splitlines():
        kind, file, *rest = line.split("\t")
        if kind == "module":
            facts[Path(file).name]["module"].add(rest[0])
        elif kind == "def" and rest[1] not in GENERATED:
            facts[Path(file).name]["def"].add((rest[0], rest[1], int(rest[2]), rest[3]))
    return facts


@pytest.mark.parametrize("path", COMPILES, ids=lambda p: p.name)
def test_modules_and_definitions_match_the_compiled_beam(path, compiled):
    facts, store = _store(path)
    expected = compiled[path.name]
    assert expected["module"], "the compiler produced nothing: the comparison would be vacuous"
    modules = {r[0] for r in _rows(store, "SELECT ?n WHERE { ?m a ec:Module ; ec:name ?n }")}
    assert modules == expected["module"]
    defs = {(m, n, a, COMPILED_KIND.get(k, k)) for m, n, a, k in _rows(store, """
        SELECT ?mn ?n ?a ?k WHERE {
          ?f a ec:Function ; ec:name ?n ; ec:arity ?a ; ec:kind ?k ; ec:inModule ?m .
          ?m ec:name ?mn }""") if n not in GENERATED}
    assert defs == expected["def"]


def test_use_behaviours_are_what_elixir_declares(elixir_bin):
    """USE_BEHAVIOURS against the compiler: a module that does `use X` has exactly the
    behaviour the table says (and none for Agent/Task, whose __using__ declares none)."""
    probes = {**USE_BEHAVIOURS, "Agent": None, "Task": None}
    script = """
    for {m, i} <- Enum.with_index(System.argv()) do
      name = Module.concat(KgProbe, "M#{i}")
      Code.compile_string("defmodule #{inspect(name)} do use #{m} end")
      b = name.module_info(:attributes) |> Keyword.get_values(:behaviour) |> List.flatten()
      IO.puts(m <> "\\t" <> Enum.map_join(b, ",", &inspect/1))
    end
    """
    proc = subprocess.run([elixir_bin, "-e", script, *probes], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    declared = dict(line.split("\t") for line in proc.stdout.splitlines())
    assert declared == {m: b or "" for m, b in probes.items()}
