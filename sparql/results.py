"""Writing query results for people (an aligned text table) and for programs (the W3C SPARQL
1.1 results formats JSON, CSV and TSV, serialized by pyoxigraph itself).

Owns nothing but presentation: the query already ran.
"""

from __future__ import annotations

from typing import BinaryIO

import pyoxigraph as ox

from ontologies import PREFIXES

FORMATS = ("table", "json", "csv", "tsv")
_W3C = {"json": ox.QueryResultsFormat.JSON, "csv": ox.QueryResultsFormat.CSV, "tsv": ox.QueryResultsFormat.TSV}
# Longest namespace first so that id: wins over a shorter prefix of it.
_COMPACT = sorted(((iri, p) for p, iri in PREFIXES.items()), key=lambda x: -len(x[0]))


def write(results, fmt: str, out: BinaryIO, limit: int | None = None) -> int:
    """Write ``results`` (solutions, a boolean, or triples) to ``out``; returns the row count
    (-1 for the streamed W3C formats). ``limit`` caps the rows of the table format."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown result format {fmt!r} (one of {', '.join(FORMATS)})")
    if isinstance(results, ox.QueryTriples):
        # CONSTRUCT/DESCRIBE: a graph, not a table; N-Triples is the plain-text graph format.
        triples = list(results)
        ox.serialize(triples, out, ox.RdfFormat.N_TRIPLES)
        return len(triples)
    if fmt != "table":
        results.serialize(out, _W3C[fmt])
        return -1  # streamed: not counted
    if isinstance(results, ox.QueryBoolean):
        out.write(b"true\n" if bool(results) else b"false\n")
        return 1
    header = [v.value for v in results.variables]
    rows, more = [], 0
    for row in results:
        if limit is not None and len(rows) >= limit:
            more += 1
            continue
        rows.append([term_text(row[i]) for i in range(len(header))])
    out.write(table(header, rows).encode("utf-8"))
    if more:
        out.write(f"({more} more row{'s' if more != 1 else ''} not shown: --limit {limit})\n".encode("utf-8"))
    return len(rows)


def term_text(term) -> str:
    """A term as a person reads it: literal values bare, IRIs compacted with known prefixes."""
    if term is None:
        return ""
    if isinstance(term, ox.NamedNode):
        for iri, prefix in _COMPACT:
            if term.value.startswith(iri):
                return f"{prefix}:{term.value[len(iri):]}"
        return f"<{term.value}>"
    if isinstance(term, ox.BlankNode):
        return f"_:{term.value}"
    if isinstance(term, ox.Literal):
        return term.value
    return str(term)


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    def line(cells):
        return "  ".join(c.replace("\n", " ").ljust(w) for c, w in zip(cells, widths)).rstrip() + "\n"
    out = [line(header), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})\n")
    return "".join(out)

