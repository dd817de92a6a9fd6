"""Training objectives as data collators, their weighted mixture and the curriculum.

Owns the text-level objectives (each turns a corpus unit into an :class:`Example`: a task, an
encoder source and a decoder target), :class:`Curriculum` (short and simple first), and
:class:`MixtureCollator`, which picks an objective per unit by weight, builds the K-BERT
sentence tree of the source (``model/kbert.py``) and pads everything for the model.

Objectives (``OBJECTIVES``): ``span`` (T5 span corruption, 15% noise, mean span 3, sentinels),
``fim`` (fill-in-the-middle, prefix-suffix-middle or suffix-prefix-middle, SPM rate 0.5),
``ident`` (identifier-aware masking: every occurrence of the chosen identifiers), ``code2test``
and ``test2code`` (code-test pairs), ``doc2code`` and ``code2doc`` (``@doc`` + the function after
it), ``assert`` (mask the expected values of asserts and doctest results), ``ontology`` (the
seed's ``[ONTOLOGY]`` context: KG facts about the module, then the module to write).

Every choice comes from a ``random.Random`` seeded by (seed, unit index, step), so a resumed run
sees exactly the batches the interrupted one would have seen.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from model.tokens import EOS, FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX, ONTOLOGY, SENTINELS, SEP, TASKS


@dataclass
class Example:
    task: str
    source: str
    target: str


@dataclass
class Context:
    """What objectives may use: the tokenizer (offsets), an entity index (ontology facts), limits."""
    tokenizer: object
    index: object | None = None
    max_chars: int = 2048
    noise: float = 0.15
    mean_span: float = 3.0
    spm_rate: float = 0.5


# ---- span corruption ---------------------------------------------------------------------------
def _random_segmentation(total: int, parts: int, rng: random.Random) -> list[int]:
    """``total`` items in ``parts`` non-empty segments, uniformly (T5's random_spans_noise_mask)."""
    cuts = sorted(rng.sample(range(1, total), parts - 1)) if parts > 1 else []
    bounds = [0, *cuts, total]
    return [b - a for a, b in zip(bounds, bounds[1:])]


def span_corruption(unit: dict, rng: random.Random, ctx: Context) -> Example | None:
    text = unit.get("text") or unit.get("code") or ""
    enc = ctx.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    offsets = enc["offset_mapping"]
    n = len(offsets)
    if n < 4:
        return None
    noise = max(1, min(n - 1, round(n * ctx.noise)))
    spans = max(1, min(len(SENTINELS), round(noise / ctx.mean_span), noise, n - noise))
    noise_lens = _random_segmentation(noise, spans, rng)
    keep_lens = _random_segmentation(n - noise, spans, rng)
    src, tgt, t = [TASKS["span"]], [], 0
    for i, (k, z) in enumerate(zip(keep_lens, noise_lens)):
        a, b = t + k, t + k + z
        src.append(text[offsets[t][0]:offsets[a][0]] if t < a else "")
        src.append(SENTINELS[i])
        tgt.append(SENTINELS[i] + text[offsets[a][0]:offsets[b - 1][1]])
        t = b
    return Example("span", "".join(src), "".join(tgt))


# ---- fill in the middle ------------------------------------------------------------------------
def fill_in_the_middle(unit: dict, rng: random.Random, ctx: Context) -> Example | None:
    text = unit.get("text") or ""
    if len(text) < 8:
        return None
    a, b = sorted(rng.sample(range(len(text) + 1), 2))
    prefix, middle, suffix = text[:a], text[a:b], text[b:]
    if rng.random() < ctx.spm_rate:   # suffix-prefix-middle
        src = f"{TASKS['fim']}{FIM_SUFFIX}{suffix}{FIM_PREFIX}{prefix}{FIM_MIDDLE}"
    else:                             # prefix-suffix-middle
        src = f"{TASKS['fim']}{FIM_PREFIX}{prefix}{FIM_SUFFIX}{suffix}{FIM_MIDDLE}"
    return Example("fim", src, middle)


# ---- identifier-aware masking --------------------------------------------------------------------
_IDENT = re.compile(r"(?<![\w:@.])([a-z_][A-Za-z0-9_]*[?!]?)(?![\w])")
_KEYWORDS = frozenset("""def defp defmodule defmacro defmacrop defstruct defprotocol defimpl defguard do end
    fn when and or not in if else unless case cond with for receive after try catch rescue raise
    true false nil use alias import require quote unquote _ assert refute test describe""".split())


def identifier_masking(unit: dict, rng: random.Random, ctx: Context) -> Example | None:
    text = unit.get("text") or ""
    found = [m for m in _IDENT.finditer(text) if m.group(1) not in _KEYWORDS and not m.group(1).startswith("_")]
    names = sorted({m.group(1) for m in found})
    if not names:
        return None
    k = max(1, min(len(SENTINELS), round(len(names) * ctx.noise)))
    chosen = rng.sample(names, k)
    slot = {name: SENTINELS[i] for i, name in enumerate(chosen)}
    src = _IDENT.sub(lambda m: slot.get(m.group(1), m.group(1)), text)
    tgt = "".join(f"{slot[n]}{n}" for n in chosen)
    return Example("ident", TASKS["ident"] + src, tgt)


# ---- pairs ------------------------------------------------------------------------------------------
def code_to_test(unit: dict, rng: random.Random, ctx: Context) -> Example | None:
    if not unit.get("code") or not unit.get("test"):
        return None
    return Example("code2test", TASKS["code2test"] + unit["code"], unit["test"])


def test_to_code(unit: dict, rng: random.Random, ctx: Context) -> Example | None:
    if not unit.get("code") or not unit.get("test"):
        return None
    return Example("test2code", TASKS["test2code"] + unit["test"], unit["code"])


# ---- docs ---------------------------------------------------------------------------------------------
_DOC = re.compile(r'^([ \t]*)@doc\s+(?:"""\n?(.*?)"""|"((?:[^"\\]|\\.)*)")[ \t]*\n', re.M | re.S)


def doc_code_pairs(text: str) -> list[tuple[str, str]]:
    """(doc, function) pairs: an ``@doc`` and the ``def`` after it (attributes such as ``@spec``
    in between kept): a ``, do:`` one-liner, a ``do`` block up to its ``end`` at the same
    indentation, or a bodiless head."""
    out = []
    for m in _DOC.finditer(text):
        indent, doc = m.group(1), (m.group(2) if m.group(2) is not None else m.group(3))
        lines = text[m.end():].split("\n")
        body: list[str] = []
        i = 0
        while i < len(lines) and lines[i].startswith(indent + "@") and not lines[i].startswith(indent + "@doc"):
            body.append(lines[i])
            i += 1
        if i >= len(lines) or not re.match(rf"{re.escape(indent)}def[pm]?\w*\s", lines[i]):
            continue
        head = lines[i]
        body.append(head)
        if ", do:" not in head:
            block = head.rstrip().endswith(" do")
            for line in lines[i + 1:]:
                if block:
                    body.append(line)
                    if line.rstrip() == indent + "end":
                        break
                elif line.strip() and len(line) - len(line.lstrip()) > len(indent):
                    body.append(line)
                else:
                    break
        code = "\n".join(body).strip("\n")
        if doc and doc.strip():
            out.append((doc.strip(), code))
    return out


def doc_to_code(unit: dict, rng: random.Random, ctx: Context) -> Example | None:
    pairs = doc_code_pairs(unit.get("text") or "")
    if not pairs:
        return None
    doc, code = rng.choice(pairs)
    return Example("doc2code", TASKS["doc2code"] + doc, code)


def code_to_doc(unit: dict, rng: random.Random, ctx: Context) -> Example | None:
    pairs = doc_code_pairs(unit.get("text") or "")
    if not pairs:
        return None
    doc, code = rng.choice(pairs)
    return Example("code2doc", TASKS["code2doc"] + code, doc)


# ---- assert completion ---------------------------------------------------------------------------
_ASSERT = re.compile(r"^([ \t]*(?:assert|refute)\s+.+?\s(?:==|===|=~|!=)\s)(.+)$", re.M)
_IEX = re.compile(r"^([ \t]*iex>[^\n]*\n)([ \t]*(?!iex>|\.\.\.>)\S[^\n]*)$", re.M)


def assert_completion(unit: dict, rng: random.Random, ctx: Context) -> Example | None:
    text = unit.get("text") or unit.get("test") or ""
    hits = [(m.start(2), m.end(2)) for m in _ASSERT.finditer(text)]
    hits += [(m.start(2), m.end(2)) for m in _IEX.finditer(text)]
    if not hits:
        return None
    hits = sorted(hits)[: len(SENTINELS)]
    src, tgt, last = [TASKS["assert"]], [], 0
    for i, (a, b) in enumerate(hits):
        src.append(text[last:a])
        src.append(SENTINELS[i])
        tgt.append(SENTINELS[i] + text[a:b])
        last = b
    src.append(text[last:])
    return Example("assert", "".join(src), "".join(tgt))


# ---- ontology prefix ---------------------------------------------------------------------------------
_DEFMODULE = re.compile(r"^\s*defmodule\s+([A-Z][\w.]*)\s+do\s*$", re.M)


def ontology_context(unit: dict, rng: random.Random, ctx: Context) -> Example | None:
    """``<ontology> facts about the module <sep> <task_generate> defmodule M do`` -> the rest."""
    text = unit.get("text") or ""
    m = _DEFMODULE.search(text)
    if m is None or ctx.index is None:
        return None
    iri = ctx.index.modules.get(m.group(1))
    facts = ctx.index.facts(iri) if iri else []
    if not facts:
        return None
    context = "; ".join(f"{m.group(1)} {rel} {obj}" for rel, obj in facts[:12])
    head = text[:m.end()]
    return Example("ontology", f"{ONTOLOGY} {context} {SEP}{TASKS['generate']}{head}", text[m.end():])


OBJECTIVES: dict[str, Callable[[dict, random.Random, Context], Example | None]] = {
    "span": span_corruption,
    "fim": fill_in_the_middle,
    "ident": identifier_masking,
    "code2test": code_to_test,
    "test2code": test_to_code,
    "doc2code": doc_to_code,
    "code2doc": code_to_doc,
    "assert": assert_completion,
    "ontology": ontology_context,
}
PAIR_OBJECTIVES = ("code2test", "test2code")
SIMPLE = ("span", "fim")

DEFAULT_WEIGHTS = {"span": 0.3, "fim": 0.2, "ident": 0.1, "code2test": 0.1, "test2code": 0.05,
                   "doc2code": 0.08, "code2doc": 0.05, "assert": 0.07, "ontology": 0.05}


class Curriculum:
    """Short and simple first: for the first ``warmup`` fraction of ``total_steps`` the text
    window grows from ``start`` of its full length, and objectives other than ``SIMPLE``
    are phased in linearly."""

    def __init__(self, total_steps: int, warmup: float = 0.3, start: float = 0.25):
        self.total_steps = max(1, total_steps)
        self.warmup = warmup
        self.start = start

    def progress(self, step: int) -> float:
        if self.warmup <= 0:
            return 1.0
        return min(1.0, step / (self.warmup * self.total_steps))

    def length_fraction(self, step: int) -> float:
        return self.start + (1 - self.start) * self.progress(step)

    def weights(self, base: dict[str, float], step: int) -> dict[str, float]:
        p = self.progress(step)
        return {k: (w if k in SIMPLE else w * p) for k, w in base.items()}


def _cut(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    cut = text.rfind("\n", 0, max_chars)
    return text[: cut + 1 if cut > max_chars // 2 else max_chars]


def make_example(unit: dict, rng: random.Random, ctx: Context, weights: dict[str, float],
                 max_chars: int | None = None) -> Example:
    """One example from a unit: an objective drawn by weight among those that apply."""
    is_pair = unit.get("kind") == "pair"
    limit = max_chars or ctx.max_chars
    if is_pair:
        unit = {**unit, "code": _cut(unit["code"], limit), "test": _cut(unit["test"], limit)}
    else:
        unit = {**unit, "text": _cut(unit.get("text") or "", limit)}
    names = [k for k, w in weights.items() if w > 0 and ((k in PAIR_OBJECTIVES) == is_pair)]
    if is_pair:
        names += [k for k in ("assert",) if weights.get(k, 0) > 0]
    tried = set()
    while names:
        ws = [weights[k] for k in names]
        name = rng.choices(names, ws)[0]
        ex = OBJECTIVES[name](unit, rng, ctx)
        if ex is not None:
            return ex
        tried.add(name)
        names = [k for k in names if k not in tried]
    fallback = unit if not is_pair else {"text": unit["code"]}
    return span_corruption(fallback, rng, ctx) or Example("span", TASKS["span"] + fallback.get("text", ""), EOS)


class MixtureCollator:
    """Trainer data collator: features are ``{"idx", "unit"}`` (training: objective drawn here)
    or ``{"example": Example}`` (evaluation sets, fixed in advance). With ``samples_per_step``
    the optimizer step of a sample is ``idx // samples_per_step`` (``train.UnitDataset`` lays
    samples out in time); otherwise ``self.step``."""

    def __init__(self, tokenizer, injector, config, weights: dict[str, float] | None = None,
                 curriculum: Curriculum | None = None, seed: int = 0, samples_per_step: int | None = None):
        self.tokenizer = tokenizer
        self.injector = injector
        self.config = config
        self.weights = dict(weights or DEFAULT_WEIGHTS)
        unknown = set(self.weights) - set(OBJECTIVES)
        if unknown:
            raise ValueError(f"unknown objective(s) {sorted(unknown)}; known: {', '.join(OBJECTIVES)}")
        self.curriculum = curriculum
        self.seed = seed
        self.samples_per_step = samples_per_step
        self.step = 0     # used when samples_per_step is None
        self.ctx = Context(tokenizer, getattr(injector, "index", None), max_chars=config.max_source_len * 4)

    def example(self, feature: dict) -> Example:
        if "example" in feature:
            return feature["example"]
        idx = int(feature["idx"])
        step = idx // self.samples_per_step if self.samples_per_step else self.step
        rng = random.Random(hash((self.seed, idx, step)) & 0xFFFFFFFF)
        weights, max_chars = self.weights, self.ctx.max_chars
        if self.curriculum is not None:
            weights = self.curriculum.weights(self.weights, step)
            max_chars = max(64, int(max_chars * self.curriculum.length_fraction(step)))
        return make_example(feature["unit"], rng, self.ctx, weights, max_chars)

    def encode(self, examples: Sequence[Example]) -> dict:
        batch = self.injector.collate([self.injector.build(e.source, self.config.max_source_len) for e in examples])
        tok = self.tokenizer
        eos = tok.eos_token_id
        targets = [tok(e.target, add_special_tokens=False, truncation=True,
                       max_length=self.config.max_target_len - 1)["input_ids"] + [eos] for e in examples]
        m = max(len(t) for t in targets)
        labels = torch.full((len(targets), m), -100, dtype=torch.long)
        for r, t in enumerate(targets):
            labels[r, :len(t)] = torch.tensor(t)
        batch["labels"] = labels
        batch["decoder_attention_mask"] = (labels != -100).long()
        return batch

    def __call__(self, features: list[dict]) -> dict:
        return self.encode([self.example(f) for f in features])


def tokens_in(batch: dict) -> int:
    """Encoder + decoder tokens of a batch (throughput accounting)."""
    return int(batch["attention_mask"].sum()) + int((batch["labels"] != -100).sum())


__all__ = ["Example", "Context", "OBJECTIVES", "DEFAULT_WEIGHTS", "Curriculum", "MixtureCollator",
           "make_example", "doc_code_pairs", "tokens_in", "np"]
