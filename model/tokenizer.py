"""The Elixir-aware byte-level BPE tokenizer (contract 2): training, saving, loading.

Owns the pre-tokenization rules and the list of Elixir symbols that must be one token each in
code context (operators, common atoms, module attributes, keywords, sigil starts, ExUnit words).

How symbols stay single tokens without breaking identifiers that merely contain them:

* A ``Split`` pre-tokenizer with one regex cuts text into chunks. Its first alternatives are the
  symbols (with an optional leading space) guarded by look-arounds, so ``end`` is a chunk but
  ``endpoint``, ``done``, ``:okay``, ``@docs`` and ``foo_end`` are not cut. Identifiers
  (``[\\p{L}_][\\p{L}\\p{N}_]*[?!]?``) are taken whole before any symbol can match inside them.
  The remaining alternatives are the GPT-2 rules (numbers, punctuation runs that stop before an
  operator symbol, whitespace).
* Every symbol (and its space-prefixed form) is put into the BPE vocabulary after training and
  the model uses ``ignore_merges``: a chunk that is a vocabulary entry is emitted as that one
  token. Symbols are therefore *not* added tokens (which match anywhere, even inside words).
* Bytes are mapped with the ByteLevel alphabet (all 256 bytes are in the vocabulary), so no
  input produces ``<unk>`` and ``decode(encode(x)) == x`` exactly (no normaliser, no
  clean-up of spaces).

Every token in :data:`model.tokens.ALL_SPECIAL` is a special token with a fixed id at the start
of the vocabulary (``<pad>`` is 0). Encoding adds no BOS/EOS; callers add them where they want.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from model import tokens as T

# --------------------------------------------------------------------------- the symbol list
OPERATORS: tuple[str, ...] = (
    "|>", "->", "<-", "=>", "::", "<>", "++", "--", "..", "...", "//", "\\\\",
    "|||", "&&&", "<<<", ">>>", "^^^", "~~~", "<~>", "<~", "~>", "<<~", "~>>", "<|>",
    "===", "!==", "==", "!=", "<=", ">=", "=~", "&&", "||", "<<", ">>", "%{",
)
ATOMS: tuple[str, ...] = (
    ":ok", ":error", "nil", "true", "false", ":noreply", ":reply", ":stop", ":cont", ":halt",
    ":ignore", ":normal", ":infinity", ":shutdown",
)
ATTRIBUTES: tuple[str, ...] = (
    "@spec", "@doc", "@moduledoc", "@impl", "@behaviour", "@callback", "@type", "@typep",
    "@opaque", "@typedoc", "@derive", "@enforce_keys", "@macrocallback", "@optional_callbacks",
)
KEYWORDS: tuple[str, ...] = (
    "defmodule", "def", "defp", "defmacro", "defmacrop", "defstruct", "defprotocol", "defimpl",
    "defdelegate", "defexception", "defguard", "defguardp", "defoverridable",
    "do", "end", "fn", "when", "case", "cond", "with", "receive", "after", "else", "rescue",
    "catch", "try", "if", "unless", "for", "import", "alias", "require", "use", "quote",
    "unquote", "raise", "and", "or", "not", "in",
)
SIGILS: tuple[str, ...] = (
    "~r", "~R", "~s", "~S", "~w", "~W", "~c", "~C", "~D", "~N", "~T", "~U",
)
EXUNIT: tuple[str, ...] = (
    "describe", "test", "assert", "refute", "assert_raise", "assert_receive", "refute_receive",
    "property", "check all", "setup", "doctest",
)

#: Every symbol that must encode to exactly one token in code context.
SYMBOLS: tuple[str, ...] = OPERATORS + ATOMS + ATTRIBUTES + KEYWORDS + SIGILS + EXUNIT

_IDENT_CHAR = r"\p{L}\p{N}_"
_SIGIL_DELIMS = r"""/|"'(\[{<"""


def _alt(items: Iterable[str]) -> str:
    # Longest first so the regex engine's ordered alternation prefers the longer operator.
    return "|".join(re.escape(s).replace("\\ ", " ") for s in sorted(set(items), key=len, reverse=True))


def _symbol_regex() -> str:
    words = ATOMS + ATTRIBUTES + KEYWORDS + EXUNIT  # word-like: guarded on both sides
    word_part = rf"(?<![{_IDENT_CHAR}:@])(?:{_alt(words)})(?![{_IDENT_CHAR}?!@])"
    sigil_part = rf"(?:{_alt(SIGILS)})(?=[{_SIGIL_DELIMS}])"
    op_part = rf"(?:{_alt(OPERATORS)})"
    return rf"(?:{word_part}|{sigil_part}|{op_part})"


def pretokenize_pattern() -> str:
    """The one regex whose matches are the pre-tokenizer's chunks (every character is in one)."""
    ident = rf" ?[\p{{L}}_][{_IDENT_CHAR}]*[?!]?"
    number = r" ?\p{N}+"
    ws = r"\s+(?!\S)|\s+"
    sym = _symbol_regex()
    # any other atom or module attribute is one chunk too (`:okay`, `@endpoint`)
    atom = rf" ?[:@][\p{{L}}_][{_IDENT_CHAR}]*[?!]?"
    # punctuation runs stop before any symbol would start
    punct = rf" ?(?:(?!{sym}|{atom})[^\s\p{{L}}\p{{N}}_])+"
    return rf" ?{sym}|{atom}|{ident}|{number}|{punct}|{ws}"


def symbol_forms() -> list[str]:
    """The vocabulary entries added for the symbols (bare and with a leading space)."""
    forms: list[str] = []
    for s in SYMBOLS:
        forms += [s, " " + s]
    return forms


# --------------------------------------------------------------------------- build / train
def _pre_tokenizer():
    from tokenizers import Regex, pre_tokenizers

    return pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pretokenize_pattern()), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])


def _special_kwargs() -> dict:
    named = {T.PAD, T.BOS, T.EOS, T.UNK, T.MASK}
    return dict(
        pad_token=T.PAD, bos_token=T.BOS, eos_token=T.EOS, unk_token=T.UNK, mask_token=T.MASK,
        additional_special_tokens=[t for t in T.ALL_SPECIAL if t not in named],
        clean_up_tokenization_spaces=False,
    )


def _wrap(tok):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=tok, **_special_kwargs())


def _to_byte_level(s: str) -> str:
    """``s`` in the ByteLevel alphabet (how the BPE vocabulary spells it)."""
    from tokenizers import pre_tokenizers

    return "".join(p for p, _ in pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False).pre_tokenize_str(s))


def train_tokenizer(texts: Iterable[str], vocab_size: int, *, symbols: bool = True,
                    show_progress: bool = False):
    """Train a byte-level BPE on ``texts``; a ``transformers.PreTrainedTokenizerFast``.

    ``vocab_size`` is the final vocabulary size including special tokens (and, with
    ``symbols=True``, the Elixir symbol entries). ``symbols=False`` gives the plain byte-level
    BPE baseline (GPT-2 style chunks, no symbol list)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    specials = list(T.ALL_SPECIAL)
    forms = symbol_forms() if symbols else []
    minimum = len(specials) + 256 + len(forms)
    if vocab_size < minimum:
        raise ValueError(f"vocab_size {vocab_size} is too small: at least {minimum} "
                         f"({len(specials)} special tokens, 256 bytes, {len(forms)} symbol entries)")
    tok = Tokenizer(models.BPE(unk_token=T.UNK, ignore_merges=symbols))
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(forms), special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=show_progress,
    )
    if not symbols:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tok.train_from_iterator(_nonempty(texts), trainer=trainer)
        return _wrap(tok)
    # BPE learns from every chunk except the symbols: they get their own vocabulary entries
    # afterwards, so no merge budget is spent on them and no merge builds ":ok" out of ":okay".
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(_CHUNK_SEP, behavior="removed"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.train_from_iterator(_training_chunks(texts, set(forms)), trainer=trainer)
    tok.pre_tokenizer = _pre_tokenizer()
    return _wrap(_add_symbols(tok, forms))


_CHUNK_SEP = "\ue000"  # a private-use character: joins pre-computed chunks for the trainer


def _training_chunks(texts: Iterable[str], skip: set[str]) -> Iterator[str]:
    from tokenizers import Regex, pre_tokenizers

    splitter = pre_tokenizers.Split(Regex(pretokenize_pattern()), behavior="isolated")
    for text in texts:
        if text:
            yield _CHUNK_SEP.join(c for c, _ in splitter.pre_tokenize_str(text) if c not in skip)


def _nonempty(texts: Iterable[str]) -> Iterator[str]:
    for t in texts:
        if t:
            yield t


def _add_symbols(tok, forms: list[str]):
    """Put every symbol form into the BPE vocabulary (the model has ``ignore_merges``)."""
    from tokenizers import Tokenizer

    data = json.loads(tok.to_str())
    vocab: dict[str, int] = data["model"]["vocab"]
    next_id = max(vocab.values()) + 1
    for form in forms:
        key = _to_byte_level(form)
        if key not in vocab:
            vocab[key] = next_id
            next_id += 1
    data["model"]["ignore_merges"] = True
    return Tokenizer.from_str(json.dumps(data))


def load_tokenizer(directory: str | Path):
    """Load a tokenizer saved with ``save_pretrained(dir)`` (reads ``dir/tokenizer.json``)."""
    from tokenizers import Tokenizer

    path = Path(directory) / "tokenizer.json"
    if not path.is_file():
        raise FileNotFoundError(f"{directory}: no tokenizer.json here "
                                "(train one with `elixir-coder tokenizer train`)")
    return _wrap(Tokenizer.from_file(str(path)))


# --------------------------------------------------------------------------- checks
def symbol_is_single_token(tokenizer, code: str, start: int, symbol: str) -> bool:
    """Whether ``symbol`` at ``code[start:]`` is covered by exactly one token that holds nothing
    else but (at most) one leading space."""
    enc = tokenizer(code, add_special_tokens=False, return_offsets_mapping=True)
    end = start + len(symbol)
    covering = [(s, e) for s, e in enc["offset_mapping"] if s < end and e > start]
    if len(covering) != 1:
        return False
    s, e = covering[0]
    return e == end and (s == start or (s == start - 1 and code[s] == " "))


#: Default vocabulary size for the default corpus (a few MB of Elixir; docs/corpus.md says why).
DEFAULT_VOCAB_SIZE = 8192


def symbol_examples() -> list[tuple[str, str, int]]:
    """(symbol, code, offset): each listed symbol inside a line of Elixir code, at ``offset``."""
    out = []
    for s in SYMBOLS:
        if s in OPERATORS:
            code = f"x = a {s} b"
        elif s in SIGILS:
            code = f"x = {s}/abc/"
        elif s in ATTRIBUTES:
            code = f"  {s} true"
        elif s in ATOMS:
            code = f"x = {{{s}, y}}" if s.startswith(":") else f"x = {s}"
        elif s == "check all":
            code = "    check all x <- integer() do"
        else:
            code = f"  {s} x"
        out.append((s, code, code.index(s)))
    return out


def check(tokenizer, texts: Iterable[str], *, symbols: bool = True, progress: bool = False) -> dict:
    """What the issue promises, measured: exact round trip per text, unknown tokens, listed
    symbols as single tokens in code context, and fertility (tokens per line and per char)."""
    unk = tokenizer.unk_token_id
    files = ok = unknown = n_tokens = n_lines = n_chars = 0
    failures: list[int] = []
    for i, text in enumerate(texts):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        files += 1
        if tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False) == text:
            ok += 1
        elif len(failures) < 10:
            failures.append(i)
        unknown += sum(1 for t in ids if t == unk)
        n_tokens += len(ids)
        n_lines += text.count("\n") + (0 if text.endswith("\n") else 1)
        n_chars += len(text)
    single = [s for s, code, at in symbol_examples() if symbol_is_single_token(tokenizer, code, at, s)]
    return {"files": files, "round_trip_ok": ok, "round_trip_failures": failures,
            "unknown_tokens": unknown, "tokens": n_tokens,
            "tokens_per_line": n_tokens / max(n_lines, 1), "tokens_per_char": n_tokens / max(n_chars, 1),
            "symbols_total": len(SYMBOLS), "symbols_single": len(single),
            "symbols_not_single": sorted(set(SYMBOLS) - set(single))}
