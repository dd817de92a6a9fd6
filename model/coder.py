"""The generation API (contract 4): :class:`Coder`.

Owns the user-facing calls: ``Coder.from_pretrained(dir, kg=...)``, :meth:`Coder.generate`
(code from a prompt, constrained by the syntax machine and the KG monitor, then checked and
repaired), :meth:`Coder.complete` (the raw sampling step the evaluation measures),
:meth:`Coder.generate_tests` and :meth:`Coder.explain`. The model is
:class:`model.modeling.ElixirCoder`; the constraints live in :mod:`model.constrained`, the checks
and repairs in :mod:`model.repair`, clarification in :mod:`model.clarify`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from transformers import LogitsProcessorList

from model import tokens as T
from model.constrained.syntax import ParserOracle, SyntaxLogitsProcessor, token_texts


@dataclass
class Completion:
    """One sampled continuation of a prompt."""

    text: str
    seconds: float            # wall time of the whole batch this sample was drawn in, per sample
    new_tokens: int
    stopped: str              # "eos" | "stop_token" | "length"
    constraint_seconds: float = 0.0
    monitor_reports: list = field(default_factory=list)
    monitor_refusals: int = 0


@dataclass
class Generation:
    """What :meth:`Coder.generate` returns: the code and the checks it passed."""

    prompt: str
    code: str                 # prompt + completion (the whole program text)
    completion: str
    checks: dict              # name -> {"passed": bool, "detail": ...}
    repairs: list = field(default_factory=list)
    clarification: object | None = None  # a model.clarify.Clarification when the prompt was ambiguous
    seconds: float = 0.0
    constrained: bool = True

    @property
    def passed(self) -> bool:
        return all(c["passed"] for c in self.checks.values())

    def to_dict(self) -> dict:
        return {"prompt": self.prompt, "code": self.code, "completion": self.completion,
                "checks": self.checks, "passed": self.passed, "repairs": self.repairs,
                "clarification": self.clarification.to_dict() if self.clarification else None,
                "seconds": round(self.seconds, 3), "constrained": self.constrained}


def truncate_at_stop(text: str, stop_tokens) -> tuple[str, bool]:
    """``text`` up to the first stop token (MultiPL-E rule), and whether one was found."""
    cut = min((i for i in (text.find(s) for s in stop_tokens or ()) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


class Coder:
    """Code generation with an :class:`~model.modeling.ElixirCoder` and a knowledge graph."""

    def __init__(self, model, kg=None, *, sandbox=None, oracle=None):
        self.model = model
        self.tokenizer = model.tokenizer
        self.kg = kg
        self._sandbox = sandbox
        self.oracle = oracle or ParserOracle()
        self._texts = None
        self._syntax_cache: dict = {}
        self._kg_cache: dict = {}

    @classmethod
    def from_pretrained(cls, directory: str | Path, kg=None, **kwargs) -> "Coder":
        from model.modeling import ElixirCoder
        model = ElixirCoder.from_pretrained(directory)
        model.eval()
        return cls(model, kg, **kwargs)

    @property
    def sandbox(self):
        if self._sandbox is None:
            from model.sandbox import default
            self._sandbox = default()
        return self._sandbox

    @property
    def texts(self) -> list:
        if self._texts is None:
            self._texts = token_texts(self.tokenizer)
        return self._texts

    # ---- sampling ----------------------------------------------------------------------------
    def complete(self, prompt: str, *, constrained: bool = True, monitor: bool = True,
                 max_new_tokens: int = 128, num_samples: int = 1, temperature: float = 0.0,
                 stop_tokens=(), task: str = "generate", context: str = "",
                 continues: bool = True) -> list[Completion]:
        """Sample ``num_samples`` continuations of ``prompt`` (greedy when temperature is 0).
        ``constrained`` adds the syntax processor (and, with ``monitor`` and a KG, the KG
        monitor); ``context`` is extra encoder text (an error to repair). ``continues``: the
        output continues ``prompt`` (generation); otherwise it is a text of its own (tests)."""
        source = T.TASKS[task] + (context + T.SEP if context else "") + prompt
        kwargs = dict(max_new_tokens=max_new_tokens, num_return_sequences=num_samples,
                      eos_token_id=self.tokenizer.eos_token_id)
        if temperature and temperature > 0:
            kwargs.update(do_sample=True, temperature=float(temperature), top_k=64)
        else:
            kwargs.update(do_sample=False, num_beams=1)
        proc = None
        if constrained:
            factory = None
            if monitor and self.kg is not None:
                from model.constrained.monitor import KGMonitor
                factory = lambda p: KGMonitor(self.kg, p, cache=self._kg_cache)  # noqa: E731
            proc = SyntaxLogitsProcessor(self.tokenizer, [prompt if continues else ""], max_new_tokens=max_new_tokens,
                                         oracle=self.oracle, texts=self.texts, cache=self._syntax_cache,
                                         num_return_sequences=num_samples, monitor_factory=factory)
            kwargs["logits_processor"] = LogitsProcessorList([proc])
        t0 = time.perf_counter()
        ids = self.model.generate_ids([source], kg=self.kg, **kwargs)
        seconds = (time.perf_counter() - t0) / max(1, num_samples)
        out = []
        for i, row in enumerate(ids.tolist()):
            row = row[1:]  # the decoder start token
            stopped = "length"
            if self.tokenizer.eos_token_id in row:
                row = row[:row.index(self.tokenizer.eos_token_id)]
                stopped = "eos"
            row = [t for t in row if t != self.tokenizer.pad_token_id]
            text = self.tokenizer.decode(row, skip_special_tokens=True)
            text, hit = truncate_at_stop(text, stop_tokens)
            if hit:
                stopped = "stop_token"
            c = Completion(text, seconds, len(row), stopped)
            if proc is not None:
                c.constraint_seconds = proc.stats["seconds"] / max(1, num_samples)
                if proc.monitors is not None:
                    c.monitor_reports = [getattr(r, "message", str(r)) for r in proc.monitors[i].reports]
                    c.monitor_refusals = proc.monitors[i].refused
            out.append(c)
        self.last_stats = proc.stats if proc is not None else None
        return out

    # ---- the API ------------------------------------------------------------------------------
    def generate(self, prompt: str, constrained: bool = True, max_new_tokens: int = 128,
                 num_samples: int = 1, temperature: float = 0.0, *, repair_rounds: int = 2,
                 clarify: bool = False, compile_check: bool = True, stop_tokens=()) -> Generation:
        """Code for ``prompt``: sample, check (parse, KG, compile in the sandbox), repair up to
        ``repair_rounds`` times; with several samples the best-checked one is returned. With
        ``clarify`` (and num_samples > 1) the samples are run on the prompt's examples first and
        a prompt whose samples disagree gets clarifying questions instead of code."""
        from model.repair import check, repair
        t0 = time.perf_counter()
        samples = self.complete(prompt, constrained=constrained, max_new_tokens=max_new_tokens,
                                num_samples=num_samples, temperature=temperature,
                                stop_tokens=stop_tokens)
        if clarify and num_samples > 1:
            from model.clarify import clarify as run_clarify
            cl = run_clarify(prompt, [s.text for s in samples], sandbox=self.sandbox)
            if cl.ambiguous:
                return Generation(prompt, "", "", {}, clarification=cl,
                                  seconds=time.perf_counter() - t0, constrained=constrained)
        best = None
        for s in samples:
            checks = check(prompt, s.text, kg=self.kg, sandbox=self.sandbox if compile_check else None,
                           oracle=self.oracle, monitor_reports=s.monitor_reports)
            score = sum(c["passed"] for c in checks.values())
            if best is None or score > best[0]:
                best = (score, s, checks)
        _, sample, checks = best
        completion, repairs = sample.text, []
        if not all(c["passed"] for c in checks.values()) and repair_rounds > 0:
            completion, checks, repairs = repair(self, prompt, completion, checks, rounds=repair_rounds,
                                                 constrained=constrained, max_new_tokens=max_new_tokens,
                                                 compile_check=compile_check, stop_tokens=stop_tokens)
        return Generation(prompt, prompt + completion, completion, checks, repairs,
                          seconds=time.perf_counter() - t0, constrained=constrained)

    def generate_tests(self, code: str, *, max_new_tokens: int = 192, constrained: bool = True) -> str:
        """An ExUnit test module for ``code`` (task code2test), syntax-constrained."""
        c = self.complete(code, constrained=constrained, monitor=False, max_new_tokens=max_new_tokens,
                          task="code2test", continues=False)
        return c[0].text

    def explain(self, code: str, *, max_new_tokens: int = 96) -> str:
        """A documentation-style explanation of ``code`` (task code2doc; prose, unconstrained)."""
        c = self.complete(code, constrained=False, max_new_tokens=max_new_tokens, task="code2doc",
                          continues=False)
        return c[0].text.strip()
