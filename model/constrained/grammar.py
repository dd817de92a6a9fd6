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


def _close(s: ElixirPrefix, out: list[str], placeholder: str | None, force: bool, fn_arrow: int,
           map_value: bool, bits: int) -> bool:
    """Append to ``out`` (feeding ``s``) what closes every open frame: ``placeholder`` where an
    operand is expected (always with ``force``: the machine takes ``(&`` for an operator value),
    ``-> x`` before the innermost ``end`` (``fn_arrow`` 1) or ``)`` (2: a typespec's ``(a -> b)``), ``=> x`` before the innermost ``}``
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
                if not put(placeholder if placeholder[0] in "{:" else " " + placeholder):
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
        if fn_arrow and closer == ("end" if fn_arrow == 1 else ")"):  # `fn x -> x end`, `(a, b -> x)`
            fn_arrow = 0
            if not put(" -> " + PLACEHOLDER):
                return False
        if closer == "end":
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
VARIANTS = [(PLACEHOLDER, False, 0, False, 0), (None, False, 0, False, 0),
            (PLACEHOLDER, False, 1, False, 0), (PLACEHOLDER, True, 0, False, 0),
            (PLACEHOLDER, False, 0, True, 0), ("x: x", False, 0, False, 0),
            ("{}", True, 0, False, 0), (PLACEHOLDER, False, 0, False, 1),
            (PLACEHOLDER, False, 0, False, 2), ("1", False, 0, False, 0), (None, False, 1, False, 0),
            (": x", True, 0, False, 0), ("{}", True, 1, False, 0), (PLACEHOLDER, False, 2, False, 0)]


def completions(state: ElixirPrefix, limit: int = 24):
    """Candidate suffixes that would make the prefix a complete program, most likely first
    (a generator: the first one usually parses, so the rest is never built)."""
    seen: set[str] = set()
    for k, (pre, st) in enumerate(_readings(state)):
        for v in (VARIANTS if k == 0 else VARIANTS[:3]):  # other readings: the common closings
            s = st.copy()
            parts: list[str] = []
            if _close(s, parts, *v):
                suffix = pre + "".join(parts)
                if suffix not in seen:
                    seen.add(suffix)
                    yield suffix
                    if len(seen) >= limit:
                        return


def _readings(state: ElixirPrefix):
    """The prefix as it is, then what a pending word or operator may still become."""
    yield "", state
    w = state.word
    if w and state.wctx not in (".", ":", "@", "&"):  # the word may be a key: `else: x`, `as: x`
        c = state.copy()
        if c.feed(":"):
            yield ":", c
    if w:  # ... or a longer name (`@in` -> `@inx`, not the operator `in`; `0o` -> `0o1`)
        more = "1" if w[0].isdigit() else "x"
        c = state.copy()
        if c.feed(more):
            yield more, c
    if w == "not":  # `a not in b`
        c = state.copy()
        if c.feed(" in"):
            yield " in", c
    if state.op and not state.op_atom:  # an operator as a key: `only: [|||: 2]`
        c = state.copy()
        if c.feed(":"):
            yield ":", c
    if w and w in _KW_PREFIXES and state.wctx not in (".", ":", "@", "&"):
        for kw in _KEYWORDS:
            if kw != w and kw.startswith(w):
                c = state.copy()
                if c.feed(kw[len(w):]):
                    yield kw[len(w):], c


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


def false_rejections(files, tokenizer, *, max_tokens: int = 1500, show: int = 10) -> dict:
    """The false-rejection rate on real files: every prefix at a token boundary of each file
    (that tree-sitter parses whole) judged the way the decoder judges it (only where the prefix
    before it was viable). ``show`` examples of refused prefixes are kept."""
    import time

    from model.constrained.syntax import token_texts
    texts = token_texts(tokenizer)
    g = GrammarCheck()
    judged = rejected = used = 0
    seconds = 0.0
    examples: list[str] = []
    for f in files:
        src = open(f, encoding="utf-8", errors="replace").read()
        if not g.clean(src):
            continue
        used += 1
        p, text, prev = ElixirPrefix(), "", True
        for i in tokenizer(src, add_special_tokens=False)["input_ids"][:max_tokens]:
            text += texts[i]
            p.feed(texts[i])
            t0 = time.perf_counter()
            ok = g.viable(text, p)
            seconds += time.perf_counter() - t0
            if prev:
                judged += 1
                if not ok:
                    rejected += 1
                    if len(examples) < show:
                        examples.append(f"{f}: {text[-70:]!r}")
            prev = ok
    return {"files": used, "prefixes": judged, "rejected": rejected,
            "false_rejection_pct": round(100 * rejected / max(1, judged), 4),
            "mean_check_us": round(1e6 * seconds / max(1, judged), 1), "examples": examples}


def main(argv=None) -> int:
    """``python -m model.constrained.grammar --tokenizer DIR [FILES/DIRS...] [--json]``: the
    false-rejection rate of the grammar check on real Elixir files."""
    import argparse
    import json
    from pathlib import Path

    ap = argparse.ArgumentParser(description="False-rejection rate of the grammar check on real files.")
    ap.add_argument("paths", nargs="*", help="files or directories of .ex/.exs (default: the test "
                    "fixtures and the cached Debian Elixir source's lib/*/lib)")
    ap.add_argument("--tokenizer", required=True, help="a tokenizer (or model) directory")
    ap.add_argument("--limit", type=int, help="at most this many files")
    ap.add_argument("--max-tokens", type=int, default=1500, help="tokens per file")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    from model.tokenizer import load_tokenizer
    root = Path(__file__).resolve().parents[2]
    paths = [Path(p) for p in args.paths] or [root / "tests/fixtures", *sorted(
        (Path.home() / ".cache/elixir-coder/debian/elixir-lang").glob("*/lib/*/lib"))]
    files = []
    for p in paths:
        files += sorted(p.rglob("*.ex*")) if p.is_dir() else [p]
    files = [f for f in files if f.is_file()][:args.limit]
    r = false_rejections(files, load_tokenizer(args.tokenizer), max_tokens=args.max_tokens)
    if args.json:
        print(json.dumps(r, indent=2))
    else:
        print(f"{r['files']} files, {r['prefixes']} token prefixes judged, {r['rejected']} refused "
              f"({r['false_rejection_pct']} %), {r['mean_check_us']} µs a check")
        for e in r["examples"]:
            print("  refused:", e)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
