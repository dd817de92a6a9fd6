"""Debian source packages as Elixir sources: ``apt-get source NAME`` into a cache directory.

The default real corpus (DESIGN.md) is the Elixir 1.14 source (``elixir-lang``) and the Elixir
CLI inside ``rabbitmq-server``. ``apt-get source`` needs a ``deb-src`` entry for the mirror that
is already configured; when there is none we say which line to add instead of failing obscurely.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

SOURCES_FILES = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]


class DebianSourceError(RuntimeError):
    pass


def cache_dir() -> Path:
    base = os.environ.get("ELIXIR_CODER_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "elixir-coder"
    )
    return Path(base)


def has_deb_src() -> bool:
    for path in SOURCES_FILES:
        try:
            text = path.read_text()
        except OSError:
            continue
        if re.search(r"^\s*deb-src\s", text, re.M) or re.search(r"^Types:.*\bdeb-src\b", text, re.M):
            return True
    return False


def deb_src_hint() -> str:
    deb822 = Path("/etc/apt/sources.list.d/debian.sources")
    if deb822.exists():
        return (f"add deb-src to the 'Types:' line of {deb822} (Types: deb deb-src), then run "
                "`apt-get update` (or run `bash scripts/setup.sh`, which does it)")
    return ("add a line like `deb-src http://deb.debian.org/debian bookworm main` to "
            "/etc/apt/sources.list, then run `apt-get update` (or `bash scripts/setup.sh`)")


def fetch_source(package: str, dest: Path | None = None) -> Path:
    """Return the unpacked source tree of ``package``, fetching it once into the cache."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9.+-]+", package):
        raise DebianSourceError(f"not a Debian source package name: {package!r}")
    dest = (dest or cache_dir() / "debian") / package
    existing = _unpacked(dest, package)
    if existing:
        return existing
    if shutil.which("apt-get") is None:
        raise DebianSourceError("apt-get is not available: Debian source packages need a Debian system")
    if not has_deb_src():
        raise DebianSourceError(f"no deb-src entry is configured, so `apt-get source {package}` cannot work: "
                                + deb_src_hint())
    dest.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["apt-get", "source", "-qq", package], cwd=dest, capture_output=True, text=True)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        hint = " (run `apt-get update` after adding deb-src)" if "Unable to find a source package" in proc.stderr else ""
        raise DebianSourceError(f"apt-get source {package} failed: {detail[-1] if detail else proc.returncode}{hint}")
    existing = _unpacked(dest, package)
    if not existing:
        raise DebianSourceError(f"apt-get source {package} unpacked nothing under {dest}")
    return existing


def _unpacked(dest: Path, package: str) -> Path | None:
    """The unpacked tree: the directory apt-get made next to the .dsc (NAME-VERSION)."""
    if not dest.is_dir():
        return None
    dirs = sorted(p for p in dest.iterdir() if p.is_dir() and not p.name.startswith("."))
    return dirs[-1] if dirs else None


def source_version(tree: Path) -> str | None:
    """Upstream version from a VERSION file or the directory name (``elixir-lang-1.14.0.dfsg``)."""
    version_file = tree / "VERSION"
    if version_file.is_file():
        text = version_file.read_text().strip()
        if text:
            return text
    m = re.search(r"-(\d+(?:\.\d+)+)", tree.name)
    return m.group(1) if m else None
