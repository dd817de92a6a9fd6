"""Structural difference of two ontologies: axioms added, removed and changed, grouped by entity.

Owns the notion of "axiom" used for comparing: a (predicate, value) pair of a named entity, where
a blank-node value (a restriction, a class expression, an RDF list) is rendered as one canonical
text, so that blank-node labels never show up as differences. "Changed" pairs the removed and added
values of one entity under one predicate (a label reworded, a superclass swapped).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import RDF, XSD

ANONYMOUS = "(anonymous)"


def _render(graph: Graph, node, seen=frozenset()) -> str:
    if isinstance(node, URIRef):
        return f"<{node}>"
    if isinstance(node, Literal):
        # RDF 1.1: "x" and "x"^^xsd:string are the same literal; OWL/XML round trips add the type
        if node.datatype == XSD.string:
            return Literal(str(node)).n3()
        return node.n3()
    if node in seen:
        return "[...]"
    seen = seen | {node}
    if (node, RDF.first, None) in graph:  # an RDF list, in order
        items = []
        while node and node != RDF.nil and node not in items:
            first = graph.value(node, RDF.first)
            items.append(_render(graph, first, seen))
            node = graph.value(node, RDF.rest)
        return "(" + " ".join(items) + ")"
    pairs = sorted(f"<{p}> {_render(graph, o, seen)}" for p, o in graph.predicate_objects(node))
    return "[ " + " ; ".join(pairs) + " ]"


def axioms(graph: Graph) -> dict[str, set[tuple[str, str]]]:
    """entity IRI -> {(predicate IRI, rendered value)}; top-level blank nodes (nobody refers to
    them, e.g. owl:AllDisjointClasses) go under "(anonymous)"."""
    out: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for s, p, o in graph:
        if isinstance(s, URIRef):
            out[str(s)].add((str(p), _render(graph, o)))
        elif isinstance(s, BNode) and (None, None, s) not in graph:
            out[ANONYMOUS].add(("", _render(graph, s)))
    return out


@dataclass
class EntityDiff:
    entity: str
    added: list[tuple[str, str]] = field(default_factory=list)
    removed: list[tuple[str, str]] = field(default_factory=list)
    changed: list[tuple[str, str, str]] = field(default_factory=list)  # (predicate, old, new)

    def to_json(self) -> dict:
        return {"entity": self.entity,
                "added": [{"predicate": p, "value": v} for p, v in self.added],
                "removed": [{"predicate": p, "value": v} for p, v in self.removed],
                "changed": [{"predicate": p, "old": a, "new": b} for p, a, b in self.changed]}


def diff(a: Graph, b: Graph) -> list[EntityDiff]:
    """Entities whose axioms differ between ``a`` (old) and ``b`` (new), sorted by IRI."""
    ax_a, ax_b = axioms(a), axioms(b)
    result = []
    for entity in sorted(set(ax_a) | set(ax_b)):
        old, new = ax_a.get(entity, set()), ax_b.get(entity, set())
        if old == new:
            continue
        d = EntityDiff(entity)
        removed, added = sorted(old - new), sorted(new - old)
        by_pred_r, by_pred_a = defaultdict(list), defaultdict(list)
        for p, v in removed:
            by_pred_r[p].append(v)
        for p, v in added:
            by_pred_a[p].append(v)
        for p in sorted(set(by_pred_r) | set(by_pred_a)):
            rs, ads = by_pred_r.get(p, []), by_pred_a.get(p, [])
            n = min(len(rs), len(ads)) if entity != ANONYMOUS else 0
            d.changed += [(p, rs[i], ads[i]) for i in range(n)]
            d.removed += [(p, v) for v in rs[n:]]
            d.added += [(p, v) for v in ads[n:]]
        result.append(d)
    return result


def to_text(diffs: list[EntityDiff]) -> str:
    if not diffs:
        return "no differences\n"
    lines = []
    for d in diffs:
        lines.append(d.entity)
        lines += [f"  + {p} {v}" for p, v in d.added]
        lines += [f"  - {p} {v}" for p, v in d.removed]
        lines += [f"  ~ {p} {a} -> {b}" for p, a, b in d.changed]
    n_add = sum(len(d.added) for d in diffs)
    n_rem = sum(len(d.removed) for d in diffs)
    n_chg = sum(len(d.changed) for d in diffs)
    lines.append(f"{len(diffs)} entities differ: {n_add} added, {n_rem} removed, {n_chg} changed")
    return "\n".join(lines) + "\n"
