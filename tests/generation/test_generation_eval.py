"""The benchmark file, its reference solutions (run for real in the sandbox), the pass@k
estimator and `elixir-coder eval`."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from model.evaluate import (BenchmarkError, hallucinated_calls, load_benchmark, load_solutions, pass_at_k,
                            remote_calls, run_tests)
from model.sandbox import Sandbox
from tests.conftest import REPO

BENCH = REPO / "benchmarks/data/elixir_eval.jsonl"
SOLUTIONS = REPO / "benchmarks/data/elixir_eval_solutions.jsonl"


def test_benchmark_has_the_required_shape():
    problems = load_benchmark(BENCH)
    assert len(problems) >= 40
    names = [p["name"] for p in problems]
    assert len(set(names)) == len(names)
    kinds = {p["kind"] for p in problems}
    assert {"function", "genserver", "supervisor", "protocol"} <= kinds
    for p in problems:
        assert "ExUnit.start()" in p["tests"] and "use ExUnit.Case" in p["tests"]
        assert p["stop_tokens"] and p["prompt"].strip()
    text = " ".join(p["prompt"] for p in problems)
    for topic in ("Enum", "String", "map", "GenServer", "Supervisor", "defprotocol"):
        assert topic in text or topic in " ".join(load_solutions(SOLUTIONS).values())


def test_every_reference_solution_passes_its_tests_in_the_sandbox(elixir_bin):
    problems = load_benchmark(BENCH)
    sols = load_solutions(SOLUTIONS)
    assert set(sols) == {p["name"] for p in problems}
    box = Sandbox(timeout=90)
    with ThreadPoolExecutor(2) as ex:
        results = list(ex.map(lambda p: (p["name"], run_tests(p, sols[p["name"]], box, 90)), problems))
    failed = {n: (r.stdout + r.stderr)[-400:] for n, r in results if not r.ok}
    assert failed == {}


def test_a_wrong_solution_fails_its_tests(elixir_bin):
    p = next(p for p in load_benchmark(BENCH) if p["name"] == "elixir_sum_evens")
    r = run_tests(p, "    list |> Enum.sum()\n  end\nend\n", Sandbox(timeout=60))
    assert not r.ok and "1 failure" in r.stdout + r.stderr
    r2 = run_tests(p, "    list |> Enum.sum(\n  end\nend\n", Sandbox(timeout=60))  # does not compile
    assert not r2.ok


def test_pass_at_k_is_the_unbiased_estimator():
    assert pass_at_k(10, 0, 1) == 0.0
    assert pass_at_k(10, 10, 1) == 1.0
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    # 1 - C(7,5)/C(10,5) = 1 - 21/252
    assert pass_at_k(10, 3, 5) == pytest.approx(1 - 21 / 252)
    assert pass_at_k(5, 1, 5) == 1.0


def test_remote_calls_count_pipes_and_captures_and_hallucinations_use_the_kg(gen_kg):
    code = ("defmodule T do\n  def f(l), do: l |> Enum.map(&(&1 + 1)) |> Enum.summ()\n"
            "  def g(l), do: Enum.reduce(l, 0, &+/2) + Mem2.get(1) + T.f(l) + Beh.Mem.get(1, 2)\nend\n")
    calls = {(m, n, a) for m, n, a, _ in remote_calls(code)}
    assert {("Enum", "map", 2), ("Enum", "summ", 1), ("Enum", "reduce", 3), ("Beh.Mem", "get", 2)} <= calls
    checked, bad = hallucinated_calls(code, gen_kg)
    assert checked == 5  # T.f is the program's own
    assert sorted((b[0], b[1], b[2]) for b in bad) == [("Beh.Mem", "get", 2), ("Enum", "summ", 1), ("Mem2", "get", 1)]


def test_bad_benchmark_files_get_clear_errors(tmp_path):
    with pytest.raises(BenchmarkError, match="no such benchmark"):
        load_benchmark(tmp_path / "nope.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"name": "x", "prompt": "p"}\n')
    with pytest.raises(BenchmarkError, match=r"bad.jsonl:1: a problem needs tests, stop_tokens"):
        load_benchmark(bad)
    bad.write_text("not json\n")
    with pytest.raises(BenchmarkError, match="not JSON"):
        load_benchmark(bad)


def _cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "elixir_coder.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def test_eval_cli_prints_the_metrics(tiny_model_dir, gen_kg, tmp_path):
    problems = load_benchmark(BENCH, limit=2)
    small = tmp_path / "two.jsonl"
    small.write_text("".join(json.dumps(p) + "\n" for p in problems))
    r = _cli("eval", "--model", str(tiny_model_dir), "--benchmark", str(small), "--limit", "2",
             "--samples", "2", "--max-new-tokens", "24", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for k in ("problems", "pass_at_1", "pass_at_2", "syntax_valid_rate", "hallucinated_call_rate",
              "callback_errors", "mean_latency_s", "p95_latency_s"):
        assert k in out
    assert out["problems"] == 2 and out["constrained"] is True
    assert 0.0 <= out["syntax_valid_rate"] <= 1.0 and out["pass_at_1"] <= out["pass_at_2"] <= 1.0
    r = _cli("eval", "--model", str(tiny_model_dir), "--benchmark", str(tmp_path / "missing.jsonl"))
    assert r.returncode == 2 and "no such benchmark file" in r.stderr


def test_syntax_errors_are_classified_by_the_real_parser():
    from model.evaluate import syntax_error_kind
    assert syntax_error_kind("defmodule A do\n  def f do\n") == "unclosed"
    assert syntax_error_kind('x = "abc') == "unclosed"
    assert syntax_error_kind("defmodule A do\n  , end\n") == "other"
    assert syntax_error_kind("x = 1\n") == "none"
