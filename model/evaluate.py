"""The evaluation harness (MultiPL-E format) behind ``elixir-coder eval``.

Owns the benchmark format and the measurements:

* a benchmark is JSONL, one problem a line: ``name``, ``prompt``, ``tests``, ``stop_tokens``
  (plus our optional ``kind`` and ``examples``); the program of a completion is
  ``prompt + completion + "\\n" + tests``, run as an ``.exs`` file in the sandbox
  (:mod:`model.sandbox`), passing when it exits 0 within the timeout;
* ``pass_at_1`` with the unbiased estimator of Chen et al. (2021), and ``pass_at_k`` for the
  sample count when k > 1;
* ``syntax_valid_rate``: share of samples whose ``prompt + completion`` the real parser accepts;
* ``hallucinated_call_rate``: share of remote calls (extracted by kg.extract) whose module is
  unknown to both the program and the KG, or whose name/arity the KG's module lacks;
* ``callback_errors``: callback diagnostics of :func:`reasoning.behaviour.check_module`
  (missing-callback, callback-arity, impl-not-callback);
* latency: ``mean_latency_s``/``p95_latency_s`` per problem (generation of all its samples),
  and the constraint overhead (time in the logits processors per generated token, and its share
  of the generation time).
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

REQUIRED = ("name", "prompt", "tests", "stop_tokens")
CALLBACK_KINDS = ("missing-callback", "callback-arity", "impl-not-callback")
_DEFMODULE = re.compile(r"^\s*(?:defmodule|defprotocol)\s+([A-Z][\w.]*)", re.M)
_DEFIMPL_FOR = re.compile(r"defimpl\s+[A-Z][\w.]*\s*,\s*for:\s*([A-Z][\w.]*)")


class BenchmarkError(ValueError):
    """The benchmark file is missing or a line is not a valid problem."""


def load_benchmark(path: str | Path, limit: int | None = None) -> list[dict]:
    """The problems of a MultiPL-E style JSONL file (clear errors naming the bad line)."""
    path = Path(path)
    if not path.is_file():
        raise BenchmarkError(f"{path}: no such benchmark file")
    problems = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            p = json.loads(line)
        except ValueError as e:
            raise BenchmarkError(f"{path}:{n}: not JSON ({e})") from None
        missing = [k for k in REQUIRED if not isinstance(p, dict) or k not in p]
        if missing:
            raise BenchmarkError(f"{path}:{n}: a problem needs {', '.join(missing)}")
        problems.append(p)
        if limit is not None and len(problems) >= limit:
            break
    if not problems:
        raise BenchmarkError(f"{path}: no problems in the file")
    return problems


def load_solutions(path: str | Path) -> dict[str, str]:
    out = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            out[r["name"]] = r["completion"]
    return out


def program(problem: dict, completion: str) -> str:
    return problem["prompt"] + completion + "\n" + problem["tests"]


def run_tests(problem: dict, completion: str, sandbox, timeout: float = 30.0):
    """The problem's tests on one completion, in the sandbox."""
    return sandbox.run_elixir(program(problem, completion), timeout=timeout)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c pass (Chen et al. 2021)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


# ---- static measurements ---------------------------------------------------------------------
_XSD = re.compile(r'^"(.*)"(\^\^<[^>]+>)?$')


def remote_calls(code: str) -> list[tuple[str, str, int, int]]:
    """``(module, name, arity, line)`` of each remote call (pipes and captures counted with
    their real arity), as the KG extractor sees them."""
    from kg.extract import FileContext, extract_source
    facts = extract_source(code.encode(), FileContext("eval", "0", "gen.ex"))
    remote, props = set(), {}
    for line in facts.lines:
        s, p, o = line[:-2].split(" ", 2)
        if p.endswith("#type>") and o.endswith("#RemoteCall>"):
            remote.add(s)
        elif p.endswith(("#calledModule>", "#calledName>", "#callArity>")):
            m = _XSD.match(o)
            props.setdefault(s, {})[p.rsplit("#", 1)[1][:-1]] = json.loads(f'"{m.group(1)}"') if m else o
    out = []
    for s in remote:
        d = props.get(s, {})
        if "calledModule" in d and "calledName" in d:
            lm = re.search(r"#call-(\d+)-", s)
            out.append((d["calledModule"], d["calledName"], int(d.get("callArity", 0)),
                        int(lm.group(1)) if lm else 0))
    return sorted(out, key=lambda x: x[3])


def defined_modules(code: str) -> set[str]:
    return set(_DEFMODULE.findall(code)) | set(_DEFIMPL_FOR.findall(code))


def hallucinated_calls(code: str, kg) -> tuple[int, list[tuple]]:
    """(remote calls checked, the hallucinated ones). Calls into modules the program defines
    are not counted (the compile check covers them)."""
    from reasoning.behaviour import module_functions
    own = defined_modules(code)
    checked, bad = 0, []
    for mod, name, arity, line in remote_calls(code):
        if mod in own or mod.startswith("__") or kg is None:
            continue
        checked += 1
        fns = module_functions(kg, mod)
        if fns is None:
            # an Erlang module the KG was not given proves nothing; an Elixir alias nobody has is made up
            if not mod.startswith(":"):
                bad.append((mod, name, arity, line, "unknown module"))
            else:
                checked -= 1
        elif not fns.get((name, arity), False):
            bad.append((mod, name, arity, line, "no such function/arity"))
    return checked, bad


def callback_errors(code: str, kg) -> list:
    if kg is None:
        return []
    from reasoning.behaviour import check_module
    try:
        return [d for d in check_module(kg, code) if d.kind in CALLBACK_KINDS]
    except Exception:
        return []


_UNCLOSED = ("missing terminator", "end of input", "unexpected end", "incomplete")


def syntax_error_kind(code: str) -> str:
    """``"unclosed"`` when the real parser's complaint is something left open at the end
    (missing terminator, end of input), else ``"other"`` (a token where it cannot be)."""
    from kg.sidecar import shared
    r = shared().parse(code)
    if r.ok:
        return "none"
    return "unclosed" if any(k in r.message for k in _UNCLOSED) else "other"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    v = sorted(values)
    k = (len(v) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


# ---- the harness ------------------------------------------------------------------------------
def evaluate(coder, problems: list[dict], *, samples: int = 1, constrained: bool = True,
             temperature: float | None = None, max_new_tokens: int = 160, sandbox=None,
             oracle=None, progress: bool = True, timeout: float = 30.0) -> dict:
    """Generate ``samples`` completions per problem and measure them (see module doc)."""
    from model.constrained.syntax import ParserOracle
    if sandbox is None:
        sandbox = coder.sandbox
    oracle = oracle or ParserOracle()
    if temperature is None:
        temperature = 0.0 if samples == 1 else 0.8
    rows, latencies = [], []
    tot_samples = syntax_ok = calls_checked = halluc = cb_errors = 0
    error_kinds: dict[str, int] = {}
    gen_seconds = constraint_seconds = 0.0
    new_tokens = 0
    bar = _progress(len(problems), "constrained" if constrained else "unconstrained", progress)
    for prob in problems:
        t0 = time.perf_counter()
        comps = coder.complete(prob["prompt"], constrained=constrained, max_new_tokens=max_new_tokens,
                               num_samples=samples, temperature=temperature,
                               stop_tokens=prob.get("stop_tokens") or ())
        latency = time.perf_counter() - t0
        latencies.append(latency)
        gen_seconds += latency
        passed = 0
        details = []
        for c in comps:
            tot_samples += 1
            new_tokens += c.new_tokens
            constraint_seconds += c.constraint_seconds
            code = prob["prompt"] + c.text
            ok_syntax = oracle(code)
            syntax_ok += ok_syntax
            if not ok_syntax:
                kind = syntax_error_kind(code)
                error_kinds[kind] = error_kinds.get(kind, 0) + 1
            n_checked, bad = hallucinated_calls(code, coder.kg) if ok_syntax else (0, [])
            calls_checked += n_checked
            halluc += len(bad)
            cbe = callback_errors(code, coder.kg) if ok_syntax else []
            cb_errors += len(cbe)
            res = run_tests(prob, c.text, sandbox, timeout) if ok_syntax else None
            ok = bool(res and res.ok)
            passed += ok
            details.append({"passed": ok, "syntax_valid": bool(ok_syntax), "stopped": c.stopped,
                            "new_tokens": c.new_tokens, "hallucinated": [list(b) for b in bad],
                            "callback_errors": [d.message for d in cbe], "completion": c.text})
        rows.append({"name": prob["name"], "kind": prob.get("kind"), "samples": len(comps),
                     "passed": passed, "latency_s": round(latency, 3), "details": details})
        bar.advance()
    bar.close()
    n = len(rows)
    report = {
        "problems": n,
        "samples_per_problem": samples,
        "constrained": constrained,
        "pass_at_1": round(sum(pass_at_k(r["samples"], r["passed"], 1) for r in rows) / max(1, n), 4),
        "syntax_valid_rate": round(syntax_ok / max(1, tot_samples), 4),
        "syntax_errors": tot_samples - syntax_ok,
        "syntax_error_kinds": error_kinds,
        "hallucinated_call_rate": round(halluc / calls_checked, 4) if calls_checked else 0.0,
        "hallucinated_calls": halluc,
        "remote_calls_checked": calls_checked,
        "callback_errors": cb_errors,
        "mean_latency_s": round(sum(latencies) / max(1, n), 3),
        "p95_latency_s": round(percentile(latencies, 0.95), 3),
        "new_tokens": new_tokens,
        "seconds_per_token": round(gen_seconds / max(1, new_tokens), 5),
        "constraint_seconds": round(constraint_seconds, 3),
        "constraint_seconds_per_token": round(constraint_seconds / max(1, new_tokens), 6),
        "constraint_share": round(constraint_seconds / gen_seconds, 4) if gen_seconds else 0.0,
        "sandbox": getattr(sandbox, "mode", None),
        "per_problem": rows,
    }
    if samples > 1:
        report[f"pass_at_{samples}"] = round(
            sum(pass_at_k(r["samples"], r["passed"], samples) for r in rows) / max(1, n), 4)
    return report


def verify_solutions(problems: list[dict], solutions: dict[str, str], sandbox, *,
                     progress: bool = False, timeout: float = 60.0) -> list[dict]:
    """Run every reference solution against its tests; one row per problem."""
    out = []
    bar = _progress(len(problems), "reference solutions", progress)
    for p in problems:
        sol = solutions.get(p["name"])
        if sol is None:
            out.append({"name": p["name"], "ok": False, "detail": "no reference solution"})
        else:
            r = run_tests(p, sol, sandbox, timeout)
            out.append({"name": p["name"], "ok": r.ok, "detail": (r.stdout + r.stderr)[-800:],
                        "mode": r.mode})
        bar.advance()
    bar.close()
    return out


class _progress:
    """A rich progress bar on stderr (nothing when disabled)."""

    def __init__(self, total: int, label: str, enabled: bool):
        self.p = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
            self.p = Progress("[progress.description]{task.description}", BarColumn(),
                              MofNCompleteColumn(), TimeElapsedColumn(), console=Console(stderr=True),
                              transient=False)
            self.p.start()
            self.t = self.p.add_task(label, total=total)

    def advance(self) -> None:
        if self.p:
            self.p.advance(self.t)

    def close(self) -> None:
        if self.p:
            self.p.stop()
