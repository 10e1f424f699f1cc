"""Shared fixtures. Tests run offline: hub access is switched off for the whole session."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# The evidence cache of this test session only: a user's cache must neither serve the tests
# (they would stop exercising inference) nor be written by them.
os.environ["SCALEGATE_CACHE_DIR"] = tempfile.mkdtemp(prefix="scalegate-test-cache-")


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """The bundled model as a transformers folder (fetched and converted once per data dir)."""
    from scalegate.evals.assets import smollm2_dir

    return smollm2_dir()


def build_tiny_llama(out: Path, tokenizer_dir: Path, initializer_range: float = 0.02) -> Path:
    """A tiny random Llama (2 layers, hidden 32) with SmolLM2's tokenizer, saved to `out`.
    A larger `initializer_range` makes its greedy output varied instead of one repeated token."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        initializer_range=initializer_range,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory, smollm2_dir: Path) -> Path:
    """A tiny random Llama with SmolLM2's tokenizer: the real loading and scoring path, fast."""
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), smollm2_dir)


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    """The installed CLI in a subprocess: exit codes and stdout exactly as a user sees them."""
    # a fresh working folder by default: `assess` writes its ledger and key there
    return subprocess.run(
        [sys.executable, "-m", "scalegate", *args],
        capture_output=True,
        text=True,
        cwd=cwd or tempfile.mkdtemp(prefix="scalegate-cli-"),
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


def write_policy(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path
