"""Every named query on the shop fixture project, whose answers are known (the Elixir compiler
agrees: `elixirc` warns about exactly the unused private functions and the missing callback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kg.build import build
from sparql import named
from sparql.store import KnowledgeGraph

SHOP = Path(__file__).resolve().parent.parent / "fixtures" / "projects" / "shop"


@pytest.fixture(scope="module")
def kg(tmp_path_factory):
    store = KnowledgeGraph.open(tmp_path_factory.mktemp("shop") / "store")
    summary = build(store, SHOP)
    assert summary.skipped == [] and summary.parse_errors == 0
    yield store
    store.close()


def run(kg, query_name, **params):
    """Rows of a named query as tuples of lexical values ('' for unbound)."""
    nq = named.get(query_name)
    res = kg.query(nq.text, params=nq.bind({k: str(v) for k, v in params.items()}))
    cols = [v.value for v in res.variables]
    return cols, [tuple("" if t is None else t.value for t in row) for row in res]


def test_library_headers_and_parameters_are_well_formed():
    queries = named.load_all()
    expected = {"modules", "functions", "callers", "callees", "behaviour-implementations", "missing-callbacks",
                "untested-functions", "doc-coverage", "spec-coverage", "module-dependencies",
                "protocol-implementations", "struct-fields", "unused-private-functions"}
    assert expected <= set(queries)
    for q in queries.values():
        assert q.path.stem == q.name and q.description
        select = next(line for line in q.text.splitlines() if line.startswith("SELECT"))
        on_values = {n for names in named.values_names(q.text) for n in names}
        for p in q.params:
            assert f"?{p.name}" in select, (q.name, p.name)  # a given value shows in the output
            # bound through a VALUES row the planner sees, not by SEP-0007 substitution
            assert p.name in on_values, (q.name, p.name)


def test_modules(kg):
    cols, rows = run(kg, "modules")
    assert cols == ["module", "file", "kind"]
    assert rows == [
        ("Shop.Cart", "lib/shop/cart.ex", "module"),
        ("Shop.CartTest", "test/cart_test.exs", "test module"),
        ("Shop.Gateways.Card", "lib/shop/gateways.ex", "module"),
        ("Shop.Gateways.Voucher", "lib/shop/gateways.ex", "module"),
        ("Shop.Item", "lib/shop/item.ex", "module"),
        ("Shop.MixProject", "mix.exs", "module"),
        ("Shop.PaymentGateway", "lib/shop/payment_gateway.ex", "behaviour"),
        ("Shop.Priceable", "lib/shop/priceable.ex", "protocol"),
        ("Shop.Priceable.Integer", "lib/shop/priceable.ex", "protocol implementation"),
        ("Shop.Priceable.Shop.Item", "lib/shop/priceable.ex", "protocol implementation"),
        ("Shop.Server", "lib/shop/server.ex", "module"),
    ]
    assert run(kg, "modules", module="Shop.Item")[1] == [("Shop.Item", "lib/shop/item.ex", "module")]


def test_functions(kg):
    cols, rows = run(kg, "functions", module="Shop.Cart")
    assert cols == ["module", "name", "arity", "kind", "generated", "generator"]
    assert rows == [
        ("Shop.Cart", "add", "2", "def", "false", ""), ("Shop.Cart", "checkout", "2", "def", "false", ""),
        ("Shop.Cart", "new", "0", "def", "false", ""), ("Shop.Cart", "sum", "1", "defp", "false", ""),
        ("Shop.Cart", "total", "1", "def", "false", ""), ("Shop.Cart", "unused_helper", "1", "defp", "false", ""),
    ]
    _, everything = run(kg, "functions")
    written = [r for r in everything if r[4] == "false"]
    assert len(written) == 20
    assert {r[3] for r in written} == {"def", "defp"}
    assert ("Shop.Server", "handle_call", "3", "def", "false", "") in everything
    # what the generators inject is there too, marked (KG depth §4)
    generated = {(r[0], r[1], r[2], r[5]) for r in everything if r[4] == "true"}
    assert {("Shop.Item", "__struct__", "0", "defstruct"), ("Shop.Item", "__struct__", "1", "defstruct"),
            ("Shop.Priceable", "impl_for", "1", "defprotocol"),
            ("Shop.Server", "child_spec", "1", "use GenServer")} <= generated
    # a callback the module writes is never shadowed by the generator's default
    assert ("Shop.Server", "handle_call", "3", "use GenServer") not in generated


def test_callers_direct_and_transitive(kg):
    _, rows = run(kg, "callers", module="Shop.Cart", name="sum")
    assert [r[3:6] for r in rows] == [("Shop.Cart", "total", "1")]
    _, rows = run(kg, "callers", module="Shop.Cart", name="sum", transitive="true")
    assert [r[3:6] for r in rows] == [("Shop.Cart", "checkout", "2"), ("Shop.Cart", "total", "1")]
    _, rows = run(kg, "callers", module="Shop.Cart", name="add", arity=2)
    assert [r[3:6] for r in rows] == [("Shop.Server", "handle_call", "3")]
    assert run(kg, "callers", module="Shop.Cart", name="add", arity=3)[1] == []


def test_callees(kg):
    _, rows = run(kg, "callees", module="Shop.Cart", name="total", arity=1)
    assert [r[3:] for r in rows] == [
        ("Enum", "map", "2", ""),
        ("Shop.Cart", "sum", "1", "https://w3id.org/elixir-coder/id/function/Shop.Cart/sum/1"),
        ("Shop.Priceable", "price", "1", "https://w3id.org/elixir-coder/id/function/Shop.Priceable/price/1"),
    ]


def test_behaviour_implementations(kg):
    _, rows = run(kg, "behaviour-implementations")
    # `use GenServer` declares the behaviour (docs/kg-model.md), GenServer not being in the KG.
    assert rows == [("GenServer", "Shop.Server"), ("Shop.PaymentGateway", "Shop.Gateways.Card"),
                    ("Shop.PaymentGateway", "Shop.Gateways.Voucher")]
    assert run(kg, "behaviour-implementations", behaviour="GenServer")[1] == [("GenServer", "Shop.Server")]
    assert run(kg, "behaviour-implementations", behaviour="Shop.Priceable")[1] == []


def test_missing_callbacks(kg):
    # name/0 is in @optional_callbacks; Card defines charge/2 and refund/1; Voucher lacks refund/1.
    _, rows = run(kg, "missing-callbacks")
    assert rows == [("Shop.Gateways.Voucher", "Shop.PaymentGateway", "refund", "1")]


def test_untested_functions(kg):
    _, rows = run(kg, "untested-functions", module="Shop.Cart")
    assert rows == [("Shop.Cart", "checkout", "2")]
    _, rows = run(kg, "untested-functions")
    tested = {("Shop.Cart", "add", "2"), ("Shop.Cart", "new", "0"), ("Shop.Cart", "total", "1"), ("Shop.Item", "new", "2")}
    assert not tested & set(rows)
    assert ("Shop.Server", "handle_call", "3") in rows and len(rows) == 13
    assert all(not m.endswith("Test") for m, _, _ in rows)


def test_doc_coverage(kg):
    _, rows = run(kg, "doc-coverage")
    by_module = {r[0]: r[1:] for r in rows}
    assert by_module["Shop.Cart"] == ("true", "4", "2", "0.5")
    assert by_module["Shop.Priceable"] == ("false", "1", "1", "1")
    assert by_module["Shop.Server"] == ("false", "4", "0", "0")
    assert "Shop.CartTest" not in by_module
    assert run(kg, "doc-coverage", module="Shop.Item")[1] == [("Shop.Item", "true", "1", "0", "0")]


def test_spec_coverage(kg):
    _, rows = run(kg, "spec-coverage")
    by_module = {r[0]: r[1:] for r in rows}
    assert by_module["Shop.Cart"] == ("4", "2", "0.5")
    assert by_module["Shop.Item"] == ("1", "1", "1")
    assert by_module["Shop.Gateways.Card"] == ("2", "0", "0")


def test_module_dependencies(kg):
    _, rows = run(kg, "module-dependencies", module="Shop.Server")
    assert rows == [("Shop.Server", "GenServer", "false"), ("Shop.Server", "IO", "false"),
                    ("Shop.Server", "Shop.Cart", "true")]


def test_protocol_implementations(kg):
    expected = [("Shop.Priceable", "Integer", "Shop.Priceable.Integer"),
                ("Shop.Priceable", "Shop.Item", "Shop.Priceable.Shop.Item")]
    assert run(kg, "protocol-implementations")[1] == expected
    assert run(kg, "protocol-implementations", protocol="Shop.Priceable")[1] == expected
    assert run(kg, "protocol-implementations", protocol="Enumerable")[1] == []


def test_struct_fields(kg):
    assert run(kg, "struct-fields")[1] == [
        ("Shop.Item", "name", "", "true"), ("Shop.Item", "price", "0", "false"), ("Shop.Item", "tags", "[]", "false")]


def test_unused_private_functions(kg):
    assert run(kg, "unused-private-functions")[1] == [
        ("Shop.Cart", "unused_helper", "1", "defp"), ("Shop.Server", "log", "1", "defp")]


# ---- parameters --------------------------------------------------------------------------

HOSTILE = [
    'Shop.Cart" } } ; DROP ALL ; #',
    "Shop.Cart\" . ?f ?p ?o } #",
    "?module",
    "<https://w3id.org/elixir-coder/id/module/Shop.Cart>",
    "Shop.Cart' || true || '",
]


HOSTILE += [
    'Shop.Cart" ) } ?m ?p ?o } #',       # closes the VALUES row
    "Shop.Cart\\u0022 ) } #",          # a \u escape is decoded before SPARQL parsing
    "Shop.Cart\\\\\" UNDEF ) }",
    "Shop.Cart\n} #\r\t\x01",
    "Shop.Cart UNDEF",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_parameter_value_cannot_change_the_query(kg, value):
    before = len(kg._store)
    assert run(kg, "functions", module=value)[1] == []
    assert run(kg, "callers", module=value, name=value)[1] == []
    assert run(kg, "modules", module=value)[1] == []
    assert len(kg._store) == before


@pytest.mark.parametrize("value", HOSTILE)
def test_a_values_bound_parameter_comes_back_exactly_as_given(kg, value):
    # the serialized term in the VALUES row is read back as the very same string
    q = named.parse("# name: echo\n# description: d\n# param: s (string, required) - any\n"
                    "SELECT ?s WHERE {\n  # @values s\n}\n")
    rows = list(kg.query(q.text, params=q.bind({"s": value})))
    assert [r["s"].value for r in rows] == [value]


def test_values_lines_become_values_rows():
    q = named.get("callers")
    text, rest = named.place_values(q.text, q.bind({"module": "A.B", "name": "f"}))
    assert rest == {} and "# @values" not in text
    assert 'VALUES (?module ?name ?arity) { ( "A.B" "f" UNDEF ) }' in text  # arity not given: unbound
    assert text.count('VALUES (?transitive) { ( "false"^^<http://www.w3.org/2001/XMLSchema#boolean> ) }') == 2
    with pytest.raises(TypeError):  # plain text is never pasted
        named.place_values("SELECT * {\n# @values s\n}", {"s": "x"})
    with pytest.raises(named.QueryError, match="must list declared parameters"):
        named.parse("# name: x\n# description: d\n# param: n (integer, optional)\nSELECT * {\n# @values m\n}")


def test_transitive_still_selects_the_branch(kg):
    # false (the default) must not walk the closure: Shop.Cart.checkout reaches sum only indirectly
    for given in ({}, {"transitive": "false"}):
        _, rows = run(kg, "callers", module="Shop.Cart", name="sum", **given)
        assert {r[6] for r in rows} == {"false"} and [r[3:6] for r in rows] == [("Shop.Cart", "total", "1")]


def test_parameter_errors_are_clear():
    q = named.get("callers")
    with pytest.raises(named.QueryError, match="needs parameter module, name"):
        q.bind({})
    with pytest.raises(named.QueryError, match="no parameter nope"):
        q.bind({"module": "A", "name": "f", "nope": "1"})
    with pytest.raises(named.QueryError, match="not a valid integer"):
        q.bind({"module": "A", "name": "f", "arity": "two"})
    with pytest.raises(named.QueryError, match="not a valid boolean"):
        q.bind({"module": "A", "name": "f", "transitive": "maybe"})
    with pytest.raises(named.QueryError, match="no named query"):
        named.get("no-such-query")


def test_header_parsing(tmp_path):
    q = named.parse("# name: x\n# description: what\n# param: n (integer, optional, default 3) - count\n"
                    "SELECT ?n WHERE {}\n")
    assert q.params[0] == named.Param("n", "integer", False, "count", "3")
    assert q.bind({})["n"].value == "3"
    with pytest.raises(named.QueryError, match="bad param line"):
        named.parse("# name: x\n# description: d\n# param: n (float, optional)\nSELECT * {}")
    with pytest.raises(named.QueryError, match="needs '# name:' and '# description:'"):
        named.parse("SELECT * {}")
