"""Facts about the installed Elixir and OTP: what the BEAM itself says its apps contain.

Owns the translation of the sidecar's introspection (kg/sidecar.py, op ``app`` and
``introspect``) into N-Triples in the vocabulary of docs/kg-model.md, one named graph per
``app@version``: modules (Erlang ones named ``:ets``), exported functions and macros with
arity and kind, docs (and hidden docs), specs, deprecations, the callbacks each behaviour
defines (optional or required) and the behaviours each module implements. It also splits the
doctests of a module's docs into (expression, expected) pairs (:func:`doctests`); those are not
written to the graph yet (the testing ontology has no terms for them).

The store is not touched here (kg never imports sparql): elixir_coder/commands/stdlib.py puts
the text into a graph.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kg.facts import RDF_TYPE, boolean, integer, iri, string
from kg.sidecar import Sidecar, shared
from ontologies import EC, OTP, beam_graph_iri, callback_iri, function_iri, module_iri, project_iri

#: What `kg stdlib` introspects when no app is named: Elixir's own apps and OTP's core.
DEFAULT_APPS = ("elixir", "eex", "ex_unit", "iex", "logger", "mix", "kernel", "stdlib")

#: Modules per sidecar request: small enough for steady progress, big enough to be cheap.
BATCH = 40


class AppNotInstalled(LookupError):
    """The BEAM cannot load an application of that name."""

    def __init__(self, app: str, message: str):
        super().__init__(message)
        self.app = app


@dataclass
class AppFacts:
    """The facts of one application, ready for one named graph."""

    app: str
    version: str
    graph: str  # graph IRI (no <>)
    lines: list[str] = field(default_factory=list)
    modules: int = 0
    functions: int = 0
    callbacks: int = 0
    missing: list[tuple[str, str]] = field(default_factory=list)  # (module, why) not loadable
    seconds: float = 0.0

    def ntriples(self) -> str:
        return "\n".join(self.lines) + ("\n" if self.lines else "")

    @property
    def triples(self) -> int:
        return len(self.lines)

    def summary(self) -> dict:
        return {"app": self.app, "version": self.version, "graph": self.graph, "modules": self.modules,
                "functions": self.functions, "callbacks": self.callbacks, "triples": self.triples,
                "missing_modules": [m for m, _ in self.missing], "seconds": round(self.seconds, 3)}


_A = RDF_TYPE
_T = {name: iri(node) for name, node in {
    "Module": EC.Module, "CodeElement": EC.CodeElement, "CallTarget": EC.CallTarget,
    "Protocol": EC.Protocol, "ProtocolImplementation": EC.ProtocolImplementation,
    "Function": EC.Function, "Spec": EC.Spec, "Project": EC.Project,
    "Behaviour": OTP.Behaviour, "Callback": OTP.Callback, "MacroCallback": OTP.MacroCallback,
}.items()}
_P = {name: iri(node) for name, node in {
    "name": EC.name, "arity": EC.arity, "kind": EC.kind, "visibility": EC.visibility,
    "inModule": EC.inModule, "operator": EC.operator, "doc": EC.doc, "docHidden": EC.docHidden,
    "moduledoc": EC.moduledoc, "moduledocHidden": EC.moduledocHidden, "deprecated": EC.deprecated,
    "hasSpec": EC.hasSpec, "specOf": EC.specOf, "specText": EC.specText,
    "delegatesTo": EC.delegatesTo, "implementsProtocol": EC.implementsProtocol, "forType": EC.forType,
    "projectName": EC.projectName, "projectVersion": EC.projectVersion,
    "callbackOf": OTP.callbackOf, "optional": OTP.optional, "implementsBehaviour": OTP.implementsBehaviour,
}.items()}
_TRUE = boolean(True)
_PUBLIC = string("public")
_KINDS = {"def": string("def"), "defmacro": string("defmacro")}


def module_ntriples(info: dict) -> tuple[list[str], int, int]:
    """N-Triples lines for one introspected module (a dict from :meth:`Sidecar.introspect`).
    Returns (lines, functions, callbacks). Every subject is an entity the app defines: the
    module, its functions and callbacks, and their specs (``<function>#spec-N``: a stdlib spec
    has no source file to hang a node under)."""
    out: list[str] = []

    def add(s: str, p: str, o: str) -> None:
        out.append(f"{s} {p} {o} .")

    name = info["name"]
    m = iri(module_iri(name))
    for t in ("Module", "CodeElement", "CallTarget"):
        add(m, _A, _T[t])
    add(m, _P["name"], string(name))
    if info.get("moduledoc_hidden"):
        add(m, _P["moduledocHidden"], _TRUE)
    elif info.get("moduledoc"):
        add(m, _P["moduledoc"], string(info["moduledoc"]))
    if info.get("protocol"):
        add(m, _A, _T["Protocol"])
    impl = info.get("impl")
    if impl:
        add(m, _A, _T["ProtocolImplementation"])
        add(m, _P["implementsProtocol"], iri(module_iri(impl["protocol"])))
        add(m, _P["forType"], string(impl["for"]))
    for b in info.get("behaviours") or ():
        add(m, _P["implementsBehaviour"], iri(module_iri(b)))

    def specs(owner: str, texts: list[str]) -> None:
        for i, text in enumerate(texts, 1):
            s = f"<{owner[1:-1]}#spec-{i}>"
            add(owner, _P["hasSpec"], s)
            add(s, _A, _T["Spec"])
            add(s, _P["specText"], string(text))
            add(s, _P["specOf"], owner)
            add(s, _P["inModule"], m)

    nfun = 0
    for f in info.get("functions") or ():
        fs = iri(function_iri(name, f["name"], f["arity"]))
        for t in ("Function", "CodeElement", "CallTarget"):
            add(fs, _A, _T[t])
        add(fs, _P["name"], string(f["name"]))
        add(fs, _P["arity"], integer(f["arity"]))
        add(fs, _P["kind"], _KINDS[f["kind"]])
        add(fs, _P["visibility"], _PUBLIC)
        add(fs, _P["inModule"], m)
        if f.get("operator"):
            add(fs, _P["operator"], _TRUE)
        if f.get("doc_hidden"):
            add(fs, _P["docHidden"], _TRUE)
        elif f.get("doc"):
            add(fs, _P["doc"], string(f["doc"]))
        if f.get("deprecated"):
            add(fs, _P["deprecated"], string(f["deprecated"]))
        if f.get("delegate_to"):
            add(fs, _P["delegatesTo"], string(f["delegate_to"]))
        specs(fs, f.get("specs") or [])
        nfun += 1

    ncb = 0
    for c in info.get("callbacks") or ():
        cs = iri(callback_iri(name, c["name"], c["arity"]))
        add(cs, _A, _T["Callback"])
        add(cs, _A, _T["CodeElement"])
        if c["kind"] == "macrocallback":
            add(cs, _A, _T["MacroCallback"])
        add(cs, _P["name"], string(c["name"]))
        add(cs, _P["arity"], integer(c["arity"]))
        add(cs, _P["callbackOf"], m)
        add(cs, _P["optional"], boolean(bool(c.get("optional"))))
        if c.get("doc_hidden"):
            add(cs, _P["docHidden"], _TRUE)
        elif c.get("doc"):
            add(cs, _P["doc"], string(c["doc"]))
        specs(cs, c.get("specs") or [])
        ncb += 1
    if ncb:
        add(m, _A, _T["Behaviour"])
    return out, nfun, ncb


def app_modules(app: str, sidecar: Sidecar | None = None) -> tuple[str, list[str]]:
    """(version, module names) of an installed application. Raises :class:`AppNotInstalled`."""
    info = (sidecar or shared()).app(app)
    if not info.get("found"):
        raise AppNotInstalled(app, info.get("message") or f"application {app} is not installed")
    return info["version"], list(info["modules"])


def app_facts(app: str, sidecar: Sidecar | None = None, *, modules: Iterable[str] | None = None,
              progress: Callable[[int, int], None] | None = None) -> AppFacts:
    """Introspect one installed application into :class:`AppFacts`.

    ``modules`` keeps only those of the app's modules (names as ``Enum`` / ``:ets``), e.g. for
    a quick look at one behaviour. ``progress(done, total)`` is called after each batch."""
    sc = sidecar or shared()
    started = time.monotonic()
    version, names = app_modules(app, sc)
    if modules is not None:
        wanted = set(modules)
        unknown = sorted(wanted - set(names))
        if unknown:
            raise LookupError(f"application {app} has no module {', '.join(unknown)}")
        names = [n for n in names if n in wanted]
    g = beam_graph_iri(app, version)
    facts = AppFacts(app, version, g.value)
    p = iri(project_iri(app, version))
    facts.lines += [f"{p} {_A} {_T['Project']} .", f"{p} {_P['projectName']} {string(app)} .",
                    f"{p} {_P['projectVersion']} {string(version)} ."]
    done = 0
    for i in range(0, len(names), BATCH):
        batch = names[i:i + BATCH]
        for info in sc.introspect(batch, timeout=120):
            if info.get("missing"):
                facts.missing.append((info["name"], info.get("reason", "")))
                continue
            lines, nf, nc = module_ntriples(info)
            facts.lines += lines
            facts.modules += 1
            facts.functions += nf
            facts.callbacks += nc
        done += len(batch)
        if progress is not None:
            progress(done, len(names))
    facts.seconds = time.monotonic() - started
    return facts


# ---- doctests ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Doctest:
    """One ``iex>`` example: the expression (continuation lines joined with newlines) and the
    expected output as written (``None`` when the example states none; an exception is
    written ``** (ArgumentError) ...``)."""

    module: str
    function: str | None  # "map/2" for a function's doc, None for the moduledoc
    expression: str
    expected: str | None


_PROMPT = re.compile(r"^(\s*)iex(?:\(\d+\))?>\s?(.*)$")
_CONT = re.compile(r"^\s*\.\.\.(?:\(\d+\))?>\s?(.*)$")


def split_doctests(text: str) -> list[tuple[str, str | None]]:
    """(expression, expected) pairs of a doc text, following ExUnit.DocTest's reading: a
    prompt ``iex>`` (or ``iex(1)>``), its ``...>`` continuation lines, then the expected
    lines up to a blank line or the next prompt."""
    pairs: list[tuple[str, str | None]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _PROMPT.match(lines[i])
        if not m:
            i += 1
            continue
        indent = len(m.group(1))
        expr = [m.group(2)]
        i += 1
        while i < len(lines) and (c := _CONT.match(lines[i])):
            expr.append(c.group(1))
            i += 1
        expected = []
        while i < len(lines) and lines[i].strip() and not _PROMPT.match(lines[i]):
            line = lines[i]
            expected.append(line[indent:] if line[:indent].strip() == "" else line.strip())
            i += 1
        pairs.append(("\n".join(expr), "\n".join(expected) if expected else None))
    return pairs


def doctests(module: str, sidecar: Sidecar | None = None) -> list[Doctest]:
    """The doctests of an installed module's moduledoc and function/macro docs, in doc order
    (moduledoc first, then functions by name and arity). Raises LookupError when the module
    cannot be loaded."""
    info = (sidecar or shared()).introspect([module])[0]
    if info.get("missing"):
        raise LookupError(f"module {module} is not available: {info.get('reason')}")
    out = [Doctest(module, None, e, x) for e, x in split_doctests(info.get("moduledoc") or "")]
    for f in info.get("functions") or ():
        for e, x in split_doctests(f.get("doc") or ""):
            out.append(Doctest(module, f"{f['name']}/{f['arity']}", e, x))
    return out


__all__ = ["DEFAULT_APPS", "AppFacts", "AppNotInstalled", "Doctest", "app_facts", "app_modules",
           "module_ntriples", "split_doctests", "doctests"]
