"""File records of the corpus (contract 1) and the per-file facts they carry.

Owns: what a record holds (``FILE_FIELDS``), how a file is classified as a test and which test
type it is (ExUnit, StreamData property, LiveViewTest, doctest), how a project's licence is
found (``licenses:`` in mix.exs or Hex metadata, else a LICENSE file), the normalised content
hash used for dedup and the leakage check, and the sharded JSONL writer/reader.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

#: Keys of one file record, in the order they are written.
FILE_FIELDS = ("id", "project", "version", "path", "licence", "is_test", "test_type", "lines",
               "parses", "sha256", "split", "text")
#: Keys of one pair record.
PAIR_FIELDS = ("kind", "split", "project", "code", "test", "module", "function", "code_path",
               "test_path")

#: Test types, and the seed's target balance for the three kinds of written tests.
TEST_TYPES = ("exunit", "property", "liveview", "doctest")
TARGET_BALANCE = {"exunit": 0.60, "property": 0.25, "liveview": 0.15}

SHARD_SIZE = 2000  # records per JSONL shard


# ---- tests ---------------------------------------------------------------------------------

_PROPERTY = re.compile(r"^\s*(use ExUnitProperties\b|property\s+\"|check\s+all\b)", re.M)
_LIVEVIEW = re.compile(r"\bPhoenix\.LiveViewTest\b|^\s*import Phoenix\.LiveViewTest", re.M)
_TEST_CASE = re.compile(r"^\s*test\s+[\"']", re.M)
_DOCTEST = re.compile(r"^\s*doctest\s+[A-Z:]", re.M)
_EXUNIT = re.compile(r"\bExUnit\.Case\b|^\s*(test|describe)\s+[\"']", re.M)


def is_test_path(path: str) -> bool:
    parts = path.split("/")
    return parts[-1].endswith("_test.exs") or "test" in parts[:-1] and parts[-1].endswith(".exs")


def classify_test(path: str, text: str) -> str | None:
    """The kind of test a file is (``None`` for code that is not a test).

    ``property`` when it uses StreamData (``use ExUnitProperties``, ``property "..."``,
    ``check all``), ``liveview`` when it uses Phoenix.LiveViewTest, ``doctest`` when its only
    tests are ``doctest Module`` lines, else ``exunit``."""
    if not is_test_path(path):
        return None
    if _LIVEVIEW.search(text):
        return "liveview"
    if _PROPERTY.search(text):
        return "property"
    if _DOCTEST.search(text) and not _TEST_CASE.search(text):
        return "doctest"
    if _EXUNIT.search(text) or path.endswith("_test.exs"):
        return "exunit"
    return None  # test support (test_helper.exs, fixtures) is not a test of any type


# ---- licences ------------------------------------------------------------------------------

_MIX_LICENSES = re.compile(r"\blicen[sc]es:\s*\[([^\]]*)\]")
_LICENCE_TEXTS = (
    ("Apache License", "Apache-2.0"), ("Mozilla Public License", "MPL-2.0"),
    ("MIT License", "MIT"), ("Permission is hereby granted, free of charge", "MIT"),
    ("BSD 3-Clause", "BSD-3-Clause"), ("Redistribution and use in source and binary forms", "BSD"),
    ("ISC License", "ISC"), ("GNU GENERAL PUBLIC LICENSE", "GPL"), ("GNU LESSER GENERAL PUBLIC", "LGPL"),
)
LICENCE_FILES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "COPYING")


def licence_from_mix(text: str) -> str | None:
    m = _MIX_LICENSES.search(text)
    if not m:
        return None
    names = re.findall(r"\"([^\"]+)\"", m.group(1))
    return " OR ".join(names) or None


def licence_from_text(text: str) -> str | None:
    head = text[:4000]
    for needle, name in _LICENCE_TEXTS:
        if needle.lower() in head.lower():
            return name
    return None


def find_licence(project_root: Path, stop: Path) -> str | None:
    """``licenses:`` of the project's mix.exs, else the first LICENSE file found from the project
    root up to ``stop`` (the source root), recognised by its text."""
    mix = project_root / "mix.exs"
    if mix.is_file():
        found = licence_from_mix(mix.read_text(encoding="utf-8", errors="replace"))
        if found:
            return found
    directory = project_root
    while True:
        for name in LICENCE_FILES:
            p = directory / name
            if p.is_file():
                found = licence_from_text(p.read_text(encoding="utf-8", errors="replace"))
                if found:
                    return found
        if directory == stop or stop not in directory.parents:
            return None
        directory = directory.parent


# ---- hashes --------------------------------------------------------------------------------

def normalise(text: str) -> str:
    """Text for exact dedup: trailing spaces, blank lines and indentation differences removed."""
    lines = (line.strip() for line in text.replace("\r\n", "\n").split("\n"))
    return "\n".join(line for line in lines if line)


def normalised_hash(text: str) -> str:
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()


def record_id(project: str, version: str, path: str) -> str:
    return hashlib.sha1(f"{project}@{version}/{path}".encode("utf-8")).hexdigest()[:16]


def make_record(project: str, version: str, path: str, text: str, *, licence: str | None,
                parses: bool | None, is_test: bool | None = None, ttype: str | None = None) -> dict:
    if is_test is None:
        ttype = classify_test(path, text)
        is_test = is_test_path(path)
    return {
        "id": record_id(project, version, path), "project": project, "version": version,
        "path": path, "licence": licence, "is_test": bool(is_test), "test_type": ttype,
        "lines": text.count("\n") + (0 if text.endswith("\n") or not text else 1),
        "parses": parses, "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "split": None, "text": text,
    }


# ---- JSONL shards --------------------------------------------------------------------------

def write_shards(directory: Path, split: str, rows: list[dict], fields: tuple[str, ...],
                 shard_size: int = SHARD_SIZE) -> list[str]:
    """Write ``rows`` as ``directory/<split>-00000.jsonl`` ...; the file names written."""
    directory.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(0, max(len(rows), 1), shard_size):
        name = f"{split}-{i // shard_size:05d}.jsonl"
        with open(directory / name, "w", encoding="utf-8") as fh:
            for row in rows[i:i + shard_size]:
                fh.write(json.dumps({k: row.get(k) for k in fields}, ensure_ascii=False) + "\n")
        names.append(name)
    return names


def read_jsonl(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{n}: not a JSON record ({e.msg})") from None
