"""Corpus sources and bad input: Hex package tarballs built here (the documented format: outer
tar with VERSION, CHECKSUM, metadata.config, contents.tar.gz), corrupt and unsafe tarballs,
an empty source, a missing path, a bad Debian package name. Each gives a clear error, writes
nothing outside --out, and the other sources still make it into the corpus."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from model.corpus import iter_files, iter_pairs
from model.corpus.build import BuildConfig, build
from model.corpus.records import classify_test
from model.corpus.sources import SourceError, open_hex, projects_in_dir

FOO = "defmodule Foo do\n  @doc \"Greets.\"\n  def hello(name), do: \"hello \" <> name\nend\n"
FOO_TEST = ("defmodule FooTest do\n  use ExUnit.Case\n\n  test \"hello\" do\n"
            "    assert Foo.hello(\"x\") == \"hello x\"\n  end\nend\n")
MIX = 'defmodule Foo.MixProject do\n  use Mix.Project\n  def project, do: [app: :foo, version: "0.3.0"]\nend\n'


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]], gz: bool = False) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as t:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
            else:
                t.addfile(info)
    return buf.getvalue()


def _file(name: str, data: str | bytes) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data.encode() if isinstance(data, str) else data


def hex_tarball(path: Path, files: dict[str, str], *, name="foo", version="0.3.0", licences=("MIT",),
                extra: list | None = None, checksum: str | None = None) -> Path:
    contents = _tar([_file(n, d) for n, d in files.items()] + (extra or []), gz=True)
    lic = ",".join(f'<<"{x}">>' for x in licences)
    metadata = (f'{{<<"name">>,<<"{name}">>}}.\n{{<<"version">>,<<"{version}">>}}.\n'
                f'{{<<"licenses">>,[{lic}]}}.\n{{<<"build_tools">>,[<<"mix">>]}}.\n').encode()
    version_blob = b"3"
    digest = checksum or hashlib.sha256(version_blob + metadata + contents).hexdigest().upper()
    outer = _tar([_file("VERSION", version_blob), _file("CHECKSUM", digest), _file("metadata.config", metadata),
                  _file("contents.tar.gz", contents)])
    path.write_bytes(outer)
    return path


GOOD = {"mix.exs": MIX, "lib/foo.ex": FOO, "test/foo_test.exs": FOO_TEST}


def _tree_snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_hex_tarball_is_read_with_its_metadata(tmp_path):
    tarball = hex_tarball(tmp_path / "foo-0.3.0.tar", GOOD, licences=("Apache-2.0", "MIT"))
    out = tmp_path / "corpus"
    stats = build([str(tarball)], out)
    records = [r for s in ("train", "validation", "test") for r in iter_files(out, s)]
    foo = next(r for r in records if r["path"] == "lib/foo.ex")
    assert (foo["project"], foo["version"], foo["licence"], foo["text"]) == ("foo", "0.3.0", "Apache-2.0 OR MIT", FOO)
    test = next(r for r in records if r["path"] == "test/foo_test.exs")
    assert test["is_test"] and test["test_type"] == "exunit"
    pairs = [p for s in ("train", "validation", "test") for p in iter_pairs(out, s)]
    assert {(p["kind"], p["module"]) for p in pairs} >= {("module_test", "Foo"), ("function_test", "Foo")}
    assert stats["errors"] == [] and stats["sources"] == [str(tarball)]
    assert not (out / ".work").exists()  # the extraction directory is cleaned up


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "hardlink"])
def test_unsafe_tarball_is_rejected_and_nothing_escapes(tmp_path, kind):
    evil: list = []
    if kind == "dotdot":
        evil = [_file("../../escaped.ex", "defmodule Escaped do\nend\n")]
    elif kind == "absolute":
        evil = [_file(str(tmp_path / "abs_escaped.ex"), "defmodule Abs do\nend\n")]
    else:
        info = tarfile.TarInfo("lib/link.ex")
        info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
        info.linkname = "/etc/passwd"
        evil = [(info, None)]
    bad = hex_tarball(tmp_path / "evil-1.0.0.tar", GOOD, name="evil", version="1.0.0", extra=evil)
    good = tmp_path / "good"
    (good / "lib").mkdir(parents=True)
    (good / "lib" / "ok.ex").write_text("defmodule Ok do\n  def ok, do: :ok\nend\n")
    before = _tree_snapshot(tmp_path)
    out = tmp_path / "corpus"
    stats = build([str(bad), str(good)], out, config=BuildConfig(pairs=False))
    assert len(stats["errors"]) == 1
    message = stats["errors"][0]
    assert "evil-1.0.0.tar" in message and "unsafe" in message
    assert {"dotdot": "..", "absolute": "absolute", "symlink": "link", "hardlink": "link"}[kind] in message
    # nothing outside --out changed, nothing of the bad tarball inside it, the good source is there
    after = {p for p in _tree_snapshot(tmp_path) if not p.startswith("corpus")}
    assert after == {p for p in before}
    assert not (tmp_path.parent / "escaped.ex").exists() and not (tmp_path / "abs_escaped.ex").exists()
    projects = {r["project"] for s in ("train", "validation", "test") for r in iter_files(out, s)}
    assert projects == {"good"}


def test_corrupt_tarballs_are_reported(tmp_path):
    junk = tmp_path / "junk-1.0.0.tar"
    junk.write_bytes(os.urandom(3000))
    truncated = tmp_path / "cut-1.0.0.tar"
    truncated.write_bytes(hex_tarball(tmp_path / "x.tar", GOOD).read_bytes()[:700])
    (tmp_path / "x.tar").unlink()
    tampered = hex_tarball(tmp_path / "tampered-0.3.0.tar", GOOD, checksum="0" * 64)
    not_hex = tmp_path / "plain-1.0.tar"
    not_hex.write_bytes(_tar([_file("lib/a.ex", "defmodule A do\nend\n")]))
    for tarball, words in [(junk, "corrupt"), (truncated, "corrupt"), (tampered, "CHECKSUM"),
                           (not_hex, "not a Hex package tarball")]:
        with pytest.raises(SourceError, match=words) as e:
            open_hex(tarball, tmp_path / "work")
        assert tarball.name in str(e.value)
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").rglob("*.ex"))
    good = tmp_path / "good"
    (good / "lib").mkdir(parents=True)
    (good / "lib" / "ok.ex").write_text("defmodule Ok do\nend\n")
    stats = build([str(junk), str(tampered), str(good)], tmp_path / "corpus", config=BuildConfig(pairs=False))
    assert len(stats["errors"]) == 2 and stats["counts"]["after_dedup"] == 1


def test_empty_missing_and_undecodable_sources(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README.md").write_text("no Elixir here")
    missing = tmp_path / "missing"
    mixed = tmp_path / "mixed"
    (mixed / "lib").mkdir(parents=True)
    (mixed / "lib" / "good.ex").write_text("defmodule Good do\n  def x, do: 1\nend\n")
    (mixed / "lib" / "bad.ex").write_bytes(b"defmodule Bad do\n  # \xff\xfe\nend\n")
    stats = build([str(empty), str(missing), str(mixed)], tmp_path / "corpus",
                  debian=["Not_A_Package!"], config=BuildConfig(pairs=False))
    errors = "\n".join(stats["errors"])
    assert f"{empty}: no Elixir files" in errors
    assert f"{missing}: no such file or directory" in errors
    assert "not a Debian source package name" in errors
    assert stats["counts"]["removed"]["unreadable"] == 1
    removed = (tmp_path / "corpus" / "removed.jsonl").read_text()
    assert "lib/bad.ex" in removed and "not valid UTF-8" in removed
    assert [r["path"] for r in iter_files(tmp_path / "corpus", "train")] == ["lib/good.ex"]


def test_projects_in_a_tree(tmp_path):
    (tmp_path / "apps" / "a" / "lib").mkdir(parents=True)
    (tmp_path / "apps" / "a" / "mix.exs").write_text(MIX.replace(":foo", ":a"))
    (tmp_path / "apps" / "a" / "lib" / "a.ex").write_text("defmodule A do\nend\n")
    (tmp_path / "apps" / "a" / "test" / "fixtures" / "proj").mkdir(parents=True)
    (tmp_path / "apps" / "a" / "test" / "fixtures" / "proj" / "mix.exs").write_text(MIX.replace(":foo", ":fixture"))
    (tmp_path / "apps" / "a" / "deps" / "dep").mkdir(parents=True)
    (tmp_path / "apps" / "a" / "deps" / "dep" / "dep.ex").write_text("defmodule Dep do\nend\n")
    (tmp_path / "script.exs").write_text("IO.puts(:hi)\n")
    projects = {p.name: p for p in projects_in_dir(tmp_path, origin="dir:x")}
    assert set(projects) == {"a", tmp_path.name}
    assert projects["a"].files == ["lib/a.ex", "mix.exs", "test/fixtures/proj/mix.exs"]  # a fixture is not a project
    assert projects[tmp_path.name].files == ["script.exs"]
    with_deps = {p.name for p in projects_in_dir(tmp_path, origin="debian:x", include_deps=True)}
    assert "a" in with_deps and any(f == "deps/dep/dep.ex" for p in projects_in_dir(tmp_path, origin="d", include_deps=True) for f in p.files)


@pytest.mark.parametrize("path,text,expected", [
    ("test/a_test.exs", "defmodule ATest do\n  use ExUnit.Case\n  test \"x\" do\n  end\nend\n", "exunit"),
    ("test/a_test.exs", "defmodule ATest do\n  use ExUnitProperties\n  property \"p\" do\n    check all x <- int() do\n    end\n  end\nend\n", "property"),
    ("test/a_live_test.exs", "defmodule ALiveTest do\n  import Phoenix.LiveViewTest\n  test \"x\" do\n  end\nend\n", "liveview"),
    ("test/a_test.exs", "defmodule ATest do\n  use ExUnit.Case\n  doctest A\nend\n", "doctest"),
    ("test/test_helper.exs", "ExUnit.start()\n", None),
    ("lib/a.ex", "defmodule A do\n  def test, do: 1\nend\n", None),
])
def test_test_types(path, text, expected):
    assert classify_test(path, text) == expected


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    import model.corpus.sources as S

    tarball = hex_tarball(tmp_path / "bomb-1.0.0.tar", {**GOOD, "lib/big.ex": "# " + "x" * 200_000 + "\n"},
                          name="bomb", version="1.0.0")
    monkeypatch.setattr(S, "HEX_MAX_BYTES", 100_000)
    with pytest.raises(SourceError, match="limit"):
        open_hex(tarball, tmp_path / "work")
    assert not (tmp_path / "work").exists()
    monkeypatch.setattr(S, "HEX_MAX_BYTES", 10_000_000)
    assert [p.name for p in open_hex(tarball, tmp_path / "work")] == ["bomb"]
