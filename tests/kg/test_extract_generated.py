"""Generated functions (KG depth §4): what defstruct, defexception, defprotocol, defimpl,
``use GenServer``... inject is in the graph, marked with its generator; and the classes of
misses benchmarks/kg_vs_beam.py found and the extractor now fixes (protocol callbacks,
``def unquote(:literal)``, ``Kernel.def``, ``defrecord``)."""

from __future__ import annotations

from pathlib import Path

from pyoxigraph import RdfFormat, Store

from kg.extract import FileContext, extract_source
from ontologies import sparql_prefixes

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "elixir"
QUERIES = Path(__file__).resolve().parent.parent.parent / "sparql" / "queries"


def store_of(src: bytes | None = None, path: str = "lib/generated.ex") -> Store:
    src = (FIXTURES / "generated.ex").read_bytes() if src is None else src
    store = Store()
    store.load(extract_source(src, FileContext("shop", "0.1.0", path)).ntriples(), format=RdfFormat.N_TRIPLES)
    return store


def functions(store: Store, module: str) -> dict[tuple[str, int], tuple]:
    """(name, arity) -> (kind, visibility, generator or None) of one module's functions."""
    out = {}
    for s in store.query(sparql_prefixes() + f"""
            SELECT ?n ?a ?k ?v ?g WHERE {{ ?f a ec:Function ; ec:inModule/ec:name "{module}" ;
              ec:name ?n ; ec:arity ?a ; ec:kind ?k ; ec:visibility ?v .
              OPTIONAL {{ ?f ec:generated true ; ec:generator ?g }} }}"""):
        out[(s["n"].value, int(s["a"].value))] = (s["k"].value, s["v"].value,
                                                   None if s["g"] is None else s["g"].value)
    return out


def generated(store: Store, module: str) -> dict[tuple[str, int], str]:
    return {k: v[2] for k, v in functions(store, module).items() if v[2] is not None}


def test_defstruct_and_defexception_generate_struct_exception_and_message():
    store = store_of()
    assert generated(store, "Shop.Money") == {("__struct__", 0): "defstruct", ("__struct__", 1): "defstruct"}
    assert generated(store, "Shop.OutOfStock") == {
        ("__struct__", 0): "defexception", ("__struct__", 1): "defexception",
        ("exception", 1): "defexception", ("message", 1): "defexception"}
    # no :message field -> no message/1 from the generator; the written exception/1 and
    # message/1 are the module's own, not generated
    fs = functions(store, "Shop.PaymentError")
    assert fs[("exception", 1)][2] is None and fs[("message", 1)][2] is None
    assert set(generated(store, "Shop.PaymentError")) == {("__struct__", 0), ("__struct__", 1)}


def test_use_generators_inject_only_what_the_module_does_not_define():
    store = store_of()
    server = functions(store, "Shop.Server")
    gen = {k: v[2] for k, v in server.items() if v[2]}
    assert gen == {k: "use GenServer" for k in (("child_spec", 1), ("handle_info", 2), ("handle_cast", 2),
                                                ("terminate", 2), ("code_change", 3))}
    assert server[("handle_call", 3)][2] is None and server[("init", 1)][2] is None  # written
    assert server[("child_spec", 1)][:2] == ("def", "public")
    assert generated(store, "Shop.Sup") == {("child_spec", 1): "use Supervisor"}
    assert generated(store, "Shop.Worker") == {("child_spec", 1): "use Agent"}
    assert generated(store, "Shop.App") == {("stop", 1): "use Application"}


def test_a_genserver_without_init_gets_the_before_compile_default():
    store = store_of(b"defmodule W do\n  use GenServer\nend\n")
    # the compiler injects it with a warning: its own generator, so missing-callbacks still
    # reports init/1 (sparql/queries/missing-callbacks.rq)
    assert generated(store, "W")[("init", 1)] == "GenServer.__before_compile__"
    assert generated(store, "W")[("child_spec", 1)] == "use GenServer"


def test_protocol_and_implementations_generate_their_functions():
    store = store_of()
    assert generated(store, "Shop.Priced") == {k: "defprotocol" for k in (
        ("__protocol__", 1), ("impl_for", 1), ("impl_for!", 1))}
    for impl in ("Shop.Priced.Shop.Money", "Shop.Priced.Map"):
        assert generated(store, impl) == {("__impl__", 1): "defimpl"}


def test_protocol_functions_are_callbacks_and_kernel_def_is_a_function_but_no_callback():
    store = store_of()
    cbs = {(s["n"].value, int(s["a"].value), s["o"].value) for s in store.query(sparql_prefixes() + """
        SELECT ?n ?a ?o WHERE { ?c a otp:Callback ; ec:name ?n ; ec:arity ?a ; otp:optional ?o ;
          otp:callbackOf/ec:name "Shop.Priced" . ?p ec:name "Shop.Priced" ; a otp:Behaviour }""")}
    assert cbs == {("price", 1, "false")}
    assert functions(store, "Shop.Priced")[("currency", 1)] == ("def", "public", None)


def test_literal_unquote_names_records_and_literal_loops_are_functions():
    store = store_of()
    fs = functions(store, "Shop.Bits")
    assert fs[("~~~", 1)] == ("def", "public", None)
    assert fs[("%{}", 1)] == ("defmacro", "public", None)
    assert {k: v for k, v in fs.items() if v[2]} == {
        **{("line", a): ("defmacro", "public", "defrecord") for a in (0, 1, 2)},
        **{("cache", a): ("defmacrop", "private", "defrecordp") for a in (0, 1, 2)}}
    # `def unquote(level)` in a for loop over a literal list: one written function per element
    # (tests/kg/test_extract_loops.py has the other loops), so no dynamic record is left
    assert fs[("info", 1)] == fs[("warn", 1)] == ("def", "public", None)
    dyn = {s["d"].value for s in store.query(sparql_prefixes() + "SELECT ?d WHERE { ?x ec:dynamicName ?d }")}
    assert dyn == set()


def test_generated_functions_have_the_generating_forms_span_and_no_clause():
    store = store_of()
    rows = {(s["n"].value, int(s["l"].value)) for s in store.query(sparql_prefixes() + """
        SELECT ?n ?l WHERE { ?f ec:generated true ; ec:name ?n ; ec:inModule/ec:name "Shop.Money" ;
          ec:hasSpan/ec:startLine ?l }""")}
    assert rows == {("__struct__", 3)}
    clauses = list(store.query(sparql_prefixes() + """
        SELECT ?c WHERE { ?f ec:generated true . ?c ec:inFunction ?f }"""))
    assert clauses == []


def test_local_call_to_a_generated_function_resolves_locally():
    store = store_of(b"defmodule E do\n  defexception [:message]\n  def boom, do: exception(\"x\")\nend\n")
    kinds = {s["k"].value.rsplit("#")[1] for s in store.query(sparql_prefixes() + """
        SELECT ?k WHERE { ?c a ec:CallSite ; ec:calledName "exception" ; a ?k }""")}
    assert "LocalCall" in kinds


def test_functions_query_gives_a_boolean_generated_and_the_generator_for_every_row():
    path = QUERIES / "functions.rq.new"
    if not path.exists():  # swapped in by the lead
        path = QUERIES / "functions.rq"
    store = store_of()
    res = list(store.query(sparql_prefixes() + path.read_text()))
    assert res
    seen = {}
    for s in res:
        g = s["generated"]
        assert g.datatype.value.endswith("#boolean")
        seen[(s["module"].value, s["name"].value, int(s["arity"].value))] = (
            g.value, None if s["generator"] is None else s["generator"].value)
    assert seen[("Shop.Money", "__struct__", 1)] == ("true", "defstruct")
    assert seen[("Shop.Server", "handle_call", 3)] == ("false", None)
