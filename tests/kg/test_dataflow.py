"""Data flow inside a clause (kg/dataflow.py): the def-use edges a user queries, construct by
construct, checked against the real Elixir compiler (which bindings nothing reads) and end to end
through a build and the named query ``data-flow-into``."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from pyoxigraph import RdfFormat, Store

from kg.build import build
from kg.extract import FileContext, extract_source
from ontologies import sparql_prefixes
from sparql import named
from sparql.store import KnowledgeGraph

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "elixir"


def _extract(source: bytes, name: str = "dataflow.ex"):
    return extract_source(source, FileContext("fixtures", "0.0.0", name))


def _store(source: bytes) -> Store:
    store = Store()
    store.load(_extract(source).ntriples().encode(), format=RdfFormat.N_TRIPLES)
    return store


def _edges(store: Store, edge: str) -> set[tuple[str, int, str, int]]:
    """(name, line) -> (name, line) pairs of one edge property, as a user lists them."""
    q = sparql_prefixes() + f"""
    SELECT ?a ?al ?b ?bl WHERE {{
      ?x ec:{edge} ?y .
      ?x ec:variableName ?a ; ec:hasSpan/ec:startLine ?al .
      ?y ec:variableName ?b ; ec:hasSpan/ec:startLine ?bl .
    }}"""
    return {(r["a"].value, int(r["al"].value), r["b"].value, int(r["bl"].value)) for r in store.query(q)}


@pytest.fixture(scope="module")
def flow():
    store = _store((FIXTURES / "dataflow.ex").read_bytes())
    return {e: _edges(store, e) for e in ("comesFrom", "computedFrom", "flowsTo")} | {"store": store}


def test_match_binds_from_the_right_side(flow):
    # {:ok, x} = fetch(y); x
    assert ("x", 5, "y", 5) in flow["computedFrom"]
    assert ("y", 5, "y", 4) in flow["comesFrom"]  # the parameter
    assert ("x", 6, "x", 5) in flow["comesFrom"]


def test_pipe_operands_feed_the_binding(flow):
    # x = a |> transform(b)
    assert {("x", 10, "a", 10), ("x", 10, "b", 10)} <= flow["computedFrom"]
    assert {("a", 10, "a", 9), ("b", 10, "b", 9)} <= flow["comesFrom"]


def test_case_and_if_branches(flow):
    # r = case lookup(v) do {:ok, found} when found > w -> found; _ -> w end
    assert ("found", 17, "v", 16) in flow["computedFrom"]  # the pattern from the subject
    assert ("found", 17, "found", 17) in flow["comesFrom"]  # the guard and the body read it
    merged = {(b, bl) for a, al, b, bl in flow["computedFrom"] if (a, al) == ("r", 15)}
    assert {("found", 17), ("w", 17), ("w", 18), ("v", 16)} <= merged  # every branch feeds r
    # `if v > 0 do w = v ... end; {r, w}`: the branch's w does not leak (Elixir 1.14 scoping)
    assert ("w", 23, "w", 22) in flow["comesFrom"]
    after = {(b, bl) for a, al, b, bl in flow["comesFrom"] if (a, al) == ("w", 26)}
    assert after == {("w", 14)}


def test_with_clauses_bind_in_order(flow):
    assert ("a", 30, "b", 30) in flow["computedFrom"]  # {:ok, a} <- fetch(b)
    assert ("a", 31, "a", 30) in flow["comesFrom"]
    assert ("c", 31, "a", 31) in flow["computedFrom"]  # c = a
    assert ("c", 32, "c", 31) in flow["comesFrom"]
    assert ("err", 34, "err", 34) in flow["comesFrom"]
    assert ("err", 34, "b", 30) in flow["computedFrom"]  # else matches a failing clause's value


def test_cond_and_receive(flow):
    assert {("n", 40, "n", 38), ("n", 45, "n", 38)} <= flow["comesFrom"]
    assert ("m", 45, "m", 45) in flow["comesFrom"]  # {:msg, m} -> m + n


def test_comprehension_generator(flow):
    assert ("x", 50, "xs", 50) in flow["computedFrom"]
    q = sparql_prefixes() + """SELECT (COUNT(?u) AS ?n) WHERE {
      ?u ec:comesFrom ?d . ?d ec:variableName "x" ; ec:hasSpan/ec:startLine 50 }"""
    assert int(next(iter(flow["store"].query(q)))["n"].value) == 2  # the filter and the body


def test_closure_sees_outer_bindings(flow):
    assert ("k", 54, "k", 53) in flow["comesFrom"]
    assert ("z", 54, "z", 54) in flow["comesFrom"]
    assert ("f", 55, "f", 54) in flow["comesFrom"]  # f.(1) reads f


def test_pin_is_a_use_and_underscore_names_are_not_variables(flow):
    assert ("p", 60, "p", 58) in flow["comesFrom"]
    q = sparql_prefixes() + """SELECT ?n WHERE { ?v a ec:Variable ; ec:variableName ?n FILTER(STRSTARTS(?n, "_")) }"""
    assert list(flow["store"].query(q)) == []


def test_rebinding_replaces_the_parameter(flow):
    # def rebind(x, _unused) do x = x + 1; x end
    assert ("x", 66, "x", 65) in flow["comesFrom"]
    assert ("x", 66, "x", 66) in flow["computedFrom"]
    assert {(b, bl) for a, al, b, bl in flow["comesFrom"] if (a, al) == ("x", 67)} == {("x", 66)}


def test_flows_to_is_the_reverse_of_both_edges(flow):
    reverse = {(b, bl, a, al) for a, al, b, bl in flow["comesFrom"] | flow["computedFrom"]}
    assert flow["flowsTo"] == reverse and reverse


def test_variable_nodes_name_their_text_and_clause(flow):
    source = (FIXTURES / "dataflow.ex").read_text().splitlines()
    q = sparql_prefixes() + """
    SELECT ?n ?l ?c ?el ?ec ?fname WHERE {
      ?v a ec:Variable, ec:CodeElement ; ec:variableName ?n ; ec:inClause/ec:inFunction/ec:name ?fname ;
         ec:hasSpan [ a ec:SourceSpan ; ec:startLine ?l ; ec:startColumn ?c ; ec:endLine ?el ; ec:endColumn ?ec ] }"""
    rows = list(flow["store"].query(q))
    assert len(rows) > 60
    for r in rows:
        line, col, end = int(r["l"].value), int(r["c"].value), int(r["ec"].value)
        assert int(r["el"].value) == line
        assert source[line - 1][col - 1:end - 1] == r["n"].value
    by_fn = {(r["n"].value, int(r["l"].value)): r["fname"].value for r in rows}
    assert by_fn[("k", 54)] == "closure" and by_fn[("found", 17)] == "branches"


def _unused(store: Store) -> set[tuple[str, int]]:
    q = sparql_prefixes() + """
    SELECT ?n ?l WHERE {
      ?d a ec:Variable ; ec:variableName ?n ; ec:hasSpan/ec:startLine ?l .
      FILTER NOT EXISTS { ?d ec:comesFrom ?x }   # a definition ...
      FILTER NOT EXISTS { ?u ec:comesFrom ?d }   # ... that nothing reads
    }"""
    return {(r["n"].value, int(r["l"].value)) for r in store.query(q)}


def test_unread_definitions_are_what_the_compiler_reports_unused(elixir_bin, tmp_path):
    path = FIXTURES / "dataflow_unused.ex"
    elixirc = str(Path(elixir_bin).with_name("elixirc"))
    proc = subprocess.run([elixirc, "-o", str(tmp_path), str(path)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    warned = {(m.group(1), int(m.group(2))) for m in re.finditer(
        r'warning: variable "(\w+)" is unused.*\n\s+\S*dataflow_unused\.ex:(\d+)', proc.stderr)}
    assert len(warned) >= 10, proc.stderr  # the fixture is made of such bindings
    assert _unused(_store(path.read_bytes())) == warned


def test_deep_nesting_does_not_overflow():
    depth = 500
    src = ("defmodule Deep do\n  def f(x) do\n    y = " + "[" * depth + "x" + "]" * depth
           + "\n    " + "fn -> " * 100 + "y" + " end" * 100 + "\n  end\nend\n").encode()
    flow = _edges(_store(src), "comesFrom")
    assert ("x", 3, "x", 2) in flow and ("y", 4, "y", 3) in flow


@pytest.fixture(scope="module")
def links():
    """(call name, call line) <-> (variable name, line) pairs of the three links to the code
    around the data flow, read from a store as a user queries them."""
    store = _store((FIXTURES / "dataflow_calls.ex").read_bytes())
    q = sparql_prefixes() + """
    SELECT ?edge ?v ?vl ?c ?cl ?pos WHERE {
      { ?call ec:argumentVariable ?var BIND("arg" AS ?edge) }
      UNION { ?var ec:resultOf ?call BIND("result" AS ?edge) }
      UNION { ?var ec:ofParameter ?p . ?p ec:parameterPosition ?pos ; ec:parameterText ?c .
              BIND("param" AS ?edge) }
      ?var ec:variableName ?v ; ec:hasSpan/ec:startLine ?vl .
      OPTIONAL { ?call ec:calledName ?c ; ec:hasSpan/ec:startLine ?cl }
    }"""
    out: dict[str, set] = {"arg": set(), "result": set(), "param": set()}
    for r in store.query(q):
        e = r["edge"].value
        if e == "param":
            out[e].add((r["v"].value, int(r["vl"].value), r["c"].value, int(r["pos"].value)))
        else:
            out[e].add((r["c"].value, int(r["cl"].value), r["v"].value, int(r["vl"].value)))
    return out


def test_argument_variables_include_the_piped_value_and_nested_calls(links):
    args = links["arg"]
    # data = x |> Path.expand() |> File.read!(): x feeds both calls of the pipe
    assert {("expand", 5, "x", 5), ("read!", 5, "x", 5)} <= args
    assert ("fetch", 6, "data", 6) in args and ("fetch", 6, "opts", 6) in args
    # File.write!(Path.join(y, "out"), line): y is an argument of the inner and the outer call
    assert {("join", 8, "y", 8), ("write!", 8, "y", 8), ("write!", 8, "line", 8)} <= args
    assert ("join", 8, "line", 8) not in args
    assert ("trim", 14, "user", 14) in args  # String.trim(user.name): the map is read
    assert ("inspect", 20, "n", 20) in args  # inside a capture, the call still reads n
    # mod.run(r) |> Enum.count(): mod.run is no call site (dynamic module), Enum.count is
    assert {("count", 22, "r", 22), ("count", 22, "mod", 22)} <= args
    assert not {a for a in args if a[0] == "run"}


def test_bindings_are_results_of_the_calls_they_match(links):
    res = links["result"]
    assert ("read!", 5, "data", 5) in res and ("expand", 5, "data", 5) not in res  # the pipe's last call
    assert ("fetch", 6, "y", 6) in res  # {:ok, y} = fetch(data, opts)
    assert ("gets", 7, "line", 7) in res  # a call without variable arguments
    # r = case File.stat(id) do {:ok, s} when is_map(s) -> String.trim(user.name); _ -> nil end
    assert ("stat", 13, "s", 14) in res  # the pattern matches the subject
    assert {(c, cl) for c, cl, v, vl in res if (v, vl) == ("r", 12)} == {("trim", 14)}
    # n = if valid?(r), do: count(r), else: 0: the condition is consumed, not returned
    assert {(c, cl) for c, cl, v, vl in res if (v, vl) == ("n", 18)} == {("count", 18)}
    # fn and capture values are functions, not results of the calls they hold
    assert not {r for r in res if r[2] in ("f", "c")}
    assert ("to_string", 19, "z", 19) not in res
    # ys = for k <- Map.keys(user), keep?(k), do: String.upcase(k)
    assert ("keys", 21, "k", 21) in res
    assert {(c, cl) for c, cl, v, vl in res if (v, vl) == ("ys", 21)} == {("upcase", 21)}


def test_bindings_of_a_parameter_pattern_name_their_parameter(links):
    params = links["param"]
    assert {("x", 4, "x", 0), ("opts", 4, "opts", 1)} <= params  # opts \\ []: the node of the whole parameter
    # def consumed(%{id: id} = user, mod): both bindings belong to the first parameter
    assert {("id", 11, "%{id: id} = user", 0), ("user", 11, "%{id: id} = user", 0),
            ("mod", 11, "mod", 1)} <= params
    assert not {p for p in params if p[0] == "b"}  # _b is not a variable
    assert {p[:2] for p in params} >= {("a", 26), ("r", 27), ("r", 28), ("k", 29)}
    assert not {p for p in params if p[1] not in (4, 11, 26, 27, 28, 29)}  # body bindings are not


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.ex*")), ids=lambda p: p.name)
def test_links_end_at_call_sites_and_parameters_of_the_same_clause(path):
    """Every argumentVariable / resultOf link names a call site the extractor wrote (typed
    ec:CallSite, in the variable's clause): special forms, macros and dynamic calls get none;
    every ofParameter link a parameter of the variable's clause."""
    store = _store(path.read_bytes())
    q = sparql_prefixes() + """
    SELECT ?edge ?call ?ok WHERE {
      { ?call ec:argumentVariable ?var BIND("arg" AS ?edge) }
      UNION { ?var ec:resultOf ?call BIND("result" AS ?edge) }
      UNION { ?var ec:ofParameter ?call BIND("param" AS ?edge) }
      ?var a ec:Variable ; ec:inClause ?cl .
      BIND(IF(?edge = "param", EXISTS { ?cl ec:hasParameter ?call . ?call a ec:Parameter },
              EXISTS { ?call a ec:CallSite ; ec:inClause ?cl }) AS ?ok)
    }"""
    rows = list(store.query(q))
    bad = [(r["edge"].value, r["call"].value) for r in rows if r["ok"].value != "true"]
    assert bad == []
    if path.name.startswith("dataflow"):
        assert {r["edge"].value for r in rows} == {"arg", "result", "param"}


def test_defimpl_for_several_types_writes_each_variable_once():
    src = b"defimpl Show, for: [Integer, Float] do\n  def show(x), do: x\nend\n"
    facts = _extract(src)
    var_lines = [ln for ln in facts.lines if "#var-" in ln.split(" ", 1)[0] and "inClause" in ln]
    assert len(var_lines) == 2  # the parameter and its use, in Show.Integer's clause only
    assert all("Show.Integer" in ln for ln in var_lines)


LOADER = '''defmodule Loader do
  def load(dir), do: (path = Path.join(dir, "x"); File.read!(path))

  def run(conn) do
    name = conn.params["name"]
    System.cmd("echo", [name])
  end

  def piped(dir) do
    dir |> Path.join("x") |> File.read!()
  end

  def ask do
    answer = IO.gets("name? ")
    String.trim(answer)
  end
end
'''


@pytest.fixture(scope="module")
def kg(tmp_path_factory):
    src = tmp_path_factory.mktemp("loader")
    (src / "lib").mkdir()
    (src / "lib" / "loader.ex").write_text(LOADER)
    store = KnowledgeGraph.open(tmp_path_factory.mktemp("store") / "store")
    summary = build(store, src)
    assert summary.parse_errors == 0 and summary.files == 1
    yield store
    store.close()


def _run(kg, **params):
    nq = named.get("data-flow-into")
    res = kg.query(nq.text, params=nq.bind({k: str(v) for k, v in params.items()}))
    cols = [v.value for v in res.variables]
    return [dict(zip(cols, ("" if t is None else t.value for t in row))) for row in res]


def test_named_query_data_flow_into(kg):
    rows = _run(kg, module="Loader", name="load", arity=1, line=2, called_name="read!")
    got = {(r["called_module"], r["argument"], r["source"], r["source_kind"], r["via_module"], r["via_name"],
            r["via_arity"]) for r in rows}
    # File.read!(path): path is the result of Path.join/2, which reads the parameter dir
    assert got == {("File", "path", "path", "call", "Path", "join", "2"),
                   ("File", "path", "dir", "parameter", "", "", "")}
    assert {r["module"] for r in rows} == {"Loader"} and {r["line"] for r in rows} == {"2"}


def test_named_query_follows_bindings_to_parameters(kg):
    rows = _run(kg, module="Loader", name="run", arity=1, line=6)
    got = {(r["called_name"], r["argument"], r["source"], r["source_kind"]) for r in rows}
    assert got == {("cmd", "name", "name", "binding"), ("cmd", "name", "conn", "parameter")}
    assert _run(kg, module="Loader", name="run", arity=1, line=5) == []  # no call starts there


def test_named_query_sees_the_value_piped_into_the_call(kg):
    rows = _run(kg, module="Loader", name="piped", arity=1, line=10, called_name="read!")
    got = {(r["called_module"], r["called_arity"], r["argument"], r["argument_column"], r["source"],
            r["source_kind"], r["parameter_position"]) for r in rows}
    # dir |> Path.join("x") |> File.read!(): the piped value reads the parameter dir
    assert got == {("File", "1", "dir", "5", "dir", "parameter", "0")}


def test_named_query_names_the_call_a_binding_comes_from_without_variable_arguments(kg):
    rows = _run(kg, module="Loader", name="ask", arity=0, line=15)
    got = {(r["called_name"], r["argument"], r["source"], r["source_line"], r["source_kind"], r["via_module"],
            r["via_name"], r["via_arity"]) for r in rows}
    # answer = IO.gets("name? "); String.trim(answer)
    assert got == {("trim", "answer", "answer", "14", "call", "IO", "gets", "1")}
