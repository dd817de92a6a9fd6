"""End to end: what the real pipeline writes conforms to the ontologies and the SHACL shapes.

The ontology tests (tests/ontologies) check a hand-made KG; the extractor tests check triples one
by one. Neither proves that a real build fits the ontologies, which is what a curator running
`onto validate` or a reasoner over a built store would notice. Here two projects go through the
real pipeline (kg.build.build into a KnowledgeGraph on disk, then the store's N-Quads export,
exactly what a user exports) and then:

* the SHACL shapes accept the export, before and after an OWL 2 RL closure (owlrl) over the
  ontologies plus the export;
* the closure finds no inconsistency (owlrl reports disjoint classes met on one node, ...) and
  adds no class of ours to an extracted node, the defined ``*Implementation`` classes excepted
  (filling them is what they are for): a call site never becomes a function, a function never
  a module, a name that denotes nothing stays a mere call target;
* every class and property the extraction uses is declared in the ontologies.

The projects: tests/fixtures/projects/shop (a small Mix project with its tests) and every
file of tests/fixtures/elixir except broken.ex (the extractor's construct-by-construct fixtures:
protocols, defaults, operators, quote templates, ExUnit, top-level code...).
"""

from __future__ import annotations

import collections
import io
import shutil
from pathlib import Path

import owlrl
import pyshacl
import pytest
from rdflib import Dataset, Graph, Literal, Namespace, URIRef
from rdflib.namespace import OWL, RDF, RDFS, XSD

import ontologies as o
from kg.build import build
from sparql.store import KnowledgeGraph

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SH = Namespace("http://www.w3.org/ns/shacl#")
# Where owlrl writes the inconsistencies it finds (owlrl.Closure: "ERRNS").
OWLRL_ERRORS = Namespace("http://www.daml.org/2002/03/agents/agent-ont#")
OUR_NS = tuple(v.iri for v in (o.EC, o.OTP, o.TEST, o.QUALITY, o.SECURITY))
PROPERTY_TYPES = (OWL.ObjectProperty, OWL.DatatypeProperty, OWL.AnnotationProperty)


def _u(node) -> URIRef:
    return URIRef(node.value)


def _source(name: str, tmp: Path) -> Path:
    if name == "shop":
        return FIXTURES / "projects" / "shop"
    # The construct fixtures as one project; broken.ex is left out on purpose: its facts are
    # parse problems, and the shapes are about code that parses.
    root = tmp / "fixtures"
    root.mkdir()
    for f in sorted((FIXTURES / "elixir").iterdir()):
        if f.is_file() and f.name != "broken.ex":
            shutil.copy(f, root / f.name)
    return root


@pytest.fixture(scope="module")
def ontology() -> Graph:
    g = Graph()
    for path in o.FILES.values():
        g.parse(path)
    return g


@pytest.fixture(scope="module")
def shapes() -> Graph:
    return Graph().parse(o.SHAPES_FILE)


@pytest.fixture(scope="module", params=["shop", "elixir-fixtures"])
def extracted(request, tmp_path_factory) -> Graph:
    """The export of a real build, all named graphs merged into one graph."""
    tmp = tmp_path_factory.mktemp(request.param)
    src = _source(request.param, tmp)
    with KnowledgeGraph.open(tmp / "store") as kg:
        summary = build(kg, src)
        assert summary.files_changed == summary.files > 0 and summary.parse_errors == 0, summary.to_dict()
        buf = io.BytesIO()
        kg.export(buf, "nq")
    ds = Dataset()
    ds.parse(data=buf.getvalue().decode("utf-8"), format="nquads")
    data = Graph()
    for s, p, obj, _ in ds.quads((None, None, None, None)):
        data.add((s, p, obj))
    assert len(data) > 500, "the build wrote (almost) nothing: nothing below would prove anything"
    return data


@pytest.fixture(scope="module")
def closure(extracted, ontology) -> Graph:
    g = Graph()
    g += ontology
    g += extracted
    owlrl.DeductiveClosure(owlrl.OWLRL_Semantics).expand(g)
    return g


def _validate(data: Graph, shapes: Graph, ontology: Graph | None) -> tuple[bool, str]:
    conforms, _, text = pyshacl.validate(data, shacl_graph=shapes, ont_graph=ontology,
                                         inference="none", advanced=True)
    return conforms, text


def _our_types(graph: Graph, nodes) -> dict:
    out = collections.defaultdict(set)
    for s, _, c in graph.triples((None, RDF.type, None)):
        if s in nodes and isinstance(c, URIRef) and str(c).startswith(OUR_NS):
            out[s].add(c)
    return out


# ---- the extraction is the one the tests below are about ------------------------------------

def test_the_build_extracts_every_kind_of_node(extracted):
    """Guards the tests below against passing on an empty or one-sided KG."""
    counts = collections.Counter(c for c in extracted.objects(None, RDF.type))
    for cls in (o.EC.SourceFile, o.EC.SourceSpan, o.EC.Module, o.EC.Function, o.EC.FunctionClause,
                o.EC.Parameter, o.EC.CallSite, o.EC.RemoteCall, o.EC.LocalCall, o.EC.Directive,
                o.EC.Spec, o.EC.Struct, o.EC.StructField, o.OTP.Callback, o.OTP.ImplDeclaration,
                o.TEST.TestModule, o.TEST.TestCase, o.TEST.Assertion, o.EC.ProtocolImplementation):
        assert counts[_u(cls)] > 0, f"the build wrote no {cls}"
    assert any(extracted.triples((None, _u(o.EC.resolvesTo), None))), "no call site was resolved"


def test_counts_come_back_from_the_store_as_integers(extracted):
    """Why the shapes accept xsd:integer: pyoxigraph stores the extractor's
    xsd:nonNegativeInteger literals as xsd:integer. If this starts to fail with only
    nonNegativeInteger left, the store keeps the datatype now and the shapes may be tightened."""
    datatypes = {obj.datatype for obj in extracted.objects(None, _u(o.EC.arity))}
    assert datatypes and datatypes <= {XSD.integer, XSD.nonNegativeInteger}
    assert all(obj.value >= 0 for obj in extracted.objects(None, _u(o.EC.arity)))


# ---- SHACL ------------------------------------------------------------------------------------

def test_the_export_conforms_to_the_shapes(extracted, shapes, ontology):
    conforms, text = _validate(extracted, shapes, ontology)
    assert conforms, text


def test_the_export_still_conforms_after_owl_rl_closure(closure, shapes):
    conforms, text = _validate(closure, shapes, None)  # the closure holds the ontologies already
    assert conforms, text


# ---- OWL 2 RL closure ---------------------------------------------------------------------------

def test_the_closure_finds_no_inconsistency(closure):
    errors = [str(m) for e in closure.subjects(RDF.type, OWLRL_ERRORS.ErrorMessage)
              for m in closure.objects(e, OWLRL_ERRORS.error)]
    assert errors == []


def test_the_closure_adds_no_class_to_an_extracted_node(extracted, closure, ontology):
    defined = {c for c in ontology.subjects(OWL.equivalentClass, None) if isinstance(c, URIRef)}
    nodes = set(extracted.subjects(RDF.type, None))
    before, after = _our_types(extracted, nodes), _our_types(closure, nodes)
    gained = {n: sorted(after[n] - before[n] - defined) for n in nodes if after[n] - before[n] - defined}
    assert not gained, f"{len(gained)} nodes gained classes, e.g. {next(iter(gained.items()))}"
    # The same, as counts per class: what a per-class report (onto report) would show.
    count_before = collections.Counter(c for n in nodes for c in before[n])
    count_after = collections.Counter(c for n in nodes for c in after[n] if c not in defined)
    assert count_after == collections.Counter({c: k for c, k in count_before.items() if c not in defined})


def test_call_sites_stay_call_sites_and_functions_stay_functions(extracted, closure):
    call_sites = set(extracted.subjects(RDF.type, _u(o.EC.CallSite)))
    functions = set(extracted.subjects(RDF.type, _u(o.EC.Function)))
    assert call_sites and functions
    assert not call_sites & set(closure.subjects(RDF.type, _u(o.EC.Function)))
    assert not functions & set(closure.subjects(RDF.type, _u(o.EC.Module)))
    assert set(closure.subjects(RDF.type, _u(o.EC.Function))) == functions, \
        "reasoning made a function of something the extractor did not write as one"
    # A candidate target nobody defines (the stdlib is not in this store) stays a call target.
    unknown = {t for t in extracted.objects(None, _u(o.EC.candidateTarget))} - functions
    assert unknown, "every candidate resolved: the check below would be empty"
    for t in unknown:
        assert (t, RDF.type, _u(o.EC.CallTarget)) in closure
        assert (t, RDF.type, _u(o.EC.Function)) not in closure


def test_the_closure_classifies_behaviour_implementations(extracted, closure):
    """The defined classes do get members from a real build (otherwise excluding them above
    would hide nothing)."""
    implements = set(extracted.subjects(_u(o.OTP.implementsBehaviour), _u(o.module_iri("GenServer"))))
    assert implements
    assert implements <= set(closure.subjects(RDF.type, _u(o.OTP.GenServerImplementation)))


# ---- vocabulary ---------------------------------------------------------------------------------

def test_every_term_the_extraction_uses_is_declared(extracted, ontology):
    classes = set(ontology.subjects(RDF.type, OWL.Class))
    properties = {p for t in PROPERTY_TYPES for p in ontology.subjects(RDF.type, t)}
    used_classes = set(extracted.objects(None, RDF.type))
    used_properties = set(extracted.predicates()) - {RDF.type}
    assert used_classes - classes == set()
    assert used_properties - properties == set()
    # Any other IRI of our ontology namespaces (an individual such as otp:OneForOne) too.
    declared = classes | properties | set(ontology.subjects(RDF.type, OWL.NamedIndividual))
    ours = {t for triple in extracted for t in triple
            if isinstance(t, URIRef) and str(t).startswith(OUR_NS)}
    assert ours - declared == set()
    # Literals have the datatypes the ontology gives (xsd:integer stands for nonNegativeInteger).
    ranges = {p: ontology.value(p, RDFS.range) for p in used_properties}
    for s, p, obj in extracted:
        if isinstance(obj, Literal):
            want = ranges[p]
            got = obj.datatype or XSD.string
            assert got == want or (want == XSD.nonNegativeInteger and got == XSD.integer), (s, p, obj)



# ---- stdlib graphs (kg stdlib: the installed BEAM, no source) ------------------------------------

def test_a_stdlib_graph_conforms_and_uses_declared_terms(elixir_bin, shapes, ontology):
    """The other writer of the same vocabulary (kg/stdlib.py): a protocol, an implementation,
    a behaviour with callbacks and specs, operators and macros."""
    from kg.stdlib import app_facts

    facts = app_facts("elixir", modules=["GenServer", "Enum", "Kernel", "String.Chars", "String.Chars.Integer"])
    data = Graph().parse(data=facts.ntriples(), format="nt")
    assert facts.functions > 100 and facts.callbacks > 5
    conforms, text = _validate(data, shapes, ontology)
    assert conforms, text
    declared = {s for t in (OWL.Class, *PROPERTY_TYPES) for s in ontology.subjects(RDF.type, t)}
    used = (set(data.predicates()) - {RDF.type}) | set(data.objects(None, RDF.type))
    assert used - declared == set()
