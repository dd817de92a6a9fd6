"""SHACL validation of a KG (a store or a file) against the project's shapes and ontologies.

Owns the reading of pyshacl's report into plain :class:`Violation` rows, and the loading of a
KG from a store directory (opened read-only, so a running writer is not disturbed) or an RDF file.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from pathlib import Path

from rdflib import Dataset, Graph, Namespace

SH = Namespace("http://www.w3.org/ns/shacl#")


class ValidateError(Exception):
    """The KG or the shapes could not be read."""


@dataclass(frozen=True)
class Violation:
    severity: str  # Violation | Warning | Info
    focus: str
    path: str
    shape: str
    message: str
    value: str = ""


def load_kg(source: str | Path) -> Graph:
    """A store directory (read-only snapshot, exported as N-Quads) or an RDF file, as one graph
    (the union of the named graphs: shapes see every file's facts together)."""
    source = Path(source)
    if source.is_dir():
        from sparql.store import KnowledgeGraph, StoreError

        try:
            kg = KnowledgeGraph.open(source, read_only=True)
        except StoreError as e:
            raise ValidateError(str(e)) from None
        buf = io.BytesIO()
        with kg:
            kg.export(buf, "nt")  # N-Triples: the graphs flattened into one set of triples
        return Graph().parse(data=buf.getvalue(), format="nt")
    if not source.is_file():
        raise ValidateError(f"{source}: no such store directory or file")
    from reasoning.owl import ReasonerError, load_graph

    try:
        if source.suffix.lower() in (".nq", ".trig"):
            ds = Dataset()
            ds.parse(source, format="nquads" if source.suffix.lower() == ".nq" else "trig")
            g = Graph()
            for s, p, o, _ in ds.quads((None, None, None, None)):
                g.add((s, p, o))
            return g
        return load_graph([source])
    except ReasonerError as e:
        raise ValidateError(str(e)) from None
    except Exception as e:
        raise ValidateError(f"{source}: cannot parse: {e}") from None


def validate(data: Graph, shapes: Graph, ontology: Graph) -> tuple[bool, list[Violation]]:
    """pyshacl without inference (the KG holds what the extractor wrote; the ontology is mixed in
    for the shapes that look up class and callback declarations)."""
    import pyshacl

    conforms, report, _text = pyshacl.validate(data, shacl_graph=shapes, ont_graph=ontology,
                                               inference="none", advanced=True)
    rows = []
    for r in report.subjects(SH.resultSeverity, None):
        sev = report.value(r, SH.resultSeverity)
        rows.append(Violation(
            severity=str(sev).rsplit("#", 1)[-1],
            focus=str(report.value(r, SH.focusNode) or ""),
            path=str(report.value(r, SH.resultPath) or ""),
            shape=str(report.value(r, SH.sourceShape) or ""),
            message=str(report.value(r, SH.resultMessage) or ""),
            value=str(report.value(r, SH.value) or ""),
        ))
    rows.sort(key=lambda v: (v.severity, v.focus, v.path, v.message))
    return bool(conforms), rows


def to_json(conforms: bool, rows: list[Violation]) -> dict:
    return {"conforms": conforms, "violations": [asdict(v) for v in rows]}


def to_text(conforms: bool, rows: list[Violation]) -> str:
    if conforms:
        return "conforms: the KG satisfies every shape\n"
    lines = [f"does not conform: {len(rows)} result(s)"]
    for v in rows:
        lines.append(f"{v.severity}: {v.focus}")
        if v.path:
            lines.append(f"    path:  {v.path}")
        if v.value:
            lines.append(f"    value: {v.value}")
        lines.append(f"    {v.message}  ({v.shape})")
    return "\n".join(lines) + "\n"
