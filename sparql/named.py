"""The library of named queries (``sparql/queries/*.rq``) and safe parameter binding.

Owns the header format of a named query, the coercion of user-given parameter values into
RDF terms, and where those terms enter the query (:func:`place_values`). Values are never
pasted into query text as user text: each becomes an RDF term (pyoxigraph escapes a literal,
rejects an invalid IRI) whose serialization fills a VALUES row, so a hostile value cannot
change what a query does.

Header (comment lines at the top of the file)::

    # name: callers
    # description: Which functions call a given function.
    # param: module (string, required) - module of the called function, e.g. Shop.Cart
    # param: transitive (boolean, optional, default false) - also indirect callers

Where the parameters enter, a line of the body names them::

    { SELECT DISTINCT ?module ?m WHERE {
        # @values module
        ?m ec:name ?module . ?m a ec:Module } }

and is replaced by ``VALUES (?module) { ( "Shop.Cart" ) }`` (``UNDEF`` for an optional
parameter the user did not give, which leaves the variable unbound). Why VALUES and not
SEP-0007 substitution: pyoxigraph applies ``substitutions`` as a filter on the solutions, so
the planner does not use the value (a name lookup became a scan: 73 ms vs 0.3 ms on the Elixir
source KG), while a VALUES block at the start of a group is joined first. The line is a SPARQL
comment, so the ``.rq`` file still runs unchanged in any other SPARQL tool (parameters unbound).
A VALUES block does not reach into a subquery: the line goes inside the innermost group where
the variable is first used, and a query may have several. A parameter named on no ``@values``
line is still bound by substitution (then it must be projected).

An optional parameter without a default that the user does not give stays unbound.

Types: ``string`` (xsd:string), ``integer`` (xsd:nonNegativeInteger when >= 0, the KG's type
for arities and counts, else xsd:integer), ``boolean``, ``iri``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pyoxigraph import Literal, NamedNode

QUERY_DIR = Path(__file__).resolve().parent / "queries"
TYPES = ("string", "integer", "iri", "boolean")
_XSD = "http://www.w3.org/2001/XMLSchema#"
_VALUES_LINE = re.compile(r"^([ \t]*)#[ \t]*@values\b(.*)$", re.M)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PARAM = re.compile(r"^(\w+)\s*\((\w+)\s*,\s*(required|optional)(?:\s*,\s*default\s+([^)]*?))?\s*\)\s*(?:-\s*(.*))?$")


class QueryError(ValueError):
    """A named query or its parameters are wrong (the message says how)."""


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    required: bool
    description: str = ""
    default: str | None = None  # bound when the user gives no value


@dataclass(frozen=True)
class NamedQuery:
    name: str
    description: str
    params: tuple[Param, ...]
    text: str
    path: Path | None = None

    def bind(self, values: dict[str, str | int | bool]) -> dict[str, NamedNode | Literal]:
        """User values -> RDF terms, keyed by variable name. Unknown or missing required
        parameters and values of the wrong type raise :class:`QueryError`."""
        declared = {p.name: p for p in self.params}
        unknown = sorted(set(values) - set(declared))
        if unknown:
            raise QueryError(f"query {self.name!r} has no parameter {', '.join(unknown)}; "
                             f"it takes: {', '.join(declared) or 'none'}")
        missing = [p.name for p in self.params if p.required and p.name not in values]
        if missing:
            raise QueryError(f"query {self.name!r} needs parameter {', '.join(missing)} "
                             f"(--param {missing[0]}=VALUE)")
        values = {**{p.name: p.default for p in self.params if p.default is not None}, **values}
        return {k: coerce(declared[k], v) for k, v in values.items()}


def values_names(text: str) -> list[list[str]]:
    """The parameter names of each ``# @values`` line of a query text, in order."""
    return [m.group(2).split() for m in _VALUES_LINE.finditer(text)]


def place_values(text: str, params: Mapping[str, NamedNode | Literal]) -> tuple[str, dict[str, NamedNode | Literal]]:
    """Replace each ``# @values a b`` line with ``VALUES (?a ?b) { ( A B ) }`` where A, B are
    the serialized RDF terms of ``params`` (``UNDEF`` for one not given). Returns the new text
    and the parameters named on no such line (left for substitution).

    Only :class:`NamedNode` and :class:`Literal` values are accepted: their serialization is
    produced by pyoxigraph (escaped literal, validated IRI), never a user's text as given."""
    placed: set[str] = set()

    def row(m: re.Match) -> str:
        names = m.group(2).split()
        bad = [n for n in names if not _NAME.match(n)]
        if not names or bad:
            raise QueryError(f"bad '# @values' line {m.group(0).strip()!r}: expected '# @values NAME ...' "
                             "(parameter names, separated by spaces)")
        terms = []
        for n in names:
            if n not in params or params[n] is None:
                terms.append("UNDEF")
                continue
            term = params[n]
            if not isinstance(term, (NamedNode, Literal)):
                raise TypeError(f"parameter {n}: expected a pyoxigraph NamedNode or Literal, got {type(term).__name__}")
            terms.append(str(term))
        placed.update(names)
        return f"{m.group(1)}VALUES ({' '.join('?' + n for n in names)}) {{ ( {' '.join(terms)} ) }}"

    out = _VALUES_LINE.sub(row, text)
    return out, {k: v for k, v in params.items() if k not in placed}


def coerce(param: Param, value: str | int | bool) -> NamedNode | Literal:
    """One value as the RDF term of the parameter's type."""
    try:
        if param.type == "string":
            return Literal(str(value))
        if param.type == "integer":
            if isinstance(value, bool):
                raise ValueError
            n = int(value) if isinstance(value, int) else int(str(value).strip(), 10)
            # The KG types every arity, line and count as xsd:nonNegativeInteger, and a
            # substituted term must be the same RDF term to match a triple pattern.
            return Literal(str(n), datatype=NamedNode(_XSD + ("nonNegativeInteger" if n >= 0 else "integer")))
        if param.type == "boolean":
            if isinstance(value, bool):
                b = value
            else:
                s = str(value).strip().lower()
                if s not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                b = s in ("true", "1", "yes")
            return Literal("true" if b else "false", datatype=NamedNode(_XSD + "boolean"))
        if param.type == "iri":
            s = str(value).strip()
            if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]*$", s):
                raise ValueError
            return NamedNode(s)
    except ValueError:
        raise QueryError(f"parameter {param.name}: {value!r} is not a valid {param.type}") from None
    raise QueryError(f"parameter {param.name}: unknown type {param.type!r}")


def parse(text: str, path: Path | None = None) -> NamedQuery:
    """A named query from the text of a ``.rq`` file (header + SPARQL)."""
    name = description = None
    params: list[Param] = []
    where = str(path) if path else "query"
    for line in text.splitlines():
        if not line.startswith("#"):
            if line.strip():
                break
            continue
        body = line[1:].strip()
        key, _, value = body.partition(":")
        key, value = key.strip(), value.strip()
        if key == "name":
            name = value
        elif key == "description":
            description = value if description is None else f"{description} {value}"
        elif key == "param":
            m = _PARAM.match(value)
            if not m or m.group(2) not in TYPES:
                raise QueryError(f"{where}: bad param line {line!r}: expected "
                                 f"'# param: NAME (TYPE, required|optional[, default VALUE]) - text', TYPE one of {', '.join(TYPES)}")
            params.append(Param(m.group(1), m.group(2), m.group(3) == "required", (m.group(5) or "").strip(),
                                m.group(4).strip() if m.group(4) else None))
    if not name:
        name = path.stem if path else None
    if not name or not description:
        raise QueryError(f"{where}: a named query needs '# name:' and '# description:' header lines")
    declared = {p.name for p in params}
    for names in values_names(text):
        unknown = [n for n in names if n not in declared]
        if not names or unknown:
            raise QueryError(f"{where}: '# @values' line names {', '.join(unknown) or 'nothing'}: "
                             f"it must list declared parameters ({', '.join(sorted(declared)) or 'none'})")
    return NamedQuery(name, description, tuple(params), text, path)


def load_all(directory: Path = QUERY_DIR) -> dict[str, NamedQuery]:
    """Every named query of the library, by name."""
    out = {}
    for path in sorted(directory.glob("*.rq")):
        q = parse(path.read_text(encoding="utf-8"), path)
        out[q.name] = q
    return out


def get(name: str, directory: Path = QUERY_DIR) -> NamedQuery:
    queries = load_all(directory)
    if name not in queries:
        raise QueryError(f"no named query {name!r}; `elixir-coder query --list` shows them: {', '.join(queries)}")
    return queries[name]


def parse_param_args(items: list[str]) -> dict[str, str]:
    """``["k=v", ...]`` from the command line."""
    out = {}
    for item in items or ():
        k, sep, v = item.partition("=")
        if not sep or not k.strip():
            raise QueryError(f"--param {item!r}: expected NAME=VALUE")
        out[k.strip()] = v
    return out
