"""Ontology file formats: reading any of them into rdflib, writing Turtle, RDF/XML, OWL/XML or
N-Triples (the formats Protégé opens).

Owns the format names and suffixes. rdflib reads and writes the RDF syntaxes; OWL/XML is not RDF,
so it goes through py-horned-owl (RDF/XML <-> OWL/XML). OWL/XML keeps OWL axioms and annotations
only: triples that are not OWL (SHACL shapes, say) have no OWL/XML form and are dropped by it.
"""

from __future__ import annotations

from pathlib import Path

from rdflib import Graph

#: format name -> (rdflib format or None for OWL/XML, default suffix)
FORMATS = {
    "turtle": ("turtle", ".ttl"),
    "rdfxml": ("xml", ".owl"),
    "owlxml": (None, ".owx"),
    "ntriples": ("nt", ".nt"),
}
SUFFIXES = {".ttl": "turtle", ".owl": "rdfxml", ".rdf": "rdfxml", ".xml": "rdfxml",
            ".owx": "owlxml", ".nt": "ntriples"}


class ConvertError(Exception):
    """A file that cannot be read or written in the format asked for."""


def guess_format(path: str | Path) -> str:
    fmt = SUFFIXES.get(Path(path).suffix.lower())
    if fmt is None:
        raise ConvertError(f"{path}: cannot tell the format from the suffix; give --from/--to "
                           f"({', '.join(FORMATS)})")
    return fmt


def _horned():
    try:
        import pyhornedowl
    except ImportError:
        raise ConvertError("OWL/XML needs the py-horned-owl package (pip install py-horned-owl); "
                           "without it use turtle, rdfxml or ntriples") from None
    return pyhornedowl


def read(path: str | Path, fmt: str | None = None, into: Graph | None = None) -> Graph:
    path = Path(path)
    fmt = fmt or guess_format(path)
    if fmt not in FORMATS:
        raise ConvertError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    g = into if into is not None else Graph()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConvertError(f"cannot read {path}: {e}") from None
    try:
        if fmt == "owlxml":
            onto = _horned().open_ontology_from_string(text, "owx")
            g.parse(data=onto.save_to_string("rdf"), format="xml")
        else:
            g.parse(data=text, format=FORMATS[fmt][0])
    except ConvertError:
        raise
    except Exception as e:  # parsers raise their own exception types
        raise ConvertError(f"{path}: not valid {fmt}: {e}") from None
    return g


def serialize(graph: Graph, fmt: str) -> str:
    if fmt not in FORMATS:
        raise ConvertError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt == "owlxml":
        try:
            onto = _horned().open_ontology_from_string(graph.serialize(format="xml"), "rdf")
            return onto.save_to_string("owx")
        except ConvertError:
            raise
        except Exception as e:
            raise ConvertError(f"cannot write OWL/XML ({e}); turtle, rdfxml and ntriples work") from None
    return graph.serialize(format=FORMATS[fmt][0])


def convert(source: str | Path, target: str | Path, src_fmt: str | None = None,
            dst_fmt: str | None = None) -> int:
    """Convert one file; returns the number of triples read. Writes nothing when reading fails."""
    g = read(source, src_fmt)
    text = serialize(g, dst_fmt or guess_format(target))
    Path(target).write_text(text, encoding="utf-8")
    return len(g)
