"""The unit of extraction: the facts one source file gives, as N-Triples lines.

The extractor works in worker processes; N-Triples text crosses the process boundary cheaply
(pickling pyoxigraph terms costs ~16 µs a quad) and the store parses it in Rust. Every line's
subject is in ``subjects`` (the nodes the file owns, see docs/kg-model.md), which is how the
build later deletes exactly this file's facts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from pyoxigraph import NamedNode

XSD = "http://www.w3.org/2001/XMLSchema#"
RDF_TYPE = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
_NNI = f"^^<{XSD}nonNegativeInteger>"
_BOOL = f"^^<{XSD}boolean>"



def iri(node: NamedNode | str) -> str:
    """``<...>`` form of a node (``str(NamedNode)`` already is)."""
    if isinstance(node, NamedNode):
        return str(node)
    return node if node.startswith("<") else f"<{node}>"


def string(text: str) -> str:
    """An ``xsd:string`` literal in N-Triples syntax. Lone surrogates (from undecodable bytes)
    are replaced so that the line is valid UTF-8."""
    if not text.isascii() and _has_surrogate(text):  # isascii: the common case, no encode
        text = text.encode("utf-8", "replace").decode("utf-8")
    # str.replace beats str.translate several times over on long texts (docs, subject lists).
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r") + '"'


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def integer(n: int) -> str:
    """An ``xsd:nonNegativeInteger`` literal (the one datatype for arities, lines, orders)."""
    if n < 0:
        raise ValueError(f"negative count {n}")
    return f'"{n}"{_NNI}'


def boolean(b: bool) -> str:
    return f'"{"true" if b else "false"}"{_BOOL}'


@dataclass(frozen=True)
class Problem:
    """Why a file (or part of it) could not be read or parsed. Lines/columns are 1-based;
    0 when the problem is about the whole file."""

    message: str
    line: int = 0
    column: int = 0


@dataclass
class FileFacts:
    file: NamedNode
    lines: list[str] = field(default_factory=list)  # N-Triples lines, no trailing newline
    subjects: set[str] = field(default_factory=set)  # IRIs (without <>) the file owns
    status: str = "ok"  # "ok" | "error" (parsed with errors) | "skipped" (not parsed)
    problems: list[Problem] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)  # modules, functions, call_sites, tests
    line_count: int = 0

    def add(self, subject: NamedNode | str, predicate: NamedNode | str, obj: str) -> None:
        """Add one triple; ``obj`` is already in N-Triples form (``iri()``, ``string()``...)."""
        s = iri(subject)
        self.subjects.add(s[1:-1])
        self.lines.append(f"{s} {iri(predicate)} {obj} .")

    def ntriples(self) -> str:
        return "\n".join(self.lines) + ("\n" if self.lines else "")
