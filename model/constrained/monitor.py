"""The KG monitor: monitor-guided decoding against the knowledge graph.

Owns the per-generation view of the KG a decoder needs and the checks it makes while text is
written:

* after ``Alias.`` where ``Alias`` resolves (through the prompt's ``alias`` lines, else as a
  full name) to a module the KG has, only continuations of that module's public function names
  are allowed; a name that ends and is no function of the module is refused;
* the arity of a finished remote call ``Mod.fun(a, b)`` is checked (a ``,`` beyond the largest
  arity and a ``)`` with an arity the KG lacks are refused);
* in a module that declares a behaviour (``@behaviour B`` / ``use GenServer`` ...),
  ``@impl true`` (or ``@impl B``) followed by ``def`` allows only that behaviour's callback
  names, and the callback's arity at the closing parenthesis;
* when the text may end (:meth:`KGMonitor.allow_eos`), missing required callbacks are found with
  :func:`reasoning.behaviour.check_module` and kept in :attr:`KGMonitor.reports` for the
  repair step (they do not block the end: the repair step re-generates with them as context).

What the KG says is read with SPARQL (``reasoning.behaviour.module_functions`` /
``behaviour_callbacks``) once per module per generation and kept in the monitor's own dict:
no store access per token. Each check works on a copy of a small state (the syntax machine
from :mod:`model.constrained.syntax`, the last few hundred characters, the open calls).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from model.constrained.syntax import WORD, ElixirPrefix

_ALIAS = re.compile(r"^\s*alias\s+([A-Z][\w.]*?)(?:\.\{([^}]*)\})?(?:\s*,\s*as:\s*([A-Z]\w*))?\s*$", re.M)
_BEHAVIOUR = re.compile(r"^\s*@behaviour\s+([A-Z][\w.]*)", re.M)
_USE = re.compile(r"^\s*use\s+(GenServer|Supervisor|Agent|Task|Application|GenStateMachine|DynamicSupervisor)\b", re.M)
_REMOTE = re.compile(r"(?<![\w.:@])((?:[A-Z]\w*\.)*[A-Z]\w*)\.([a-z_]\w*[?!]?)?$")
_ERLANG = re.compile(r"(?<![\w.])(:[a-z_]\w*)\.([a-z_]\w*)?$")
_IMPL = re.compile(r"@impl\s+(true|[A-Z][\w.]*)\s*\n\s*(?:@\w+[^\n]*\n\s*)*defp?\s+([a-z_]\w*[?!]?)?$")


@dataclass
class Call:
    kind: str           # "remote" | "callback"
    module: str
    name: str
    depth: int          # stack depth inside the call's parenthesis
    commas: int = 0
    content: bool = False


@dataclass
class _State:
    prefix: ElixirPrefix
    tail: str = ""
    calls: list = field(default_factory=list)
    pending_impl: str | None = None  # behaviour of an @impl seen, until its def

    def copy(self) -> "_State":
        return _State(self.prefix.copy(), self.tail, [Call(**c.__dict__) for c in self.calls], self.pending_impl)


class KGMonitor:
    """One generation's monitor. ``prompt`` is the text before the generated part."""

    TAIL = 400

    def __init__(self, kg, prompt: str, *, cache: dict | None = None):
        self.kg = kg
        self.prompt = prompt
        self.cache = cache if cache is not None else {}
        self.aliases = parse_aliases(prompt)
        self.text_parts = [prompt]
        self.state = _State(ElixirPrefix())
        self.state.prefix.feed(prompt)
        self.state.tail = prompt[-self.TAIL:]
        self.reports: list = []
        self.refused = 0
        self.stats = {"queries": 0}

    # ---- what the KG says (per-generation cache) -------------------------------------------
    def functions(self, module: str) -> dict[str, set[int]] | None:
        key = ("fn", module)
        if key not in self.cache:
            from reasoning.behaviour import module_functions
            self.stats["queries"] += 1
            fns = module_functions(self.kg, module) if self.kg is not None else None
            if fns is None:
                self.cache[key] = None
            else:
                out: dict[str, set[int]] = {}
                for (n, a), public in fns.items():
                    if public:
                        out.setdefault(n, set()).add(a)
                self.cache[key] = out
        return self.cache[key]

    def submodules(self, module: str) -> bool:
        """Whether the KG has modules nested in ``module`` (``Module.Sub``)."""
        key = ("sub", module)
        if key not in self.cache:
            from ontologies import EC
            self.stats["queries"] += 1
            rows = self.kg.query(f"""SELECT ?n WHERE {{ ?m a <{EC.Module.value}> ; <{EC.name.value}> ?n .
                                     FILTER(STRSTARTS(?n, {json.dumps(module + ".")})) }} LIMIT 1""")
            self.cache[key] = bool(list(rows))
        return self.cache[key]

    def callbacks(self, behaviour: str) -> dict[str, set[int]] | None:
        key = ("cb", behaviour)
        if key not in self.cache:
            from reasoning.behaviour import behaviour_callbacks
            self.stats["queries"] += 1
            cbs = behaviour_callbacks(self.kg, behaviour) if self.kg is not None else None
            out = None
            if cbs:
                out = {}
                for (n, a) in cbs:
                    out.setdefault(n, set()).add(a)
            self.cache[key] = out
        return self.cache[key]

    def resolve(self, alias: str) -> str:
        head, _, rest = alias.partition(".")
        full = self.aliases.get(head)
        if full:
            return full + ("." + rest if rest else "")
        return alias

    def behaviours(self, text: str) -> list[str]:
        out = [self.resolve(b) for b in _BEHAVIOUR.findall(text)]
        out += _USE.findall(text)
        return list(dict.fromkeys(out))

    # ---- incremental checking --------------------------------------------------------------
    def text(self) -> str:
        if len(self.text_parts) > 1:
            self.text_parts = ["".join(self.text_parts)]
        return self.text_parts[0]

    def advance(self, text: str) -> None:
        """The decoder chose ``text``: move on (a violation here is counted, not raised)."""
        if not self._feed(self.state, text):
            self.refused += 1
        self.text_parts.append(text)
        self._sensitive = None

    _sensitive: bool | None = None

    def sensitive(self) -> bool:
        """Whether the state is inside something the KG checks (an open call, ``Alias.``, a
        name being written after ``Alias.`` or ``@impl ... def``)."""
        if self._sensitive is None:
            st = self.state
            self._sensitive = bool(st.calls) or bool(_REMOTE.search(st.tail[-120:])) or \
                bool(_IMPL.search(st.tail[-160:]))
        return self._sensitive

    def ok(self, text: str) -> bool:
        """Would appending ``text`` keep every KG check satisfied? Outside anything the KG
        checks, a token without ``.``, ``(`` or ``def`` cannot break a check: no simulation."""
        if not self.sensitive() and "." not in text and "(" not in text and "def" not in text:
            return True
        return self._feed(self.state.copy(), text)

    def filter(self, allowed: list[int], texts: list) -> list[int]:
        return [t for t in allowed if texts[t] is None or self.ok(texts[t])]

    def allow_eos(self, text: str) -> bool:
        """Called where the text may end: report missing callbacks (never blocks)."""
        if self.kg is None or not self.behaviours(text):
            return True
        try:
            from reasoning.behaviour import check_module
            diags = check_module(self.kg, text)
        except Exception as e:  # a check that cannot run proves nothing
            self.reports = [("error", str(e))]
            return True
        self.reports = [d for d in diags if d.kind == "missing-callback"]
        return True

    def _feed(self, st: _State, text: str) -> bool:
        for ch in text:
            if not self._char(st, ch):
                return False
        return True

    def _char(self, st: _State, ch: str) -> bool:
        p = st.prefix
        in_code_before = not p.in_string and not p.comment and not p.charlit
        depth_before = p.depth
        if not p.feed(ch):
            return True  # syntax is the syntax processor's business
        st.tail = (st.tail + ch)[-self.TAIL:]
        if not in_code_before:
            return True
        # arguments of open calls
        if st.calls:
            c = st.calls[-1]
            if p.depth < c.depth:  # the call's ")" closed it
                st.calls.pop()
                arity = c.commas + 1 if c.content else 0
                arities = self._arities(c)
                if arities is not None and arity not in arities:
                    return False
            elif p.depth == c.depth and depth_before == c.depth and ch == ",":
                c.commas += 1
                arities = self._arities(c)
                if arities is not None and arities and c.commas + 1 > max(arities):
                    return False
            elif ch not in " \t\n" and not (ch == "(" and depth_before < c.depth):
                c.content = True
        if not (ch == "_" or "a" <= ch <= "z"):
            m = _REMOTE.search(st.tail[-120:-1])
            if m and m.group(2) is None:
                module = self.resolve(m.group(1))
                if self.functions(module) is not None and not (ch.isupper() and self.submodules(module)):
                    return False  # after `Known.` comes a function name (or a nested alias it has)
        if ch in WORD or ch in "?!":
            return self._check_name(st, partial=True)
        if True:  # any other character ends the name: it must be a whole one
            before = st.tail[:-1]
            ok = self._check_name(st, partial=False, tail=before)
            if not ok:
                return False
            if ch == "(":
                call = self._call_at(st, before)
                if call is not None:
                    call.depth = p.depth
                    st.calls.append(call)
        return True

    def _arities(self, c: Call) -> set[int] | None:
        if c.kind == "remote":
            fns = self.functions(c.module)
        else:
            fns = self.callbacks(c.module)
        if fns is None:
            return None
        return fns.get(c.name)

    def _check_name(self, st: _State, *, partial: bool, tail: str | None = None) -> bool:
        tail = st.tail if tail is None else tail
        m = _REMOTE.search(tail[-120:])
        if m and m.group(2):
            module = self.resolve(m.group(1))
            fns = self.functions(module)
            if fns is not None:
                name = m.group(2)
                if partial:
                    return any(n.startswith(name) for n in fns)
                return name in fns
        m = _IMPL.search(tail[-160:])
        if m and m.group(2):
            cbs = self._impl_callbacks(m.group(1))
            if cbs is not None:
                name = m.group(2)
                if partial:
                    return any(n.startswith(name) for n in cbs)
                return name in cbs
        return True

    def _impl_callbacks(self, which: str) -> dict[str, set[int]] | None:
        behaviours = self.behaviours(self.text()) if which == "true" else [self.resolve(which)]
        out: dict[str, set[int]] = {}
        known = False
        for b in behaviours:
            cbs = self.callbacks(b)
            if cbs:
                known = True
                for n, ar in cbs.items():
                    out.setdefault(n, set()).update(ar)
        return out if known else None

    def _call_at(self, st: _State, before: str) -> Call | None:
        m = _REMOTE.search(before[-120:])
        if m and m.group(2):
            module = self.resolve(m.group(1))
            if self.functions(module) is not None:
                return Call("remote", module, m.group(2), 0)
        m = _IMPL.search(before[-160:])
        if m and m.group(2):
            which = m.group(1)
            behaviours = self.behaviours(self.text()) if which == "true" else [self.resolve(which)]
            for b in behaviours:
                cbs = self.callbacks(b)
                if cbs and m.group(2) in cbs:
                    return Call("callback", b, m.group(2), 0)
        return None


def parse_aliases(text: str) -> dict[str, str]:
    """``{short: Full.Name}`` from the ``alias`` lines of ``text``."""
    out: dict[str, str] = {}
    for base, multi, as_name in _ALIAS.findall(text):
        base = base.rstrip(".")
        if multi:
            for part in multi.split(","):
                part = part.strip()
                if part:
                    out[part.split(".")[0]] = f"{base}.{part}"
        elif as_name:
            out[as_name] = base
        else:
            out[base.split(".")[-1]] = base
    return out
