"""Corpus sources: turning a SRC argument into projects and their Elixir files.

Owns the four kinds of source and their bad-input rules:

* a **directory**: any tree of Elixir projects; every directory holding a ``mix.exs`` is one
  project (umbrella apps and ``lib/<app>`` of the Elixir source included), files outside any
  ``mix.exs`` belong to the directory itself; ``deps/``, ``_build/`` and hidden directories
  are skipped (except in Debian source packages, whose ``deps/`` is the package's own code);
* a **Hex package tarball** (outer tar holding ``VERSION``, ``CHECKSUM``, ``metadata.config``,
  ``contents.tar.gz``): checked (members, checksum), and its regular files extracted into a
  work directory under ``--out``; absolute paths, ``..``, links and special files reject the
  whole tarball, a corrupt one is reported;
* a **Debian source package** by name, through :func:`kg.debian.fetch_source`;
* the **installed BEAM's docs**: ```elixir blocks and ``iex>`` doctests of every module of
  Elixir's own apps, read through the sidecar (:mod:`kg.stdlib`).

Nothing here decides what is kept; it reads files and says why one cannot be read.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from kg import sources as kg_sources
from model.corpus import records as R

EXTENSIONS = (".ex", ".exs")
SKIP_DIRS = frozenset({"_build", "deps", "node_modules", ".elixir_ls", "cover", "doc"})
#: Files bigger than this are reported and not read at all (the quality filter has its own,
#: smaller, configurable limit).
READ_LIMIT = 5 * 1024 * 1024
#: Hex tarballs: at most this many bytes unpacked (a decompression bomb is reported).
HEX_MAX_BYTES = 200 * 1024 * 1024
#: A mix.exs under one of these directories is a test fixture of the enclosing project, not a
#: project of its own (Mix's tests hold dozens of tiny "foo"/"bar" projects).
FIXTURE_DIRS = frozenset({"test", "tests", "fixtures", "priv"})
BEAM_APPS = ("elixir", "eex", "ex_unit", "iex", "logger", "mix")


class SourceError(RuntimeError):
    """A whole source cannot be used (the message says why); the build goes on without it."""


@dataclass
class Project:
    """One project: its files are read relative to ``root``."""

    name: str
    version: str
    root: Path
    origin: str                     # "dir:PATH", "hex:FILE", "debian:PKG"
    licence: str | None
    files: list[str] = field(default_factory=list)  # relative POSIX paths, sorted


# ---- directories ---------------------------------------------------------------------------

def projects_in_dir(src: Path, *, origin: str, include_deps: bool = False,
                    default_version: str | None = None, licence: str | None = None) -> list[Project]:
    """Every project under ``src`` (one per ``mix.exs``; ``src`` itself for loose files)."""
    src = Path(src)
    if not src.exists():
        raise SourceError(f"{src}: no such file or directory")
    if not src.is_dir():
        raise SourceError(f"{src}: not a directory, Hex tarball (.tar) or Debian package")
    skip = SKIP_DIRS - ({"deps"} if include_deps else set())
    files: list[str] = []
    roots: list[str] = [""]
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        rel = os.path.relpath(dirpath, src)
        rel = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        dirnames[:] = sorted(d for d in dirnames if d not in skip and not d.startswith("."))
        if "mix.exs" in filenames and rel and not FIXTURE_DIRS.intersection(rel.split("/")):
            roots.append(rel)
        files += [rel + f for f in filenames if f.endswith(EXTENSIONS)]
    roots.sort(key=len, reverse=True)
    by_root: dict[str, list[str]] = {r: [] for r in roots}
    for f in sorted(files):
        root = next(r for r in roots if f.startswith(r))
        by_root[root].append(f[len(root):])
    projects = []
    seen: set[tuple[str, str]] = set()
    for root in sorted(by_root):
        if not by_root[root]:
            continue
        proot = src / root if root else src
        name, version = kg_sources.project_identity(proot)
        if version == "0.0.0" and default_version:
            version = default_version
        if (name, version) in seen:  # two projects of one name in one tree: qualify by path
            name = f"{name}:{root.rstrip('/')}"
        seen.add((name, version))
        projects.append(Project(name=name, version=version, root=proot, origin=origin,
                                licence=R.find_licence(proot, src) or licence, files=by_root[root]))
    return projects


def read_text(path: Path) -> tuple[str | None, str | None]:
    """(text, None) or (None, why it cannot be used: empty, non-UTF-8, binary, too large ...)."""
    res = kg_sources.read_source(path, READ_LIMIT)
    if res.reason:
        return None, res.reason
    return res.data.decode("utf-8"), None


# ---- Hex tarballs --------------------------------------------------------------------------

HEX_MEMBERS = ("VERSION", "CHECKSUM", "metadata.config", "contents.tar.gz")


def is_hex_tarball(path: Path) -> bool:
    return path.is_file() and path.suffix == ".tar"


def _metadata(text: str) -> dict:
    """The few fields of an Erlang-term ``metadata.config`` we need: name, version, licenses."""
    out = {}
    for key in ("name", "version"):
        m = re.search(r'\{<<"' + key + r'">>\s*,\s*<<"([^"]*)">>\s*\}', text)
        if m:
            out[key] = m.group(1)
    m = re.search(r'\{<<"licenses">>\s*,\s*\[(.*?)\]\s*\}', text, re.S)
    if m:
        out["licenses"] = re.findall(r'<<"([^"]*)">>', m.group(1))
    return out


def _gunzip(data: bytes, limit: int) -> bytes | None:
    """Gunzip at most ``limit`` bytes (None when there is more: a decompression bomb)."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = d.decompress(data, limit + 1)
    if len(out) > limit or d.unconsumed_tail:
        return None
    if not d.eof:
        raise ValueError("truncated gzip stream")
    return out


def unsafe_member(member: tarfile.TarInfo) -> str | None:
    """Why a member must not be extracted (None when it is a plain file with a safe path)."""
    name = member.name
    p = PurePosixPath(name)
    if name.startswith("/") or p.is_absolute() or re.match(r"^[A-Za-z]:", name):
        return f"absolute path {name!r}"
    if ".." in p.parts:
        return f"path {name!r} escapes the extraction directory (..)"
    if member.issym() or member.islnk():
        return f"link {name!r} -> {member.linkname!r}"
    if not (member.isfile() or member.isdir()):
        return f"special file {name!r}"
    return None


def open_hex(tarball: Path, work: Path) -> list[Project]:
    """Check a Hex package tarball and extract its files under ``work``; its projects.

    Raises :class:`SourceError` for a corrupt or unsafe tarball; nothing is written then."""
    tarball = Path(tarball)
    try:
        with tarfile.open(tarball, "r:") as outer:
            members = {m.name: m for m in outer.getmembers()}
            missing = [n for n in HEX_MEMBERS if n not in members]
            if missing:
                raise SourceError(f"{tarball}: not a Hex package tarball (missing {', '.join(missing)})")
            blobs = {}
            for n in HEX_MEMBERS:
                if not members[n].isfile():
                    raise SourceError(f"{tarball}: member {n} is not a regular file")
                blobs[n] = outer.extractfile(members[n]).read()
    except (tarfile.TarError, EOFError, OSError) as e:
        raise SourceError(f"{tarball}: corrupt tarball ({e})") from None
    checksum = blobs["CHECKSUM"].decode("ascii", "replace").strip().lower()
    actual = hashlib.sha256(blobs["VERSION"] + blobs["metadata.config"] + blobs["contents.tar.gz"]).hexdigest()
    if checksum and checksum != actual:
        raise SourceError(f"{tarball}: corrupt tarball (CHECKSUM {checksum[:12]}... does not match "
                          f"the contents, {actual[:12]}...)")
    meta = _metadata(blobs["metadata.config"].decode("utf-8", "replace"))
    name = meta.get("name") or tarball.stem.rsplit("-", 1)[0]
    version = meta.get("version") or (tarball.stem.rsplit("-", 1)[1] if "-" in tarball.stem else "0.0.0")
    try:
        unpacked = _gunzip(blobs["contents.tar.gz"], HEX_MAX_BYTES)
    except (zlib.error, EOFError, ValueError) as e:
        raise SourceError(f"{tarball}: corrupt contents.tar.gz ({e})") from None
    if unpacked is None:
        raise SourceError(f"{tarball}: contents.tar.gz unpacks to more than the {HEX_MAX_BYTES} byte limit")
    try:
        inner = tarfile.open(fileobj=io.BytesIO(unpacked), mode="r:")
        inner_members = inner.getmembers()
    except (tarfile.TarError, EOFError, OSError, ValueError) as e:
        raise SourceError(f"{tarball}: corrupt contents.tar.gz ({e})") from None
    problems = [why for m in inner_members if (why := unsafe_member(m))]
    if problems:
        raise SourceError(f"{tarball}: unsafe tarball, nothing extracted: {'; '.join(problems[:3])}"
                          + (f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""))
    total = sum(m.size for m in inner_members if m.isfile())
    if total > HEX_MAX_BYTES:
        raise SourceError(f"{tarball}: unpacks to {total} bytes, over the {HEX_MAX_BYTES} byte limit")
    dest = work / f"{name}-{version}"
    dest_real = dest.resolve()
    for m in inner_members:
        if not m.isfile():
            continue
        target = (dest / m.name).resolve()
        if dest_real not in target.parents:  # belt and braces: checked above already
            raise SourceError(f"{tarball}: member {m.name!r} escapes the extraction directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(inner.extractfile(m).read())
    inner.close()
    licence = " OR ".join(meta.get("licenses") or []) or None
    projects = projects_in_dir(dest, origin=f"hex:{tarball.name}", default_version=version, licence=licence)
    if not projects:
        raise SourceError(f"{tarball}: the package holds no Elixir files")
    for p in projects:  # the package itself: its metadata names it
        if p.root == dest:
            p.name, p.version = name, version
            p.licence = licence or p.licence
    return projects


# ---- Debian source packages ---------------------------------------------------------------

def debian_projects(package: str) -> list[Project]:
    from kg import debian

    try:
        tree = debian.fetch_source(package)
    except debian.DebianSourceError as e:
        raise SourceError(f"debian {package}: {e}") from None
    version = debian.source_version(tree)
    # In a source package deps/ holds the package's own components (rabbitmq_cli).
    return projects_in_dir(tree, origin=f"debian:{package}", include_deps=True, default_version=version)


# ---- installed BEAM docs -------------------------------------------------------------------

_FENCE = re.compile(r"```(?:elixir|ex)\s*\n(.*?)```", re.S)


def code_blocks(doc: str) -> list[str]:
    """Elixir code of a doc: fenced ```elixir blocks and indented (4 spaces, after a blank line)
    Markdown code blocks, iex> sessions left out (they are doctests)."""
    doc = doc or ""
    blocks = [b for b in _FENCE.findall(doc)]
    lines = _FENCE.sub("", doc).splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("    ") and lines[i].strip() and (i == 0 or not lines[i - 1].strip()):
            j = i
            while j < len(lines) and (lines[j].startswith("    ") or not lines[j].strip()):
                j += 1
            blocks.append("\n".join(line[4:] for line in lines[i:j]))
            i = j
        else:
            i += 1
    out = []
    for b in blocks:
        b = b.strip("\n").rstrip()
        if b.strip() and not b.lstrip().startswith(("iex>", "iex(")):
            out.append(b + "\n")
    return out


def beam_doc_items(apps=BEAM_APPS, sidecar=None, progress=None) -> tuple[list[dict], list[str]]:
    """Per installed module: ``{"app", "version", "module", "blocks": [code], "doctests":
    [(function or None, expression, expected)], "functions": {name/arity: doc}}``, and problems."""
    from kg import stdlib
    from kg.sidecar import shared

    sidecar = sidecar or shared()
    items, problems = [], []
    for app in apps:
        try:
            version, modules = stdlib.app_modules(app, sidecar)
        except Exception as e:  # an app that is not installed is reported, the others go on
            problems.append(f"beam app {app}: {e}")
            continue
        for i in range(0, len(modules), stdlib.BATCH):
            for info in sidecar.introspect(modules[i:i + stdlib.BATCH]):
                if info.get("missing") or info.get("erlang"):
                    continue
                docs = [(None, info.get("moduledoc") or "")]
                docs += [(f"{f['name']}/{f['arity']}", f.get("doc") or "")
                         for f in info.get("functions") or () if not f.get("doc_hidden")]
                item = {"app": app, "version": version, "module": info["name"], "blocks": [],
                        "doctests": [], "docs": {}}
                for fun, doc in docs:
                    # only blocks the real parser accepts (docs also show shell sessions, output)
                    item["blocks"] += [b for b in code_blocks(doc) if sidecar.parse(b).ok]
                    item["doctests"] += [(fun, e, x) for e, x in stdlib.split_doctests(doc)]
                    if fun:
                        item["docs"][fun] = doc
                if item["blocks"] or item["doctests"]:
                    items.append(item)
            if progress:
                progress(app, min(i + stdlib.BATCH, len(modules)), len(modules))
    return items, problems
