"""Shared fixtures. Real components only: the real Elixir, real stores on disk."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def elixir_bin() -> str:
    path = shutil.which("elixir")
    if path is None:
        pytest.fail("elixir is not installed: run `bash scripts/setup.sh` (apt-get install elixir)")
    return path
