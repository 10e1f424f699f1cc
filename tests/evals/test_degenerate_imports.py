"""Real third-party evidence that must not read as "safe": a stock Inspect multiple-choice run
whose answers never parse, and an lm-eval result wholly below chance. Both are produced or
derived from real tool output, imported through `scalegate evidence import`, and gated by
the reference policy, whose fail-closed response must then block every action it names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scalegate.evals.assets import mmlu_path
from scalegate.evals.evidence import EvalEvidence
from scalegate.evals.imports import import_evidence, load_evidence_dir, write_evidence
from scalegate.evals.mmlu import select
from scalegate.evals.stats import estimate_proportion
from scalegate.gates import ActionStatus
from scalegate.policy.base import EvidenceStatus
from scalegate.policy.loader import load_policy
from scalegate.policy.schema import Policy
from scalegate.recompute import decide_again
from tests.conftest import run_cli

DATA = Path(__file__).parent / "data" / "imports" / "lm_eval"
LM_DATE = "2026-11-23T13-48-45.545609"
LM_TASK = "scalegate_mmlu_cyber"


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy("reference").policy


def _stock_mc_log(out: Path, model_dir: Path) -> Path:
    """Inspect's own multiple_choice() + choice() on the tiny random Llama: it never writes
    'ANSWER: X', so every answer is unparsed (Score.reason invalid_response_format or no_response)."""
    from inspect_ai import Task, task
    from inspect_ai import eval as inspect_eval
    from inspect_ai.dataset import MemoryDataset, Sample
    from inspect_ai.scorer import choice
    from inspect_ai.solver import multiple_choice

    questions = select(mmlu_path(), ["computer security"], 24, 20261204)

    @task
    def stock_mc() -> Task:
        samples = [
            Sample(
                id=q.id,
                input=q.question,
                choices=list(q.choices),
                target=q.answer,
                metadata={"subject": q.subject},
            )
            for q in questions
        ]
        return Task(dataset=MemoryDataset(samples), solver=multiple_choice(), scorer=choice())

    [log] = inspect_eval(
        stock_mc(),
        model=f"hf/{model_dir}",
        model_args={"device": "cpu", "do_sample": False},
        log_dir=str(out),
        display="none",
        max_tokens=6,
        temperature=0.0,
    )
    assert log.status == "success"
    return Path(log.location)


def _others_ok(policy: Policy, n: int = 100) -> dict[str, EvalEvidence]:
    """Every other eval answered, at chance (what SmolLM2 scores): usable evidence."""
    return {
        k: EvalEvidence(eval_id=k, status="ok", metrics={"accuracy": estimate_proportion(25, n)}, n_scored=n)
        for k in policy.evals
    }


def test_stock_multiple_choice_that_never_parses_is_unreliable_and_blocks(
    tmp_path: Path, tiny_llama: Path, policy: Policy
) -> None:
    log = _stock_mc_log(tmp_path / "logs", tiny_llama)
    # the reference policy, its cyber eval being this stock task
    text = load_policy("reference").text.replace(
        "    task: scalegate/mmlu_proxy\n    chance: 0.25\n"
        "    args: {subjects: [computer security], limit: 100, seed: 20261123}",
        "    task: stock_mc\n    chance: 0.25",
    )
    assert "task: stock_mc" in text
    (tmp_path / "p.yaml").write_text(text)
    policy = load_policy(tmp_path / "p.yaml").policy
    imported = import_evidence([log], policy, model=f"hf/{tiny_llama}")
    ev = imported["cyber_knowledge"]
    assert ev.status is EvidenceStatus.unreliable, ev.message
    assert ev.n_unparsed == ev.n_scored == 24
    # written, loaded and re-graded by the reading policy: still unreliable
    loaded = load_evidence_dir(write_evidence(imported, tmp_path / "ev"))
    evidence = {**_others_ok(policy), **loaded}
    _, decision = decide_again(policy, evidence, {}, set(), {})
    for action in ("continue_training", "internal_deployment", "external_deployment", "open_weights"):
        found = decision.actions[action]
        assert found.status is ActionStatus.blocked
        assert any(r.clause.endswith("fail-closed") and "cyber_knowledge" in r.evals for r in found.reasons)

    # the CLI says so too
    res = run_cli(
        "evidence", "import", str(log), "--policy", str(tmp_path / "p.yaml"), "--out", str(tmp_path / "cli")
    )
    assert res.returncode == 0, res.stderr
    assert "unreliable" in res.stdout + res.stderr


def test_an_lm_eval_result_below_chance_is_unreliable(tmp_path: Path, policy: Policy) -> None:
    """The committed real lm-eval run (5 docs), its per-doc rows repeated under new doc ids to
    40 and rewritten to 1 correct of 40 (the accuracy and counts to match): a score wholly
    below chance (0.25) is a broken measurement, not evidence of inability."""
    results = json.loads((DATA / f"results_{LM_DATE}.json").read_text())
    base = [
        json.loads(line) for line in (DATA / f"samples_{LM_TASK}_{LM_DATE}.jsonl").read_text().splitlines()
    ]
    rows = []
    for i in range(40):
        row = json.loads(json.dumps(base[i % len(base)]))
        row["doc_id"] = i
        row["doc"]["id"] = f"{row['doc']['id']}-{i}"
        row["acc"] = 1.0 if i == 0 else 0.0
        rows.append(row)
    results["results"][LM_TASK]["acc,none"] = 1 / 40
    results["n-samples"][LM_TASK]["effective"] = 40
    results["task_hashes"] = {}
    (tmp_path / f"results_{LM_DATE}.json").write_text(json.dumps(results))
    (tmp_path / f"samples_{LM_TASK}_{LM_DATE}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    imported = import_evidence(
        [tmp_path / f"results_{LM_DATE}.json"], policy, assign={"cyber_knowledge": LM_TASK}
    )
    ev = imported["cyber_knowledge"]
    assert ev.status is EvidenceStatus.unreliable and "below chance" in (ev.message or ""), ev.message
    assert ev.counts is not None and ev.counts.n_options == 4 and sum(ev.counts.choices.values()) == 40


def test_an_edited_evidence_record_is_re_derived_from_its_pinned_log(tmp_path: Path, policy: Policy) -> None:
    """An evidence file edited to a better score, its checksum updated in imported.json, loads
    (the manifest agrees) but is contradicted by the lm-eval files it pins: `error`."""
    import hashlib

    from scalegate.evals.imports import against_source

    lax = policy.model_copy(update={"evidence": policy.evidence.model_copy(update={"min_samples": 5})})
    imported = import_evidence([DATA / f"results_{LM_DATE}.json"], lax, assign={"cyber_knowledge": LM_TASK})
    out = write_evidence(imported, tmp_path / "ev")
    spec = lax.evals["cyber_knowledge"]
    honest = load_evidence_dir(out)["cyber_knowledge"]
    assert against_source(honest, spec, lax) == honest

    record = out / "evidence" / "cyber_knowledge.json"
    data = json.loads(record.read_text())
    data["counts"]["successes"] = 0.0
    record.write_text(json.dumps(data))
    manifest = json.loads((out / "imported.json").read_text())
    manifest["evidence"]["cyber_knowledge"]["sha256"] = hashlib.sha256(record.read_bytes()).hexdigest()
    (out / "imported.json").write_text(json.dumps(manifest))
    edited = load_evidence_dir(out)["cyber_knowledge"]
    checked = against_source(edited, spec, lax)
    assert checked.status is EvidenceStatus.error and "contradicts the log it pins" in (checked.message or "")
    assert not checked.metrics
