"""The sandbox against hostile programs, with both mechanisms (bubblewrap and the rlimits
fallback): every program really runs in a real BEAM; the test checks what is left outside."""

from __future__ import annotations

import glob
import socket
import threading
import uuid
from pathlib import Path

import pytest

from model.sandbox import Sandbox, available_mode, bwrap_works

MODES = ["bwrap", "rlimits"] if bwrap_works() else ["rlimits"]


@pytest.fixture(params=MODES)
def sandbox(request, elixir_bin):
    return Sandbox(mode=request.param, timeout=20)


def _alive_with(marker: str) -> list[str]:
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cmd = (p / "cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmd:
                found.append(p.name)
    return found


def test_the_mode_is_reported_and_bwrap_is_used_where_it_works(elixir_bin):
    r = Sandbox().run_elixir('IO.puts("hello " <> to_string(1 + 1))')
    assert r.ok and r.stdout.strip() == "hello 2"
    assert r.mode == available_mode() == ("bwrap" if bwrap_works() else "rlimits")


def test_a_normal_program_runs_in_a_throwaway_dir(sandbox):
    before = set(glob.glob("/tmp/elixir-coder-sandbox-*"))
    r = sandbox.run_elixir('File.write!("out.txt", "data"); IO.puts(File.read!("out.txt")); '
                           'IO.puts(System.get_env("SECRET_TOKEN") || "no-env")')
    assert r.ok, r.stderr
    assert r.stdout.split() == ["data", "no-env"]
    assert set(glob.glob("/tmp/elixir-coder-sandbox-*")) <= before  # removed afterwards


def test_exit_status_is_kept(sandbox):
    r = sandbox.run_elixir("System.halt(3)")
    assert r.exit_code == 3 and not r.ok


def test_infinite_loop_is_killed_at_the_time_limit(sandbox):
    marker = f"loop_{uuid.uuid4().hex}.exs"
    r = sandbox.run_elixir("defmodule L do\n def f(n), do: f(n + 1)\nend\nL.f(0)\n", timeout=3, name=marker)
    assert r.timed_out and not r.ok
    assert _alive_with(marker) == []


def test_memory_bomb_dies_at_the_memory_limit(sandbox):
    r = sandbox.run_elixir('Enum.reduce(1..100_000, [], fn _, acc -> [:binary.copy("x", 1_000_000) | acc] end)'
                           ' |> length() |> IO.puts()', timeout=60)
    assert not r.ok and not r.timed_out
    assert r.memory_exceeded, r.stderr[-500:]


def test_process_spawn_storm_is_contained(sandbox):
    marker = f"storm_{uuid.uuid4().hex}"
    r = sandbox.run_elixir(
        f'System.cmd("sh", ["-c", "while true; do sleep 1000 & done"]); IO.puts("{marker}")',
        timeout=4, name=f"{marker}.exs")
    assert not r.ok
    assert _alive_with(marker) == []
    assert _alive_with("sleep 1000") == []


def test_rm_rf_outside_the_sandbox_removes_nothing(sandbox, tmp_path):
    canary = tmp_path / "precious"
    canary.mkdir()
    (canary / "keep.txt").write_text("keep me")
    r = sandbox.run_elixir(f'IO.inspect(File.rm_rf({str(canary)!r})); IO.inspect(File.rm_rf("/etc/passwd"));'
                           f'IO.inspect(File.write("/usr/pwned", "x"))')
    assert (canary / "keep.txt").read_text() == "keep me"
    assert Path("/etc/passwd").exists() and not Path("/usr/pwned").exists()
    assert r.exit_code == 0  # the program ran; its deletions just failed


def test_network_connection_fails_and_reaches_nobody(sandbox):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(3)
    port = srv.getsockname()[1]
    got = []

    def accept():
        try:
            got.append(srv.accept())
        except OSError:
            pass

    t = threading.Thread(target=accept)
    t.start()
    r = sandbox.run_elixir(f'IO.inspect(:gen_tcp.connect({{127,0,0,1}}, {port}, [], 2000));'
                           'IO.inspect(:gen_tcp.connect({1,1,1,1}, 80, [], 2000))')
    srv.close()
    t.join()
    assert got == []
    assert r.stdout.count("{:error,") == 2, r.stdout


def test_system_cmd_runs_only_inside(sandbox, tmp_path):
    target = tmp_path / "written_by_sandbox"
    r = sandbox.run_elixir(f'IO.inspect(System.cmd("sh", ["-c", "echo hi > {target}; echo x > /etc/pwned; '
                           f'echo inside > here.txt; cat here.txt"], stderr_to_stdout: true))')
    assert "inside" in r.stdout
    assert not target.exists() and not Path("/etc/pwned").exists()
