"""The Elixir sidecar: one persistent BEAM that answers questions only the real Elixir can.

Owns the life of that process and its protocol (JSON lines over stdio, one object per line
each way, matched by ``id``; the Elixir side is ``kg/sidecar.exs``). Operations: ``parse``
(``Code.string_to_quoted`` with columns), ``format`` (``Code.format_string!``), ``app`` and
``introspect`` (what the installed BEAM knows: see kg/stdlib.py), ``ping``; the generation work
will add sandboxed runs.

Life cycle: started lazily on the first request; a request has a timeout (enforced by the BEAM,
which kills just that request, and, should the BEAM itself hang, by this side, which kills the
BEAM); if the BEAM dies, the callers whose requests were in flight get a :class:`SidecarError`
and the next request starts a new one; :meth:`Sidecar.close` (or the ``with`` block, or
interpreter exit) ends it. A fresh ``elixir`` costs ~0.5 s; a warm request costs well under a
millisecond plus the work, so never start one per check in a loop: share :func:`shared`.
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import shutil
import subprocess
import threading
import weakref
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().with_name("sidecar.exs")

#: Extra seconds this side waits beyond a request's own timeout before deciding the BEAM is hung.
GRACE_S = 5.0


class SidecarError(RuntimeError):
    """The sidecar could not answer (it died, hung, or could not start)."""


class SidecarUnavailable(SidecarError):
    """No Elixir to start, or it failed before saying it was ready."""


class SidecarTimeout(SidecarError):
    """A request ran past its timeout (the request was stopped; the sidecar lives on unless
    it was the BEAM itself that stopped answering)."""


class RequestError(SidecarError):
    """The operation itself failed on the Elixir side (it raised, or the request was bad)."""

    def __init__(self, op: str, kind: str, message: str, detail: str | None = None):
        super().__init__(f"sidecar {op}: {kind}: {message}")
        self.op, self.kind, self.message, self.detail = op, kind, message, detail


@dataclass(frozen=True)
class ParseResult:
    """Outcome of a syntax check. ``line``/``column`` are 1-based (0 when unknown)."""

    ok: bool
    line: int = 0
    column: int = 0
    message: str = ""

    def __bool__(self) -> bool:
        return self.ok


@dataclass(frozen=True)
class FormatResult:
    ok: bool
    formatted: str | None = None
    line: int = 0
    column: int = 0
    message: str = ""


class _Pending:
    __slots__ = ("op", "event", "response")

    def __init__(self, op: str):
        self.op = op
        self.event = threading.Event()
        self.response: dict | None = None


class _Process:
    """One BEAM: the Popen, its reader threads and the requests sent to it."""

    def __init__(self, argv: list[str], start_timeout: float):
        self.lock = threading.Lock()
        self.write_lock = threading.Lock()
        self.pending: dict[int, _Pending] = {}
        self.dead = False
        self.stderr_tail: deque[str] = deque(maxlen=40)
        self.noise: deque[str] = deque(maxlen=40)  # stdout lines that were not responses
        self.ready = threading.Event()
        self.info: dict = {}
        try:
            self.popen = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                # Its own process group: a Ctrl-C in the terminal goes to us, and we close it.
                start_new_session=True)
        except OSError as e:
            raise SidecarUnavailable(f"cannot start the Elixir sidecar ({argv[0]}): {e}") from None
        self.reader = threading.Thread(target=self._read_stdout, name="sidecar-stdout", daemon=True)
        self.err_reader = threading.Thread(target=self._read_stderr, name="sidecar-stderr", daemon=True)
        self.reader.start()
        self.err_reader.start()
        if not self.ready.wait(start_timeout) or self.dead:
            self.kill()
            raise SidecarUnavailable(
                f"the Elixir sidecar did not start within {start_timeout:.0f} s"
                + self._stderr_suffix())

    @property
    def pid(self) -> int:
        """The BEAM's OS pid (as it reports it; `elixir` execs into the BEAM)."""
        return int(self.info.get("pid") or self.popen.pid)

    def _stderr_suffix(self) -> str:
        tail = "".join(self.stderr_tail).strip()
        return f"; its last words on stderr:\n{tail}" if tail else ""

    def _read_stderr(self) -> None:
        # Always drained: a full stderr pipe would block the BEAM.
        for raw in self.popen.stderr:
            self.stderr_tail.append(raw.decode("utf-8", "replace"))

    def _read_stdout(self) -> None:
        for raw in self.popen.stdout:
            msg = _decode(raw)
            if msg is None:
                self.noise.append(raw.decode("utf-8", "replace"))
                continue
            if msg.get("ready"):
                self.info = msg
                self.ready.set()
                continue
            rid = msg.get("id")
            with self.lock:
                p = self.pending.pop(rid, None) if isinstance(rid, int) else None
            if p is None:
                self.noise.append(raw.decode("utf-8", "replace"))
                continue
            p.response = msg
            p.event.set()
        # End of output: the BEAM is gone (or going). Everyone still waiting learns it now.
        code = self.popen.wait()
        self.err_reader.join(timeout=1.0)
        with self.lock:
            self.dead = True
            waiting, self.pending = self.pending, {}
        self.exit_code = code
        self.ready.set()
        for p in waiting.values():
            p.event.set()  # response None = died

    def send(self, rid: int, pending: _Pending, payload: bytes) -> None:
        with self.lock:
            if self.dead:
                raise BrokenPipeError
            self.pending[rid] = pending
        try:
            with self.write_lock:
                self.popen.stdin.write(payload)
                self.popen.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            with self.lock:
                self.pending.pop(rid, None)
            raise BrokenPipeError from None

    def death_message(self, op: str) -> str:
        code = getattr(self, "exit_code", self.popen.poll())
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
        return f"the Elixir sidecar {how} while handling {op!r}" + self._stderr_suffix()

    def kill(self) -> None:
        if self.popen.poll() is None:
            try:
                self.popen.kill()
            except OSError:
                pass
        self.popen.wait()

    def close(self, timeout: float = 3.0) -> None:
        """Close stdin (the BEAM finishes what it holds and halts); kill it if it lingers."""
        try:
            self.popen.stdin.close()
        except OSError:
            pass
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self.reader.join(timeout=2.0)
        for stream in (self.popen.stdout, self.popen.stderr):
            try:
                stream.close()
            except OSError:
                pass


def _decode(raw: bytes) -> dict | None:
    line = raw.strip()
    if not line:
        return None
    for text in (line, line[line.find(b'{"'):] if b'{"' in line else b""):
        try:
            msg = json.loads(text)
        except ValueError:
            continue
        if isinstance(msg, dict):
            return msg
    return None


_live: "weakref.WeakSet[Sidecar]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for s in list(_live):
        s.close()


class Sidecar:
    """A handle on the Elixir sidecar. Thread-safe; requests from several threads run
    concurrently in the BEAM. Use as a context manager, or call :meth:`close`."""

    def __init__(self, elixir: str | None = None, *, timeout: float = 30.0, start_timeout: float = 60.0):
        self.elixir = elixir or os.environ.get("ELIXIR_CODER_ELIXIR") or "elixir"
        self.timeout = timeout
        self.start_timeout = start_timeout
        self._proc: _Process | None = None
        self._start_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._closed = False
        self.starts = 0  # how many BEAMs this handle has started (restarts show here)
        _live.add(self)

    # ---- life cycle -----------------------------------------------------------------------
    def __enter__(self) -> "Sidecar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with self._start_lock:
            self._closed = True
            proc, self._proc = self._proc, None
        if proc is not None:
            proc.close()

    @property
    def running(self) -> bool:
        p = self._proc
        return p is not None and not p.dead and p.popen.poll() is None

    @property
    def pid(self) -> int:
        """OS pid of the BEAM (starting it if needed)."""
        return self._process().pid

    @property
    def info(self) -> dict:
        """What the BEAM said when it started: pid, elixir and otp versions."""
        return dict(self._process().info)

    def _process(self) -> _Process:
        with self._start_lock:
            if self._closed:
                raise SidecarError("this sidecar was closed")
            p = self._proc
            if p is None or p.dead or p.popen.poll() is not None:
                if p is not None:
                    p.close(timeout=0.5)
                exe = shutil.which(self.elixir)
                if exe is None:
                    raise SidecarUnavailable(
                        f"{self.elixir!r} is not on PATH: install Elixir (Debian: apt-get install elixir) "
                        "or set ELIXIR_CODER_ELIXIR")
                self._proc = p = _Process([exe, str(SCRIPT)], self.start_timeout)
                self.starts += 1
            return p

    # ---- requests -------------------------------------------------------------------------
    def request(self, op: str, *, timeout: float | None = None, **params: Any) -> Any:
        """Run one operation; returns its ``result``. Raises :class:`RequestError` when the op
        failed in Elixir, :class:`SidecarTimeout`, or :class:`SidecarError` when the BEAM died
        with the request in flight (the next request starts a new BEAM)."""
        timeout = self.timeout if timeout is None else timeout
        rid = next(self._ids)
        payload = json.dumps({"id": rid, "op": op, "timeout_ms": max(1, int(timeout * 1000)), **params},
                             ensure_ascii=True).encode("ascii") + b"\n"
        pending = _Pending(op)
        for attempt in (1, 2):
            proc = self._process()
            try:
                proc.send(rid, pending, payload)
                break
            except BrokenPipeError:
                # It died before it could have read this request: safe to hand it to a new one.
                proc.kill()
                if attempt == 2:
                    raise SidecarError(proc.death_message(op)) from None
        if not pending.event.wait(timeout + GRACE_S):
            # The BEAM did not even report its own timeout: treat it as hung.
            with proc.lock:
                proc.pending.pop(rid, None)
            proc.kill()
            raise SidecarTimeout(f"the Elixir sidecar stopped answering during {op!r} "
                                 f"(no reply in {timeout + GRACE_S:.0f} s); it was restarted")
        msg = pending.response
        if msg is None:
            raise SidecarError(proc.death_message(op))
        if "error" in msg:
            err = msg["error"] if isinstance(msg["error"], dict) else {"message": str(msg["error"])}
            kind = err.get("type", "error")
            if kind == "timeout":
                raise SidecarTimeout(f"sidecar {op}: {err.get('message')}")
            raise RequestError(op, kind, err.get("message", ""), err.get("detail"))
        return msg.get("result")

    # ---- operations -----------------------------------------------------------------------
    def ping(self, timeout: float | None = None) -> bool:
        return bool(self.request("ping", timeout=timeout).get("pong"))

    def parse(self, source: str, *, file: str | None = None, timeout: float | None = None) -> ParseResult:
        """Syntax check with the real parser: ok, or the first error with its position."""
        params = {"source": source}
        if file:
            params["file"] = file
        r = self.request("parse", timeout=timeout, **params)
        return ParseResult(bool(r["ok"]), int(r.get("line") or 0), int(r.get("column") or 0), r.get("message") or "")

    def format(self, source: str, *, line_length: int | None = None, timeout: float | None = None) -> FormatResult:
        """``mix format`` style output, or the syntax error that prevented it."""
        params: dict[str, Any] = {"source": source}
        if line_length:
            params["line_length"] = int(line_length)
        r = self.request("format", timeout=timeout, **params)
        if r["ok"]:
            return FormatResult(True, r["formatted"])
        return FormatResult(False, None, int(r.get("line") or 0), int(r.get("column") or 0), r.get("message") or "")

    def app(self, name: str, *, timeout: float | None = None) -> dict:
        """``{found, app, version, description, modules}`` or ``{found: False, message}``."""
        return self.request("app", timeout=timeout, app=name)

    def introspect(self, modules: list[str], *, timeout: float | None = None) -> list[dict]:
        """One dict per module name (``Enum``, ``:ets``): functions, macros, docs, specs,
        callbacks, behaviours. A module that cannot be loaded comes back ``missing``."""
        return self.request("introspect", timeout=timeout, modules=list(modules))["modules"]


_shared: Sidecar | None = None
_shared_lock = threading.Lock()


def shared() -> Sidecar:
    """The process-wide sidecar (started on its first request, closed at exit)."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared._closed:
            _shared = Sidecar()
        return _shared


__all__ = ["Sidecar", "SidecarError", "SidecarUnavailable", "SidecarTimeout", "RequestError",
           "ParseResult", "FormatResult", "shared", "SCRIPT"]
