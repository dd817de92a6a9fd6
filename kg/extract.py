"""Elixir source -> facts (docs/kg-model.md), with tree-sitter-elixir. PLACEHOLDER: the
extractor issue fills this in; the signature is the contract the build relies on."""

from __future__ import annotations

from dataclasses import dataclass

from kg.facts import FileFacts


@dataclass(frozen=True)
class FileContext:
    project: str
    version: str
    path: str  # relative POSIX path inside the project


def extract_source(source: bytes, ctx: FileContext) -> FileFacts:
    raise NotImplementedError
