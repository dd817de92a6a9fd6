"""Curation checks over ontology files, in the manner of ROBOT ``report``.

Owns the rules (missing label or definition, duplicate labels, terms used but not declared,
deprecated terms in use, dangling references, naming conventions), their levels
(ERROR > WARN > INFO) and the TSV/JSON renderings. Works on an rdflib graph, so any RDF syntax
the loader reads can be checked.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from dataclasses import asdict, dataclass

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, RDFS, SKOS, XSD

LEVELS = ("ERROR", "WARN", "INFO")
SEVERITY = {"ERROR": 3, "WARN": 2, "INFO": 1}

#: Which rule reports at which level (ROBOT's defaults where ROBOT has the rule).
RULES = {
    "missing_label": "ERROR",
    "duplicate_label": "ERROR",
    "dangling_reference": "ERROR",
    "missing_definition": "WARN",
    "undeclared_term": "WARN",
    "deprecated_reference": "WARN",
    "naming_convention": "INFO",
}

DECLARATIONS = {
    OWL.Class: "class", RDFS.Class: "class",
    OWL.ObjectProperty: "property", OWL.DatatypeProperty: "property",
    OWL.AnnotationProperty: "property", RDF.Property: "property",
    OWL.NamedIndividual: "individual", RDFS.Datatype: "datatype", OWL.Ontology: "ontology",
}

#: Namespaces whose terms are declared elsewhere (W3C and the common annotation vocabularies).
EXTERNAL = ("http://www.w3.org/", "http://purl.org/dc/", "http://xmlns.com/foaf/",
            "http://purl.org/vocab/vann/", "http://schema.org/", "https://schema.org/")

DEFINITIONS = (SKOS.definition, URIRef("http://purl.obolibrary.org/obo/IAO_0000115"))

#: Predicates whose object must be a described entity (a class or property axiom pointing at
#: nothing is a dangling reference: usually a typo or a removed term).
REFERENCING = (RDFS.subClassOf, RDFS.subPropertyOf, RDFS.domain, RDFS.range, OWL.equivalentClass,
               OWL.disjointWith, OWL.inverseOf, OWL.someValuesFrom, OWL.allValuesFrom,
               OWL.onClass, OWL.onProperty, OWL.equivalentProperty)

CLASS_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
PROPERTY_NAME = re.compile(r"^[a-z][A-Za-z0-9]*$")


@dataclass(frozen=True)
class Problem:
    level: str
    rule: str
    subject: str
    property: str = ""
    value: str = ""


def _local(iri: str) -> str:
    return re.split(r"[#/]", iri)[-1]


def _name(graph: Graph, node) -> str:
    """A blank node (a restriction) is reported under the named class that uses it."""
    seen = set()
    while isinstance(node, BNode) and node not in seen:
        seen.add(node)
        parent = next(iter(graph.subjects(None, node)), None)
        if parent is None:
            return "(anonymous)"
        node = parent
    return str(node) if not isinstance(node, BNode) else "(anonymous)"


def _external(node) -> bool:
    return str(node).startswith(EXTERNAL)


def check(graph: Graph) -> list[Problem]:
    """All problems in ``graph``, sorted by level (ERROR first), rule and subject."""
    problems: list[Problem] = []
    declared: dict[URIRef, str] = {}
    for t, kind in DECLARATIONS.items():
        for s in graph.subjects(RDF.type, t):
            if isinstance(s, URIRef):
                declared.setdefault(s, kind)
    terms = {s: k for s, k in declared.items() if k in ("class", "property") and not _external(s)}

    def add(rule, subject, prop="", value=""):
        problems.append(Problem(RULES[rule], rule, str(subject), str(prop), str(value)))

    # labels and definitions
    labels: dict[tuple[str, str], list[URIRef]] = defaultdict(list)
    for term in terms:
        term_labels = [l for l in graph.objects(term, RDFS.label) if isinstance(l, Literal)]
        if not term_labels:
            add("missing_label", term, RDFS.label)
        for l in term_labels:
            labels[(str(l).strip().lower(), l.language or "")].append(term)
        if not any(graph.value(term, d) is not None for d in DEFINITIONS):
            add("missing_definition", term, SKOS.definition)
    for (text, _lang), owners in labels.items():
        if len(owners) > 1:
            for term in owners:
                add("duplicate_label", term, RDFS.label, text)

    # used but not declared: as a class (rdf:type object) or as a predicate
    used = {o for o in graph.objects(None, RDF.type) if isinstance(o, URIRef)}
    used |= {p for p in graph.predicates() if isinstance(p, URIRef)}
    for term in sorted(used):
        if term not in declared and not _external(term):
            add("undeclared_term", term, RDF.type)

    # dangling: a class or property axiom points at an IRI the ontology says nothing about
    described = {s for s in graph.subjects() if isinstance(s, URIRef)}
    for p in REFERENCING:
        for s, o in graph.subject_objects(p):
            if isinstance(o, URIRef) and not _external(o) and o not in described:
                add("dangling_reference", _name(graph, s), p, o)

    # deprecated terms still in use by another term
    deprecated = {s for s in graph.subjects(OWL.deprecated, None)
                  if graph.value(s, OWL.deprecated) in (Literal(True), Literal("true", datatype=XSD.boolean))}
    for dep in deprecated:
        for s, p in graph.subject_predicates(dep):
            if s != dep:
                add("deprecated_reference", _name(graph, s), p, dep)
        for s, o in graph.subject_objects(dep):
            if s != dep:
                add("deprecated_reference", _name(graph, s), dep, o)

    # naming conventions: Classes UpperCamel, properties lowerCamel
    for term, kind in terms.items():
        name = _local(str(term))
        if kind == "class" and not CLASS_NAME.match(name):
            add("naming_convention", term, "class name", f"{name!r} is not UpperCamelCase")
        if kind == "property" and not PROPERTY_NAME.match(name):
            add("naming_convention", term, "property name", f"{name!r} is not lowerCamelCase")

    problems = sorted(set(problems), key=lambda p: (-SEVERITY[p.level], p.rule, p.subject, p.property, p.value))
    return problems


def counts(problems: list[Problem]) -> dict[str, int]:
    c = {level: 0 for level in LEVELS}
    for p in problems:
        c[p.level] += 1
    return c


def fails(problems: list[Problem], fail_on: str) -> bool:
    """True when some problem is at ``fail_on`` or worse; ``fail_on`` "none" never fails."""
    if fail_on.lower() == "none":
        return False
    threshold = SEVERITY[fail_on.upper()]
    return any(SEVERITY[p.level] >= threshold for p in problems)


def to_tsv(problems: list[Problem]) -> str:
    out = io.StringIO()
    w = csv.writer(out, delimiter="\t", lineterminator="\n")
    w.writerow(["Level", "Rule Name", "Subject", "Property", "Value"])
    for p in problems:
        w.writerow([p.level, p.rule, p.subject, p.property, p.value])
    return out.getvalue()


def to_json(problems: list[Problem]) -> str:
    return json.dumps({"counts": counts(problems), "problems": [asdict(p) for p in problems]}, indent=2)
