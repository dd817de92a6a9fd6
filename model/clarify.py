"""Ambiguity detection and clarifying questions (ClarifyGPT, Mu et al. 2023).

Owns :func:`clarify`: given a prompt and k sampled completions, run every sample in the
sandbox on the same inputs, group the samples by the outputs they produce, and, when they
fall into more than one group, return structured clarifying questions (for each input where
the groups disagree: the call and the distinct answers) instead of code.

Inputs come from the prompt itself: ``iex>`` examples in its docs, the calls of benchmark
``examples`` when given, else values derived from the ``@spec`` types of the function (or,
without a spec, from its parameter names). Every sample runs once, all inputs in one program;
a sample that does not compile or raises is a group of its own ("error").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

_MODULE = re.compile(r"^\s*defmodule\s+([A-Z][\w.]*)\s+do", re.M)
_DEF = re.compile(r"^\s*def\s+([a-z_]\w*[?!]?)\s*\(([^)]*)\)", re.M)
_SPEC = re.compile(r"@spec\s+([a-z_]\w*[?!]?)\((.*)\)\s*::", re.M)
_IEX = re.compile(r"^\s*iex>\s*(.+)$", re.M)

VALUES = {
    "integer": ["0", "1", "-3", "7", "12"],
    "non_neg_integer": ["0", "1", "5", "12"],
    "pos_integer": ["1", "2", "5", "12"],
    "float": ["0.0", "1.5", "-2.25"],
    "number": ["0", "3", "-1.5"],
    "string": ['""', '"abc"', '"Hello World"', '"a b a"'],
    "list": ["[]", "[1, 2, 3]", "[3, -1, 2, 2]"],
    "map": ["%{}", "%{a: 1, b: 2}"],
    "boolean": ["true", "false"],
    "atom": [":a", ":ok"],
    "any": ["0", '"abc"', "[1, 2]"],
}


def _type_values(t: str) -> list[str]:
    t = t.strip().split("::")[-1].strip()
    if t.startswith("list(") or t.startswith("[") or t == "list()":
        return VALUES["list"]
    for name, vals in (("String.t", "string"), ("binary", "string"), ("non_neg_integer", "non_neg_integer"),
                       ("pos_integer", "pos_integer"), ("integer", "integer"), ("float", "float"),
                       ("number", "number"), ("map", "map"), ("%{", "map"), ("boolean", "boolean"),
                       ("atom", "atom")):
        if t.startswith(name):
            return VALUES[vals]
    return VALUES["any"]


def _name_values(param: str) -> list[str]:
    p = param.strip().split("\\\\")[0].strip().lstrip("_")
    if p in ("s", "str", "string", "text", "word", "a", "b") or p.endswith("_string") or p.endswith("str"):
        return VALUES["string"]
    if p in ("n", "k", "i", "count", "width", "size", "num") or p.endswith("_count"):
        return VALUES["non_neg_integer"]
    if p in ("m", "map") or p.endswith("_map"):
        return VALUES["map"]
    if p in ("list", "l", "xs", "items", "rows", "scores") or p.endswith("s"):
        return VALUES["list"]
    return VALUES["any"]


def derive_inputs(prompt: str, examples=None, limit: int = 8) -> list[str]:
    """Elixir call expressions to run every sample on."""
    calls = [e["call"] for e in (examples or []) if isinstance(e, dict) and e.get("call")]
    calls += [m.strip() for m in _IEX.findall(prompt)]
    if calls:
        return list(dict.fromkeys(calls))[:limit]
    mod = _MODULE.findall(prompt)
    defs = _DEF.findall(prompt)
    if not mod or not defs:
        return []
    module, (name, params) = mod[-1], defs[-1]
    params = [p for p in params.split(",") if p.strip()]
    spec = {n: a for n, a in _SPEC.findall(prompt)}.get(name)
    if spec is not None:
        columns = [_type_values(t) for t in _split_top(spec)]
    else:
        columns = [_name_values(p) for p in params]
    if not columns:
        return [f"{module}.{name}()"]
    width = max(len(c) for c in columns)
    return [f"{module}.{name}({', '.join(c[i % len(c)] for c in columns)})" for i in range(min(width, limit))]


def _split_top(s: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return out


def probe_program(prompt: str, completion: str, inputs: list[str]) -> str:
    """The sample followed by a script printing one JSON-ish line per input."""
    lines = ["", "defmodule ClarifyProbe__ do", "  def run(f) do",
             "    try do", "      inspect(f.(), limit: 50)",
             "    rescue", "      e -> \"raise \" <> inspect(e.__struct__)",
             "    catch", "      kind, _ -> \"#{kind}\"", "    end", "  end", "end"]
    for i, call in enumerate(inputs):
        lines.append(f'IO.puts("CLARIFY\\t{i}\\t" <> ClarifyProbe__.run(fn -> {call} end))')
    return prompt + completion + "\n" + "\n".join(lines) + "\n"


@dataclass
class Clarification:
    """The outcome: ``ambiguous`` with ``questions`` when the samples behave differently."""

    ambiguous: bool
    inputs: list = field(default_factory=list)
    clusters: list = field(default_factory=list)  # [{"samples": [i...], "outputs": [...]}]
    questions: list = field(default_factory=list)  # [{"input": call, "options": [answer...], "question": str}]

    def to_dict(self) -> dict:
        return {"ambiguous": self.ambiguous, "inputs": self.inputs, "clusters": self.clusters,
                "questions": self.questions}


def clarify(prompt: str, completions: list[str], *, sandbox=None, examples=None,
            inputs: list[str] | None = None, timeout: float = 20.0) -> Clarification:
    """Run each completion on the derived inputs and cluster them by behaviour."""
    if sandbox is None:
        from model.sandbox import default
        sandbox = default()
    inputs = inputs if inputs is not None else derive_inputs(prompt, examples)
    if not inputs or len(completions) < 2:
        return Clarification(False, inputs)
    behaviours = []
    for c in completions:
        res = sandbox.run_elixir(probe_program(prompt, c, inputs), timeout=timeout)
        out = ["error"] * len(inputs)
        for line in res.stdout.splitlines():
            parts = line.split("\t", 2)
            if len(parts) == 3 and parts[0] == "CLARIFY" and parts[1].isdigit():
                out[int(parts[1])] = parts[2]
        if res.timed_out:
            out = ["timeout"] * len(inputs)
        behaviours.append(tuple(out))
    groups: dict[tuple, list[int]] = {}
    for i, b in enumerate(behaviours):
        groups.setdefault(b, []).append(i)
    clusters = [{"samples": idx, "outputs": list(b)} for b, idx in
                sorted(groups.items(), key=lambda kv: -len(kv[1]))]
    # samples that produced nothing at all (did not compile) say nothing about intent
    working = [c for c in clusters if not all(o in ("error", "timeout") for o in c["outputs"])]
    if len(working) <= 1:
        return Clarification(False, inputs, clusters)
    questions = []
    for j, call in enumerate(inputs):
        answers = list(dict.fromkeys(c["outputs"][j] for c in working))
        if len(answers) > 1:
            questions.append({"input": call, "options": answers,
                              "question": f"What should {call} return: " + " or ".join(answers) + "?"})
    return Clarification(bool(questions), inputs, clusters, questions)


def dumps(c: Clarification) -> str:
    return json.dumps(c.to_dict(), indent=2)
