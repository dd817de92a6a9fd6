"""`kg stdlib`: the installed Elixir, introspected by the real BEAM, lands in the store as one
graph per app@version, and project facts join it (calls resolve, missing callbacks show)."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pyoxigraph
import pytest

from elixir_coder.commands.stdlib import add_stdlib_command
from kg.stdlib import AppNotInstalled, app_facts
from ontologies import EC, ID, beam_graph_iri
from sparql import named
from sparql.store import KnowledgeGraph


def run_stdlib(*argv: str) -> tuple[int, str, str]:
    """Run `elixir-coder kg stdlib ARGV` in process: (exit code, stdout, stderr)."""
    parser = argparse.ArgumentParser(prog="elixir-coder")
    sub = parser.add_subparsers(dest="command", required=True)
    kg = sub.add_parser("kg")
    add_stdlib_command(kg.add_subparsers(dest="kg_command", required=True))
    args = parser.parse_args(["kg", "stdlib", *argv])
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = args.func(args)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def elixir_version(elixir_bin) -> str:
    return subprocess.run([elixir_bin, "-e", "IO.puts(System.version())"],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A small Mix project: one GenServer without init/1, one complete, calls into Enum."""
    root = tmp_path_factory.mktemp("proj") / "counter"
    (root / "lib").mkdir(parents=True)
    (root / "mix.exs").write_text(textwrap.dedent("""\
        defmodule Counter.MixProject do
          use Mix.Project
          def project, do: [app: :counter, version: "0.2.0"]
        end
        """))
    (root / "lib" / "counter.ex").write_text(textwrap.dedent("""\
        defmodule Counter.Broken do
          use GenServer
          def handle_call(:get, _from, n), do: {:reply, n, n}
        end

        defmodule Counter.Server do
          use GenServer
          def init(n), do: {:ok, n}
          def handle_call(:get, _from, n), do: {:reply, Enum.map([n], & &1), n}
          def typo(xs), do: Enum.mapp(xs, & &1)
        end
        """))
    return root


@pytest.fixture(scope="module")
def store(tmp_path_factory, project) -> tuple[Path, dict]:
    from kg.build import build

    path = tmp_path_factory.mktemp("store") / "kg"
    with KnowledgeGraph.open(path) as kg:
        build(kg, project)
    code, out, err = run_stdlib("--store", str(path), "--apps", "elixir", "--json")
    assert code == 0, err
    return path, json.loads(out)


def ask(path: Path, sparql: str) -> bool:
    with KnowledgeGraph.open(path, read_only=True) as kg:
        return bool(kg.query(sparql))


def rows(path: Path, sparql: str, **params) -> list[dict]:
    with KnowledgeGraph.open(path, read_only=True) as kg:
        res = kg.query(sparql, params=params or None)
        names = [v.value for v in res.variables]
        return [{n: (r[n].value if r[n] is not None else None) for n in names} for r in res]


def test_one_graph_per_app_version_with_the_summary_counts(store, elixir_version):
    path, summary = store
    g = beam_graph_iri("elixir", elixir_version)
    with KnowledgeGraph.open(path, read_only=True) as kg:
        assert g in kg.graphs()
        counts = kg.counts(g)
    (app,) = summary["apps"]
    assert app["graph"] == g.value and app["version"] == elixir_version
    assert (counts["modules"], counts["functions"], counts["triples"]) == (
        summary["modules"], summary["functions"], summary["triples"])
    assert summary["modules"] > 100 and summary["callbacks"] > 20


def test_enum_map_exists_and_enum_mapp_does_not(store):
    path, _ = store
    q = "ASK { ?f a ec:Function ; ec:inModule ?m ; ec:name ?n ; ec:arity ?a . ?m ec:name \"Enum\" }"
    assert ask(path, q.replace("?n", '"map"').replace("?a", "2"))
    assert not ask(path, q.replace("?n", '"mapp"').replace("?a", "2"))
    # and so the project's call to Enum.map/2 resolves, the one to Enum.mapp/2 does not
    calls = rows(path, """SELECT ?name ?target WHERE { ?c a ec:RemoteCall ; ec:calledModule "Enum" ;
                              ec:calledName ?name . OPTIONAL { ?c ec:resolvesTo ?target } }""")
    by_name = {r["name"]: r["target"] for r in calls}
    assert by_name["map"] and by_name["map"].endswith("/function/Enum/map/2")
    assert by_name["mapp"] is None


def test_missing_callbacks_against_the_real_genserver(store):
    path, _ = store
    q = named.get("missing-callbacks")
    found = rows(path, q.text)
    assert [(r["module"], r["behaviour"], r["callback"], r["arity"]) for r in found] == [
        ("Counter.Broken", "GenServer", "init", "1")]


def test_functions_macros_docs_and_specs_use_the_contract_vocabulary(store):
    path, _ = store
    kinds = rows(path, """SELECT ?name ?kind ?vis WHERE { ?m ec:name "Kernel" . ?f ec:inModule ?m ;
                              ec:name ?name ; ec:arity 2 ; ec:kind ?kind ; ec:visibility ?vis .
                              VALUES ?name { "if" "elem" } }""")
    assert {(r["name"], r["kind"], r["vis"]) for r in kinds} == {("if", "defmacro", "public"), ("elem", "def", "public")}
    # full types, docs, specs
    assert ask(path, """ASK { ?f ec:name "map" ; ec:arity 2 ; ec:inModule ?m ; a ec:Function, ec:CodeElement ;
                           ec:doc ?d ; ec:hasSpec ?s . ?s a ec:Spec ; ec:specText ?t ; ec:specOf ?f .
                           ?m ec:name "Enum" ; a ec:Module, ec:CodeElement ; ec:moduledoc ?md .
                           FILTER(CONTAINS(?d, "iex>") && CONTAINS(?t, "::")) }""")
    assert ask(path, """ASK { ?f ec:name "chunk" ; ec:arity 2 ; ec:inModule/ec:name "Enum" ;
                           ec:deprecated ?msg FILTER(CONTAINS(?msg, "chunk_every")) }""")
    assert ask(path, """ASK { ?f ec:name "+" ; ec:arity 2 ; ec:inModule/ec:name "Kernel" ; ec:operator true }""")
    assert ask(path, "ASK { ?m ec:name ?n ; ec:moduledocHidden true }")
    assert ask(path, "ASK { ?f ec:name \"module_info\" ; ec:arity 0 ; ec:docHidden true }")
    # protocols and their implementations
    assert ask(path, """ASK { ?p ec:name "Enumerable" ; a ec:Protocol . ?i a ec:ProtocolImplementation ;
                           ec:implementsProtocol ?p ; ec:forType "List" }""")
    assert not ask(path, """ASK { ?c otp:optional ?o FILTER(datatype(?o) != xsd:boolean) }""")


def test_facts_text_follows_the_contract():
    """What kg.stdlib hands the store (the store itself normalises integer subtypes)."""
    facts = app_facts("eex", modules=["EEx", "EEx.Engine"])
    assert facts.modules == 2 and facts.callbacks > 0
    arity = f"<{EC.arity.value}>"
    arities = [line for line in facts.lines if f" {arity} " in line]
    assert arities and all(line.endswith("^^<http://www.w3.org/2001/XMLSchema#nonNegativeInteger> .")
                           for line in arities)
    # every subject is the app's own: its project, modules, functions, callbacks, their specs
    own = (f"<{ID}project/eex@", f"<{ID}module/EEx", f"<{ID}function/EEx", f"<{ID}callback/EEx")
    assert all(line.startswith(own) for line in facts.lines)
    # it parses as N-Triples
    list(pyoxigraph.parse(facts.ntriples().encode(), pyoxigraph.RdfFormat.N_TRIPLES))


def test_genserver_behaviour_and_its_callbacks(store, elixir_bin):
    path, _ = store
    got = rows(path, """SELECT ?name ?arity ?optional WHERE { ?b ec:name "GenServer" ; a otp:Behaviour .
                           ?cb otp:callbackOf ?b ; a otp:Callback, ec:CodeElement ; ec:name ?name ;
                           ec:arity ?arity ; otp:optional ?optional }""")
    got = {f"{r['name']}/{r['arity']}": r["optional"] == "true" for r in got}
    code = ("opt = GenServer.behaviour_info(:optional_callbacks); IO.puts(Enum.map_join("
            "GenServer.behaviour_info(:callbacks), \" \", fn {f, a} -> \"#{f}/#{a}=#{{f, a} in opt}\" end))")
    out = subprocess.run([elixir_bin, "-e", code], capture_output=True, text=True, check=True).stdout.split()
    assert got == {x.split("=")[0]: x.split("=")[1] == "true" for x in out}
    # implemented behaviours: Agent.Server is a GenServer
    assert ask(path, """ASK { ?m ec:name "Agent.Server" ; otp:implementsBehaviour ?b . ?b ec:name "GenServer" }""")


def test_rerun_replaces_the_graph(store, elixir_version, tmp_path):
    # on a copy: the other tests read the shared store
    path, summary = tmp_path / "kg", store[1]
    shutil.copytree(store[0], path)
    g = beam_graph_iri("elixir", elixir_version)
    with KnowledgeGraph.open(path) as kg:
        kg.update(f'INSERT DATA {{ GRAPH {g} {{ <urn:stale> <urn:p> "left over" }} }}')
    runs = []
    for _ in range(2):
        code, out, _ = run_stdlib("--store", str(path), "--apps", "elixir", "--modules", "Enum", "GenServer", "--json")
        assert code == 0
        runs.append(json.loads(out))
        with KnowledgeGraph.open(path, read_only=True) as kg:
            assert kg.counts(g)["triples"] == runs[-1]["triples"]  # nothing doubled, nothing left over
    assert runs[0]["modules"] == 2 and runs[0]["triples"] == runs[1]["triples"] < summary["triples"]
    assert not ask(path, "ASK { <urn:stale> ?p ?o }")
    assert not ask(path, 'ASK { ?m ec:name "Kernel" ; a ec:Module }')  # the graph holds just the two
    # the project's call sites were resolved again against the new graph
    assert ask(path, 'ASK { ?c ec:calledName "map" ; ec:resolvesTo ?f . ?f ec:inModule/ec:name "Enum" }')


def test_an_app_that_is_not_installed(tmp_path):
    store = tmp_path / "kg"
    code, _, err = run_stdlib("--store", str(store), "--apps", "no_such_app")
    assert code == 2
    assert "no_such_app" in err and "not installed" in err
    # with another app that works: that one is added, the exit code says not everything was
    code, out, err = run_stdlib("--store", str(store), "--apps", "eex,no_such_app", "--json")
    assert code == 1
    summary = json.loads(out)
    assert [a["app"] for a in summary["apps"]] == ["eex"]
    assert summary["failed"][0]["app"] == "no_such_app"
    assert "not added: no_such_app" in err and "added: eex" in err
    assert ask(store, 'ASK { ?m ec:name "EEx" ; a ec:Module }')
    with pytest.raises(AppNotInstalled, match="no_such_app"):
        app_facts("no_such_app")


def test_erlang_app_modules_are_named_with_a_colon(tmp_path):
    store = tmp_path / "kg"
    code, out, _ = run_stdlib("--store", str(store), "--apps", "stdlib", "--modules", ":gen_server", ":lists", "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["apps"][0]["modules"] == 2
    assert ask(store, """ASK { ?m ec:name ":lists" . ?f ec:inModule ?m ; ec:name "map" ; ec:arity 2 ; ec:kind "def" }""")
    assert ask(store, """ASK { ?b ec:name ":gen_server" ; a otp:Behaviour . ?c otp:callbackOf ?b ;
                           ec:name "handle_call" ; otp:optional false }""")


def test_source_graph_and_installed_app_graph_never_overwrite_each_other(tmp_path, elixir_version):
    """Building Elixir's own source as elixir@VERSION and adding the installed elixir app
    keeps both: the BEAM's graph is beam/elixir@VERSION."""
    from kg.build import build
    from ontologies import graph_iri

    src = tmp_path / "elixir-src"
    (src / "lib").mkdir(parents=True)
    (src / "lib" / "enum.ex").write_text("defmodule Enum do\n  def from_source(x), do: x\nend\n")
    store = tmp_path / "store"
    with KnowledgeGraph.open(store) as kg:
        build(kg, src, graph=f"elixir@{elixir_version}")
    code, _, err = run_stdlib("--store", str(store), "--apps", "eex", "--json")
    assert code == 0, err
    code, _, err = run_stdlib("--store", str(store), "--apps", "elixir", "--modules", "Enum", "--json")
    assert code == 0, err
    with KnowledgeGraph.open(store) as kg:
        graphs = set(kg.graphs())
        assert {graph_iri("elixir", elixir_version), beam_graph_iri("elixir", elixir_version)} <= graphs
        # the source build is intact and still incremental (its build records survived)
        assert build(kg, src, graph=f"elixir@{elixir_version}").files_changed == 0
        names = {r["n"].value for r in kg.query(
            'SELECT ?n WHERE { ?f ec:inModule <%s> ; ec:name ?n ; ec:arity 1 }' % (ID + "module/Enum"))}
        # both graphs answer: the source's function and the installed Enum's count/1
        assert {"from_source", "count"} <= names
