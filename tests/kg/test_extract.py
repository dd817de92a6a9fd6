"""Per-construct facts of the extractor: what a user's SPARQL query over one file finds."""

from __future__ import annotations

from pathlib import Path

from pyoxigraph import RdfFormat, Store

from kg.extract import FileContext, extract_source
from ontologies import file_iri, function_iri, module_iri, sparql_prefixes

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "elixir"


def extract(name_or_bytes, path="lib/x.ex"):
    if isinstance(name_or_bytes, bytes):
        src = name_or_bytes
    else:
        src, path = (FIXTURES / name_or_bytes).read_bytes(), name_or_bytes
    facts = extract_source(src, FileContext("shop", "0.1.0", path))
    store = Store()
    store.load(facts.ntriples(), format=RdfFormat.N_TRIPLES)
    return facts, store


def rows(store, query) -> set[tuple]:
    out = set()
    for sol in store.query(sparql_prefixes() + query):
        out.add(tuple(None if v is None else int(v.value) if getattr(v, "datatype", None) is not None
                      and v.datatype.value.endswith("integer") else v.value for v in sol))
    return out


def col(store, query) -> set:
    return {r[0] for r in rows(store, query)}


def calls(store, module_fn_arity=None) -> set[tuple]:
    """(calledModule or None, calledName, callArity, kinds) of every call site."""
    out = set()
    for m, n, a, kinds in rows(store, """
        SELECT ?m ?n ?a (GROUP_CONCAT(STRAFTER(STR(?k), "#"); separator=",") AS ?ks) WHERE {
          ?c a ec:CallSite ; ec:calledName ?n ; ec:callArity ?a ; a ?k .
          OPTIONAL { ?c ec:calledModule ?m } FILTER(?k != ec:CallSite)
        } GROUP BY ?c ?m ?n ?a"""):
        out.add((m, n, a, ",".join(sorted(kinds.split(",")))))
    return out


# ---- file, modules ---------------------------------------------------------------------
def test_every_subject_is_owned_and_file_node_complete():
    facts, store = extract("calls.ex")
    for line in facts.lines:
        assert line[1:line.index(">")] in facts.subjects
    f = file_iri("shop", "0.1.0", "calls.ex")
    got = rows(store, f"""SELECT ?p ?h ?n ?s WHERE {{ <{f.value}> a ec:SourceFile ; ec:partOfProject ?p ;
        ec:contentHash ?h ; ec:lineCount ?n ; ec:parseStatus ?s ; ec:relativePath "calls.ex" }}""")
    import hashlib
    src = (FIXTURES / "calls.ex").read_bytes()
    assert got == {("https://w3id.org/elixir-coder/id/project/shop@0.1.0", hashlib.sha256(src).hexdigest(),
                    src.count(b"\n"), "ok")}


def test_nested_modules_module_macro_and_alias_to_nested():
    facts, store = extract("modules.ex")
    nested = rows(store, "SELECT ?c ?p WHERE { ?m ec:name ?c ; ec:nestedIn/ec:name ?p }")
    assert nested == {("Shop.Cart", "Shop"), ("Shop.Cart.Item.Line", "Shop.Cart"), ("Shop.Pricing", "Shop")}
    # `Cart.add` inside Shop refers to the nested Shop.Cart; `Item.Line.new` to Shop.Cart.Item.Line
    targets = {(m, n) for m, n, a, k in calls(store)}
    assert ("Shop.Cart", "add") in targets and ("Shop.Cart.Item.Line", "new") in targets
    assert col(store, 'SELECT ?d WHERE { ?m ec:name "Shop" ; ec:moduledoc ?d }') == {"The shop."}
    assert col(store, 'SELECT ?h WHERE { ?m ec:name "Shop.Cart" ; ec:moduledocHidden ?h }') == {"true"}
    spans = rows(store, """SELECT ?n ?sl ?el WHERE { ?m a ec:Module ; ec:name ?n ; ec:hasSpan ?s .
        ?s ec:startLine ?sl ; ec:endLine ?el }""")
    assert ("Shop", 1, 18) in spans and ("Shop.Absolute", 24, 26) in spans


def test_empty_file_gives_file_node_and_no_module():
    facts, store = extract(b"")
    assert facts.counts["modules"] == 0 and facts.status == "ok" and facts.line_count == 0
    assert col(store, "SELECT ?s WHERE { ?f a ec:SourceFile ; ec:parseStatus ?s }") == {"ok"}


# ---- functions ---------------------------------------------------------------------------
def test_defaults_give_every_arity_sharing_parameters():
    facts, store = extract("functions.ex")
    arities = col(store, 'SELECT ?a WHERE { ?f a ec:Function ; ec:name "greet" ; ec:arity ?a }')
    assert arities == {1, 2, 3}
    params = rows(store, """SELECT ?a ?t ?d WHERE { ?f ec:name "greet" ; ec:arity ?a .
        ?c ec:inFunction ?f ; ec:hasParameter ?p . ?p ec:parameterText ?t OPTIONAL { ?p ec:defaultValue ?d } }""")
    assert params == {(1, "name", None), (2, "name", None), (2, "greeting", '"hello"'),
                      (3, "name", None), (3, "greeting", '"hello"'), (3, "punct", '"!"')}


def test_multi_clause_function_has_ordered_clauses_guards_and_bodiless_head():
    facts, store = extract("functions.ex")
    clauses = rows(store, """SELECT ?o ?g ?b WHERE { ?f ec:name "fact" ; ec:arity 2 . ?c ec:inFunction ?f ;
        ec:clauseOrder ?o OPTIONAL { ?c ec:guardText ?g } OPTIONAL { ?c ec:bodiless ?b } }""")
    assert clauses == {(1, None, "true"), (2, None, None), (3, "n > 0", None)}
    assert col(store, 'SELECT ?b WHERE { ?f ec:name "bodiless_head" . ?c ec:inFunction ?f ; ec:bodiless ?b }') == {"true"}


def test_kinds_operators_delegates_and_guards():
    facts, store = extract("functions.ex")
    kinds = rows(store, "SELECT ?n ?k ?v WHERE { ?f a ec:Function ; ec:name ?n ; ec:kind ?k ; ec:visibility ?v }")
    for expected in [("private", "defp", "private"), ("my_macro", "defmacro", "public"),
                     ("private_macro", "defmacrop", "private"), ("is_even", "defguard", "public"),
                     ("is_small", "defguardp", "private"), ("size", "defdelegate", "public")]:
        assert expected in kinds
    ops = rows(store, "SELECT ?n ?a WHERE { ?f ec:operator true ; ec:name ?n ; ec:arity ?a }")
    assert ops == {("<~>", 2), ("~>>", 2), ("!", 1)}
    assert str(function_iri("Funcs", "<~>", 2)).endswith("/Funcs/%3C~%3E/2>")
    assert rows(store, "SELECT ?n ?t WHERE { ?f ec:name ?n ; ec:delegatesTo ?t }") == {
        ("size", "Kernel.length/1"), ("reverse", "Enum.reverse/1")}
    assert col(store, 'SELECT ?g WHERE { ?f ec:name "is_even" . ?c ec:inFunction ?f ; ec:guardText ?g }') == {
        "is_integer(x) and rem(x, 2) == 0"}


def test_unquote_names_are_dynamic_and_quoted_defs_are_templates():
    facts, store = extract("functions.ex")
    names = col(store, "SELECT ?n WHERE { ?f a ec:Function ; ec:name ?n }")
    assert "injected" not in names and "also_injected" not in names
    # `for name <- [:alpha, :beta] do def unquote(name)()`: a literal loop, unrolled (written
    # functions); `unquote(:also_injected)` is a literal atom: a static name, so a template
    assert {"alpha", "beta"} <= names
    assert col(store, "SELECT ?d WHERE { ?x ec:dynamicName ?d ; ec:inModule ?m }") == set()
    # a loop over something computed stays a dynamic record
    _, dyn = extract(b"defmodule D do\n  for n <- f(), do: def unquote(n)(), do: 1\nend\n")
    assert col(dyn, "SELECT ?d WHERE { ?x ec:dynamicName ?d ; ec:inModule ?m }") == {"unquote(n)"}
    assert rows(store, "SELECT ?n ?a WHERE { ?t a ec:QuoteTemplate ; ec:name ?n ; ec:arity ?a }") == {
        ("injected", 1), ("also_injected", 0)}


# ---- protocols, structs -----------------------------------------------------------------
def test_protocols_and_implementations():
    facts, store = extract("protocols.ex")
    assert col(store, "SELECT ?n WHERE { ?m a ec:Protocol ; ec:name ?n }") == {"Size"}
    impls = rows(store, """SELECT ?n ?p ?t WHERE { ?m a ec:ProtocolImplementation ; ec:name ?n ;
        ec:implementsProtocol ?p ; ec:forType ?t }""")
    size = module_iri("Size").value
    assert impls == {("Size.BitString", size, "BitString"), ("Size.Map", size, "Map"),
                     ("Size.MapSet", size, "MapSet"), ("Size.User", size, "User"),
                     ("String.Chars.User", module_iri("String.Chars").value, "User")}
    assert col(store, 'SELECT ?b WHERE { ?f ec:name "size" ; ec:inModule/ec:name "Size" . ?c ec:inFunction ?f ; ec:bodiless ?b }') == {"true"}
    # the shared body of `for: [Map, MapSet]` gives each module its functions, call sites once
    assert col(store, 'SELECT ?m WHERE { ?f ec:name "empty?" ; ec:inModule/ec:name ?m }') >= {"Size.Map", "Size.MapSet"}
    assert len(rows(store, 'SELECT ?c WHERE { ?c ec:calledName "count" }')) == 1


def test_struct_fields_defaults_and_enforce_keys():
    facts, store = extract("structs.ex")
    fields = rows(store, """SELECT ?n ?d ?e WHERE { ?s a ec:Struct ; ec:structOf/ec:name "Account" ; ec:hasField ?f .
        ?f ec:fieldName ?n ; ec:enforced ?e OPTIONAL { ?f ec:fieldDefault ?d } }""")
    assert fields == {("id", None, "true"), ("owner", None, "true"), ("balance", "0", "false"),
                      ("currency", '"EUR"', "false"), ("history", "[]", "false")}
    assert col(store, "SELECT ?n WHERE { ?s a ec:Exception ; ec:structOf/ec:name ?n }") == {"InsufficientFunds"}
    assert rows(store, 'SELECT ?n ?d WHERE { ?s ec:structOf/ec:name "Point" ; ec:hasField ?f . ?f ec:fieldName ?n ; ec:fieldDefault ?d }') == {
        ("x", "0"), ("y", "0")}


# ---- attributes ---------------------------------------------------------------------------
def test_docs_specs_types_deprecated_and_custom_attributes():
    facts, store = extract("attributes.ex")
    docs = rows(store, "SELECT ?n ?a ?d WHERE { ?f ec:name ?n ; ec:arity ?a ; ec:doc ?d }")
    assert docs == {("retries", 0, "Retries.")}
    assert col(store, "SELECT ?n WHERE { ?f ec:name ?n ; ec:docHidden true }") == {"timeout"}
    assert col(store, "SELECT ?d WHERE { ?f ec:deprecated ?d }") == {"Use retries/1 instead"}
    moduledoc = col(store, 'SELECT ?d WHERE { ?m ec:name "Store.Backend" ; ec:moduledoc ?d }').pop()
    assert moduledoc.startswith("A storage backend.\n\n    iex> 1 + 1\n")
    specs = rows(store, "SELECT ?n ?a ?t WHERE { ?f ec:name ?n ; ec:arity ?a ; ec:hasSpec ?s . ?s ec:specText ?t ; ec:specOf ?f }")
    assert ("retries", 1, "retries(pos_integer) :: [pos_integer]") in specs
    assert ("internal_pair", 1, "internal_pair(key) :: internal when key: term") in specs
    types = rows(store, "SELECT ?n ?a ?k WHERE { ?t a ec:TypeSpec ; ec:name ?n ; ec:arity ?a ; ec:typeKind ?k }")
    assert types == {("key", 0, "type"), ("internal", 0, "typep"), ("handle", 1, "opaque")}
    attrs = rows(store, "SELECT ?n ?v WHERE { ?a a ec:ModuleAttribute ; ec:attributeName ?n ; ec:attributeValue ?v }")
    assert {("timeout", "5_000"), ("retries", "[1, 2, 3]"), ("typedoc", '"A key."')} <= attrs


def test_callbacks_behaviour_and_impl():
    facts, store = extract("attributes.ex")
    cbs = rows(store, """SELECT ?n ?a ?o ?macro WHERE { ?c a <https://w3id.org/elixir-coder/ontology/otp#Callback> ;
        ec:name ?n ; ec:arity ?a ; otp:optional ?o ; otp:callbackOf/ec:name "Store.Backend"
        BIND(EXISTS { ?c a otp:MacroCallback } AS ?macro) }""")
    assert cbs == {("init", 1, "false", "false"), ("fetch", 2, "false", "false"),
                   ("purge", 1, "true", "false"), ("build", 1, "false", "true")}
    assert col(store, "SELECT ?n WHERE { ?m a otp:Behaviour ; ec:name ?n }") == {"Store.Backend"}
    assert col(store, 'SELECT ?b WHERE { ?m ec:name "Store.Memory" ; otp:implementsBehaviour ?b }') == {
        module_iri("Store.Backend").value}
    impls = rows(store, "SELECT ?n ?a ?v WHERE { ?f ec:name ?n ; ec:arity ?a ; otp:hasImpl/otp:implValue ?v }")
    assert impls == {("init", 1, "true"), ("fetch", 2, "Store.Backend"), ("build", 1, "Store.Backend")}


# ---- directives -----------------------------------------------------------------------------
def test_directives():
    facts, store = extract("directives.ex")
    aliases = rows(store, "SELECT ?t ?as WHERE { ?d a ec:Alias ; ec:directiveTarget ?t ; ec:aliasAs ?as }")
    assert aliases == {("Shop.Cart", "Cart"), ("Shop.Inventory.Stock", "S"), ("Shop.Pricing", "Pricing"),
                       ("Shop.Orders.Order", "Order"), ("Directives.Helper", "Helper")}
    imports = rows(store, """SELECT ?t ?o ?e WHERE { ?d a ec:Import ; ec:directiveTarget ?t
        OPTIONAL { ?d ec:onlyOption ?o } OPTIONAL { ?d ec:exceptOption ?e } }""")
    assert imports == {("Enum", "map/2,filter/2", None), ("String", None, "split/1"), ("List", None, None)}
    uses = rows(store, "SELECT ?t ?o WHERE { ?d a ec:Use ; ec:directiveTarget ?t OPTIONAL { ?d ec:useOptions ?o } }")
    assert uses == {("GenServer", "restart: :transient"), ("Plug.Builder", None)}
    assert rows(store, "SELECT ?t ?as WHERE { ?d a ec:Require ; ec:directiveTarget ?t OPTIONAL { ?d ec:aliasAs ?as } }") == {
        ("Logger", None), ("Integer", "I")}
    deps = col(store, 'SELECT ?d WHERE { ?m ec:name "Directives" ; ec:dependsOn ?d }')
    assert {module_iri(m).value for m in ("Shop.Cart", "Logger", "Enum", "GenServer", "Shop.Pricing")} <= deps


def test_calls_resolved_through_aliases_and_imports():
    facts, store = extract("directives.ex")
    got = calls(store)
    assert ("Shop.Inventory.Stock", "check", 1, "PipeCall,RemoteCall") in got  # alias as: S
    assert ("Shop.Orders.Order", "new", 1, "PipeCall,RemoteCall") in got       # alias X.{A, B}
    assert ("Directives.Helper", "finish", 1, "PipeCall,RemoteCall") in got     # alias __MODULE__.X
    assert ("Integer", "is_even", 1, "CaptureCall,RemoteCall") in got           # require as:
    assert ("Enum", "map", 2, "ImportedCall,PipeCall") in got                   # import only:
    cands = lambda n: col(store, f'SELECT ?t WHERE {{ ?c ec:calledName "{n}" ; ec:candidateTarget ?t }}')
    # every import in force whose only:/except: allows map/2, then Kernel
    assert cands("map") == {function_iri(m, "map", 2).value for m in ("Enum", "String", "List", "Kernel")}
    # only:/except: decide which imported modules can be meant
    assert cands("first") == {function_iri(m, "first", 1).value for m in ("String", "List", "Kernel")}
    assert cands("split") == {function_iri(m, "split", 1).value for m in ("List", "Kernel")}
    assert cands("trim") == {function_iri(m, "trim", 1).value for m in ("String", "List", "Kernel")}


def test_call_kinds_pipes_captures_erlang_and_owning_clause():
    facts, store = extract("calls.ex")
    got = calls(store)
    assert ("Calls", "helper", 1, "LocalCall") in got and ("Calls", "helper", 2, "LocalCall") in got
    assert (":ets", "new", 2, "ErlangCall,RemoteCall") in got
    assert (":lists", "reverse", 1, "ErlangCall,RemoteCall") in got
    assert ("Enum", "filter", 2, "PipeCall,RemoteCall") in got      # x |> f(y) is f/2
    assert ("Enum", "reduce", 3, "PipeCall,RemoteCall") in got
    assert ("Calls", "helper", 1, "LocalCall,PipeCall") in got       # |> helper (no parens)
    assert ("Calls.Util", "twice", 1, "CaptureCall,RemoteCall") in got
    assert (None, "is_integer", 1, "CaptureCall,ImportedCall") in got
    assert ("Enum", "count", 1, "CaptureCall,RemoteCall") in got
    assert ("Calls", "remote", 1, "CaptureCall,RemoteCall") in got   # &__MODULE__.remote/1
    assert ("Calls", "local", 1, "RemoteCall") in got                # __MODULE__.local(x)
    assert {(None, n, a, "ImportedCall") for n, a in (("length", 1), ("elem", 2))} <= got
    names = {n for m, n, a, k in got}
    assert not names & {"if", "case", "cond", "def", "defp", "+", "|>", "==", "fn"}
    # the call in an interpolation and in a nested case belong to their clause
    owners = rows(store, """SELECT ?fn ?n WHERE { ?c ec:calledName ?n ; ec:inClause ?cl . ?cl ec:inFunction/ec:name ?fn }""")
    assert ("interp", "helper") in owners and ("with_block", "twice") in owners
    assert col(store, 'SELECT ?t WHERE { ?c ec:calledName "helper" ; ec:callArity 2 ; ec:candidateTarget ?t }') == {
        function_iri("Calls", "helper", 2).value}
    spans = rows(store, """SELECT ?sl ?sc ?el ?ec WHERE { ?c ec:calledModule ":ets" ; ec:calledName "new" ; ec:hasSpan ?s .
        ?s ec:startLine ?sl ; ec:startColumn ?sc ; ec:endLine ?el ; ec:endColumn ?ec ; ec:inFile ?f }""")
    assert spans == {(9, 13, 9, 44)}  # end column is exclusive, like the contract's #span-3-1-9-4
    assert facts.counts["call_sites"] == len(col(store, "SELECT ?c WHERE { ?c a ec:CallSite }"))


# ---- ExUnit -----------------------------------------------------------------------------------
def test_exunit_modules_tests_describes_setups_assertions():
    facts, store = extract("cart_test.exs")
    assert rows(store, "SELECT ?n ?a WHERE { ?m a test:TestModule ; ec:name ?n ; test:async ?a }") == {
        ("Shop.CartTest", "true"), ("Shop.SyncTest", "false")}
    tests = rows(store, """SELECT ?n ?d WHERE { ?t a test:TestCase ; test:testName ?n ; ec:hasSpan ?s
        OPTIONAL { ?t test:inDescribe/test:describeName ?d } }""")
    assert tests == {("adds an item", "add/2"), ("raises on nil", "add/2"), ("top-level test", None),
                     ("pending", None), ("sync", None)}
    assert facts.counts["tests"] == 5
    assert rows(store, "SELECT ?k ?d WHERE { ?s a test:Setup ; test:setupKind ?k OPTIONAL { ?s test:inDescribe/test:describeName ?d } }") == {
        ("setup", None), ("setup_all", None), ("setup", "add/2")}
    assert col(store, "SELECT ?m WHERE { ?d a test:Doctest ; test:doctestOf ?m }") == {module_iri("Shop.Cart").value}
    asserts = rows(store, "SELECT ?k ?t WHERE { ?a a test:Assertion ; test:assertionKind ?k ; test:inTest/test:testName ?t }")
    assert asserts == {("assert", "adds an item"), ("refute", "adds an item"), ("assert_raise", "raises on nil"),
                       ("assert_received", "top-level test"), ("assert", "top-level test"), ("assert", "sync")}
    in_test = rows(store, "SELECT ?t ?m ?n WHERE { ?c test:inTest/test:testName ?t ; ec:calledName ?n OPTIONAL { ?c ec:calledModule ?m } }")
    assert ("adds an item", "Shop.Cart", "add") in in_test and ("raises on nil", "Shop.Pricing", "total") in in_test
    assert ("sync", "Shop.Other", "who") in in_test
    names = col(store, "SELECT ?n WHERE { ?c a ec:CallSite ; ec:calledName ?n }")
    assert not names & {"test", "describe", "setup", "assert", "refute", "assert_raise", "doctest"}


# ---- robustness ---------------------------------------------------------------------------------
def test_parse_error_records_problem_and_keeps_clean_modules():
    facts, store = extract("broken.ex")
    assert facts.status == "error"
    assert [(p.line, p.column) for p in facts.problems] == [(7, 9)]
    assert col(store, "SELECT ?s WHERE { ?f ec:parseStatus ?s }") == {"error"}
    assert rows(store, "SELECT ?l ?c WHERE { ?f ec:hasParseProblem ?p . ?p a ec:ParseProblem ; ec:startLine ?l ; ec:startColumn ?c ; ec:message ?m }") == {(7, 9)}
    assert col(store, "SELECT ?n WHERE { ?m a ec:Module ; ec:name ?n }") == {"Good.One", "Good.Two"}
    assert col(store, "SELECT ?n WHERE { ?f a ec:Function ; ec:name ?n }") == {"ok", "also_ok"}


def test_deep_nesting_and_non_utf8_do_not_crash():
    deep = b"defmodule Deep do\n  def f(x) do\n    " + b"[" * 500 + b"g(x)" + b"]" * 500 + b"\n  end\nend\n"
    facts, store = extract(deep)
    assert facts.status == "ok"
    assert col(store, 'SELECT ?a WHERE { ?c ec:calledName "g" ; ec:callArity ?a }') == {1}
    nested = b"".join(b"defmodule M%d do\n" % i for i in range(500)) + b"def f, do: 1\n" + b"end\n" * 500
    facts, store = extract(nested)
    assert facts.counts["modules"] == 500
    bad = b'defmodule Caf\xe9 do\n  def na\xefve(x), do: x\n  @moduledoc "\xff"\nend\n'
    facts, store = extract(bad)
    assert facts.counts["modules"] <= 1  # whatever tree-sitter makes of it, the facts load


def test_large_file_finishes():
    unit = (FIXTURES / "tokenizer.ex").read_bytes()
    big = unit.replace(b"Calc.", b"Calc%d.")
    src = b"".join(big.replace(b"%d", str(i).encode()) for i in range(200))
    facts = extract_source(src, FileContext("shop", "0.1.0", "big.ex"))
    assert facts.counts["modules"] == 400 and facts.status == "ok"


# ---- `use` of a stdlib behaviour, operator heads, comments inside operators ---------------
def test_use_of_a_stdlib_behaviour_implements_it():
    src = b"""
defmodule Shop.Worker do
  use GenServer, restart: :temporary
  def init(s), do: {:ok, s}
end
defmodule Shop.Events do
  use GenEvent
end
defmodule Shop.Counter do
  use Agent
  @behaviour Shop.Plugin
end
defmodule Shop.Template do
  defmacro __using__(_) do
    quote do
      use Supervisor
    end
  end
end
"""
    facts, store = extract(src)
    got = rows(store, "SELECT ?n ?b WHERE { ?m ec:name ?n ; otp:implementsBehaviour ?b }")
    assert got == {("Shop.Worker", str(module_iri("GenServer").value)),
                   ("Shop.Events", str(module_iri(":gen_event").value)),
                   ("Shop.Counter", str(module_iri("Shop.Plugin").value))}


def test_comment_inside_pipe_and_guard_and_range_operator_heads():
    facts, store = extract("edge_cases.ex")
    # the piped value counts in the arity even with a comment between it and `|>`
    assert (("Integer", "to_string", 1, "PipeCall,RemoteCall") in calls(store))
    assert col(store, """SELECT ?g WHERE { ?f ec:name "positive?" . ?c ec:inFunction ?f ;
        ec:guardText ?g }""") == {"x > 0"}
    ops = rows(store, "SELECT ?n ?a WHERE { ?f ec:operator true ; ec:name ?n ; ec:arity ?a }")
    assert ops == {("..", 0), ("..", 2), ("..//", 3)}
    params = col(store, """SELECT ?t WHERE { ?f ec:name "..//" . ?c ec:inFunction ?f ;
        ec:hasParameter/ec:parameterText ?t }""")
    assert params == {"first", "last", "step"}
    assert rows(store, 'SELECT ?k ?v WHERE { ?f ec:name "overridden" ; ec:kind ?k ; ec:visibility ?v }') == {
        ("defp", "private")}


# ---- full types and contexts (the ontologies' contract, tests/test_conformance.py end to end) --
def _types(store, node: str) -> set[str]:
    return {v.rsplit("#", 1)[1] for v in col(store, f"SELECT ?t WHERE {{ <{node}> a ?t }}")}


def test_full_types_are_written_so_reasoning_adds_none():
    for name in ("protocols.ex", "attributes.ex", "cart_test.exs", "functions.ex", "structs.ex"):
        facts, store = extract(name)
        modules = col(store, "SELECT ?m WHERE { ?m a ec:Module }")
        functions = col(store, "SELECT ?f WHERE { ?f a ec:Function }")
        assert modules and functions, name
        for m in modules:
            assert {"Module", "CodeElement", "CallTarget"} <= _types(store, m), m
        for f in functions:
            assert {"Function", "CodeElement", "CallTarget"} <= _types(store, f), f
        for cls in ("ec:Parameter", "ec:TypeSpec", "ec:QuoteTemplate", "otp:Callback", "test:TestCase"):
            for node in col(store, f"SELECT ?x WHERE {{ ?x a {cls} }}"):
                assert "CodeElement" in _types(store, node), (cls, node)
        # ... and never on what the ontology keeps apart from code elements (disjoint classes)
        for cls in ("ec:FunctionClause", "ec:Struct", "ec:StructField", "ec:Spec", "ec:CallSite", "ec:Directive"):
            for node in col(store, f"SELECT ?x WHERE {{ ?x a {cls} }}"):
                assert not {"CodeElement", "CallTarget"} & _types(store, node), (cls, node)


def test_protocol_implementation_names_its_protocol():
    facts, store = extract("protocols.ex")
    got = rows(store, """SELECT ?n ?p ?t WHERE { ?m ec:name ?n ; ec:protocol ?p ; ec:forType ?t ;
        ec:implementsProtocol ?iri FILTER(?iri = IRI(CONCAT("https://w3id.org/elixir-coder/id/module/", ENCODE_FOR_URI(?p)))) }""")
    assert ("Size.User", "Size", "User") in got and ("String.Chars.User", "String.Chars", "User") in got


def test_code_outside_modules_sits_in_the_file_body():
    src = b"alias Shop.Cart\nExUnit.start(exclude: [:slow])\n\ndefmodule A do\n  alias B.C\n  C.go()\nend\n"
    facts, store = extract(src, "test/test_helper.exs")
    f = file_iri("shop", "0.1.0", "test/test_helper.exs").value
    assert rows(store, "SELECT ?t ?f WHERE { ?d a ec:Directive ; ec:directiveTarget ?t ; ec:inFileBody ?f }") == {
        ("Shop.Cart", f)}
    assert rows(store, "SELECT ?n ?f WHERE { ?c a ec:CallSite ; ec:calledName ?n ; ec:inFileBody ?f }") == {
        ("start", f)}
    # inside a module: the module, never the file as well
    assert rows(store, "SELECT ?n WHERE { ?c ec:calledName ?n ; ec:inModuleBody ?m ; ec:inFileBody ?f }") == set()
    assert rows(store, "SELECT ?t WHERE { ?d ec:directiveTarget ?t ; ec:inModule ?m ; ec:inFileBody ?f }") == set()


def test_impl_before_a_head_with_defaults_belongs_to_the_full_arity():
    src = b"""defmodule W do
  @behaviour B
  @impl true
  def handle(msg, state \\\\ %{}), do: {msg, state}
end
"""
    facts, store = extract(src)
    assert rows(store, "SELECT ?a WHERE { ?f ec:arity ?a ; otp:hasImpl ?i }") == {(2,)}
    assert col(store, "SELECT ?a WHERE { ?f ec:name 'handle' ; ec:arity ?a }") == {1, 2}
