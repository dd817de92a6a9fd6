"""KG-scale rules run inside the store (issue "Reasoning" §2).

Owns the materialisation of what the KG needs from its ontologies and behaviours, written as
SPARQL UPDATE that the store runs itself (no triple leaves the store, so it scales where
Python reasoners do not: owlrl needs minutes for 100k triples):

* the class hierarchy of the KG's individuals (``rdfs:subClassOf`` closure, the named
  ``rdfs:domain`` / ``rdfs:range`` of properties, and the defined ``otp:*Implementation``
  classes, whose ``owl:equivalentClass`` is "a module with one of these behaviours");
* the property hierarchy (``rdfs:subPropertyOf`` closure) and ``owl:inverseOf`` both ways;
* ``otp:implementsCallback``: a function whose module implements a behaviour and whose
  name/arity match one of its callbacks (GenServer's ``init/1`` injected by
  ``GenServer.__before_compile__`` does not count: the compiler injects it with a warning that
  the callback is missing);
* findings (quality ontology) for a missing required callback and for ``@impl`` on a function
  that is no callback.

What the rules read comes from the ontology files (ontologies.FILES), so the rules follow the
ontology. Derived triples go into one named graph per source graph (:func:`inferred_graph`);
:func:`reason` drops and recomputes it in one update (one transaction), so re-running is
idempotent and the source graph, its build records and its incremental export stay unchanged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache

import pyoxigraph as ox
from rdflib import OWL, RDF, RDFS, BNode, Graph, URIRef
from rdflib.collection import Collection

from kg.extract import STOPGAP_SUFFIX
from kg.facts import RDF_TYPE
from ontologies import BASE, EC, FILES, GRAPH, ID, META_GRAPH, OTP, QUALITY, inferred_graph_iri, rule_iri

INFERRED = inferred_graph_iri(GRAPH).value  # the prefix every inferred graph starts with

#: The rules this module applies (individuals in ontologies/quality.ttl).
RULE_MISSING_CALLBACK = rule_iri("warning/missing-callback")
RULE_IMPL_NOT_CALLBACK = rule_iri("warning/impl-not-callback")
RULE_IDS = ("warning/missing-callback", "warning/impl-not-callback")


def inferred_graph(source: ox.NamedNode) -> ox.NamedNode:
    """``…/graph/shop@0.1.0`` -> ``…/graph/inferred/shop@0.1.0`` (``beam/`` graphs alike)."""
    if not source.value.startswith(GRAPH) or is_inferred(source):
        raise ValueError(f"{source.value}: not a source graph of the KG")
    return inferred_graph_iri(source)


def is_inferred(graph: ox.NamedNode) -> bool:
    return graph.value.startswith(INFERRED)


# ---- the schema the rules follow ----------------------------------------------------------
@dataclass(frozen=True)
class Schema:
    """What the ontology files say that the rules use (named terms only)."""

    superclasses: dict[str, frozenset[str]]     # class -> every strict superclass (transitive)
    superproperties: dict[str, frozenset[str]]  # property -> every strict superproperty
    inverses: tuple[tuple[str, str], ...]       # (p, q): p owl:inverseOf q
    domains: dict[str, frozenset[str]]          # property -> named domain classes
    ranges: dict[str, frozenset[str]]           # object property -> named range classes
    has_value: tuple[tuple[str, str, str, str], ...] = field(default=())
    # (defined class, required class, property, value): C ≡ A ⊓ (∃p.{v} ⊔ ...), one row per v


def _closure(direct: dict[str, set[str]]) -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}

    def up(x: str, seen: set[str]) -> set[str]:
        for s in direct.get(x, ()):
            if s not in seen:
                seen.add(s)
                up(s, seen)
        return seen

    for x in direct:
        out[x] = frozenset(up(x, set()) - {x})
    return out


@lru_cache(maxsize=1)
def schema() -> Schema:
    g = Graph()
    for path in FILES.values():
        g.parse(path, format="turtle")
    ours = lambda t: isinstance(t, URIRef) and str(t).startswith(BASE + "ontology/")  # noqa: E731
    sub_c: dict[str, set[str]] = {}
    for c, d in g.subject_objects(RDFS.subClassOf):
        if ours(c) and ours(d):
            sub_c.setdefault(str(c), set()).add(str(d))
    for c, d in g.subject_objects(OWL.equivalentClass):  # named equivalents: both ways
        if ours(c) and ours(d):
            sub_c.setdefault(str(c), set()).add(str(d))
            sub_c.setdefault(str(d), set()).add(str(c))
    sub_p: dict[str, set[str]] = {}
    for p, q in g.subject_objects(RDFS.subPropertyOf):
        if ours(p) and ours(q):
            sub_p.setdefault(str(p), set()).add(str(q))
    inverses = set()
    for p, q in g.subject_objects(OWL.inverseOf):
        if ours(p) and ours(q):
            inverses.add((str(p), str(q)))
    domains: dict[str, set[str]] = {}
    ranges: dict[str, set[str]] = {}
    for p, c in g.subject_objects(RDFS.domain):
        if ours(p) and ours(c):
            domains.setdefault(str(p), set()).add(str(c))
    for p, c in g.subject_objects(RDFS.range):
        if ours(p) and ours(c) and (p, RDF.type, OWL.ObjectProperty) in g:
            ranges.setdefault(str(p), set()).add(str(c))
    # Defined classes of the form C ≡ A ⊓ (∃p.{v1} ⊔ ∃p.{v2} ...) (otp:GenServerImplementation).
    has_value = []
    for c, e in g.subject_objects(OWL.equivalentClass):
        if not (ours(c) and isinstance(e, BNode)):
            continue
        for lst in g.objects(e, OWL.intersectionOf):
            members = list(Collection(g, lst))
            named = [m for m in members if ours(m)]
            unions = [m for m in members if isinstance(m, BNode)]
            if len(named) != 1 or len(unions) != 1:
                continue
            for ulst in g.objects(unions[0], OWL.unionOf):
                for r in Collection(g, ulst):
                    p, v = g.value(r, OWL.onProperty), g.value(r, OWL.hasValue)
                    if isinstance(p, URIRef) and isinstance(v, URIRef):
                        has_value.append((str(c), str(named[0]), str(p), str(v)))
    return Schema(_closure(sub_c), _closure(sub_p), tuple(sorted(inverses)),
                  {k: frozenset(v) for k, v in domains.items()}, {k: frozenset(v) for k, v in ranges.items()},
                  tuple(sorted(has_value)))


# ---- the update ---------------------------------------------------------------------------
def _values(vars_: str, rows) -> str:
    body = " ".join("(" + " ".join(f"<{x}>" for x in row) + ")" for row in rows)
    return f"VALUES ({vars_}) {{ {body} }}"


def _with_supers(s: Schema, classes) -> set[str]:
    out = set()
    for c in classes:
        out.add(c)
        out |= s.superclasses.get(c, frozenset())
    return out


def update_text(source: ox.NamedNode) -> str:
    """The one UPDATE request that recomputes the inferred graph of ``source``."""
    s = schema()
    src, inf = f"<{source.value}>", f"<{inferred_graph(source).value}>"
    rt = RDF_TYPE
    ops = [f"DROP SILENT GRAPH {inf}"]
    # VALUES stand inside the GRAPH group: a FILTER or MINUS there sees only that group's
    # bindings (SPARQL's bottom-up evaluation).
    # Types: every (asserted class, implied class) pair, implied classes of domains, ranges and
    # defined classes included; an implied type already asserted in the source is not repeated.
    # MINUS (one anti-join; VALUES inside the same group, so that ?d is bound on both sides)
    # rather than FILTER NOT EXISTS (one probe per triple): several times faster on the 2.3M
    # triples of Elixir's source, where nearly every implied type is already written.
    pairs = sorted((c, d) for c, ds in s.superclasses.items() for d in ds)
    if pairs:
        ops.append(f"""INSERT {{ GRAPH {inf} {{ ?x {rt} ?d }} }} WHERE {{
          GRAPH {src} {{ {_values('?c ?d', pairs)}
            ?x {rt} ?c MINUS {{ ?x {rt} ?d }} }} }}""")
    dom = sorted((p, d) for p, cs in s.domains.items() for d in _with_supers(s, cs))
    # A subproperty's triples imply its superproperties' domains and ranges too.
    for p, sups in s.superproperties.items():
        for q in sups:
            dom += [(p, d) for d in _with_supers(s, s.domains.get(q, ()))]
    if dom:
        ops.append(f"""INSERT {{ GRAPH {inf} {{ ?x {rt} ?d }} }} WHERE {{
          GRAPH {src} {{ {_values('?p ?d', sorted(set(dom)))}
            ?x ?p ?y MINUS {{ ?x {rt} ?d }} }} }}""")
    rng = sorted((p, d) for p, cs in s.ranges.items() for d in _with_supers(s, cs))
    for p, sups in s.superproperties.items():
        for q in sups:
            rng += [(p, d) for d in _with_supers(s, s.ranges.get(q, ()))]
    if rng:
        ops.append(f"""INSERT {{ GRAPH {inf} {{ ?y {rt} ?d }} }} WHERE {{
          GRAPH {src} {{ {_values('?p ?d', sorted(set(rng)))}
            ?x ?p ?y FILTER(!isLiteral(?y)) MINUS {{ ?y {rt} ?d }} }} }}""")
    hv = sorted({(d, a, p, v) for c, a, p, v in s.has_value for d in _with_supers(s, [c])})
    if hv:
        ops.append(f"""INSERT {{ GRAPH {inf} {{ ?x {rt} ?c }} }} WHERE {{
          GRAPH {src} {{ {_values('?c ?a ?p ?v', hv)}
            ?x ?p ?v . ?x {rt} ?a FILTER NOT EXISTS {{ ?x {rt} ?c }} }} }}""")
    sp = sorted((p, q) for p, qs in s.superproperties.items() for q in qs)
    if sp:
        ops.append(f"""INSERT {{ GRAPH {inf} {{ ?x ?q ?y }} }} WHERE {{
          GRAPH {src} {{ {_values('?p ?q', sp)}
            ?x ?p ?y FILTER NOT EXISTS {{ ?x ?q ?y }} }} }}""")
    inv = sorted({(p, q) for p, q in s.inverses} | {(q, p) for p, q in s.inverses})
    if inv:
        ops.append(f"""INSERT {{ GRAPH {inf} {{ ?y ?q ?x }} }} WHERE {{
          GRAPH {src} {{ {_values('?p ?q', inv)}
            ?x ?p ?y FILTER(!isLiteral(?y)) FILTER NOT EXISTS {{ ?y ?q ?x }} }} }}""")
    # Callbacks may live in any source graph (the project's own behaviours, the stdlib's).
    # The stopgap init/1 of GenServer.__before_compile__ implements nothing (see module doc).
    callbacks = f"""GRAPH ?cg {{ ?cb <{OTP.callbackOf.value}> ?b ; <{EC.name.value}> ?n ; <{EC.arity.value}> ?a }}
          FILTER(!STRSTARTS(STR(?cg), "{INFERRED}"))"""
    ops.append(f"""INSERT {{ GRAPH {inf} {{ ?f <{OTP.implementsCallback.value}> ?cb }} }} WHERE {{
          GRAPH {src} {{ ?m <{OTP.implementsBehaviour.value}> ?b .
                        ?f <{EC.inModule.value}> ?m ; <{EC.name.value}> ?n ; <{EC.arity.value}> ?a ; <{EC.kind.value}> ?k .
                        OPTIONAL {{ ?f <{EC.generator.value}> ?gen }} }}
          FILTER(!BOUND(?gen) || !STRENDS(?gen, "{STOPGAP_SUFFIX}"))
          {callbacks} }}""")
    fin, rule, sev, about, msg = (QUALITY.Finding.value, QUALITY.rule.value, QUALITY.severity.value,
                                  QUALITY.about.value, QUALITY.findingMessage.value)
    name = EC.name.value
    # Missing required callback: a required (not otp:optional true) callback of a behaviour the
    # module implements, with no function of its name/arity (the stopgap init/1 not counting).
    ops.append(f"""INSERT {{ GRAPH {inf} {{ ?fd {rt} <{fin}> ; <{rule}> <{RULE_MISSING_CALLBACK.value}> ;
                <{sev}> <{QUALITY.High.value}> ; <{about}> ?m ; <{msg}> ?text }} }} WHERE {{
          GRAPH {src} {{ ?m <{OTP.implementsBehaviour.value}> ?b ; <{name}> ?mn }}
          {callbacks}
          FILTER NOT EXISTS {{ GRAPH ?og {{ ?cb <{OTP.optional.value}> true }} }}
          OPTIONAL {{ GRAPH {src} {{ ?f <{EC.inModule.value}> ?m ; <{name}> ?n ; <{EC.arity.value}> ?a ; <{EC.kind.value}> ?k .
                                   OPTIONAL {{ ?f <{EC.generator.value}> ?gen }} }}
                     FILTER(!BOUND(?gen) || !STRENDS(?gen, "{STOPGAP_SUFFIX}")) }}
          FILTER(!BOUND(?f))
          OPTIONAL {{ GRAPH ?bg {{ ?b <{name}> ?bn0 }} }}
          BIND(COALESCE(?bn0, STRAFTER(STR(?b), "{ID}module/")) AS ?bn)
          BIND(CONCAT(?mn, " implements ", ?bn, " but does not define its required callback ", ?n, "/", STR(?a),
                      ": define ", ?n, "/", STR(?a), " (with @impl true)") AS ?text)
          BIND(IRI(CONCAT("{inferred_graph(source).value}#missing-callback/", ENCODE_FOR_URI(STR(?cb)), "/in/",
                          ENCODE_FOR_URI(STR(?m)))) AS ?fd) }}""")
    # @impl on a non-callback: `@impl true` on a function that matches no callback of the
    # module's behaviours, `@impl B` on one that matches no callback of B. Only decided when
    # every behaviour in question has its callbacks in the KG (an unknown behaviour proves
    # nothing), and `@impl false` says nothing.
    # (SPARQL evaluates a UNION branch without the outer bindings, so two operations.)
    # Before a head with defaults (`def f(a, b \\ 1)`) only the full arity gets the @impl, and
    # it is right when any arity of that def is a callback (Calendar.ISO's date_to_string/4
    # implements Calendar's date_to_string/3): the arities of one def share its span.
    # A left join, not FILTER NOT EXISTS: the store plans NOT EXISTS without the outer
    # bindings (15 s instead of 0.4 s on Elixir's source).
    same_def = (f"?f <{OTP.hasImpl.value}> ?d . ?f <{EC.hasSpan.value}> ?sp . ?f2 <{EC.inModule.value}> ?m ; <{name}> ?n ; "
                f"<{EC.arity.value}> ?a2 ; <{EC.hasSpan.value}> ?sp .")
    head = f"""INSERT {{ GRAPH {inf} {{ ?fd {rt} <{fin}> ; <{rule}> <{RULE_IMPL_NOT_CALLBACK.value}> ;
                <{sev}> <{QUALITY.Medium.value}> ; <{about}> ?f ; <{msg}> ?text }} }} WHERE {{
          GRAPH {src} {{ ?f <{OTP.hasImpl.value}> ?d ; <{EC.inModule.value}> ?m ; <{name}> ?n ; <{EC.arity.value}> ?a .
                        ?d <{OTP.implValue.value}> ?v . ?m <{name}> ?mn }}
          BIND(IRI(CONCAT("{inferred_graph(source).value}#impl-not-callback/", ENCODE_FOR_URI(STR(?d)))) AS ?fd)"""
    ops.append(head + f"""
          FILTER(?v = "true")
          FILTER EXISTS {{ GRAPH {src} {{ ?m <{OTP.implementsBehaviour.value}> ?x }} }}
          # a defimpl's protocol and a defexception's Exception are behaviours the extractor
          # does not list: such modules are left alone
          FILTER NOT EXISTS {{ GRAPH {src} {{ ?m <{EC.implementsProtocol.value}> ?pr }} }}
          FILTER NOT EXISTS {{ GRAPH {src} {{ ?es <{EC.structOf.value}> ?m ; {rt} <{EC.Exception.value}> }} }}
          FILTER NOT EXISTS {{ GRAPH {src} {{ ?m <{OTP.implementsBehaviour.value}> ?x }}
                              FILTER NOT EXISTS {{ GRAPH ?g1 {{ ?c1 <{OTP.callbackOf.value}> ?x }} }} }}
          OPTIONAL {{ GRAPH {src} {{ ?m <{OTP.implementsBehaviour.value}> ?x2 . {same_def} }}
                     GRAPH ?g2 {{ ?c2 <{OTP.callbackOf.value}> ?x2 ; <{name}> ?n ; <{EC.arity.value}> ?a2 }} }}
          FILTER(!BOUND(?c2))
          BIND(CONCAT("@impl true on ", ?n, "/", STR(?a), " in ", ?mn,
                      ", but no behaviour it implements has a callback ", ?n, "/", STR(?a),
                      ": remove the @impl or fix the name/arity") AS ?text) }}""")
    ops.append(head + f"""
          FILTER(?v != "true" && ?v != "false")
          BIND(IRI(CONCAT("{ID}module/", ENCODE_FOR_URI(?v))) AS ?b)
          FILTER EXISTS {{ GRAPH ?g3 {{ ?c3 <{OTP.callbackOf.value}> ?b }} }}
          OPTIONAL {{ GRAPH {src} {{ {same_def} }}
                     GRAPH ?g4 {{ ?c4 <{OTP.callbackOf.value}> ?b ; <{name}> ?n ; <{EC.arity.value}> ?a2 }} }}
          FILTER(!BOUND(?c4))
          BIND(CONCAT("@impl ", ?v, " on ", ?n, "/", STR(?a), " in ", ?mn, ", but ", ?v,
                      " has no callback ", ?n, "/", STR(?a), ": remove the @impl or fix the name/arity") AS ?text) }}""")
    return " ;\n".join(ops)


@dataclass
class ReasonSummary:
    graph: str
    inferred: str
    triples: int
    findings: int
    seconds: float


def source_graphs(kg) -> list[ox.NamedNode]:
    return [g for g in kg.graphs() if g != META_GRAPH and g.value.startswith(GRAPH) and not is_inferred(g)]


def reason(kg, graphs: list[ox.NamedNode] | None = None) -> list[ReasonSummary]:
    """Recompute the inferred graph of each source graph (all by default), one transaction each."""
    out = []
    for g in graphs if graphs is not None else source_graphs(kg):
        t0 = time.perf_counter()
        kg.update(update_text(g))
        inf = inferred_graph(g)
        row = next(iter(kg.query(
            f"""SELECT (COUNT(*) AS ?n) (SUM(IF(?p = <{QUALITY.rule.value}>, 1, 0)) AS ?f)
                WHERE {{ GRAPH <{inf.value}> {{ ?s ?p ?o }} }}""", graphs=[])))
        out.append(ReasonSummary(g.value, inf.value, int(row["n"].value),
                                 int(row["f"].value) if row["f"] is not None else 0,
                                 time.perf_counter() - t0))
    return out
