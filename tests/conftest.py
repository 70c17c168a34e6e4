"""Shared fixtures. The built-in head is built once per machine and cached (see backend.headmodel.builtin)."""

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def head():
    from backend.headmodel import load_head

    return load_head("default")
