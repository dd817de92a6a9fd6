"""The Elixir sidecar: one real BEAM answering parse/format/introspect over JSON lines, that
survives bad requests, stops runaway ones, and is replaced when it dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kg.sidecar import RequestError, Sidecar, SidecarError, SidecarTimeout
from kg.stdlib import doctests, split_doctests


@pytest.fixture(scope="session")
def sidecar(elixir_bin):
    with Sidecar(elixir_bin) as s:
        yield s


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ---- parse --------------------------------------------------------------------------------

def test_parse_accepts_valid_code(sidecar):
    src = "defmodule A do\n  def f(x) when is_integer(x), do: x |> Kernel.+(1)\nend\n"
    r = sidecar.parse(src)
    assert r.ok and bool(r)
    assert (r.line, r.column, r.message) == (0, 0, "")


@pytest.mark.parametrize("src, line, column, words", [
    # dangling operator: the error is at the `end` that follows it
    ("defmodule A do\n  def f(x), do: x +\nend\n", 3, 1, "end"),
    # unclosed call: reported where the input runs out
    ("foo(1,\n  2", 2, 4, "missing terminator"),
    # two expressions without a separator
    ("x = 1 2", 1, 7, "syntax error"),
    # unterminated string after non-ASCII text: the end of input is column 10 in characters
    # (it would be 15 in UTF-8 bytes)
    ('s = "h\u00e9\u00e9\U0001F600', 1, 10, "missing terminator"),
])
def test_parse_reports_the_error_position(sidecar, src, line, column, words):
    r = sidecar.parse(src)
    assert not r.ok and not bool(r)
    assert (r.line, r.column) == (line, column), r
    assert words in r.message


def test_parse_never_crashes_on_junk(sidecar):
    for junk in ["", "\x00\x01", "}" * 1000, "(" * 5000, "\ud800 lone surrogate".encode("utf-8", "replace").decode(),
                 "defmodule do do do end", "%{" + "a: 1, " * 2000]:
        r = sidecar.parse(junk)
        assert isinstance(r.ok, bool)
        if not r.ok:
            assert r.line >= 1 and r.message
    assert sidecar.ping()


def test_parse_of_a_large_source_round_trips(sidecar):
    body = "\n".join(f"  def f{i}(x), do: \"caf\u00e9 #{{x}} {i}\"" for i in range(3000))
    assert sidecar.parse(f"defmodule Big do\n{body}\nend\n").ok
    r = sidecar.parse(f"defmodule Big do\n{body}\n")  # missing the final end
    assert not r.ok and r.line >= 3001


# ---- format -------------------------------------------------------------------------------

def test_format_uses_the_real_formatter(sidecar):
    r = sidecar.format("defmodule A do def f(x),do: x+1 end")
    assert r.ok
    assert r.formatted == "defmodule A do\n  def f(x), do: x + 1\nend\n"
    # formatting formatted code is a fixed point
    assert sidecar.format(r.formatted).formatted == r.formatted


def test_format_line_length(sidecar):
    call = "some_function(" + ", ".join(f"argument_{i}" for i in range(8)) + ")"
    narrow = sidecar.format(call, line_length=40).formatted
    wide = sidecar.format(call, line_length=200).formatted
    assert narrow.count("\n") > 1 and wide.count("\n") == 1


def test_format_of_broken_code_gives_the_position(sidecar):
    r = sidecar.format("defmodule A do\n  def f(x, do: x\nend\n")
    assert not r.ok and r.formatted is None
    assert r.line >= 2 and r.message


# ---- robustness ---------------------------------------------------------------------------

def test_unknown_op_is_an_error_and_the_sidecar_lives_on(sidecar):
    pid = sidecar.pid
    with pytest.raises(RequestError) as e:
        sidecar.request("no_such_op")
    assert e.value.kind == "exception" and "no_such_op" in e.value.message
    assert sidecar.ping() and sidecar.pid == pid


def test_a_slow_request_is_stopped_and_the_sidecar_lives_on(sidecar):
    pid = sidecar.pid
    t0 = time.monotonic()
    with pytest.raises(SidecarTimeout):
        sidecar.request("sleep", ms=30_000, timeout=0.3)
    assert time.monotonic() - t0 < 10  # stopped, not waited out
    assert sidecar.pid == pid and sidecar.parse("1 + 1").ok


def test_concurrent_requests_from_threads_get_their_own_answers(sidecar):
    errors = []

    def work(k: int):
        for i in range(40):
            good = f"x{k} = {i}"
            bad = "\n" * i + f"x{k} = ("
            r1, r2 = sidecar.parse(good), sidecar.parse(bad)
            if not r1.ok or r2.ok or r2.line != i + 1:
                errors.append((k, i, r1, r2))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_killed_mid_request_gives_a_clear_error_then_a_new_beam(elixir_bin):
    with Sidecar(elixir_bin) as s:
        first = s.pid
        outcome: dict = {}

        def call():
            try:
                outcome["result"] = s.request("sleep", ms=20_000)
            except SidecarError as e:
                outcome["error"] = e

        t = threading.Thread(target=call)
        t.start()
        time.sleep(0.3)  # the request is in flight inside the BEAM
        os.kill(first, signal.SIGKILL)
        t.join(timeout=15)
        assert not t.is_alive()
        assert "result" not in outcome
        err = outcome["error"]
        assert not isinstance(err, SidecarTimeout)
        assert "killed" in str(err) and "sleep" in str(err)
        # the next request starts a new BEAM and works
        assert s.parse("defmodule A, do: nil").ok
        assert s.pid != first and s.starts == 2
        assert not _alive(first)


def test_close_ends_the_beam_and_later_requests_fail_clearly(elixir_bin):
    s = Sidecar(elixir_bin)
    pid = s.pid
    assert _alive(pid)
    s.close()
    assert not _alive(pid)
    with pytest.raises(SidecarError, match="closed"):
        s.parse("1")


def test_the_beam_exits_when_its_owner_dies(elixir_bin, tmp_path):
    # A Python process that starts a sidecar and is then killed: stdin closes, the BEAM halts.
    script = ("import sys; from kg.sidecar import Sidecar; s = Sidecar(sys.argv[1]); "
              "print(s.pid, flush=True); sys.stdin.read()")
    owner = subprocess.Popen([sys.executable, "-c", script, elixir_bin], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    beam = int(owner.stdout.readline())
    owner.kill()
    owner.wait()
    deadline = time.monotonic() + 10
    while _alive(beam) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(beam)


def test_missing_elixir_is_reported(tmp_path):
    with Sidecar(str(tmp_path / "no-elixir-here")) as s:
        with pytest.raises(SidecarError, match="not on PATH"):
            s.ping()


# ---- introspection ------------------------------------------------------------------------

def _behaviour_info(elixir_bin: str, module: str) -> dict:
    """The truth from a separate BEAM: {callback: optional?} via behaviour_info."""
    code = (f"m = {module}; opt = m.behaviour_info(:optional_callbacks); "
            "IO.puts(Enum.map_join(m.behaviour_info(:callbacks), \"\\n\", fn {f, a} -> "
            "\"#{f}/#{a} #{{f, a} in opt}\" end))")
    out = subprocess.run([elixir_bin, "-e", code], capture_output=True, text=True, check=True).stdout
    return {line.split()[0]: line.split()[1] == "true" for line in out.splitlines() if line.strip()}


def test_introspect_genserver_callbacks(sidecar, elixir_bin):
    (gs,) = sidecar.introspect(["GenServer"])
    got = {f"{c['name']}/{c['arity']}": c["optional"] for c in gs["callbacks"]}
    assert got == _behaviour_info(elixir_bin, "GenServer")
    assert got["init/1"] is False and got["handle_call/3"] is True
    assert all(c["doc"] for c in gs["callbacks"] if c["name"] == "init")
    assert any("::" in s for c in gs["callbacks"] for s in c["specs"])
    names = {(f["name"], f["arity"], f["kind"]) for f in gs["functions"]}
    assert ("call", 3, "def") in names and ("__using__", 1, "defmacro") in names
    assert gs["moduledoc"] and not gs["erlang"]


def test_introspect_erlang_behaviour(sidecar, elixir_bin):
    (gs,) = sidecar.introspect([":gen_server"])
    got = {f"{c['name']}/{c['arity']}": c["optional"] for c in gs["callbacks"]}
    assert got == _behaviour_info(elixir_bin, ":gen_server")
    assert gs["erlang"] and any(f["name"] == "call" and f["arity"] == 2 for f in gs["functions"])


def test_introspect_functions_docs_specs_and_implemented_behaviours(sidecar, elixir_bin):
    enum, kernel, agent_server = sidecar.introspect(["Enum", "Kernel", "Agent.Server"])
    fmap = next(f for f in enum["functions"] if (f["name"], f["arity"]) == ("map", 2))
    assert fmap["kind"] == "def" and "iex>" in fmap["doc"]
    assert any(s.startswith("map(") and "::" in s for s in fmap["specs"])
    assert not any(f["name"] == "mapp" for f in enum["functions"])
    k = {(f["name"], f["arity"]): f for f in kernel["functions"]}
    assert k[("if", 2)]["kind"] == "defmacro" and k[("+", 2)]["operator"]
    assert not k[("if", 2)]["operator"]
    # a macro's spec reads like the macro, without the caller env the BEAM stores
    assert all(not s.startswith("MACRO-") for f in kernel["functions"] for s in f["specs"])
    # deprecations and implemented behaviours agree with a separate BEAM
    code = ("IO.puts(Enum.map_join(Enum.__info__(:deprecated), \"\\n\", fn {{f, a}, m} -> \"#{f}/#{a}\t#{m}\" end)); "
            "IO.puts(\"--\"); IO.puts(inspect(Agent.Server.module_info(:attributes)[:behaviour]))")
    out = subprocess.run([elixir_bin, "-e", code], capture_output=True, text=True, check=True).stdout
    deps, behaviours = out.split("--\n")
    expected = dict(line.split("\t", 1) for line in deps.splitlines() if line)
    got = {f"{f['name']}/{f['arity']}": f["deprecated"] for f in enum["functions"] if f["deprecated"]}
    assert got == expected and got
    assert agent_server["behaviours"] == [b.strip() for b in behaviours.strip("[]\n").split(",")]
    # compiler-generated exports are functions too, hidden from docs
    gen = {(f["name"], f["arity"]): f for f in enum["functions"]}
    assert gen[("module_info", 0)]["doc_hidden"] and gen[("__info__", 1)]["doc_hidden"]


def test_introspect_unknown_module_is_missing_not_an_error(sidecar):
    (m,) = sidecar.introspect(["No.Such.Module"])
    assert m["missing"] and m["name"] == "No.Such.Module"


def test_app_not_installed(sidecar):
    info = sidecar.app("no_such_app")
    assert info["found"] is False and "no_such_app" in info["message"]


# ---- doctests -----------------------------------------------------------------------------

def test_split_doctests_reads_prompts_continuations_and_expectations():
    doc = """Example.

    iex> a = 1
    iex> a + 1
    2

    iex(1)> Enum.map([1, 2],
    ...(1)>   fn x -> x end)
    [1, 2]

    iex> raise "x"
    ** (RuntimeError) x

    iex> %{a: 1,
    ...>   b: 2}
    %{
      a: 1,
      b: 2
    }
    """
    assert split_doctests(doc) == [
        ("a = 1", None),
        ("a + 1", "2"),
        ("Enum.map([1, 2],\n  fn x -> x end)", "[1, 2]"),
        ('raise "x"', "** (RuntimeError) x"),
        ("%{a: 1,\n  b: 2}", "%{\n  a: 1,\n  b: 2\n}"),
    ]


def test_doctests_of_an_installed_module_evaluate_to_their_expectations(sidecar, elixir_bin):
    tests = [t for t in doctests("Integer", sidecar) if t.expected and not t.expected.startswith("**")]
    assert len(tests) > 20 and all(t.function or t.function is None for t in tests)
    assert any(t.function == "parse/2" for t in tests)
    # Run a sample through a real BEAM: each expected text is what the expression gives.
    sample = tests[:15]
    code = "\n".join(
        f"IO.puts(inspect(({t.expression})) == inspect(({t.expected})))" for t in sample)
    out = subprocess.run([elixir_bin, "-e", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["true"] * len(sample), (out.stdout, out.stderr)


def test_non_ascii_text_survives_the_round_trip(sidecar):
    # Every character of the BMP below U+0800 plus astral ones, raw in an Elixir string.
    text = "".join(chr(c) for c in range(0xA0, 0x800)) + "\U0001F600\u2028 caf\u00e9"
    src = f'x = "{text}"\n'
    r = sidecar.format(src, line_length=1_000_000)
    assert r.ok, r
    assert r.formatted == src
