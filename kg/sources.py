"""Sources: which project a directory is, which files belong to it, and reading them safely.

Owns the rules that turn a SRC argument into (project, version, files) and the per-file checks
that turn bad input (binary, non-UTF-8, too large, not a regular file, symlink loops,
unreadable) into a clear reason instead of an exception. Nothing here knows about RDF or stores.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

#: Files the build reads.
EXTENSIONS = (".ex", ".exs")
#: Directories that hold build output or dependencies, never the project's own code.
SKIP_DIRS = frozenset({"_build", "deps", "node_modules", ".elixir_ls", ".git", ".hg", ".svn", "cover"})
#: Files above this size are reported and skipped (a generated 10 MB file is not code to learn
#: from, and would stall a worker). Configurable per build.
DEFAULT_MAX_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class Source:
    """One SRC argument: one project, one version, one named graph."""

    root: Path
    project: str
    version: str
    files: list[str] = field(default_factory=list)  # relative POSIX paths, sorted
    reports: list[tuple[str, str]] = field(default_factory=list)  # (relative path, reason) found while walking


@dataclass(frozen=True)
class ReadResult:
    data: bytes | None  # None when the file was not read (see reason)
    reason: str | None  # why the file is skipped; None when it is fine
    sha256: str | None
    size: int
    mtime_ns: int


# ---- project identity ---------------------------------------------------------------------

_APP = re.compile(r"\bapp:\s*:\"?([A-Za-z_][A-Za-z0-9_]*)")
_VERSION_LIT = re.compile(r"\bversion:\s*\"([^\"]+)\"")
_VERSION_ATTR = re.compile(r"\bversion:\s*@([a-z_][A-Za-z0-9_]*)")


def project_identity(root: Path) -> tuple[str, str]:
    """(name, version) of the project at ``root``: ``app:`` and ``version:`` of ``mix.exs``
    (also ``version: @version`` with ``@version "x"``), else the directory name and a
    ``VERSION`` file, else ``0.0.0``."""
    name, version = None, None
    mix = root / "mix.exs"
    if mix.is_file():
        try:
            text = mix.read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        if m := _APP.search(text):
            name = m.group(1)
        if m := _VERSION_LIT.search(text):
            version = m.group(1)
        elif m := _VERSION_ATTR.search(text):
            attr = re.search(r"@" + re.escape(m.group(1)) + r"\s+\"([^\"]+)\"", text)
            if attr:
                version = attr.group(1)
    if version is None:
        vfile = root / "VERSION"
        try:
            if vfile.is_file():
                version = vfile.read_text(encoding="utf-8", errors="replace").strip().splitlines()[0].strip() or None
        except (OSError, IndexError):
            version = None
    return name or root.resolve().name, version or "0.0.0"


def parse_graph_name(name: str, default_version: str) -> tuple[str, str]:
    """``--graph`` value: ``project@version`` or just ``project`` (the source's version)."""
    if "@" in name:
        project, version = name.rsplit("@", 1)
        if not project or not version:
            raise ValueError(f"bad graph name {name!r}: expected NAME or NAME@VERSION")
        return project, version
    if not name:
        raise ValueError("empty graph name")
    return name, default_version


# ---- walking ------------------------------------------------------------------------------

def discover(src: str | Path, graph: str | None = None) -> Source:
    """The project at ``src`` (a directory, or one file) and its Elixir files.

    Symlinked directories are followed once; a link back to a directory already on the walk
    is reported as a symlink loop instead of being walked forever."""
    root = Path(src)
    if not root.exists() and not root.is_symlink():
        raise FileNotFoundError(f"{src}: no such file or directory")
    files: list[str] = []
    reports: list[tuple[str, str]] = []
    if root.is_file():
        files.append(root.name)
        root = root.parent
    else:
        _walk(root, "", {os.path.realpath(root)}, files, reports)
    project, version = project_identity(root)
    if graph:
        project, version = parse_graph_name(graph, version)
    files.sort()
    reports.sort()
    return Source(root=root, project=project, version=version, files=files, reports=reports)


def _walk(directory: Path, rel: str, ancestors: set[str], files: list[str], reports: list[tuple[str, str]]) -> None:
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as e:
        reports.append((rel or ".", f"cannot list directory: {e.strerror or e}"))
        return
    for entry in entries:
        path = f"{rel}{entry.name}"
        try:
            is_dir = entry.is_dir(follow_symlinks=True)
        except OSError as e:
            if e.errno == errno.ELOOP:
                if entry.name.endswith(EXTENSIONS):
                    reports.append((path, "symlink loop"))
                continue
            raise
        if is_dir:
            if entry.name in SKIP_DIRS or entry.name.startswith("."):
                continue
            real = os.path.realpath(entry.path)
            if real in ancestors:
                reports.append((path, "symlink loop (links back to a directory being walked)"))
                continue
            _walk(Path(entry.path), path + "/", ancestors | {real}, files, reports)
        elif entry.name.endswith(EXTENSIONS):
            if entry.is_symlink() and not os.path.exists(entry.path):
                # A dangling link, or a loop of file links (exists() is False for both).
                reports.append((path, _link_problem(entry.path)))
                continue
            files.append(path)


def _link_problem(path: str) -> str:
    try:
        os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "symlink loop"
        return f"broken symlink ({e.strerror})"
    return "broken symlink"


# ---- reading one file ---------------------------------------------------------------------

def read_source(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> ReadResult:
    """Read one file, or say why it cannot be used. Never raises for bad input."""
    try:
        st = os.stat(path)
    except OSError as e:
        reason = "symlink loop" if e.errno == errno.ELOOP else f"cannot stat: {e.strerror or e}"
        return ReadResult(None, reason, None, 0, 0)
    if not stat.S_ISREG(st.st_mode):
        # Opening a FIFO would block the worker forever; a directory named x.ex is not source.
        kind = "directory" if stat.S_ISDIR(st.st_mode) else "fifo" if stat.S_ISFIFO(st.st_mode) else "special file"
        return ReadResult(None, f"unreadable: not a regular file ({kind})", None, st.st_size, st.st_mtime_ns)
    if st.st_size > max_bytes:
        return ReadResult(None, f"file too large ({_mb(st.st_size)} > limit {_mb(max_bytes)})", None,
                          st.st_size, st.st_mtime_ns)
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as e:
        return ReadResult(None, f"unreadable: {e.strerror or e}", None, st.st_size, st.st_mtime_ns)
    digest = hashlib.sha256(data).hexdigest()
    if len(data) > max_bytes:  # grew since stat
        return ReadResult(None, f"file too large (> limit {_mb(max_bytes)})", digest, len(data), st.st_mtime_ns)
    return ReadResult(data, check_content(data), digest, len(data), st.st_mtime_ns)


def check_content(data: bytes) -> str | None:
    """Why these bytes are not Elixir source text, or None."""
    if not data:
        return "empty file"
    if b"\x00" in data[:8192]:
        return "binary file (contains NUL bytes)"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        return f"not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start}, line {line})"
    return None


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"
