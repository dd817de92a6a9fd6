"""Generate-check-repair.

Owns the checks every generated program goes through and the repair loop:

* ``syntax``: the real parser (the shared sidecar, ``kg.sidecar.shared().parse``);
* ``kg``: :func:`reasoning.behaviour.check_module` against the KG (undefined remote functions,
  wrong arities, missing callbacks, ``@impl`` on non-callbacks), plus what the KG monitor
  reported during decoding;
* ``compile``: the program compiled by the real Elixir compiler in the sandbox
  (:mod:`model.sandbox`); compile errors and the warnings that mean a wrong call
  ("undefined or private", "undefined function", "is undefined (module ... is not available")
  fail the check.

:func:`repair` re-generates from the first error: the completion is cut at the start of the
line of the first error (for a missing callback: before the module's final ``end``), the error
message goes to the encoder as context, and the model continues from the cut; up to ``rounds``
times. Each round is reported (what failed, where it cut, whether the round fixed it).
"""

from __future__ import annotations

import re

COMPILE_SCRIPT = r'''
[file] = System.argv()
Code.compiler_options(ignore_module_conflict: true)
report = fn kind, {f, l, m} ->
  line = case l do
    {a, _} -> a
    a when is_integer(a) -> a
    _ -> 0
  end
  IO.puts("#{kind}\t#{line}\t" <> String.replace(to_string(m), "\n", " "))
end
try do
  case Kernel.ParallelCompiler.compile([file]) do
    {:ok, _mods, warnings} -> Enum.each(warnings, &report.("WARNING", &1))
    {:error, errors, warnings} ->
      Enum.each(warnings, &report.("WARNING", &1))
      Enum.each(errors, &report.("ERROR", &1))
  end
rescue
  e -> IO.puts("ERROR\t0\t" <> String.replace(Exception.message(e), "\n", " "))
end
'''

#: Compiler warnings that mean a call the code makes does not exist.
CALL_WARNINGS = ("is undefined or private", "undefined function", "is undefined (module",
                 "undefined module attribute", "is not available")


def _diag_line(d) -> int:
    return getattr(d, "line", 0) or 0


def check(prompt: str, completion: str, *, kg=None, sandbox=None, oracle=None,
          monitor_reports=()) -> dict:
    """Run the checks on ``prompt + completion``; ``{name: {"passed", "detail", "line"}}``.
    The compile check runs when a ``sandbox`` is given and the code parses."""
    from kg.sidecar import shared
    code = prompt + completion
    checks: dict = {}
    r = shared().parse(code)
    checks["syntax"] = {"passed": bool(r.ok), "line": r.line if not r.ok else 0,
                        "detail": "" if r.ok else f"line {r.line}:{r.column}: {r.message}"}
    if kg is not None:
        problems = []
        if r.ok:
            try:
                from reasoning.behaviour import check_module
                problems = [{"kind": d.kind, "line": d.line, "message": d.message}
                            for d in check_module(kg, code)]
            except Exception as e:  # a checker that fails proves nothing; say so
                problems = [{"kind": "check-failed", "line": 0, "message": str(e)}]
        problems += [{"kind": "monitor", "line": 0, "message": m} for m in monitor_reports
                     if not any(m == p["message"] for p in problems)]
        bad = [p for p in problems if p["kind"] != "check-failed"]
        checks["kg"] = {"passed": not bad, "line": min((p["line"] for p in bad), default=0),
                        "detail": problems}
    if sandbox is not None and r.ok:
        checks["compile"] = compile_check(code, sandbox)
    return checks


def compile_check(code: str, sandbox) -> dict:
    """Compile ``code`` with the real compiler in the sandbox; errors and call warnings fail."""
    res = sandbox.run(["elixir", "--erl", "+S 1 +SDio 1 +SDcpu 1 +A 1", "compile.exs", "gen.ex"],
                      files={"compile.exs": COMPILE_SCRIPT, "gen.ex": code}, timeout=60)
    errors, warnings = [], []
    for line in res.stdout.splitlines():
        parts = line.split("\t", 2)
        if len(parts) == 3 and parts[0] in ("ERROR", "WARNING"):
            line_no = int(parts[1]) if parts[1].isdigit() else 0
            if not line_no:  # an exception without a position: its stack trace names gen.ex:N
                at = re.search(r"\bgen\.ex:(\d+)", parts[2])
                line_no = int(at.group(1)) if at else 0
            item = {"line": line_no, "message": parts[2]}
            (errors if parts[0] == "ERROR" else warnings).append(item)
    if res.timed_out:
        errors.append({"line": 0, "message": "compilation timed out"})
    elif res.exit_code != 0 and not errors:
        errors.append({"line": 0, "message": (res.stderr.strip().splitlines() or ["compiler crashed"])[-1]})
    call_warnings = [w for w in warnings if any(k in w["message"] for k in CALL_WARNINGS)]
    bad = errors + call_warnings
    return {"passed": not bad, "line": min((b["line"] for b in bad if b["line"]), default=0),
            "detail": {"errors": errors, "warnings": warnings}, "sandbox": res.mode}


def first_error(checks: dict) -> tuple[str, int, str] | None:
    """``(check, line, message)`` of the first failing check (syntax first, then KG, then
    compile), or None."""
    for name in ("syntax", "kg", "compile"):
        c = checks.get(name)
        if not c or c["passed"]:
            continue
        d = c["detail"]
        if name == "syntax":
            return name, c["line"], d
        if name == "kg":
            bad = [p for p in d if p["kind"] != "check-failed"]
            p = min(bad, key=lambda p: (p["line"] or 10**9))
            return name, p["line"], f"{p['kind']}: {p['message']}"
        bad = d["errors"] + [w for w in d["warnings"] if any(k in w["message"] for k in CALL_WARNINGS)]
        p = min(bad, key=lambda p: (p["line"] or 10**9))
        return name, p["line"], p["message"]
    return None


def cut_point(prompt: str, completion: str, line: int, message: str) -> int:
    """Where to cut ``completion`` so that the model re-writes the erroneous part."""
    if "missing-callback" in message or "missing" in message and "callback" in message:
        m = list(re.finditer(r"^end\b", completion, re.M))
        return m[-1].start() if m else len(completion)
    if line <= 0:
        return 0
    prompt_lines = prompt.count("\n")
    k = line - 1 - prompt_lines  # 0-based line within the completion
    if k <= 0:
        return 0
    pos = 0
    for _ in range(k):
        nxt = completion.find("\n", pos)
        if nxt < 0:
            return len(completion)
        pos = nxt + 1
    return pos


def repair(coder, prompt: str, completion: str, checks: dict, *, rounds: int = 2,
           constrained: bool = True, max_new_tokens: int = 128, compile_check: bool = True,
           stop_tokens=()) -> tuple[str, dict, list]:
    """Up to ``rounds`` re-generations from the first error; returns the best completion, its
    checks and the report of each round."""
    report = []
    best = (sum(c["passed"] for c in checks.values()), completion, checks)
    for rnd in range(1, rounds + 1):
        err = first_error(checks)
        if err is None:
            break
        name, line, message = err
        cut = cut_point(prompt, completion, line, str(message))
        kept = completion[:cut]
        new = coder.complete(prompt + kept, constrained=constrained, max_new_tokens=max_new_tokens,
                             context=f"error: {message}", stop_tokens=stop_tokens)[0]
        completion = kept + new.text
        checks = check(prompt, completion, kg=coder.kg,
                       sandbox=coder.sandbox if compile_check else None, oracle=coder.oracle,
                       monitor_reports=new.monitor_reports)
        fixed = first_error(checks) is None or first_error(checks)[2] != message
        report.append({"round": rnd, "check": name, "line": line, "error": str(message)[:500],
                       "kept_chars": cut, "fixed_that_error": fixed,
                       "all_passed": all(c["passed"] for c in checks.values())})
        score = sum(c["passed"] for c in checks.values())
        if score > best[0]:
            best = (score, completion, checks)
        if report[-1]["all_passed"]:
            break
    return best[1], best[2], report
