"""Debian source packages as the default corpus (the README's main command uses them)."""

from __future__ import annotations

import pytest

from kg import debian


def test_bad_package_names_are_refused_before_running_apt(tmp_path):
    for name in ("../etc", "elixir lang", "-o=Dir::Etc", ""):
        with pytest.raises(debian.DebianSourceError, match="not a Debian source package name"):
            debian.fetch_source(name, tmp_path)


def test_missing_deb_src_entry_says_which_line_to_add(tmp_path, monkeypatch):
    sources = tmp_path / "sources.list"
    sources.write_text("deb http://deb.debian.org/debian bookworm main\n")
    monkeypatch.setattr(debian, "SOURCES_FILES", [sources])
    assert not debian.has_deb_src()
    with pytest.raises(debian.DebianSourceError, match="no deb-src entry") as err:
        debian.fetch_source("elixir-lang", tmp_path / "cache")
    assert "deb-src" in str(err.value) and "apt-get update" in str(err.value)
    sources.write_text("Types: deb deb-src\nURIs: http://deb.debian.org/debian\n")
    assert debian.has_deb_src()


def test_an_unpacked_tree_is_reused_and_its_version_read(tmp_path):
    tree = tmp_path / "elixir-lang" / "elixir-lang-1.14.0.dfsg"
    tree.mkdir(parents=True)
    assert debian.fetch_source("elixir-lang", tmp_path) == tree  # no apt-get: already there
    assert debian.source_version(tree) == "1.14.0"
    (tree / "VERSION").write_text("1.14.1\n")
    assert debian.source_version(tree) == "1.14.1"
