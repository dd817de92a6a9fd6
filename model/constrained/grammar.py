"""Grammar-level viability of an Elixir prefix: can ``text`` still become a valid program?

The lexical machine (:class:`model.constrained.syntax.ElixirPrefix`) knows what is *open* at
the end of a prefix but not the grammar: ``end:``, ``1 foo bar``, ``test " " end`` pass it.
This module owns the SynCode-like grammar check on top of it:

1. **Completion synthesis** (:func:`completions`): from the machine's state, a few short
   suffixes that would finish the prefix — finish a pending char literal / sigil / comment, put
   a placeholder operand (``x``) where one is expected, then close the open frames innermost
   first (strings and heredocs with their delimiter, interpolations and brackets with ``}`` ``)``
   ``]``, blocks with ``end``). Alternatives cover what the machine does not track: an ``fn``
   still needing ``->``, a map needing ``=> value``, a ``<<`` needing ``>>``, a pending word
   that may still become a keyword (``en`` → ``end``).
2. **Parsing** each ``text + suffix`` in process with tree-sitter-elixir; the text is viable
   when one of them parses without ERROR or MISSING nodes.

:class:`GrammarCheck` is *differential*: a step is only judged where the prefix before it was
judged viable (``viable(previous) is True``). Where no synthesized completion of the previous
prefix parses (a construct the synthesis does not know, or tree-sitter disagreeing with the real
parser) nothing is rejected — where unsure, never reject. The final text still goes through the
real parser (the sidecar) before end of sequence; tree-sitter only prunes during decoding.
"""

from __future__ import annotations

import tree_sitter_elixir
from tree_sitter import Language, Parser

from model.constrained.syntax import ElixirPrefix, KEYWORD_OPEN, _KW_PREFIXES

_LANGUAGE = Language(tree_sitter_elixir.language())
PLACEHOLDER = "x"
_KEYWORDS = sorted({*KEYWORD_OPEN, "end", "when", "and", "or", "in", "else", "after", "rescue", "catch", "not"})


def needs_operand(state: ElixirPrefix) -> bool:
    """Whether the prefix ends where an operand must come (after a binary operator, a comma, a
    ``key:``, ``when``...): a closing token there would break the grammar."""
    s = state.copy()
    if s.dead or s.in_string or s.comment:
        return False
    if s.dot:
        return True  # a name must follow the dot
    if s.word:
        return s.word in ("when", "and", "or", "in") and s.wctx not in (".", ":", "@", "&")
    if s.colon == 2:
        return True
    if s.op:
        return not s.op_atom and not s.op.endswith(">>") and s.op != "..." and s.op != "%"
    return s.last == ","


def _close(s: ElixirPrefix, out: list[str], placeholder: str | None, force: bool, fn_arrow: bool,
           map_value: bool, bits: int) -> bool:
    """Append to ``out`` (feeding ``s``) what closes every open frame: ``placeholder`` where an
    operand is expected (always with ``force``: the machine takes ``(&`` for an operator value),
    ``-> x`` before the innermost ``end`` (``fn_arrow``), ``=> x`` before the innermost ``}``
    (``map_value``), `` >>`` before (``bits`` 1) or after (2) the innermost closer. False when
    ``s`` refuses it."""
    def put(t: str) -> bool:
        if not s.feed(t):
            return False
        out.append(t)
        return True

    if s.comment and not put("\n"):
        return False
    if s.charlit and not put("a" if s.charlit == 1 else "n"):
        return False
    if s.sigil and not put("s(" if s.sigil == "~" else "("):
        return False
    if s.colon == 1 and not s.op and not put(PLACEHOLDER):  # `:` that starts an atom
        return False
    first_code = True
    while True:
        if s.in_string:
            top = s.stack[-1]
            if s.esc and not put("n"):
                return False
            if top[3]:  # heredoc: the closing delimiter first on its own line
                if not put("\n" + top[1] * 3):
                    return False
            elif not put(top[1]):
                return False
            continue
        if first_code:  # finish the pending word / operator, then an operand where one is expected
            first_code = False
            if s.op == "%" and not put("{}"):
                return False
            if s.dot or s.op == ".":
                if not put("X{}" if placeholder == "{}" else PLACEHOLDER):
                    return False
            elif (s.word or s.op or s.colon) and not put(" "):
                return False
            elif placeholder and (force or not s.operand):
                if not put(placeholder if placeholder == "{}" else " " + placeholder):
                    return False
        if bits == 1:
            bits = 0
            if not put(" >>"):
                return False
        elif bits == 2 and not s.stack:
            return put(" >>")
        if not s.stack:
            return True
        closer = s.stack[-1][1]
        if closer == "end":
            if fn_arrow:
                fn_arrow = False
                if not put(" -> " + PLACEHOLDER):
                    return False
            t = "\nend\n"  # the newline ends the word `end` (the machine closes on it)
        elif closer == "#{":
            t = "}"
        else:
            if closer == "}" and map_value:
                map_value = False
                if not put(" => " + PLACEHOLDER):
                    return False
            t = closer
        if not put(t):
            return False
        if bits == 2:
            bits = 0
            if not put(" >>"):
                return False


#: (placeholder, force, fn_arrow, map_value, bits), most likely first
VARIANTS = [(PLACEHOLDER, False, False, False, 0), (None, False, False, False, 0),
            (PLACEHOLDER, False, True, False, 0), (PLACEHOLDER, True, False, False, 0),
            (PLACEHOLDER, False, False, True, 0), ("x: x", False, False, False, 0),
            ("{}", True, False, False, 0), (PLACEHOLDER, False, False, False, 1),
            (PLACEHOLDER, False, False, False, 2), ("1", False, False, False, 0), (None, False, True, False, 0)]


def completions(state: ElixirPrefix, limit: int = 24) -> list[str]:
    """Candidate suffixes that would make the prefix a complete program, most likely first."""
    out: list[str] = []
    variants = VARIANTS
    bases = [("", state)]
    w = state.word
    if w and state.wctx not in (".", ":", "@", "&"):  # the word may be a key: `else: x`, `as: x`
        c = state.copy()
        if c.feed(":"):
            bases.append((":", c))
    if w:  # ... or a longer name (`@in` -> `@inx`, not the operator `in`; `0o` -> `0o1`)
        more = "1" if w[0].isdigit() else "x"
        c = state.copy()
        if c.feed(more):
            bases.append((more, c))
    if w == "not":  # `a not in b`
        c = state.copy()
        if c.feed(" in"):
            bases.append((" in", c))
    if state.op and not state.op_atom:  # an operator as a key: `only: [|||: 2]`
        c = state.copy()
        if c.feed(":"):
            bases.append((":", c))
    if w and w in _KW_PREFIXES and state.wctx not in (".", ":", "@", "&"):
        for kw in _KEYWORDS:
            if kw != w and kw.startswith(w):
                c = state.copy()
                if c.feed(kw[len(w):]):
                    bases.append((kw[len(w):], c))
    for pre, st in bases:
        for v in variants:
            s = st.copy()
            parts: list[str] = []
            if _close(s, parts, *v):
                suffix = pre + "".join(parts)
                if suffix not in out:
                    out.append(suffix)
                    if len(out) >= limit:
                        return out
    return out


class GrammarCheck:
    """``viable(text, state)``: does some synthesized completion of ``text`` (whose machine
    state is ``state``) parse with tree-sitter-elixir without ERROR/MISSING nodes?"""

    def __init__(self, max_alternatives: int = 24):
        self.parser = Parser(_LANGUAGE)
        self.max_alternatives = max_alternatives
        self.parses = 0

    def clean(self, source: str) -> bool:
        self.parses += 1
        return not self.parser.parse(source.encode("utf-8", "surrogatepass")).root_node.has_error

    def viable(self, text: str, state: ElixirPrefix | None = None) -> bool:
        if state is None:
            from model.constrained.syntax import prefix_of
            state = prefix_of(text)
        if state.dead:
            return False
        for suffix in completions(state, self.max_alternatives):
            if self.clean(text + suffix):
                return True
        return False
