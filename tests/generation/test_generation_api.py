"""The generation API (Coder), generate-check-repair and ClarifyGPT-style clarification, with
the real parser, the real compiler in the sandbox and a real KG store."""

from __future__ import annotations

import json
import subprocess
import sys

import torch

from model.clarify import clarify, derive_inputs
from model.coder import Coder, truncate_at_stop
from model.constrained.syntax import prefix_of
from model.repair import check, cut_point, first_error, repair
from model.sandbox import Sandbox
from tests.conftest import REPO

PROMPT = "defmodule Adder do\n  @spec add(integer, integer) :: integer\n  def add(a, b) do\n"


def test_generate_returns_code_and_the_checks_it_passed(tiny_model_dir, gen_kg):
    coder = Coder.from_pretrained(tiny_model_dir, kg=gen_kg)
    torch.manual_seed(0)
    g = coder.generate(PROMPT, constrained=True, max_new_tokens=40, repair_rounds=1)
    assert g.code.startswith(PROMPT) and g.code == PROMPT + g.completion
    assert set(g.checks) >= {"syntax", "kg"}
    assert all(isinstance(c["passed"], bool) for c in g.checks.values())
    # constrained decoding never leaves what it wrote un-continuable
    assert not prefix_of(g.code).dead
    d = g.to_dict()
    assert d["constrained"] and json.dumps(d)
    for r in g.repairs:
        assert {"round", "check", "line", "error", "fixed_that_error"} <= set(r)


def test_constrained_decoding_beats_unconstrained_on_an_untrained_model(tiny_model_dir):
    """The same random model, the same seeds: plain decoding leaves the code open or broken;
    the syntax processor closes everything it opened (the budget rule) in every sample."""
    coder = Coder.from_pretrained(tiny_model_dir)
    balanced = {True: 0, False: 0}
    for constrained in (False, True):
        torch.manual_seed(1)
        for c in coder.complete(PROMPT, constrained=constrained, max_new_tokens=40, num_samples=4,
                                temperature=1.0):
            p = prefix_of(PROMPT + c.text)
            balanced[constrained] += p.balanced()
    assert balanced[True] == 4
    assert balanced[False] < 4


def test_generate_tests_and_explain_return_text(tiny_model_dir):
    coder = Coder.from_pretrained(tiny_model_dir)
    code = PROMPT + "    a + b\n  end\nend\n"
    t = coder.generate_tests(code, max_new_tokens=30)
    e = coder.explain(code, max_new_tokens=20)
    assert isinstance(t, str) and isinstance(e, str)
    assert not prefix_of(t).dead  # tests are syntax-constrained too


def test_checks_catch_undefined_functions_and_wrong_arities_with_the_compiler(gen_kg):
    prompt = "defmodule A do\n  def f(l) do\n"
    bad = "    l |> Enum.mapp(& &1) |> String.upcase(1, 2, 3)\n  end\nend\n"
    checks = check(prompt, bad, kg=gen_kg, sandbox=Sandbox())
    assert checks["syntax"]["passed"]
    assert not checks["compile"]["passed"]
    msgs = " ".join(w["message"] for w in checks["compile"]["detail"]["warnings"])
    assert "Enum.mapp/2 is undefined" in msgs and "String.upcase/4 is undefined" in msgs
    assert not checks["kg"]["passed"]  # the KG knows Enum: mapp is none of its functions
    good = check(prompt, "    Enum.map(l, & &1)\n  end\nend\n", kg=gen_kg, sandbox=Sandbox())
    assert all(c["passed"] for c in good.values()), good
    broken = check(prompt, "    Enum.map(l, \n  end\nend\n", sandbox=Sandbox())
    assert not broken["syntax"]["passed"] and "compile" not in broken
    assert first_error(broken)[0] == "syntax"


def test_a_compile_exception_without_a_position_is_located_by_its_stack_trace():
    # `def` inside a function body parses but raises in the compiler with no position of its
    # own; repair needs the line (gen.ex:N in the trace) to cut there instead of starting over.
    prompt = "defmodule A do\n  def f(x) do\n"
    checks = check(prompt, "  def g(y), do: y\n  end\nend\n", sandbox=Sandbox())
    assert checks["syntax"]["passed"] and not checks["compile"]["passed"]
    assert checks["compile"]["line"] == 3
    assert first_error(checks)[:2] == ("compile", 3)


def test_repair_cuts_at_the_first_error_and_reports_each_round(tiny_model_dir, gen_kg):
    coder = Coder.from_pretrained(tiny_model_dir, kg=gen_kg)
    prompt = "defmodule A do\n  def f(l) do\n"
    bad = "    x = 1\n    l |> Enum.mapp(& &1)\n  end\nend\n"
    checks = check(prompt, bad, kg=gen_kg, sandbox=coder.sandbox)
    name, line, msg = first_error(checks)
    assert line == 4
    assert bad[:cut_point(prompt, bad, line, msg)] == "    x = 1\n"
    torch.manual_seed(0)
    completion, new_checks, report = repair(coder, prompt, bad, checks, rounds=2, max_new_tokens=24)
    assert 1 <= len(report) <= 2
    assert report[0]["line"] == 4 and "mapp" in report[0]["error"] and report[0]["kept_chars"] == len("    x = 1\n")
    assert completion.startswith("    x = 1\n")
    assert sum(c["passed"] for c in new_checks.values()) >= sum(c["passed"] for c in checks.values())


def test_missing_callback_repair_cuts_before_the_final_end():
    completion = "  def init(x), do: {:ok, x}\nend\n"
    assert completion[:cut_point("", completion, 1, "missing-callback: put/2")] == "  def init(x), do: {:ok, x}\n"


def test_truncate_at_stop_tokens():
    assert truncate_at_stop("a\nend\ndefmodule B", ["\ndefmodule"]) == ("a\nend", True)
    assert truncate_at_stop("abc", ["\ndefmodule"]) == ("abc", False)


def test_inputs_come_from_examples_specs_or_parameter_names():
    assert derive_inputs("defmodule A do\n  @doc \"\"\"\n  iex> A.f(2)\n  4\n  \"\"\"\n  def f(x) do\n") == ["A.f(2)"]
    spec = derive_inputs(PROMPT)
    assert spec[0] == "Adder.add(0, 0)" and len(spec) == 5 and all(s.startswith("Adder.add(") for s in spec)
    names = derive_inputs("defmodule W do\n  def count(s) do\n")
    assert 'W.count("abc")' in names


def test_samples_that_behave_differently_give_clarifying_questions(elixir_bin):
    box = Sandbox(timeout=30)
    prompt = "defmodule R do\n  @doc \"Rounds x.\"\n  def r(x) do\n"
    up = "    Float.ceil(x) |> trunc()\n  end\nend\n"
    down = "    Float.floor(x) |> trunc()\n  end\nend\n"
    up2 = "    trunc(Float.ceil(x))\n  end\nend\n"
    inputs = ["R.r(1.5)", "R.r(2.0)", "R.r(-0.5)"]
    c = clarify(prompt, [up, down, up2], sandbox=box, inputs=inputs)
    assert c.ambiguous
    assert sorted(len(cl["samples"]) for cl in c.clusters) == [1, 2]
    qs = {q["input"]: q["options"] for q in c.questions}
    assert set(qs) == {"R.r(1.5)", "R.r(-0.5)"}  # R.r(2.0) is 2 either way
    assert sorted(qs["R.r(1.5)"]) == ["1", "2"]
    same = clarify(prompt, [up, up2], sandbox=box, inputs=inputs)
    assert not same.ambiguous and same.questions == []


def test_generate_cli_prints_code_and_checks(tiny_model_dir, tmp_path):
    r = subprocess.run([sys.executable, "-m", "elixir_coder.cli", "generate", "--model", str(tiny_model_dir),
                        "--max-new-tokens", "20", "--repair-rounds", "0", "--json", PROMPT],
                       capture_output=True, text=True, timeout=600, cwd=REPO)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["code"].startswith(PROMPT) and "syntax" in out["checks"]
    r = subprocess.run([sys.executable, "-m", "elixir_coder.cli", "generate", "--model", str(tmp_path / "none"), "x"],
                       capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 2 and "no such model directory" in r.stderr
