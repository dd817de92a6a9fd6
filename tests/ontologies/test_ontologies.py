"""Tests of the Elixir/OTP ontologies (ontologies/*.ttl) and their SHACL shapes.

What a user of the ontologies would notice: a term the Python vocabulary offers that the Turtle
does not declare; reasoning that retypes extracted nodes (call sites into functions, unknown
names into modules); an inconsistent ontology; a fixture KG written by the contract
(docs/kg-model.md) that the shapes reject; a shape that lets its broken fixture through.
"""

from __future__ import annotations

import collections
import re
from pathlib import Path

import owlready2
import owlrl
import pyshacl
import pytest
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import OWL, RDF, RDFS, SKOS, XSD

import ontologies as o

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
SH = Namespace("http://www.w3.org/ns/shacl#")
VOCABS = {"core": o.EC, "otp": o.OTP, "testing": o.TEST, "quality": o.QUALITY, "security": o.SECURITY}
PROJECT_NS = tuple(v.iri for v in VOCABS.values())
IMPORTS = {"core": set(), "otp": {"core"}, "testing": {"core"}, "quality": {"core"},
           "security": {"core", "quality"}}


def _ref(node) -> URIRef:
    return URIRef(node.value)


@pytest.fixture(scope="module")
def modules() -> dict[str, Graph]:
    return {name: Graph().parse(path) for name, path in o.FILES.items()}


@pytest.fixture(scope="module")
def onto(modules) -> Graph:
    g = Graph()
    for m in modules.values():
        g += m
    return g


@pytest.fixture(scope="module")
def kg() -> Graph:
    return Graph().parse(FIXTURES / "kg.ttl")


@pytest.fixture(scope="module")
def shapes() -> Graph:
    return Graph().parse(o.SHAPES_FILE)


@pytest.fixture(scope="module")
def closure(onto, kg) -> Graph:
    g = Graph()
    g += onto
    g += kg
    owlrl.DeductiveClosure(owlrl.OWLRL_Semantics).expand(g)
    return g


def _project_types(graph: Graph, subjects) -> collections.Counter:
    counts = collections.Counter()
    for s, _, c in graph.triples((None, RDF.type, None)):
        if s in subjects and str(c).startswith(PROJECT_NS):
            counts[c] += 1
    return counts


def _defined_classes(onto: Graph) -> set:
    """Classes with an owl:equivalentClass axiom: the ones reasoning is meant to fill."""
    return {c for c in onto.subjects(OWL.equivalentClass, None) if isinstance(c, URIRef)}


def validate(data: Graph, shapes: Graph, onto: Graph, only=None):
    """pyshacl with the ontologies mixed in (the callback checks read otp.ttl's callbacks);
    ``only``: validate with that one shape (its property shapes included)."""
    extra = {}
    if only is not None:  # named property shapes (ecsh:FunctionName) must be listed too
        extra["use_shapes"] = [only] + [p for p in shapes.objects(only, SH.property) if isinstance(p, URIRef)]
    conforms, report, text = pyshacl.validate(data, shacl_graph=shapes, ont_graph=onto,
                                              inference="none", advanced=True, **extra)
    return conforms, report, text


# ---- declarations ---------------------------------------------------------------------------

DECLARATION_TYPES = (OWL.Class, OWL.ObjectProperty, OWL.DatatypeProperty, OWL.AnnotationProperty,
                     OWL.NamedIndividual)


@pytest.mark.parametrize("name", list(VOCABS))
def test_vocabulary_and_turtle_declare_the_same_terms(name, modules):
    vocab, graph = VOCABS[name], modules[name]
    declared = {str(s)[len(vocab.iri):] for t in DECLARATION_TYPES for s in graph.subjects(RDF.type, t)
                if isinstance(s, URIRef) and str(s).startswith(vocab.iri)}
    assert declared == set(vocab.terms), (
        f"only in {name}.ttl: {sorted(declared - set(vocab.terms))}; "
        f"only in the Python vocabulary: {sorted(set(vocab.terms) - declared)}")
    for term in vocab:
        assert graph.value(_ref(term), RDFS.label) is not None, f"{term} has no rdfs:label"
        assert graph.value(_ref(term), SKOS.definition) is not None, f"{term} has no skos:definition"


def test_every_class_and_property_has_label_definition_domain_range(onto):
    terms = {s for t in (OWL.Class, OWL.ObjectProperty, OWL.DatatypeProperty)
             for s in onto.subjects(RDF.type, t) if isinstance(s, URIRef)}
    assert len(terms) > 150
    for term in terms:
        assert str(term).startswith(PROJECT_NS), f"{term} declared in our files but not in our namespaces"
        assert onto.value(term, RDFS.label) is not None, term
        assert onto.value(term, SKOS.definition) is not None, term
    for kind in (OWL.ObjectProperty, OWL.DatatypeProperty):
        for p in onto.subjects(RDF.type, kind):
            assert onto.value(p, RDFS.domain) is not None, f"{p} has no domain"
            assert onto.value(p, RDFS.range) is not None, f"{p} has no range"
            assert onto.value(p, RDFS.domain) != OWL.Thing and onto.value(p, RDFS.range) != OWL.Thing, p


def test_counts_share_one_datatype(onto):
    counts = [o.EC.arity, o.EC.callArity, o.EC.startLine, o.EC.startColumn, o.EC.endLine, o.EC.endColumn,
              o.EC.clauseOrder, o.EC.parameterPosition, o.EC.lineCount]
    assert {onto.value(_ref(p), RDFS.range) for p in counts} == {XSD.nonNegativeInteger}


@pytest.mark.parametrize("name", list(o.FILES))
def test_each_module_has_its_iri_version_and_imports(name, modules):
    g = modules[name]
    iri = URIRef(o.ontology_iri(name))
    assert (iri, RDF.type, OWL.Ontology) in g
    assert g.value(iri, OWL.versionIRI) == URIRef(o.version_iri(name))
    assert set(g.objects(iri, OWL.imports)) == {URIRef(o.ontology_iri(m)) for m in IMPORTS[name]}


def test_behaviours_carry_their_real_callbacks(onto):
    q = o.sparql_prefixes() + """
        SELECT ?name ?arity ?optional WHERE {
            ?cb otp:callbackOf ?b ; ec:name ?name ; ec:arity ?arity ; otp:optional ?optional .
        }"""
    gen_server = {(str(n), int(a), bool(opt.toPython())) for n, a, opt in
                  onto.query(q, initBindings={"b": _ref(o.module_iri("GenServer"))})}
    assert ("init", 1, False) in gen_server and ("handle_call", 3, True) in gen_server
    assert len(gen_server) == 8
    statem = {(n, a) for n, a, _ in ((str(x), int(y), z) for x, y, z in
              onto.query(q, initBindings={"b": _ref(o.module_iri(":gen_statem"))}))}
    assert ("callback_mode", 0) in statem and ("handle_event", 4) in statem
    for b in ("GenServer", "Supervisor", "DynamicSupervisor", "Application", ":gen_statem", ":gen_event"):
        assert (_ref(o.module_iri(b)), RDF.type, _ref(o.OTP.Behaviour)) in onto, b


# ---- OWL 2 RL closure ---------------------------------------------------------------------------

def test_rl_closure_never_retypes_extracted_nodes(onto, kg, closure):
    fixture_nodes = set(kg.subjects(RDF.type, None))
    before = _project_types(kg, fixture_nodes)
    after = _project_types(closure, fixture_nodes)
    defined = _defined_classes(onto)
    changed = {c: (before[c], after[c]) for c in set(before) | set(after)
               if before[c] != after[c] and c not in defined}
    assert not changed, f"reasoning changed the class counts: {changed}"
    assert before[_ref(o.EC.CallSite)] >= 10 and before[_ref(o.EC.Function)] >= 15


def test_rl_closure_makes_no_function_or_module_of_anything_else(onto, kg, closure):
    for cls in (o.EC.Function, o.EC.Module, o.EC.Protocol, o.OTP.Behaviour, o.OTP.Callback):
        written = set((onto + kg).subjects(RDF.type, _ref(cls)))
        inferred = set(closure.subjects(RDF.type, _ref(cls)))
        assert inferred == written, f"{cls} gained {inferred - written}"
    call_sites = set(kg.subjects(RDF.type, _ref(o.EC.CallSite)))
    functions = set(closure.subjects(RDF.type, _ref(o.EC.Function)))
    assert not call_sites & functions
    # a candidate target nobody defines stays a mere call target
    enum_map = _ref(o.function_iri("Enum", "map", 2))
    assert (enum_map, RDF.type, _ref(o.EC.CallTarget)) in closure
    assert (enum_map, RDF.type, _ref(o.EC.Function)) not in closure


def test_rl_closure_classifies_behaviour_implementations(closure):
    cart, sup = _ref(o.module_iri("Shop.Cart")), _ref(o.module_iri("Shop.Sup"))
    assert (cart, RDF.type, _ref(o.OTP.GenServerImplementation)) in closure
    assert (sup, RDF.type, _ref(o.OTP.SupervisorImplementation)) in closure
    assert (sup, RDF.type, _ref(o.OTP.GenServerImplementation)) not in closure


# ---- HermiT -----------------------------------------------------------------------------------

def _hermit(graph: Graph, tmp: Path):
    """owlready2 does not read Turtle: write N-Triples (imports dropped, everything is in the one
    file) and run HermiT over it."""
    from reasoning.owl import owlready_world

    world, ontology, _path = owlready_world(graph, tmp)
    with ontology:
        owlready2.sync_reasoner_hermit(world, infer_property_values=False, debug=0)
    return world


@pytest.fixture(scope="module")
def hermit_world(onto, kg, tmp_path_factory):
    return _hermit(onto + kg, tmp_path_factory.mktemp("hermit"))


def test_hermit_finds_ontologies_and_fixture_consistent(hermit_world):
    assert list(hermit_world.inconsistent_classes()) == []


def test_hermit_classifies_the_genserver_module(hermit_world):
    instances = {i.iri for i in hermit_world[o.OTP.GenServerImplementation.value].instances()}
    assert instances == {o.module_iri("Shop.Cart").value}
    sups = {i.iri for i in hermit_world[o.OTP.SupervisorImplementation.value].instances()}
    assert sups == {o.module_iri("Shop.Sup").value}


def test_hermit_rejects_a_call_site_that_is_a_function(onto, kg, tmp_path):
    broken = Graph()
    broken += kg
    call = URIRef(o.file_iri("shop", "0.1.0", "lib/shop/cart.ex").value + "#call-37-5-37-19")
    broken.add((call, RDF.type, _ref(o.EC.Function)))
    with pytest.raises(owlready2.OwlReadyInconsistentOntologyError):
        _hermit(onto + broken, tmp_path)


# ---- SHACL ------------------------------------------------------------------------------------

def test_shapes_graph_is_accepted_and_fixture_conforms(kg, shapes, onto):
    conforms, _, text = validate(kg, shapes, onto)
    assert conforms, text


def test_fixture_still_conforms_after_reasoning(closure, shapes, onto):
    conforms, _, text = validate(closure, shapes, onto)
    assert conforms, text


def _node_shapes_of(result_shape, shapes: Graph) -> set:
    if (result_shape, RDF.type, SH.NodeShape) in shapes:
        return {result_shape}
    return set(shapes.subjects(SH.property, result_shape))


def _violated_shapes(report: Graph, shapes: Graph) -> set:
    found = set()
    for result in report.subjects(RDF.type, SH.ValidationResult):
        found |= _node_shapes_of(report.value(result, SH.sourceShape), shapes)
    return found


BROKEN = sorted((FIXTURES / "broken").glob("*.ru"))


def _expected_shape(path: Path) -> URIRef:
    m = re.search(r"^# shape: (\w+)", path.read_text(), re.M)
    assert m, f"{path.name} does not say which shape it breaks"
    return URIRef(o.SHAPES.iri + m.group(1))


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_each_broken_fixture_is_caught_by_its_shape(path, kg, shapes, onto):
    broken = Graph()
    broken += kg
    broken.update(o.sparql_prefixes() + path.read_text())
    assert set(broken) != set(kg), f"{path.name} changed nothing: its IRIs no longer match kg.ttl"
    # Only the shape the fixture targets runs (the full set runs on the intact fixture above):
    # that is what the claim "this shape catches it" needs, and it keeps the test fast.
    shape = _expected_shape(path)
    conforms, report, text = validate(broken, shapes, onto, only=shape)
    assert not conforms, f"{shape} let {path.name} through"
    assert shape in _violated_shapes(report, shapes), text


def test_every_shape_has_a_broken_fixture(shapes):
    named = {s for s in shapes.subjects(RDF.type, SH.NodeShape) if isinstance(s, URIRef)}
    covered = {_expected_shape(p) for p in BROKEN}
    # FullTypes* shapes are checked pair by pair in test_full_types_shapes_match_the_ontology.
    rest = {s for s in named if not str(s).startswith(o.SHAPES.iri + "FullTypes")}
    assert rest - covered == set()
    assert covered <= named


def test_full_types_shapes_match_the_ontology(onto, shapes):
    """For every named subclass C of a named superclass S in the ontologies, a node typed only C
    is reported by the FullTypes shape of S, and by no other FullTypes shape."""
    expected, data = set(), Graph()
    for c in {c for c in onto.subjects(RDFS.subClassOf, None) if isinstance(c, URIRef)}:
        if not str(c).startswith(PROJECT_NS):
            continue
        supers = {s for s in onto.transitive_objects(c, RDFS.subClassOf)
                  if s != c and isinstance(s, URIRef) and str(s).startswith(PROJECT_NS)}
        if not supers:
            continue
        node = URIRef(o.ID + "probe/" + str(c).rsplit("#", 1)[1] + "/" + str(abs(hash(str(c)))))
        data.add((node, RDF.type, c))
        expected |= {(node, URIRef(o.SHAPES.iri + "FullTypes" + str(s).rsplit("#", 1)[1])) for s in supers}
    assert len(expected) > 50
    _, report, _ = pyshacl.validate(data, shacl_graph=shapes, inference="none", advanced=True)
    got = set()
    for result in report.subjects(RDF.type, SH.ValidationResult):
        shape = report.value(result, SH.sourceShape)
        if str(shape).startswith(o.SHAPES.iri + "FullTypes"):
            got.add((report.value(result, SH.focusNode), shape))
    assert got == expected


def test_names_may_be_operators_and_erlang_modules(kg, shapes, onto):
    g = Graph()
    g += kg
    for module in (":ets", ':"Elixir.Shop.Raw"', "Elixir.Shop.Raw2"):
        m = _ref(o.module_iri(module))
        for t in (o.EC.Module, o.EC.CodeElement, o.EC.CallTarget):
            g.add((m, RDF.type, _ref(t)))
        g.add((m, _ref(o.EC.name), Literal(module)))
        for name in ("||", "<~>", "..//", "%{}", "<<>>", "valid?", "put!", "ünïcode", "module_info"):
            f = _ref(o.function_iri(module, name, 2))
            for t in (o.EC.Function, o.EC.CodeElement, o.EC.CallTarget):
                g.add((f, RDF.type, _ref(t)))
            g.add((f, _ref(o.EC.name), Literal(name)))
            g.add((f, _ref(o.EC.arity), Literal(2, datatype=XSD.nonNegativeInteger)))
            g.add((f, _ref(o.EC.kind), Literal("def")))
            g.add((f, _ref(o.EC.visibility), Literal("public")))
            g.add((f, _ref(o.EC.inModule), m))
    conforms, _, text = validate(g, shapes, onto)
    assert conforms, text


# ---- README ---------------------------------------------------------------------------------

README_QUERIES = re.findall(r"```sparql\n(.*?)```", (Path(o.__file__).parent / "README.md").read_text(), re.S)


def test_readme_has_example_queries():
    assert len(README_QUERIES) >= 5


@pytest.mark.parametrize("query", README_QUERIES, ids=[f"q{i}" for i in range(len(README_QUERIES))])
def test_readme_sparql_runs_and_returns_rows(query):
    from pyoxigraph import RdfFormat, Store

    store = Store()  # in memory: the README's queries over ontologies + fixture, as a user would
    for path in [*o.FILES.values(), FIXTURES / "kg.ttl"]:
        store.load(path=str(path), format=RdfFormat.TURTLE)
    rows = list(store.query(query))
    assert rows, f"no rows for:\n{query}"
