"""Syntax-constrained decoding for Elixir: an incremental viable-prefix state machine and the
``transformers`` logits processor built on it.

Owns the lexical/bracket structure of Elixir as a character-level machine
(:class:`ElixirPrefix`). It tracks exactly what can be left *open* at the end of a prefix:

* brackets ``( [ {`` (``%{`` and ``%Struct{`` are ``{``), closed by the matching character;
* ``do`` blocks (any ``... do``, not ``do:`` keywords, ``:do`` atoms or ``x.do`` calls) and
  ``fn`` blocks, both closed by ``end``;
* strings ``"..."``, charlists ``'...'``, heredocs ``\"\"\"``/``'''`` (opening line must be blank;
  closing delimiter first on its line), quoted atoms/keys (``:"a b"``, ``"k": 1``);
* sigils ``~x`` with every delimiter (``/ | " ' ( [ { <`` and heredocs), lowercase with
  interpolation and escapes, uppercase raw;
* interpolation ``#{...}`` nested to any depth; escapes; char literals ``?a ?\\n ?"``;
  comments to the end of line.

Anything else is neutral: ``<<``/``>>`` are not balanced here (the parser checks them at the
end). A character that closes what is not open (``)`` on ``[``, ``end`` with no block), a
non-blank after a heredoc opener, or a sigil with a bad delimiter makes the prefix *dead*.

The machine is incremental (feed characters or whole tokens; copying a state copies a short
stack) and every state has a hashable :meth:`ElixirPrefix.key` that captures everything that
decides what may follow: the logits processor caches per (state key, token) whether the token
keeps the prefix viable, so a step costs dictionary lookups once the common states are seen.

A do block's ``end`` is no receiver: ``.`` after it (even on the next line) is dead, as the
real parser says; an ``fn``'s frame is marked so that ``fn -> f end.()`` stays valid.

The grammar (what a lexical machine cannot see: ``1 foo``, ``[1] 2``) is checked on top by
:mod:`model.constrained.grammar` (tree-sitter on synthesized completions), from the processor.

*Complete* (end of sequence allowed) means: nothing open, no pending literal, and the real
parser accepts the text (``kg.sidecar.shared().parse``, cached; the balanced check makes that
call rare: only when every bracket/block is closed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

try:  # transformers 5.x
    from transformers import LogitsProcessor
except ImportError:  # pragma: no cover
    from transformers.generation.logits_process import LogitsProcessor

KEYWORD_OPEN = {"do", "fn"}
KEYWORD_CLOSE = "end"
_KW_PREFIXES: set[str] = set()  # every prefix of a word whose end changes the state (filled below)
PAIRS = {"(": ")", "[": "]", "{": "}", "<": ">"}
CLOSERS = {")", "]", "}"}
SIGIL_DELIMS = set("/|\"'([{<")
WORD_START = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
WORD = WORD_START | set("0123456789")
SPACE = set(" \t\r")
#: Characters of operator runs (``~``, ``:`` and ``?`` have their own rules).
OPC = set("+-*/=<>|&!^\\.%@")
#: Operators that need an operand on their left: one of them (or a comma) where an operand is
#: expected (after ``(``, ``,``, another operator, ``do``...) makes the prefix dead.
BINARY_ONLY = {"=", "==", "===", "!=", "!==", "|>", "<>", "=>", "|", "*", "/", "<", ">", "<=", ">=",
               "=~", "||", "&&", "++", "--", "<-", "\\\\", "|||", "&&&", "<<<", ">>>", "^^^", "**",
               "//", "<|>"}
BINARY_WORDS = {"when", "and", "or", "in"}
SECTION_WORDS = {"else", "after", "rescue", "catch"}
for _w in {*KEYWORD_OPEN, KEYWORD_CLOSE, *BINARY_WORDS, *SECTION_WORDS, "not"}:
    _KW_PREFIXES.update(_w[:i] for i in range(1, len(_w) + 1))
INVALID_IN_CODE = {chr(c) for c in range(32) if chr(c) not in "\t\n\r"} | {"$", "`"}

# Frame tags. Code frames: ("c", closer) with closer one of ")", "]", "}", "end", "#{" (an
# interpolation, closed by "}"). String frames: ("s", close, interp, heredoc) where close is the
# closing character (for heredocs the quote character, tripled).


class ElixirPrefix:
    """Viable-prefix state of Elixir source text. ``feed`` returns False (and the state is dead)
    as soon as the text can no longer be the start of valid Elixir by the rules above."""

    __slots__ = ("stack", "dead", "word", "wctx", "last", "qq", "charlit", "sigil", "comment",
                 "esc", "hash", "hopen", "hblank", "hq", "operand", "op", "colon", "op_atom", "dot",
                 "dend")

    def __init__(self) -> None:
        self.stack: list[tuple] = []
        self.dead = False
        # code-mode state
        self.word = ""        # the identifier being read ("" when none)
        self.wctx = ""        # the character before it ("." or ":" make it no keyword)
        self.last = "\n"      # the last code character seen
        self.qq: tuple | None = None  # (quote, interp, count) after an empty "" that may become """
        self.charlit = 0      # 1: after ?, expecting the char; 2: after ?\, expecting the char
        self.sigil = ""       # "~" after a tilde, or "~x" after its letter, waiting for the delimiter
        self.comment = False
        # string-mode state (of the top frame)
        self.esc = False
        self.hash = False     # saw "#" in an interpolating string
        self.hopen = False    # on a heredoc's opening line (only blanks allowed)
        self.hblank = False   # heredoc: only blanks so far on this line
        self.hq = 0           # heredoc: closing quotes seen at the start of this line
        # expression layer: is the last complete element an operand (so that a binary
        # operator or a comma may follow)?
        self.operand = False
        self.op = ""          # the operator run being read
        self.colon = 0        # 1: ":" that may start an atom; 2: ":" after a word/quoted key
        self.op_atom = False  # the operator run is an atom (":+", ":<>")
        self.dot = False      # a "." then only blanks: the next word is a name (`x. end` calls end)
        self.dend = False     # the `end` of a do block then only blanks: no `.` may follow

    # ---- state ---------------------------------------------------------------------------
    def copy(self) -> "ElixirPrefix":
        n = ElixirPrefix.__new__(ElixirPrefix)
        n.stack = self.stack.copy()
        for a in ("dead", "word", "wctx", "last", "qq", "charlit", "sigil", "comment", "esc",
                  "hash", "hopen", "hblank", "hq", "operand", "op", "colon", "op_atom", "dot", "dend"):
            setattr(n, a, getattr(self, a))
        return n

    def key(self) -> tuple:
        """Everything that decides which continuations are viable."""
        w = self.word if self.word in _KW_PREFIXES else ("<word>" if self.word else "")
        last = "w" if self.last in WORD else self.last
        return (tuple(self.stack), self.dead, w, self.wctx if w else "", last, self.qq,
                self.charlit, self.sigil, self.comment, self.esc, self.hash, self.hopen,
                self.hblank, self.hq, self.operand, self.op, self.colon, self.op_atom, self.dot,
                self.dend)

    @property
    def depth(self) -> int:
        """How many things are open (frames, plus a pending keyword word that would open one)."""
        return len(self.stack)

    def effective_depth(self) -> int:
        """The depth once a pending identifier ends (a final ``end`` already closes)."""
        if self.word in ("end", "do", "fn") and self.wctx not in (".", ":", "@", "&"):
            c = self.copy()
            if c.finish_word("\n"):
                return c.depth
        return self.depth

    def closing_cost(self) -> int:
        """A lower bound on what is left to close: open frames, plus one for a pending char
        literal or sigil (it needs its character / delimiter first)."""
        return self.effective_depth() + (1 if self.charlit or self.sigil else 0)

    @property
    def in_string(self) -> bool:
        return bool(self.stack) and self.stack[-1][0] == "s"

    def balanced(self) -> bool:
        """Nothing open and nothing pending (a final identifier counts as finished, so a
        final ``end`` closes its block): the precondition for a complete program."""
        if self.dead or self.charlit or self.sigil or self.colon == 1:
            return False
        if self.op and not self.op_atom and not self.op.endswith(">>") and self.op != "...":
            return False  # ends with an operator
        if self.word:
            c = self.copy()
            if not c.finish_word("\n"):
                return False
            return not c.stack
        return not self.stack

    def open_closers(self) -> list[str]:
        """What closes the open frames, innermost first (for diagnostics and budget)."""
        out = []
        for f in reversed(self.stack):
            if f[0] == "c":
                out.append("}" if f[1] == "#{" else f[1])
            else:
                out.append(f[1] * 3 if f[3] else f[1])
        return out

    # ---- feeding ---------------------------------------------------------------------------
    def feed(self, text: str) -> bool:
        for ch in text:
            if not self._char(ch):
                self.dead = True
                return False
        return not self.dead

    def finish_word(self, nxt: str) -> bool:
        """End the pending identifier (``nxt`` is the character after it)."""
        w, ctx = self.word, self.wctx
        self.word = ""
        if not w:
            return True
        if ctx in (".", ":", "@", "&") or nxt == ":":
            self.operand = True  # a name, an atom, an attribute; `key:` is settled by the colon
            return True
        if w in KEYWORD_OPEN:
            # an fn's frame is marked: `fn -> f end.()` is a call, `if a do b end.x` is not
            self.stack.append(("c", "end", "fn") if w == "fn" else ("c", "end"))
            self.operand = False
        elif w == KEYWORD_CLOSE:
            if not self.stack or self.stack[-1][:2] != ("c", "end"):
                return False
            self.dend = len(self.stack.pop()) == 2
            self.operand = True
            if nxt == ",":
                self.last = "E"  # read by the comma rule (`end` then `,` with nothing between)
        elif w in BINARY_WORDS:
            if not self.operand:
                return False
            self.operand = False
        elif w in SECTION_WORDS:
            self.operand = False
        elif w != "not":  # `not x` (unary) and `x not in y` keep what was before
            self.operand = True
        return True

    def _finish_op(self) -> bool:
        op, atom = self.op, self.op_atom
        self.op, self.op_atom = "", False
        if atom:
            self.operand = True
            return True
        if op in BINARY_ONLY and not self.operand:
            return False
        self.operand = op.endswith(">>") or op == "..."
        self.dot = op == "."
        return True

    def _char(self, ch: str) -> bool:
        if self.dead:
            return False
        top = self.stack[-1] if self.stack else None
        if top is not None and top[0] == "s":
            return self._string_char(ch, top)
        return self._code_char(ch)

    def _code_char(self, ch: str) -> bool:
        if self.comment:
            if ch == "\n":
                self.comment = False
                self.last = "\n"
            return True
        if self.charlit:
            if self.charlit == 1 and ch == "\\":
                self.charlit = 2
            else:
                self.charlit = 0
                self.last = "w"
                self.operand = True
            return True
        if ch in INVALID_IN_CODE:
            return False  # never valid outside strings, charlists and comments
        if ch > "\x7e":  # non-ASCII (UTF-8 bytes): identifiers and atoms (olá, :μ, ç = 1)
            if ch == "\x7f" or self.qq is not None or self.sigil:
                return False
            self.dend = False
            if not self.word:
                self.wctx, self.word = (self.last if self.last in ".:@&" else ""), ch
            else:
                self.word += ch
            self.last = "w"
            return True
        if self.qq is not None:
            q, interp, _ = self.qq
            self.qq = None
            if ch == q:  # third quote: heredoc
                self.stack.append(("s", q, interp, True))
                self.hopen, self.hblank, self.hq, self.esc, self.hash = True, False, 0, False, False
                return True
        if self.sigil:
            if self.sigil == "~":
                if ch.isalpha() and ch.isascii():
                    self.sigil = "~" + ch
                    return True
                self.sigil = ""
                if ch not in ">~":  # `~>`, `~>>`, `~~~` are operators; anything else is no sigil
                    return False
                self.last = ch
                return True
            letter = self.sigil[1]
            self.sigil = ""
            if ch not in SIGIL_DELIMS:
                return False
            interp = letter.islower()
            if ch in "\"'":
                self._open_string(ch, interp, maybe_heredoc=True)
            else:
                self._open_string(PAIRS.get(ch, ch), interp, maybe_heredoc=False)
            return True
        if self.colon:
            kind, self.colon = self.colon, 0
            if ch == ":":  # `::`
                if not self.operand:
                    return False
                self.operand = False
                self.last = ":"
                return True
            if kind == 2:
                self.operand = False  # `key: value`
            elif ch in OPC or ch == "~":
                self.op_atom = True   # `:+`, `:<>`, `:~>`
        # identifiers (and keywords)
        if ch in WORD or (ch in "?!" and self.word):
            if not self.word:
                self.dend = False
            if self.op:
                if not self._finish_op():
                    return False
            if self.word:
                if self.word[-1] in "?!":
                    # `foo?x`: the identifier ended; what follows starts anew
                    if not self.finish_word(ch):
                        return False
                    if ch in WORD:
                        self.word, self.wctx = ch, self.last
                else:
                    self.word += ch
            else:
                self.wctx = self.last if self.last in ".:@&" else ""
                if self.last in WORD:  # e.g. after a number-ish run; still one word
                    self.wctx = ""
                if self.dot:
                    self.wctx, self.dot = ".", False
                self.word = ch
            self.last = ch if ch in WORD else "w"
            return True
        had_word = bool(self.word)
        if self.word:
            if not self.finish_word(ch):
                return False
        if self.dot and ch not in SPACE and ch != "\n" and ch != "#":
            self.dot = False
        if self.dend and ch not in SPACE and ch != "\n" and ch != "#":
            self.dend = False
            if ch == ".":
                return False  # a do block's `end` is no receiver (the real parser refuses it)
        if ch in OPC:
            if not self.op and self.last == "(" and not self.op_atom:
                self.op_atom = True  # `h(== / 2)`, `&(+/2)`: an operator named as a value
            if self.op_atom or len(self.op) < 6:
                self.op += ch
            self.last = ch
            return True
        if ch == "~" and self.op:  # `~` inside an operator run (`<~>`, `|~>`): part of it
            self.last = "~"
            return True
        if self.op and ch == ":" and not self.op_atom:  # `&&&: 2`, `==: 4`: an operator as a key
            self.op = ""
            self.colon = 2
            self.last = ":"
            return True
        if self.op:
            if not self._finish_op():
                return False
        if ch == ":":
            self.colon = 2 if had_word or self.last == "Q" else 1
            self.last = ":"
            return True
        if ch == ",":
            if not self.operand:
                return False
            if self.last == "E" and (not self.stack or self.stack[-1][:2] == ("c", "end")):
                return False  # `end,` where no call or bracket is open: a block ends its call
            self.operand = False
            self.last = ","
            return True
        if ch == ";":
            self.operand = False
            self.last = ";"
            return True
        if ch in SPACE:
            self.last = " "
            return True
        if ch == "\n":
            self.last = "\n"
            return True
        if ch == "#":
            self.comment = True
            return True
        if ch == '"' or ch == "'":
            self._open_string(ch, True, maybe_heredoc=True)
            return True
        if ch == "?":
            self.charlit = 1
            return True
        if ch == "~":
            if self.last in "~<|>=-:&^":  # operators ~>, <~, |~, ~~~ ...
                self.last = "~"
                return True
            self.sigil = "~"
            return True
        if ch in "([{":
            self.stack.append(("c", PAIRS[ch]))
            self.operand = False
        elif ch in CLOSERS:
            if not self.stack:
                return False
            f = self.stack[-1]
            want = "}" if f[1] == "#{" else f[1]
            if f[0] != "c" or want != ch:
                return False
            self.stack.pop()
            if f[1] == "#{":  # back into the string
                self.esc = self.hash = False
                self.last = "\n"
                return True
            self.operand = True
        self.last = ch
        return True

    def _open_string(self, quote: str, interp: bool, maybe_heredoc: bool) -> None:
        self.stack.append(("s", quote, interp, False, maybe_heredoc))
        self.esc = self.hash = False

    def _string_char(self, ch: str, top: tuple) -> bool:
        _, close, interp, heredoc = top[:4]
        if heredoc:
            return self._heredoc_char(ch, top)
        maybe_heredoc = len(top) > 4 and top[4]
        if maybe_heredoc:
            # first character of a string that might be "" followed by a third quote
            self.stack[-1] = top[:4]
            if ch == close:
                self.stack.pop()
                self.qq = (close, interp, 2)
                self.last = "Q"
                self.operand = True
                return True
        if self.esc:
            self.esc = False
            return True
        if self.hash:
            self.hash = False
            if ch == "{":
                self.stack.append(("c", "#{"))
                self.last = "\n"
                self.operand = False
                return True
        if ch == "\\":
            self.esc = True
            return True
        if ch == close:
            self.stack.pop()
            self.last = "Q"
            self.operand = True
            return True
        if ch == "#" and interp:
            self.hash = True
        return True

    def _heredoc_char(self, ch: str, top: tuple) -> bool:
        close, interp = top[1], top[2]
        if self.hopen:
            if ch == "\n":
                self.hopen = False
                self.hblank = True
                self.hq = 0
                return True
            return ch in SPACE
        if self.esc:
            self.esc = False
            self.hblank, self.hq = ch == "\n", 0
            return True
        if self.hash:
            self.hash = False
            if ch == "{":
                self.stack.append(("c", "#{"))
                self.last = "\n"
                self.hblank = False
                self.operand = False
                return True
        if ch == "\n":
            self.hblank, self.hq = True, 0
            return True
        if self.hblank and ch in SPACE and self.hq == 0:
            return True
        if self.hblank and ch == close:
            self.hq += 1
            if self.hq == 3:
                self.stack.pop()
                self.hblank, self.hq = False, 0
                self.last = "Q"
                self.operand = True
            return True
        self.hblank, self.hq = False, 0
        if ch == "\\":
            self.esc = True
        elif ch == "#" and interp:
            self.hash = True
        return True


def prefix_of(text: str) -> ElixirPrefix:
    """The state after ``text`` (possibly dead)."""
    p = ElixirPrefix()
    p.feed(text)
    return p


# ---- completeness -----------------------------------------------------------------------------
class ParserOracle:
    """``text -> bool``: does the real Elixir parser accept it? Uses the shared sidecar, with a
    cache (the decoder asks only when the machine says everything is closed)."""

    def __init__(self, sidecar=None, maxsize: int = 4096):
        self._sidecar = sidecar
        self._cache: dict[str, bool] = {}
        self.maxsize = maxsize
        self.calls = 0

    def __call__(self, text: str) -> bool:
        r = self._cache.get(text)
        if r is None:
            if self._sidecar is None:
                from kg.sidecar import shared
                self._sidecar = shared()
            self.calls += 1
            r = bool(self._sidecar.parse(text).ok)
            if len(self._cache) >= self.maxsize:
                self._cache.clear()
            self._cache[text] = r
        return r


def is_complete(text: str, oracle: Callable[[str], bool] | None = None) -> bool:
    """Whether ``text`` is a complete program: balanced by the machine and parsed by the oracle."""
    if not prefix_of(text).balanced():
        return False
    return (oracle or ParserOracle())(text)


# ---- token summaries ------------------------------------------------------------------------------
def token_texts(tokenizer) -> list[str | None]:
    """The text each token id adds (None for special tokens). Byte-level tokens are decoded byte
    by byte as Latin-1 so that a token holding part of a UTF-8 character still maps to
    characters (all >= 0x80, hence neutral to the machine)."""
    try:
        from model.tokenizer import _bytes_to_unicode
        inv = {c: b for b, c in _bytes_to_unicode().items()}
    except Exception:  # pragma: no cover - a tokenizer without byte-level alphabet
        inv = None
    vocab = tokenizer.get_vocab()
    out: list[str | None] = [None] * max(len(tokenizer), max(vocab.values()) + 1)
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    for tok, i in vocab.items():
        if i in special or tok in (tokenizer.all_special_tokens or []):
            continue
        if inv is not None and all(c in inv for c in tok):
            out[i] = bytes(inv[c] for c in tok).decode("latin-1")
        else:
            out[i] = tokenizer.convert_tokens_to_string([tok])
    return out


def _needs_operand(state: ElixirPrefix) -> int:
    from model.constrained.grammar import needs_operand
    return 1 if needs_operand(state) else 0


class SyntaxLogitsProcessor(LogitsProcessor):
    """Masks every token that would make ``prompt + generated`` a non-viable Elixir prefix.

    One state per sequence, advanced by the token chosen last step (no re-parse of the whole
    text). EOS (and the optional stop token ids) only where :func:`balanced` holds and the real
    parser accepts the text. When fewer than ``closing_margin`` + (open frames) tokens of the
    budget remain, only tokens that close something (lower the open depth) are allowed, and
    blanks where nothing that closes exists.

    ``top_k``: viability is checked for the ``top_k`` best-scored tokens (and the whole
    vocabulary only if none of those is viable); all others are masked. With top-k sampling of
    the same k this is exact; it keeps a step to k cached look-ups.

    ``grammar`` (default on; a :class:`~model.constrained.grammar.GrammarCheck` or False): the
    lexically viable tokens are also checked, best first, for grammar viability until the first
    that passes (``grammar_checks`` checks a step at most); those that fail are masked; where
    the text so far was not judged viable or nothing passes, the lexical list stands.

    ``stats`` counts checks, cache hits, parser calls, grammar checks/rejections/fallbacks and
    time spent (for the overhead numbers).
    """

    def __init__(self, tokenizer, prompts: Sequence[str], *, max_new_tokens: int,
                 eos_token_id: int | None = None, stop_token_ids: Sequence[int] = (),
                 top_k: int | None = 64, closing_margin: int = 4, oracle=None,
                 texts: list[str | None] | None = None, cache: dict | None = None,
                 num_return_sequences: int = 1, monitor_factory=None, grammar=True,
                 grammar_checks: int = 32):
        self.tokenizer = tokenizer
        self.texts = texts if texts is not None else token_texts(tokenizer)
        self.eos = tokenizer.eos_token_id if eos_token_id is None else eos_token_id
        self.stop_ids = set(stop_token_ids)
        self.max_new_tokens = max_new_tokens
        self.top_k = top_k
        self.closing_margin = closing_margin
        self.oracle = oracle or ParserOracle()
        self.cache = cache if cache is not None else {}
        self.prompts = [p for p in prompts for _ in range(num_return_sequences)]
        self.states = [prefix_of(p) for p in self.prompts]
        self.generated = ["" for _ in self.prompts]
        self.steps = 0
        self.start_len: int | None = None
        self.monitors = [monitor_factory(p) for p in self.prompts] if monitor_factory else None
        self.stats = {"steps": 0, "checks": 0, "cache_hits": 0, "parser_calls": 0, "seconds": 0.0,
                      "full_vocab_scans": 0, "closing_steps": 0, "forced_eos": 0,
                      "grammar_checks": 0, "grammar_rejected": 0, "grammar_fallbacks": 0,
                      "grammar_unjudged_steps": 0, "grammar_seconds": 0.0}
        if grammar is True:
            from model.constrained.grammar import GrammarCheck
            grammar = GrammarCheck()
        self.grammar = grammar or None
        self.grammar_checks = grammar_checks
        # per row: is the text so far grammar-viable (None: not judged)? and this step's verdicts
        self.gviable: list[bool | None] = [None] * len(self.prompts)
        self.gverdicts: list[dict] = [{} for _ in self.prompts]
        if self.grammar is not None:
            import time
            t0 = time.perf_counter()
            self.gviable = [self.grammar.viable(p, s) for p, s in zip(self.prompts, self.states)]
            self.stats["grammar_seconds"] += time.perf_counter() - t0

    # viability of one token from one state, cached: the closing cost after it, or None (dead)
    def _next(self, state: ElixirPrefix, key: tuple, tid: int) -> int | None:
        ck = (key, tid)
        hit = self.cache.get(ck, -1)
        if hit != -1:
            self.stats["cache_hits"] += 1
            return hit
        self.stats["checks"] += 1
        text = self.texts[tid] if tid < len(self.texts) else None
        if text is None:
            depth = None
        else:
            n = state.copy()
            depth = n.closing_cost() + _needs_operand(n) if n.feed(text) else None
        self.cache[ck] = depth
        return depth

    def _allowed_eos(self, i: int, state: ElixirPrefix) -> bool:
        if not state.balanced():
            return False
        text = self.prompts[i] + self.generated[i]
        before = self.oracle.calls if hasattr(self.oracle, "calls") else 0
        ok = self.oracle(text)
        self.stats["parser_calls"] += (self.oracle.calls - before) if hasattr(self.oracle, "calls") else 1
        if ok and self.monitors is not None:
            ok = self.monitors[i].allow_eos(text)
        return ok

    def advance(self, i: int, tid: int) -> None:
        text = self.texts[tid] if tid < len(self.texts) else None
        if text is None:
            return
        self.states[i].feed(text)
        self.generated[i] += text
        if self.monitors is not None:
            self.monitors[i].advance(text)
        if self.grammar is not None:
            verdict = self.gverdicts[i].get(tid)
            if verdict is None and (self.gviable[i] or self.states[i].last == "\n"):
                # a token chosen without a check (sampling below the first pass, a fallback), or
                # a line start after an unjudged stretch: judge the text as it is now
                verdict = self._gcheck(i, self.prompts[i] + self.generated[i], self.states[i])
            self.gviable[i] = verdict
            self.gverdicts[i] = {}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        import time
        t0 = time.perf_counter()
        if self.start_len is None:
            self.start_len = input_ids.shape[1]
        else:
            for i in range(input_ids.shape[0]):
                self.advance(i, int(input_ids[i, -1]))
        gen_len = input_ids.shape[1] - self.start_len
        remaining = self.max_new_tokens - gen_len
        out = torch.full_like(scores, float("-inf"))
        for i in range(scores.shape[0]):
            state = self.states[i]
            if state.dead:  # cannot happen through this processor; leave the row alone
                out[i] = scores[i]
                continue
            key = state.key()
            closing = remaining <= 2 * (state.closing_cost() + _needs_operand(state)) + self.closing_margin
            if closing:
                self.stats["closing_steps"] += 1
            allowed = self._row_allowed(i, state, key, scores[i], closing)
            if self.grammar is not None:
                allowed = self._grammar_filter(i, state, allowed, scores[i], key, closing)
            if self.eos is not None and self._allowed_eos(i, state):
                allowed.append(self.eos)
                allowed.extend(self.stop_ids)
                if remaining <= 1:
                    allowed = [self.eos]
                    self.stats["forced_eos"] += 1
            if self.monitors is not None and allowed:
                kept = self.monitors[i].filter(allowed, self.texts)
                if not kept:  # nothing the KG accepts among the best: look through everything
                    self.stats["full_vocab_scans"] += 1
                    order = torch.argsort(scores[i], descending=True).tolist()
                    kept = self.monitors[i].filter(
                        [t for t in order if self._next(state, key, t) is not None], self.texts)
                allowed = kept
            if not allowed:  # nothing viable: let EOS end it (the checks will report it)
                allowed = [self.eos] if self.eos is not None else []
            idx = torch.tensor(allowed, dtype=torch.long)
            out[i, idx] = scores[i, idx]
        self.stats["steps"] += 1
        self.stats["seconds"] += time.perf_counter() - t0
        return out

    def _gcheck(self, i: int, text: str, state: ElixirPrefix) -> bool:
        import time
        t0 = time.perf_counter()
        ok = self.grammar.viable(text, state)
        self.stats["grammar_checks"] += 1
        self.stats["grammar_seconds"] += time.perf_counter() - t0
        return ok

    def _grammar_filter(self, i: int, state: ElixirPrefix, allowed: list[int], row: torch.Tensor,
                        key: tuple, closing: bool) -> list[int]:
        """Drop the lexically viable tokens, best first, whose text is no longer grammar-viable
        (:mod:`model.constrained.grammar`), stopping at the first that is. Only where the text
        so far was judged viable (otherwise nothing is known: never reject). When none of the
        top candidates passes, the next lexically viable tokens of the whole vocabulary are
        tried (``grammar_checks`` checks a step at most); when none passes at all, the lexical
        list is kept as it was (the decoder is never left without a token)."""
        if not self.gviable[i]:
            self.stats["grammar_unjudged_steps"] += 1
            return allowed
        base = self.prompts[i] + self.generated[i]
        verdicts = self.gverdicts[i]
        budget = self.grammar_checks

        def scan(ids) -> bool:
            nonlocal budget
            for t in ids:
                if t in verdicts:
                    if verdicts[t]:
                        return True
                    continue
                if budget <= 0:
                    return False
                budget -= 1
                n = state.copy()
                n.feed(self.texts[t])
                ok = verdicts[t] = self._gcheck(i, base + self.texts[t], n)
                if ok:
                    return True
                self.stats["grammar_rejected"] += 1
            return False

        if scan(allowed):
            return [t for t in allowed if verdicts.get(t, True)]
        # nothing among the best: the next lexically viable tokens, best first
        cost = state.closing_cost() + _needs_operand(state) if closing else 0
        seen = set(allowed)
        more = []
        for t in torch.argsort(row, descending=True).tolist():
            if len(more) >= budget:
                break
            if t in seen or self.texts[t] is None:
                continue
            d = self._next(state, key, t)
            if d is not None and (not closing or d < cost):
                more.append(t)
        if scan(more):
            return [t for t in more if verdicts.get(t) is True]
        self.stats["grammar_fallbacks"] += 1
        return allowed

    def _row_allowed(self, i: int, state: ElixirPrefix, key: tuple, row: torch.Tensor,
                     closing: bool) -> list[int]:
        cost = state.closing_cost() + _needs_operand(state) if closing else 0

        def viable(ids) -> list[int]:
            good = []
            for t in ids:
                d = self._next(state, key, t)
                if d is None:
                    continue
                if closing and d >= cost:
                    continue
                good.append(t)
            return good

        order: list[int]
        if self.top_k and self.top_k < row.shape[0]:
            order = torch.topk(row, self.top_k).indices.tolist()
            good = viable(order)
            if good:
                return good
        self.stats["full_vocab_scans"] += 1
        order = torch.argsort(row, descending=True).tolist()
        good = viable(order)
        if not good and closing:
            # nothing closes in one token: blanks (an `end` needs one before it), else tokens
            # that at least do not open more (a sigil's delimiter, then its closing one)
            good = [t for t in order if self.texts[t] is not None and self.texts[t].strip() == ""
                    and self._next(state, key, t) is not None]
            if not good:
                good = [t for t in order if (d := self._next(state, key, t)) is not None and d <= cost + 1]
        return good
