"""`scalegate sweep --provider vllm`: checkpoints served by vLLM, scored from the server's prompt
log-probabilities, give the evidence and decision the hf sweep gives.

vLLM needs a GPU: each worker here reaches one server through VLLM_BASE_URL, the stand-in of
tests/evals/vllm_standin.py (vLLM's routes, the checkpoint's real numbers), as workers reach a
lab's vLLM deployment. The real engine's run is tests/gpu/test_vllm_gpu.py.
"""

from __future__ import annotations

import json

import pytest

from tests.evals.vllm_standin import serving
from tests.scale.conftest import Swept, cli, essentials

pytest.importorskip("openai", reason="Inspect's vllm provider is an OpenAI-compatible client")


def test_a_vllm_sweep_equals_the_hf_sweep(swept: Swept) -> None:
    checkpoint = swept.checkpoints[-1]
    out = swept.root / "vllm-sweep"
    with serving(checkpoint, f"{checkpoint}") as (url, standin):
        res = cli(
            {**swept.env, "VLLM_BASE_URL": url},
            swept.root,
            "sweep",
            "--provider",
            "vllm",
            "--policy",
            str(swept.policy),
            "--checkpoints",
            str(checkpoint),
            "--shards",
            "2",
            "--workers",
            "2",
            "--store",
            str(swept.root / "vllm-store"),
            "--cache-dir",
            str(swept.root / "vllm-cache"),
            "--out",
            str(out),
            "--flop-per-step",
            "1e18",
            "--no-ledger",
        )
    assert res.returncode == 0, res.stderr[-4000:]
    plan = json.loads((out / "plan.json").read_text())
    assert plan["checkpoints"][0]["model"] == f"vllm/{checkpoint.resolve()}"
    assert len(plan["units"]) == 3 * 2 and all(u["resources"]["gpus"] == 1.0 for u in plan["units"])
    assert standin.completions == 3 * 10  # every question of the three evals, once
    served = json.loads((out / checkpoint.name / "assessment.json").read_text())
    loaded = json.loads((swept.out / checkpoint.name / "assessment.json").read_text())
    assert essentials(served) == essentials(loaded)
    assert {m for e in served["evidence"].values() for m in e["scoring_methods"]} == {
        "answer_loglik@vllm-prompt-logprobs"
    }


def test_an_unknown_provider_is_refused(swept: Swept) -> None:
    res = cli(
        swept.env,
        swept.root,
        "plan",
        "--provider",
        "vlm",
        "--policy",
        str(swept.policy),
        "--checkpoints",
        str(swept.checkpoints[0]),
        "-o",
        str(swept.root / "never.json"),
    )
    assert res.returncode != 0 and "--provider vlm: choose hf or vllm" in res.stderr
    assert not (swept.root / "never.json").exists()
