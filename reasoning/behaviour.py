"""Behaviour and call validation of one module being written (issue "Reasoning" §3).

Owns :func:`check_module`, the API the decoder calls on complete or partial source of one
module: the source is extracted in memory (kg.extract.extract_source, nothing is written to
the store) and checked against the persistent KG:

* ``missing-callback``: a required callback of a declared behaviour that the module does not
  define (GenServer's stopgap ``init/1`` from ``GenServer.__before_compile__`` does not count);
* ``callback-arity``: a function named like a callback of a declared behaviour, with an arity
  no callback of that name has;
* ``impl-not-callback``: ``@impl true`` / ``@impl B`` on a function that is no callback (of any
  declared behaviour / of B), ``@impl true`` with no behaviour, ``@impl B`` with B undeclared;
* ``undefined-function``: a remote call to a module the KG knows, naming a function it does not
  have (or has private only);
* ``wrong-arity``: a call (remote, or local to a function of this module) with an arity the
  function does not have.

A behaviour or module the KG does not know proves nothing, so it gives no result. What the KG
says is cached per :class:`~sparql.store.KnowledgeGraph` object (callbacks per behaviour,
functions per module), which makes a warm call cost an extraction plus dictionary lookups; call
:func:`clear_cache` after changing the store through that object.
"""

from __future__ import annotations

import difflib
import json
import weakref
from dataclasses import dataclass

import tree_sitter_elixir
from tree_sitter import Language, Parser

from kg.extract import STOPGAP_SUFFIX, FileContext, extract_source
from ontologies import EC, OTP, module_iri

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
_CTX = FileContext("check-module", "0", "module.ex")
# Functions every module has although no source defines them (the compiler adds them).
_IMPLICIT = {("module_info", 0), ("module_info", 1), ("__info__", 1)}


@dataclass(frozen=True)
class Diagnostic:
    """One problem in the checked source: 1-based lines and columns, end exclusive."""

    kind: str
    message: str
    line: int
    column: int
    end_line: int
    end_column: int


# ---- partial source ------------------------------------------------------------------------
_PARSER = Parser(Language(tree_sitter_elixir.language()))
_MAX_ENDS = 8
_MAX_CUT = 3


def complete(source: bytes) -> bytes | None:
    """A version of ``source`` that parses without error, or None.

    The extractor skips a top-level form with a syntax error whole, and a module being written
    is one such form: so an unfinished module is closed by appending ``end`` lines (one per
    open ``do`` block), and if the last lines are an unfinished expression, up to three of them
    are dropped first. Appended text lies after the source, so every line and column of what
    is kept stays the same."""
    if not _PARSER.parse(source).root_node.has_error:
        return source
    lines = source.rstrip(b"\n").split(b"\n")
    for cut in range(0, min(_MAX_CUT, len(lines) - 1) + 1):
        kept = b"\n".join(lines[:len(lines) - cut]) + b"\n"
        for k in range(1, _MAX_ENDS + 1):
            candidate = kept + b"end\n" * k
            if not _PARSER.parse(candidate).root_node.has_error:
                return candidate
    return None


# ---- what the KG says (cached) -----------------------------------------------------------
_CACHES: "weakref.WeakKeyDictionary[object, dict]" = weakref.WeakKeyDictionary()


def clear_cache(kg=None) -> None:
    """Forget what was read from ``kg`` (all KGs when None), e.g. after a build."""
    if kg is None:
        _CACHES.clear()
    else:
        _CACHES.pop(kg, None)


def _cache(kg) -> dict:
    c = _CACHES.get(kg)
    if c is None:
        c = _CACHES[kg] = {"graphs": kg.graphs()}
    return c


def behaviour_callbacks(kg, behaviour: str) -> dict[tuple[str, int], bool] | None:
    """``{(name, arity): optional}`` of a behaviour, None when the KG has no callback of it."""
    c = _cache(kg)
    key = ("cb", behaviour)
    if key not in c:
        # the IRI is minted (percent-encoded) by module_iri, so it is safe in the text
        rows = kg.query(f"""SELECT ?n ?a ?o WHERE {{ ?cb <{OTP.callbackOf.value}> {module_iri(behaviour)} ; <{EC.name.value}> ?n ;
                                                   <{EC.arity.value}> ?a .
                                               OPTIONAL {{ ?cb <{OTP.optional.value}> ?o }} }}""",
                        graphs=c["graphs"])
        out = {(r["n"].value, int(r["a"].value)): (r["o"] is not None and r["o"].value == "true") for r in rows}
        c[key] = out or None
    return c[key]


def module_functions(kg, module: str) -> dict[tuple[str, int], bool] | None:
    """``{(name, arity): public}`` of a module, None when the KG does not know the module."""
    c = _cache(kg)
    key = ("fn", module)
    if key not in c:
        m = module_iri(module)
        known = bool(kg.query(f"ASK {{ {m} a <{EC.Module.value}> }}", graphs=c["graphs"]))
        if not known:
            c[key] = None
        else:
            rows = kg.query(f"""SELECT ?n ?a ?v WHERE {{ ?f <{EC.inModule.value}> {m} ; <{EC.kind.value}> ?k ;
                                       <{EC.name.value}> ?n ; <{EC.arity.value}> ?a .
                                       OPTIONAL {{ ?f <{EC.visibility.value}> ?v }} }}""",
                            graphs=c["graphs"])
            out = {k: True for k in _IMPLICIT}
            for r in rows:
                k = (r["n"].value, int(r["a"].value))
                out[k] = out.get(k, False) or r["v"] is None or r["v"].value == "public"
            c[key] = out
    return c[key]


# ---- the source's facts ----------------------------------------------------------------------
_NEEDED = {t.value for t in (EC.name, EC.arity, EC.inModule, EC.generator, EC.generated, EC.hasSpan,
                             EC.startLine, EC.startColumn, EC.endLine, EC.endColumn, EC.calledName,
                             EC.callArity, EC.calledModule, EC.candidateTarget, EC.inModuleBody,
                             EC.inClause, EC.inFunction, EC.implementsProtocol, EC.structOf,
                             OTP.implementsBehaviour, OTP.hasImpl, OTP.implValue)}
_CLASSES = {t.value for t in (EC.Module, EC.Function, EC.CallSite, EC.RemoteCall, EC.Exception)}


def _term(obj: str) -> str:
    """The value of an N-Triples object as the extractor writes it (kg/facts.py)."""
    if obj.startswith("<"):
        return obj[1:-1]
    text = obj[1:obj.rindex('"')]
    # N-Triples string escapes (\" \\ \n \uXXXX) are JSON's; everything else is as written
    return json.loads(f'"{text}"') if "\\" in text else text


class _Facts:
    """The extracted triples indexed by subject. The N-Triples lines are split by hand, and
    only the predicates the checks read are kept: a full RDF parse cost more than the
    extraction itself."""

    def __init__(self, lines: list[str]):
        self.by_s: dict[str, dict[str, list[str]]] = {}
        self.types: dict[str, list[str]] = {}
        for line in lines:
            s, p, rest = line.split(" ", 2)
            p = p[1:-1]
            if p == RDF_TYPE:
                o = rest[1:-3]
                if o in _CLASSES:
                    self.types.setdefault(o, []).append(s[1:-1])
                    self.by_s.setdefault(s[1:-1], {}).setdefault(p, []).append(o)
            elif p in _NEEDED:
                self.by_s.setdefault(s[1:-1], {}).setdefault(p, []).append(_term(rest[:-2]))

    def one(self, s: str, p) -> str | None:
        v = self.by_s.get(s, {}).get(p.value)
        return v[0] if v else None

    def all(self, s: str, p) -> list[str]:
        return list(self.by_s.get(s, {}).get(p.value, ()))

    def typed(self, cls) -> list[str]:
        return list(dict.fromkeys(self.types.get(cls.value, ())))

    def span(self, s: str, max_line: int) -> tuple[int, int, int, int]:
        sp = self.one(s, EC.hasSpan)
        if sp is None:
            return (1, 1, 1, 1)
        sl, sc, el, ec_ = (int(self.one(sp, p) or 1) for p in (EC.startLine, EC.startColumn, EC.endLine, EC.endColumn))
        if el > max_line:  # the span reaches into the appended `end`s: stop at the source's end
            el, ec_ = max_line, 10**6
        return sl, sc, el, ec_


def _fmt_arities(arities) -> str:
    a = sorted(arities)
    return " or ".join(str(x) for x in a) + (" argument" if a == [1] else " arguments")


def check_module(kg, source: str | bytes) -> list[Diagnostic]:
    """Check complete or partial source of one module against ``kg`` (see module doc)."""
    src = source.encode() if isinstance(source, str) else source
    lines = src.split(b"\n")
    max_line = len(lines) if not src.endswith(b"\n") else len(lines) - 1
    line_len = [len(x.decode("utf-8", "replace")) for x in lines]
    fixed = complete(src)
    facts_obj = extract_source(fixed if fixed is not None else src, _CTX)
    facts = _Facts(facts_obj.lines)
    out: list[Diagnostic] = []

    def diag(kind, msg, span):
        sl, sc, el, ec_ = span
        if ec_ == 10**6:
            ec_ = line_len[el - 1] + 1 if 0 < el <= len(line_len) else 1
        out.append(Diagnostic(kind, msg, sl, sc, el, ec_))

    modules = {s: facts.one(s, EC.name) for s in facts.typed(EC.Module)}
    if fixed is None and facts_obj.problems:
        # Not even closing blocks made it parse: say so (what could be read is still checked).
        p = facts_obj.problems[0]
        what = "no module could be read" if not modules else "only the forms without syntax errors were checked"
        diag("syntax", f"{what}: {p.message} (line {p.line}, column {p.column}); fix the syntax there",
             (max(p.line, 1), max(p.column, 1), max(p.line, 1), max(p.column, 1) + 1))
    if not modules:
        return out
    own_names = set(modules.values())
    exceptions = {facts.one(x, EC.structOf) for x in facts.typed(EC.Exception)}
    # functions of each module of the source: (name, arity) -> subject
    funcs: dict[str, dict[tuple[str, int], str]] = {m: {} for m in modules}
    for f in facts.typed(EC.Function):
        m = facts.one(f, EC.inModule)
        if m in funcs:
            funcs[m][(facts.one(f, EC.name), int(facts.one(f, EC.arity)))] = f
    for m, mname in modules.items():
        mine = funcs[m]
        header = facts.span(m, max_line)
        header = (header[0], header[1], header[0], 10**6)  # the `defmodule ... do` line
        # What the compiler takes as declared behaviours besides @behaviour/use: the protocol of
        # a defimpl (its functions are callbacks) and Exception for a defexception.
        behaviours = facts.all(m, OTP.implementsBehaviour) + facts.all(m, EC.implementsProtocol)
        if m in exceptions:
            behaviours.append(module_iri("Exception").value)
        bnames = {b: b.rsplit("/", 1)[-1] for b in behaviours}
        bnames = {b: _unseg(n) for b, n in bnames.items()}
        known = {b: behaviour_callbacks(kg, n) for b, n in bnames.items()}
        all_cb = {k for cbs in known.values() if cbs for k in cbs}
        real = {k for k, f in mine.items() if not (facts.one(f, EC.generator) or "").endswith(STOPGAP_SUFFIX)}
        for b, cbs in known.items():
            if not cbs:
                continue
            for (n, a), optional in sorted(cbs.items()):
                if not optional and (n, a) not in real:
                    diag("missing-callback",
                         f"{mname} declares behaviour {bnames[b]} but does not define its required callback "
                         f"{n}/{a}: add `@impl true` and `def {n}/{a}`", header)
        # callback names with an arity no callback of that name has
        cb_arities: dict[str, set[int]] = {}
        for n, a in all_cb:
            cb_arities.setdefault(n, set()).add(a)
        def same_def(n, a, f):
            # the arities of one def with defaults share its span (`def get(k, o \\ [])`: 1, 2)
            span_f = facts.one(f, EC.hasSpan)
            return {(n, a)} | {k for k, f2 in mine.items()
                               if k[0] == n and span_f and facts.one(f2, EC.hasSpan) == span_f}

        for (n, a), f in sorted(mine.items()):
            if (n in cb_arities and a not in cb_arities[n] and not facts.one(f, EC.generated)
                    and not any(k[1] in cb_arities[n] for k in same_def(n, a, f))):
                owners = sorted(bnames[b] for b, cbs in known.items() if cbs and any(k[0] == n for k in cbs))
                diag("callback-arity",
                     f"{n}/{a} has the name of a callback of {', '.join(owners)}, which takes "
                     f"{_fmt_arities(cb_arities[n])}: {n}/{a} is not called as a callback; fix the arity",
                     facts.span(f, max_line))
        # @impl
        for (n, a), f in sorted(mine.items()):
            # before a head with defaults only the full arity gets the @impl; it is right when
            # any arity of that def is a callback
            arities = same_def(n, a, f)
            for d in facts.all(f, OTP.hasImpl):
                v = facts.one(d, OTP.implValue)
                span = facts.span(d, max_line)
                if v == "false":
                    continue
                if v == "true":
                    if not behaviours:
                        diag("impl-not-callback", f"@impl true on {n}/{a}, but {mname} declares no behaviour: "
                             "add the @behaviour (or `use`) or remove the @impl", span)
                    elif all(known.values()) and not (arities & all_cb):
                        diag("impl-not-callback", f"@impl true on {n}/{a}, which is no callback of "
                             f"{', '.join(sorted(bnames.values()))}: remove the @impl or fix the name/arity", span)
                    continue
                if v not in bnames.values():
                    diag("impl-not-callback", f"@impl {v} on {n}/{a}, but {mname} does not declare behaviour {v}: "
                         f"add `@behaviour {v}` or fix the @impl", span)
                    continue
                cbs = behaviour_callbacks(kg, v)
                if cbs and not (arities & set(cbs)):
                    diag("impl-not-callback", f"@impl {v} on {n}/{a}, which is no callback of {v}: "
                         "remove the @impl or fix the name/arity", span)
    # calls
    for c in facts.typed(EC.CallSite):
        name, arity = facts.one(c, EC.calledName), facts.one(c, EC.callArity)
        if name is None or arity is None:
            continue
        arity = int(arity)
        mod = facts.one(c, EC.calledModule)
        types = set(facts.by_s.get(c, {}).get(RDF_TYPE, ()))
        span = facts.span(c, max_line)
        if span[3] == 10**6:
            continue  # the call runs into the appended `end`s (`Mod.` being typed): not written yet
        if EC.RemoteCall.value in types and mod is not None:
            if mod in own_names:
                continue  # the module is being written: what it will define is not known yet
            fns = module_functions(kg, mod)
            if fns is None or (name, arity) in fns and fns[(name, arity)]:
                continue
            shown = mod if not mod.startswith(":") else mod
            if (name, arity) in fns:
                diag("undefined-function", f"{shown}.{name}/{arity} is private: {shown} does not export it", span)
                continue
            arities = {a for (n, a), pub in fns.items() if n == name and pub}
            if arities:
                diag("wrong-arity", f"{shown}.{name}/{arity} does not exist: {shown}.{name} takes "
                     f"{_fmt_arities(arities)}", span)
            else:
                near = difflib.get_close_matches(name, sorted({n for (n, _), pub in fns.items() if pub}), n=3)
                hint = f" (did you mean {', '.join(f'{shown}.{x}' for x in near)}?)" if near else ""
                diag("undefined-function", f"{shown}.{name}/{arity} does not exist: {shown} has no function "
                     f"{name}{hint}", span)
        elif mod is None and EC.RemoteCall.value not in types:
            # a call without module (local, or taken for an import when the module has no
            # function of that arity) to a function of the enclosing module with another
            # arity, that no candidate (the module, Kernel, imports) has
            owner = _call_module(facts, c)
            if owner is None:
                continue
            arities = {a for (n, a) in funcs.get(owner, {}) if n == name}
            if not arities or arity in arities:
                continue
            if any(_exists(kg, t) for t in facts.all(c, EC.candidateTarget)):
                continue
            diag("wrong-arity", f"{name}/{arity} is not defined: {modules[owner]}.{name} takes "
                 f"{_fmt_arities(arities)}", span)
    out.sort(key=lambda d: (d.line, d.column, d.kind))
    return out


def _unseg(seg: str) -> str:
    from urllib.parse import unquote

    return unquote(seg)


def _call_module(facts: _Facts, call: str) -> str | None:
    m = facts.one(call, EC.inModuleBody)
    if m:
        return m
    cl = facts.one(call, EC.inClause)
    if cl:
        f = facts.one(cl, EC.inFunction)
        return facts.one(f, EC.inModule) if f else None
    return None


def _exists(kg, target: str) -> bool:
    """Whether a candidate function IRI (``…/function/M/name/arity``) exists in the KG."""
    from urllib.parse import unquote

    parts = target.rsplit("/", 3)
    if len(parts) != 4:
        return False
    _, m, n, a = parts
    fns = module_functions(kg, unquote(m))
    return bool(fns) and (unquote(n), int(a)) in fns
