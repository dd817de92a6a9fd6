"""The sandbox: every run of generated code (tests, pass@k, clarification, later mutation
testing) goes through here.

Owns one thing: running an untrusted Elixir program in a separate OS process that

* has a wall-clock time limit (the whole process group / PID namespace is killed at the limit),
* has a memory limit (``RLIMIT_AS``; the BEAM aborts with "Cannot allocate" when it hits it),
* has a process limit (``RLIMIT_NPROC``, counted per user: as root the program runs under a
  fresh unused uid, so the limit counts only its own processes, nothing of root's can be
  touched, and every process it leaves behind is killed by uid afterwards),
* has no network (a fresh network namespace with only a down loopback),
* works in a throwaway directory (``/sandbox`` inside, a private temp dir outside, removed
  afterwards) and can write nowhere else (the system is mounted read-only, ``/tmp`` is a
  small tmpfs, each file is capped by ``RLIMIT_FSIZE``),
* starts with a clean environment (no inherited variables, no credentials, ``HOME`` in the
  throwaway directory).

Two mechanisms, chosen by :func:`available_mode` and reported on every :class:`SandboxResult`
(``mode``): ``"bwrap"`` (bubblewrap from Debian: mount, PID, network, IPC, UTS and user
namespaces) where it works, otherwise ``"rlimits"`` (rlimits + clean env + private temp dir +
a fresh uid when root + a network namespace via ``unshare(2)`` when root; a non-root fallback
cannot remove the network and says so in ``isolation``).
"""

from __future__ import annotations

import ctypes
import functools
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: BEAM flags that keep its thread count and virtual reservations small (one scheduler, one
#: dirty scheduler of each kind, one async thread): the BEAM reserves ~1 GiB of address space
#: for literals, so the address-space limit must be well above that.
ERL_FLAGS = "+S 1 +SDio 1 +SDcpu 1 +A 1"
NOBODY = 65534
#: As root, each run gets a fresh unused uid from this range (no passwd entry needed): the
#: process limit then counts only that run's processes, and afterwards every process with that
#: uid is killed (kill(-1) as that uid), whatever session or process group it moved to.
UID_RANGE = (1_000_000, 2_000_000_000)
CLONE_NEWNET = 0x40000000
_MEMORY_MARKERS = ("Cannot allocate", "enomem", "eheap_alloc", "literal_alloc", "out of memory")


class SandboxError(RuntimeError):
    """The sandbox itself could not run (no Elixir, no way to isolate)."""


@dataclass
class SandboxResult:
    """What one sandboxed run did. ``ok`` is exit status 0 within the time limit."""

    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool
    seconds: float
    mode: str
    isolation: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    @property
    def memory_exceeded(self) -> bool:
        return not self.ok and any(m in self.stderr or m in self.stdout for m in _MEMORY_MARKERS)

    def to_dict(self) -> dict:
        return {"exit_code": self.exit_code, "ok": self.ok, "timed_out": self.timed_out,
                "memory_exceeded": self.memory_exceeded, "seconds": round(self.seconds, 3),
                "mode": self.mode, "stdout": self.stdout[-4000:], "stderr": self.stderr[-4000:]}


@functools.lru_cache(maxsize=1)
def bwrap_works() -> bool:
    """Whether bubblewrap is installed and can create its namespaces here (it cannot in some
    containers)."""
    exe = shutil.which("bwrap")
    if not exe:
        return False
    try:
        r = subprocess.run([exe, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent",
                            "/bin/true"], capture_output=True, timeout=20,
                           preexec_fn=_drop_privileges if os.geteuid() == 0 else None)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


def available_mode() -> str:
    """``"bwrap"`` where bubblewrap works, else ``"rlimits"``."""
    return "bwrap" if bwrap_works() else "rlimits"


def _drop_privileges(uid: int = NOBODY) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def _fresh_uid() -> int:
    import random
    used = set()
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                used.add(p.stat().st_uid)
            except OSError:
                pass
    while True:
        uid = random.randint(*UID_RANGE)
        if uid not in used:
            return uid


def _kill_uid(uid: int) -> None:
    """SIGKILL every process of ``uid`` (a forked child becomes that uid and calls kill(-1))."""
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            try:
                os.setgid(uid)
                os.setuid(uid)
                os.kill(-1, signal.SIGKILL)
            except OSError:
                pass
            finally:
                os._exit(0)
        os.waitpid(pid, 0)


def _user_processes(uid: int) -> int:
    n = 0
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if p.stat().st_uid == uid:
                    n += len(list((p / "task").iterdir()))
            except OSError:
                pass
    return n


class Sandbox:
    """Runs untrusted programs. Limits are per run; a Sandbox object holds only settings.

    ``memory_mb`` bounds the address space (the BEAM needs ~1.3 GiB of it to start with the
    flags above, so the default leaves ~700 MiB for the program); ``max_procs`` bounds OS
    processes and threads (the BEAM uses ~15 threads); ``tmp_mb`` is the size of ``/tmp``.
    """

    def __init__(self, *, timeout: float = 20.0, memory_mb: int = 2048, max_procs: int = 64,
                 max_file_mb: int = 16, tmp_mb: int = 64, mode: str = "auto",
                 elixir: str | None = None):
        if mode not in ("auto", "bwrap", "rlimits"):
            raise ValueError(f"sandbox mode must be auto, bwrap or rlimits, not {mode!r}")
        if mode == "bwrap" and not bwrap_works():
            raise SandboxError("bubblewrap (bwrap) is not installed or cannot create namespaces here")
        self.mode = available_mode() if mode == "auto" else mode
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.max_procs = max_procs
        self.max_file_mb = max_file_mb
        self.tmp_mb = tmp_mb
        self.elixir = elixir or shutil.which("elixir")
        if not self.elixir:
            raise SandboxError("elixir is not installed: run `bash scripts/setup.sh`")
        self.elixir = os.path.realpath(self.elixir)

    # ---- public --------------------------------------------------------------------------
    def run_elixir(self, source: str, *, files: dict[str, str] | None = None,
                   timeout: float | None = None, name: str = "main.exs") -> SandboxResult:
        """Run ``source`` as an ``.exs`` script (``elixir main.exs``) in a fresh sandbox.
        ``files`` are extra files (relative paths) put beside it."""
        return self.run(["elixir", "--erl", ERL_FLAGS, name], files={name: source, **(files or {})},
                        timeout=timeout)

    def run(self, argv: list[str], *, files: dict[str, str] | None = None,
            timeout: float | None = None) -> SandboxResult:
        """Run ``argv`` (looked up on the sandbox's PATH) in a fresh throwaway directory holding
        ``files``."""
        timeout = self.timeout if timeout is None else timeout
        root = os.geteuid() == 0
        uid = _fresh_uid() if root else os.getuid()
        work = tempfile.mkdtemp(prefix="elixir-coder-sandbox-")
        try:
            for rel, text in (files or {}).items():
                p = Path(work, rel)
                if p.resolve().parent != Path(work).resolve() and Path(work).resolve() not in p.resolve().parents:
                    raise ValueError(f"sandbox file {rel!r} lies outside the sandbox directory")
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text(text)
            if root:
                for dirpath, dirnames, filenames in os.walk(work):
                    for n in [dirpath, *(os.path.join(dirpath, f) for f in dirnames + filenames)]:
                        os.chown(n, uid, uid)
            if self.mode == "bwrap":
                full, cwd, isolation = self._bwrap_argv(argv, work), None, {
                    "network": "none (network namespace)", "filesystem": "read-only system, private /sandbox and /tmp",
                    "pid": "private PID namespace", "user": f"fresh uid {uid}" if root else "own uid"}
            else:
                full, cwd = [shutil.which(argv[0]) or argv[0], *argv[1:]], work
                isolation = {"network": "none (network namespace)" if root else "NOT isolated (needs root or bwrap)",
                             "filesystem": "private working dir; the rest protected by file permissions only",
                             "pid": "own uid, all its processes killed afterwards" if root else "own session, killed as a group", "user": f"fresh uid {uid}" if root else "own uid"}
            env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
                   "HOME": "/sandbox" if self.mode == "bwrap" else work,
                   "TMPDIR": "/tmp" if self.mode == "bwrap" else work}
            nproc = self.max_procs if root else _user_processes(os.getuid()) + self.max_procs
            preexec = functools.partial(_limits, self.memory_mb << 20, nproc, self.max_file_mb << 20,
                                        uid if root else None, self.mode == "rlimits" and root)
            t0 = time.monotonic()
            try:
                proc = subprocess.Popen(full, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        preexec_fn=preexec, start_new_session=True)
            except OSError as e:
                raise SandboxError(f"cannot start the sandbox ({full[0]}): {e}") from None
            timed_out = False
            try:
                out, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                # (a program that exited but left a child holding its output did not time out)
                timed_out = proc.poll() is None
                out = err = None
            # whatever it left behind goes too (and at the time limit, the program itself)
            _kill_group(proc)
            if root:
                _kill_uid(uid)
            if out is None:
                try:
                    out, err = proc.communicate(timeout=10)
                except subprocess.TimeoutExpired:  # a pipe held by something unkillable
                    proc.kill()
                    out, err = b"", b"(output lost: the sandbox could not be stopped cleanly)"
            seconds = time.monotonic() - t0
            code = proc.returncode
            return SandboxResult(None if timed_out else code, _cap(out), _cap(err), timed_out,
                                 seconds, self.mode, isolation)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    # ---- mechanics -----------------------------------------------------------------------
    def _bwrap_argv(self, argv: list[str], work: str) -> list[str]:
        a = ["bwrap", "--ro-bind", "/usr", "/usr"]
        for top in ("bin", "sbin", "lib", "lib64", "lib32"):
            p = Path("/", top)
            if p.is_symlink():
                a += ["--symlink", os.readlink(p), f"/{top}"]
            elif p.is_dir():
                a += ["--ro-bind", str(p), f"/{top}"]
        for etc in ("/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
                    "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/localtime", "/etc/ssl"):
            if os.path.exists(etc):
                a += ["--ro-bind", etc, etc]
        a += ["--proc", "/proc", "--dev", "/dev", "--size", str(self.tmp_mb << 20), "--tmpfs", "/tmp",
              "--bind", work, "/sandbox", "--chdir", "/sandbox",
              "--unshare-all", "--die-with-parent", "--new-session",
              "--hostname", "sandbox", "--clearenv",
              "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin", "--setenv", "HOME", "/sandbox",
              "--setenv", "TMPDIR", "/tmp", "--setenv", "LANG", "C.UTF-8", "--setenv", "LC_ALL", "C.UTF-8",
              "--"]
        return a + argv


def _limits(address_space: int, nproc: int, fsize: int, uid: int | None, new_net: bool) -> None:
    """Runs in the child between fork and exec."""
    if new_net:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWNET) != 0:
            os._exit(111)
    if uid is not None:
        _drop_privileges(uid)
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _cap(b: bytes, limit: int = 200_000) -> str:
    text = b.decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit // 2] + "\n...[output cut]...\n" + text[-limit // 2:]


_DEFAULT: Sandbox | None = None


def default() -> Sandbox:
    """A shared Sandbox with the default limits."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Sandbox()
    return _DEFAULT
