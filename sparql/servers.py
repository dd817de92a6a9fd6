"""Managed SPARQL servers on this machine: the ``oxigraph`` server and a private Virtuoso.

Owns starting, waiting for and stopping the two servers the remote backend is tested and
benchmarked against (and that ``elixir-coder serve`` runs):

* :class:`OxigraphServer` runs ``oxigraph serve`` (or ``serve-read-only``) on a loopback port;
  ready in well under a second. Query URL ``/query``, update URL ``/update``, Graph Store
  Protocol ``/store``.
* :class:`VirtuosoServer` runs ``virtuoso-t +foreground +configfile X.ini`` on a private
  database directory with its own ini: both listeners (SQL and HTTP) bound to 127.0.0.1 only,
  on free ports, and the SPARQL limits raised (``ResultSetMaxRows``, ``MaxQueryExecutionTime``,
  ``MaxSortedTopRows``, transitive memory). It never touches the Debian package's own
  instance (``/var/lib/virtuoso-opensource-7``, ports 8890/1111). On start it sets a random
  ``dba`` password and creates a user with ``SPARQL_UPDATE`` for ``/sparql-auth`` (HTTP digest
  auth), through ``isql-vt``.

Both are context managers; ``stop()`` terminates the process group it started, nothing else.
"""

from __future__ import annotations

import atexit
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


class ServerError(RuntimeError):
    """A managed server could not be started (the message says why and what to do)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def oxigraph_binary() -> str:
    """The ``oxigraph`` server binary: next to this Python (the PyPI package ``oxigraph``
    installs it in the venv's bin/) or on PATH."""
    here = Path(sys.executable).parent / "oxigraph"
    if here.exists():
        return str(here)
    found = shutil.which("oxigraph")
    if found is None:
        raise ServerError("the oxigraph server binary is not installed: pip install 'oxigraph>=0.5,<0.6'")
    return found


def _wait_http(url: str, proc: subprocess.Popen, timeout: float, log: Path | None = None) -> None:
    """Poll ``url`` until it answers (any HTTP status) or the process dies."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise ServerError(f"the server exited with status {proc.returncode} while starting:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers: ready
        except (urllib.error.URLError, OSError) as e:
            last = e
        time.sleep(0.05)
    raise ServerError(f"{url} did not answer within {timeout:.0f} s ({last})")


def _stop(proc: subprocess.Popen | None, grace: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


# ---- Oxigraph -------------------------------------------------------------------------------
@dataclass
class OxigraphServer:
    """``oxigraph serve --location DIR --bind HOST:PORT`` (``read_only``: ``serve-read-only``,
    which refuses updates with HTTP 403 and may run beside a writer of the same store)."""

    location: Path | None = None  # None: a temporary directory, removed on stop
    host: str = "127.0.0.1"
    port: int | None = None
    read_only: bool = False
    union_default_graph: bool = False
    timeout_s: int | None = None
    cors: bool = False
    proc: subprocess.Popen | None = field(default=None, repr=False)
    _tmp: tempfile.TemporaryDirectory | None = field(default=None, repr=False)

    @property
    def base(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def query_url(self) -> str:
        return self.base + "/query"

    @property
    def update_url(self) -> str:
        return self.base + "/update"

    @property
    def store_url(self) -> str:
        return self.base + "/store"

    def command(self) -> list[str]:
        cmd = [oxigraph_binary(), "serve-read-only" if self.read_only else "serve",
               "--location", str(self.location), "--bind", f"{self.host}:{self.port}"]
        if self.union_default_graph:
            cmd.append("--union-default-graph")
        if self.timeout_s:
            cmd += ["--timeout-s", str(self.timeout_s)]
        if self.cors:
            cmd.append("--cors")
        return cmd

    def start(self, timeout: float = 30.0) -> "OxigraphServer":
        if self.location is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="elixir-coder-oxigraph-")
            self.location = Path(self._tmp.name) / "store"
        self.location = Path(self.location)
        if self.port is None:
            try:
                self.port = free_port(self.host)
            except OSError as e:
                raise ServerError(f"cannot listen on {self.host}: {e}") from None
        log = Path(tempfile.mkstemp(prefix="oxigraph-", suffix=".log")[1])
        self._log = log
        self.proc = subprocess.Popen(self.command(), stdout=log.open("wb"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        atexit.register(self.stop)  # its own session: a crashed caller must not leave it running
        try:
            _wait_http(self.base + "/query?query=ASK%7B%7D", self.proc, timeout, log)
        except ServerError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        _stop(self.proc)
        log = getattr(self, "_log", None)
        if log is not None:
            log.unlink(missing_ok=True)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "OxigraphServer":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


# ---- Virtuoso -------------------------------------------------------------------------------
VIRTUOSO_VAD = "/usr/share/virtuoso-opensource-7/vad"

#: The [SPARQL] and [Parameters] limits our managed instance raises (the packaged defaults in
#: brackets). ResultSetMaxRows [10000] truncates SELECT results silently; MaxQueryExecutionTime
#: [60 s] returns partial "anytime" answers; MaxSortedTopRows [10000] limits ORDER BY + OFFSET.
LIMITS = {
    "ResultSetMaxRows": 10_000_000,
    "MaxQueryExecutionTime": 3600,
    "MaxQueryCostEstimationTime": 3600,
    "MaxSortedTopRows": 10_000_000,
    "TransitivityCacheEnabled": 0,
}


def virtuoso_ini(directory: Path, sql_port: int, http_port: int, *, result_set_max_rows: int,
                 max_query_seconds: int, buffers: int = 85_000, dirs_allowed: list[str] | None = None,
                 max_sorted_top_rows: int = LIMITS["MaxSortedTopRows"]) -> str:
    """A private virtuoso.ini: database files in ``directory``, both listeners on 127.0.0.1."""
    d = directory
    allowed = ", ".join([".", str(d), VIRTUOSO_VAD, *(dirs_allowed or [])])
    return f"""; written by elixir-coder (sparql/servers.py): a private instance, loopback only
[Database]
DatabaseFile       = {d}/virtuoso.db
ErrorLogFile       = {d}/virtuoso.log
LockFile           = {d}/virtuoso.lck
TransactionFile    = {d}/virtuoso.trx
xa_persistent_file = {d}/virtuoso.pxa
ErrorLogLevel      = 7
FileExtend         = 200
MaxCheckpointRemap = 2000
Striping           = 0
TempStorage        = TempDatabase

[TempDatabase]
DatabaseFile       = {d}/virtuoso-temp.db
TransactionFile    = {d}/virtuoso-temp.trx
MaxCheckpointRemap = 2000
Striping           = 0

[Parameters]
ServerPort               = 127.0.0.1:{sql_port}
LiteMode                 = 0
DisableUnixSocket        = 1
DisableTcpSocket         = 0
MaxClientConnections     = 20
CheckpointInterval       = 60
O_DIRECT                 = 0
CaseMode                 = 2
MaxStaticCursorRows      = 5000
CheckpointAuditTrail     = 0
AllowOSCalls             = 0
SchedulerInterval        = 10
DirsAllowed              = {allowed}
ThreadCleanupInterval    = 0
ThreadThreshold          = 10
ResourcesCleanupInterval = 0
FreeTextBatchSize        = 100000
SingleCPU                = 0
VADInstallDir            = {VIRTUOSO_VAD}/
PrefixResultNames        = 0
RdfFreeTextRulesSize     = 100
IndexTreeMaps            = 64
MaxMemPoolSize           = 400000000
MaxQueryMem              = 2G
VectorSize               = 1000
MaxVectorSize            = 1000000
AdjustVectorSize         = 0
ThreadsPerQuery          = 2
AsyncQueueMaxThreads     = 10
NumberOfBuffers          = {buffers}
MaxDirtyBuffers          = {buffers * 3 // 4}
MaxSortedTopRows         = {max_sorted_top_rows}
TransitivityCacheEnabled = {LIMITS['TransitivityCacheEnabled']}

[HTTPServer]
ServerPort                  = 127.0.0.1:{http_port}
ServerRoot                  = {d}/vsp
MaxClientConnections        = 10
DavRoot                     = DAV
EnabledDavVSP               = 0
HTTPProxyEnabled            = 0
TempASPXDir                 = 0
ServerThreads               = 10
MaxKeepAlives               = 10
KeepAliveTimeout            = 10
HTTPThreadSize              = 280000
HttpPrintWarningsInOutput   = 0
Charset                     = UTF-8
EnabledGzipContent          = 0

[AutoRepair]
BadParentLinks = 0

[Client]
SQL_PREFETCH_ROWS  = 100
SQL_PREFETCH_BYTES = 16000
SQL_QUERY_TIMEOUT  = 0
SQL_TXN_TIMEOUT    = 0

[SPARQL]
ResultSetMaxRows           = {result_set_max_rows}
MaxQueryCostEstimationTime = {LIMITS['MaxQueryCostEstimationTime']}
MaxQueryExecutionTime      = {max_query_seconds}
DefaultGraph               =
DeferInferenceRulesInit    = 0
"""


@dataclass
class VirtuosoServer:
    """A private Virtuoso open source 7 instance in ``directory`` (a temporary one by default).

    ``result_set_max_rows``/``max_query_seconds`` default to the raised :data:`LIMITS`; tests
    pass tiny values to show how the adapter handles a server that truncates."""

    directory: Path | None = None
    http_port: int | None = None
    sql_port: int | None = None
    user: str = "elixir_coder"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    dba_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    result_set_max_rows: int = LIMITS["ResultSetMaxRows"]
    max_query_seconds: int = LIMITS["MaxQueryExecutionTime"]
    max_sorted_top_rows: int = LIMITS["MaxSortedTopRows"]
    buffers: int = 85_000  # 8 KB pages: ~700 MB of cache
    dirs_allowed: list[str] = field(default_factory=list)
    proc: subprocess.Popen | None = field(default=None, repr=False)
    _tmp: tempfile.TemporaryDirectory | None = field(default=None, repr=False)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def query_url(self) -> str:
        return self.base + "/sparql"

    @property
    def update_url(self) -> str:
        """Updates need authentication: ``/sparql-auth`` (HTTP digest) as :attr:`user`."""
        return self.base + "/sparql-auth"

    @property
    def auth(self) -> tuple[str, str]:
        return (self.user, self.password)

    def start(self, timeout: float = 120.0) -> "VirtuosoServer":
        binary = shutil.which("virtuoso-t")
        if binary is None:
            raise ServerError("virtuoso-t is not installed: apt-get install virtuoso-opensource "
                              "(bash scripts/setup.sh does it)")
        if self.directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="elixir-coder-virtuoso-")
            self.directory = Path(self._tmp.name)
        self.directory = Path(self.directory).resolve()
        (self.directory / "vsp").mkdir(parents=True, exist_ok=True)
        self.http_port = self.http_port or free_port()
        self.sql_port = self.sql_port or free_port()
        ini = self.directory / "virtuoso.ini"
        ini.write_text(virtuoso_ini(self.directory, self.sql_port, self.http_port,
                                    result_set_max_rows=self.result_set_max_rows,
                                    max_query_seconds=self.max_query_seconds, buffers=self.buffers,
                                    dirs_allowed=self.dirs_allowed, max_sorted_top_rows=self.max_sorted_top_rows))
        log = self.directory / "virtuoso.stdout"
        self.proc = subprocess.Popen([binary, "+foreground", "+configfile", str(ini)], cwd=self.directory,
                                     stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
        atexit.register(self.stop)
        try:
            _wait_http(self.base + "/sparql?query=ASK%7B%7D", self.proc, timeout, self.directory / "virtuoso.log")
            self._setup_users()
        except Exception:
            self.stop()
            raise
        return self

    def isql(self, sql: str, password: str | None = None, timeout: float = 600) -> str:
        """Run SQL statements as dba through ``isql-vt`` (raises ServerError on an error)."""
        isql = shutil.which("isql-vt") or shutil.which("isql")
        if isql is None:
            raise ServerError("isql-vt is not installed (package virtuoso-opensource-7-bin)")
        pw = password if password is not None else self.dba_password
        r = subprocess.run([isql, f"127.0.0.1:{self.sql_port}", "dba", pw, "VERBOSE=OFF", "BANNER=OFF",
                            "PROMPT=OFF", "ECHO=OFF", "ERRORS=STDOUT"],
                           input=sql, capture_output=True, text=True, timeout=timeout)
        out = r.stdout + r.stderr
        if r.returncode != 0 or "*** Error" in out:
            raise ServerError(f"isql failed: {out.strip()[:2000]}")
        return out

    def _setup_users(self) -> None:
        """A random dba password, and the update user (SPARQL_UPDATE, for /sparql-auth)."""
        q = lambda x: x.replace("'", "''")  # noqa: E731 (SQL string literal)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.user):
            raise ServerError(f"user name {self.user!r}: letters, digits and _ only")
        self.isql(f"USER_CHANGE_PASSWORD('dba', 'dba', '{q(self.dba_password)}');\n", password="dba")
        self.isql(f"""DB.DBA.USER_CREATE('{self.user}', '{q(self.password)}');
GRANT SPARQL_SELECT TO "{self.user}";
GRANT SPARQL_UPDATE TO "{self.user}";
""")

    def bulk_load(self, directory: str | Path, pattern: str = "*.nq*", graph: str = "urn:x-elixir-coder:default") -> None:
        """Virtuoso's bulk loader over the files of ``directory`` (``ld_dir`` + ``rdf_loader_run``
        + checkpoint). N-Quads keep their graphs; ``graph`` is for triples files only. The
        directory must be in ``dirs_allowed``."""
        d = str(Path(directory).resolve())
        self.isql(f"ld_dir('{d}', '{pattern}', '{graph}');\nrdf_loader_run();\ncheckpoint;\n")
        out = self.isql("SELECT 'errors=', COUNT(*) FROM DB.DBA.LOAD_LIST WHERE ll_error IS NOT NULL;\n"
                        "SELECT ll_file, ll_error FROM DB.DBA.LOAD_LIST WHERE ll_error IS NOT NULL;\n")
        m = re.search(r"errors=\s+(\d+)", out)
        if m is None or int(m.group(1)):
            raise ServerError(f"Virtuoso's bulk loader reported errors: {out.strip()[-2000:]}")

    def stop(self) -> None:
        _stop(self.proc, grace=30)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "VirtuosoServer":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


__all__ = ["ServerError", "free_port", "oxigraph_binary", "OxigraphServer", "VirtuosoServer", "virtuoso_ini", "LIMITS"]
