"""Evidence imported from Inspect logs and lm-evaluation-harness results: real tools, real files.

The round trips run the tools (Inspect through scalegate, lm-eval through its CLI) on the tiny
model; the refusals break real files (a mock-model Inspect log, the committed lm-eval run in
data/imports/, see its README).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from inspect_ai.model import ModelOutput, ModelUsage

from scalegate.errors import InputError
from scalegate.evals.assets import mmlu_path, sha256_file
from scalegate.evals.evidence import EvalEvidence
from scalegate.evals.imports import (
    EvidenceImportError,
    ImportedEvidence,
    import_evidence,
    load_evidence_dir,
    write_evidence,
)
from scalegate.evals.mmlu import LETTERS, select
from scalegate.evals.runner import ModelTarget, build_task, run_eval
from scalegate.evals.stats import estimate_proportion
from scalegate.policy.base import EvidenceStatus
from scalegate.policy.loader import load_policy
from scalegate.policy.schema import Policy
from scalegate.scoring import build_scorecard

DATA = Path(__file__).parent / "data"
LM_DIR = DATA / "imports" / "lm_eval"
LM_DATE = "2026-11-23T13-48-45.545609"
LM_RESULTS = LM_DIR / f"results_{LM_DATE}.json"
LM_TASK = "scalegate_mmlu_cyber"
LM_SAMPLES = LM_DIR / f"samples_{LM_TASK}_{LM_DATE}.jsonl"
LM_MODEL = "hf//tmp/tiny-llama"  # what the committed run recorded (model_name /tmp/tiny-llama)
TASK_YAML = DATA / "lm_eval_tasks" / f"{LM_TASK}.yaml"


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy("reference").policy


@pytest.fixture(scope="module")
def mock_log(tmp_path_factory: pytest.TempPathFactory, policy: Policy) -> Path:
    """A real Inspect log of the reference policy's cyber_knowledge eval on 20 questions, answered
    A, B, C, D in turn by Inspect's mock model (generate-and-parse scoring; one letter for every
    question would be answer-position collapse, `unreliable`)."""
    spec = policy.evals["cyber_knowledge"]
    usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
    outputs = [
        ModelOutput.from_content(model="mockllm/model", content=LETTERS[i % 4]).model_copy(
            update={"usage": usage}
        )
        for i in range(20)
    ]
    target = ModelTarget("mockllm/model", "mockllm/model", {"custom_outputs": outputs})
    ev = run_eval(
        "cyber_knowledge",
        spec,
        target,
        log_dir=tmp_path_factory.mktemp("mock-logs"),
        rules=policy.evidence,
        statistics=policy.statistics,
        task=build_task(spec, 20),
        sample_limit=20,
    )
    assert ev.status is EvidenceStatus.ok and ev.n_scored == 20
    assert ev.log_path is not None
    return Path(ev.log_path)


def _same_evidence(a: EvalEvidence, b: EvalEvidence) -> None:
    for name in (
        "eval_id",
        "status",
        "message",
        "metrics",
        "n_planned",
        "n_scored",
        "n_errors",
        "n_unparsed",
    ):
        assert getattr(a, name) == getattr(b, name), name
    assert a.scoring_methods == b.scoring_methods


def _problems(exc: pytest.ExceptionInfo[EvidenceImportError]) -> str:
    return "\n".join(exc.value.problems)


def _with_evals(policy: Policy, **extra: Any) -> Policy:
    return policy.model_copy(update={"evals": {**policy.evals, **extra}})


# ------------------------------------------------------------------- round trips


def test_inspect_log_round_trip_on_tiny_model(tmp_path: Path, tiny_llama: Path, policy: Policy) -> None:
    from scalegate.evals.model_ref import target_for

    spec = policy.evals["cyber_knowledge"]
    target = target_for(f"hf/{tiny_llama}")
    native = run_eval(
        "cyber_knowledge",
        spec,
        target,
        log_dir=tmp_path / "logs",
        rules=policy.evidence,
        statistics=policy.statistics,
        task=build_task(spec, 20),
        sample_limit=20,
    )
    assert native.status is EvidenceStatus.ok and native.n_scored == 20
    [log] = sorted((tmp_path / "logs").glob("*.eval"))

    imported = import_evidence([log], policy, model=f"hf/{tiny_llama}")

    assert list(imported) == ["cyber_knowledge"]
    ev = imported["cyber_knowledge"]
    _same_evidence(ev, native)
    assert isinstance(ev, ImportedEvidence) and ev.provenance and ev.provenance.source
    assert native.provenance is not None
    for name in ("dataset_sha256", "prompts_sha256", "sample_ids_sha256", "task_version", "inspect_run_id"):
        assert getattr(ev.provenance, name) == getattr(native.provenance, name), name
    src = ev.provenance.source
    assert (src.format, src.tool, src.counted_from) == ("inspect_eval", "inspect_ai", "inspect_samples")
    assert src.sha256 == sha256_file(log) and src.tool_version == native.provenance.packages["inspect_ai"]
    assert ev.provenance.model == f"hf/{tiny_llama}" and ev.provenance.task_args["limit"] == 20

    expected = build_scorecard(policy, {"cyber_knowledge": native})
    assert build_scorecard(policy, imported) == expected

    out = write_evidence(imported, tmp_path / "imported")
    loaded = load_evidence_dir(out)
    assert loaded == imported
    assert build_scorecard(policy, loaded) == expected
    manifest = json.loads((out / "imported.json").read_text())
    assert manifest["sources"] == [
        {
            "file": str(log.resolve()),
            "sha256": sha256_file(log),
            "format": "inspect_eval",
            "evals": ["cyber_knowledge"],
        }
    ]


def _lm_eval_task_dir(folder: Path) -> list[str]:
    """The committed task YAML beside its data: the cyber_knowledge questions (20 of them)."""
    folder.mkdir(parents=True)
    shutil.copy(TASK_YAML, folder / TASK_YAML.name)
    questions = select(mmlu_path(), ["computer security"], 20, 20261123)
    rows = [
        {
            "id": q.id,
            "subject": q.subject,
            "question": q.question,
            "choices": list(q.choices),
            "answer": LETTERS.index(q.answer),
        }
        for q in questions
    ]
    (folder / f"{LM_TASK}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return [q.id for q in questions]


@pytest.mark.slow
def test_lm_eval_round_trip_on_tiny_model(tmp_path: Path, tiny_llama: Path, policy: Policy) -> None:
    """lm-eval's own CLI, offline, on a local task; its files imported and compared."""
    ids = _lm_eval_task_dir(tmp_path / "task")
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_CACHE": str(tmp_path / "hf-datasets"),
    }
    cmd = [
        sys.executable,
        "-m",
        "lm_eval",
        "--model",
        "hf",
        "--model_args",
        f"pretrained={tiny_llama}",
        "--tasks",
        LM_TASK,
        "--include_path",
        ".",
        "--output_path",
        str(tmp_path / "out"),
        "--log_samples",
        "--device",
        "cpu",
        "--batch_size",
        "8",
    ]
    res = subprocess.run(
        cmd, cwd=tmp_path / "task", env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert res.returncode == 0, res.stderr[-3000:]
    [results_file] = list((tmp_path / "out").rglob("results_*.json"))
    [samples_file] = list((tmp_path / "out").rglob(f"samples_{LM_TASK}_*.jsonl"))
    reported = json.loads(results_file.read_text())
    acc = reported["results"][LM_TASK]["acc,none"]
    n = reported["n-samples"][LM_TASK]["effective"]
    per_doc = [json.loads(line) for line in samples_file.read_text().splitlines()]
    successes = sum(int(row["acc"]) for row in per_doc)
    assert n == 20 == len(per_doc)

    imported = import_evidence(
        [results_file], policy, assign={"cyber_knowledge": LM_TASK}, model=f"hf/{tiny_llama}"
    )

    ev = imported["cyber_knowledge"]
    est = ev.metrics["accuracy"]
    assert ev.status is EvidenceStatus.ok
    assert (est.successes, est.n, ev.n_scored, ev.n_planned) == (successes, n, n, n)
    assert est.value == pytest.approx(acc, abs=1e-12)
    assert isinstance(ev, ImportedEvidence) and ev.provenance and ev.provenance.source
    src = ev.provenance.source
    assert (src.format, src.tool_version, src.metric, src.counted_from) == (
        "lm_eval",
        "0.4.13",
        "acc,none",
        "lm_eval_samples",
    )
    assert src.sha256 == sha256_file(results_file) and src.samples_sha256 == sha256_file(samples_file)
    assert ev.provenance.model == str(tiny_llama) and ev.provenance.task == LM_TASK
    # the docs carry scalegate's question ids: the same digest as a native run of these questions
    assert ev.provenance.sample_ids_sha256 == hashlib.sha256(json.dumps(sorted(ids)).encode()).hexdigest()

    stats = policy.statistics
    native = EvalEvidence(
        eval_id="cyber_knowledge",
        status=EvidenceStatus.ok,
        metrics={"accuracy": estimate_proportion(successes, n, stats.confidence, stats.interval)},
        n_planned=n,
        n_scored=n,
    )
    assert build_scorecard(policy, imported) == build_scorecard(policy, {"cyber_knowledge": native})

    norm = import_evidence([results_file], policy, assign={"cyber_knowledge": f"{LM_TASK}:acc_norm"})
    assert norm["cyber_knowledge"].metrics["accuracy"].value == pytest.approx(
        reported["results"][LM_TASK]["acc_norm,none"], abs=1e-12
    )


# ------------------------------------------------------------------- the committed lm-eval run


def test_lm_eval_counts_from_the_samples_file_and_grades_min_samples(policy: Policy) -> None:
    ev = import_evidence([LM_RESULTS], policy, assign={"cyber_knowledge": LM_TASK})["cyber_knowledge"]
    est = ev.metrics["accuracy"]
    assert (est.successes, est.n, ev.n_planned) == (1, 5, 5)  # doc 4 only (see the fixture README)
    assert ev.status is EvidenceStatus.insufficient  # 5 < the reference policy's min_samples of 20
    assert "5 scored samples" in (ev.message or "")
    assert isinstance(ev, ImportedEvidence) and ev.provenance and ev.provenance.source
    assert ev.provenance.source.samples_file == str(LM_SAMPLES.resolve())
    assert ev.provenance.model == "/tmp/tiny-llama" and ev.provenance.task_version == 1
    # a folder stands for its files; lm-eval's samples file beside the results is found by name
    again = import_evidence([LM_DIR], policy, assign={"cyber_knowledge": LM_TASK})["cyber_knowledge"]
    when = {"provenance": {"source": {"imported_at"}}}
    assert again.model_dump(exclude=when) == ev.model_dump(exclude=when)
    low_bar = policy.model_copy(update={"evidence": policy.evidence.model_copy(update={"min_samples": 5})})
    ok = import_evidence([LM_RESULTS], low_bar, assign={"cyber_knowledge": LM_TASK})["cyber_knowledge"]
    assert ok.status is EvidenceStatus.ok


def test_lm_eval_without_samples_recovers_successes_from_n_samples(tmp_path: Path, policy: Policy) -> None:
    results = tmp_path / LM_RESULTS.name
    shutil.copy(LM_RESULTS, results)
    ev = import_evidence([results], policy, assign={"cyber_knowledge": LM_TASK}, model=LM_MODEL)
    est = ev["cyber_knowledge"].metrics["accuracy"]
    assert (est.successes, est.n) == (1, 5)
    prov = ev["cyber_knowledge"].provenance
    assert isinstance(ev["cyber_knowledge"], ImportedEvidence) and prov is not None
    assert prov.source is not None and prov.source.counted_from == "lm_eval_n_samples"  # type: ignore[attr-defined]


def test_lm_eval_numbers_that_do_not_belong_together_are_refused(tmp_path: Path, policy: Policy) -> None:
    data = json.loads(LM_RESULTS.read_text())
    data["results"][LM_TASK]["acc,none"] = 0.3  # not k/5 for any k
    alone = tmp_path / "alone" / LM_RESULTS.name
    alone.parent.mkdir()
    alone.write_text(json.dumps(data))
    with pytest.raises(EvidenceImportError) as exc:
        import_evidence([alone], policy, assign={"cyber_knowledge": LM_TASK})
    assert "not a whole number of successes" in _problems(exc) and str(alone) in _problems(exc)

    # a samples file whose per-doc values were changed no longer gives the reported accuracy
    edited = tmp_path / "edited"
    edited.mkdir()
    shutil.copy(LM_RESULTS, edited / LM_RESULTS.name)
    rows = [json.loads(line) for line in LM_SAMPLES.read_text().splitlines()]
    rows[0]["acc"] = 1.0
    (edited / LM_SAMPLES.name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(EvidenceImportError) as exc:
        import_evidence([edited / LM_RESULTS.name], policy, assign={"cyber_knowledge": LM_TASK})
    assert "gives 2/5" in _problems(exc)


def test_samples_file_passed_explicitly_pairs_by_task_hash(tmp_path: Path, policy: Policy) -> None:
    renamed = tmp_path / "per-doc.jsonl"  # lm-eval's name is gone: the content still pairs it
    shutil.copy(LM_SAMPLES, renamed)
    ev = import_evidence([LM_RESULTS, renamed], policy, assign={"cyber_knowledge": LM_TASK})
    prov = ev["cyber_knowledge"].provenance
    assert prov is not None and prov.source.samples_file == str(renamed.resolve())  # type: ignore[attr-defined]
    with pytest.raises(EvidenceImportError) as exc:
        import_evidence([renamed], policy)
    assert "belongs to no lm-eval results file" in _problems(exc)


def test_lm_eval_file_without_the_mapped_task(policy: Policy) -> None:
    with pytest.raises(EvidenceImportError) as exc:
        import_evidence([LM_RESULTS], policy, assign={"cyber_knowledge": "mmlu_computer_security"})
    text = _problems(exc)
    assert "no file given has task 'mmlu_computer_security'" in text and LM_TASK in text


def test_lm_eval_file_needs_an_assignment(policy: Policy) -> None:
    with pytest.raises(EvidenceImportError) as exc:
        import_evidence([LM_RESULTS], policy)
    assert f"--assign EVAL={LM_TASK}" in _problems(exc)
    with pytest.raises(EvidenceImportError) as exc:
        import_evidence([LM_RESULTS], policy, assign={"no_such_eval": LM_TASK})
    assert "the policy has no eval 'no_such_eval'" in _problems(exc)
    with pytest.raises(EvidenceImportError) as exc:
        import_evidence([LM_RESULTS], policy, assign={"cyber_knowledge": f"{LM_TASK}:acc,strict"})
    assert "no metric 'acc,strict'" in _problems(exc)


# ------------------------------------------------------------------- Inspect logs


def test_inspect_json_log_imports_like_the_eval_log(tmp_path: Path, mock_log: Path, policy: Policy) -> None:
    from inspect_ai.log import read_eval_log, write_eval_log

    as_json = tmp_path / "log.json"
    write_eval_log(read_eval_log(str(mock_log)), str(as_json), format="json")
    from_eval = import_evidence([mock_log], policy, model="mockllm/model")["cyber_knowledge"]
    from_json = import_evidence([as_json], policy, model="mockllm/model")["cyber_knowledge"]
    _same_evidence(from_eval, from_json)
    assert from_eval.status is EvidenceStatus.ok and from_eval.scoring_methods == {"generate_parse": 20}
    assert from_json.provenance and from_json.provenance.source.format == "inspect_json"  # type: ignore[attr-defined]


def test_truncated_eval_log_is_refused(tmp_path: Path, mock_log: Path, policy: Policy) -> None:
    blob = mock_log.read_bytes()
    cut = tmp_path / mock_log.name
    cut.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(EvidenceImportError) as exc:
        import_evidence([cut], policy)
    text = _problems(exc)
    assert str(cut) in text and "truncated" in text and "copy it again" in text


def test_json_of_neither_format_is_refused(tmp_path: Path, policy: Policy) -> None:
    other = tmp_path / "metrics.json"
    other.write_text(json.dumps({"accuracy": 0.5, "n": 20}))
    garbage = tmp_path / "broken.json"
    garbage.write_text('{"results": {')
    with pytest.raises(EvidenceImportError) as exc:
        import_evidence([other, garbage], policy)
    text = _problems(exc)
    assert f"{other}: neither an Inspect log nor an lm-evaluation-harness results file" in text
    assert f"{garbage}: not valid JSON" in text


def test_ambiguous_inspect_log_needs_an_assignment(mock_log: Path, policy: Policy) -> None:
    twin = _with_evals(policy, cyber_twin=policy.evals["cyber_knowledge"])
    with pytest.raises(EvidenceImportError) as exc:
        import_evidence([mock_log], twin)
    text = _problems(exc)
    assert "ambiguous" in text and "cyber_knowledge, cyber_twin" in text
    assert "--assign cyber_knowledge=scalegate/mmlu_proxy" in text
    chosen = import_evidence([mock_log], twin, assign={"cyber_twin": "scalegate/mmlu_proxy"})
    assert list(chosen) == ["cyber_twin"] and chosen["cyber_twin"].status is EvidenceStatus.ok


def test_inspect_log_with_other_arguments_matches_no_eval(mock_log: Path, policy: Policy) -> None:
    spec = policy.evals["cyber_knowledge"]
    reseeded = _with_evals(policy, cyber_knowledge=spec.model_copy(update={"args": {**spec.args, "seed": 1}}))
    with pytest.raises(EvidenceImportError) as exc:
        import_evidence([mock_log], reseeded)
    assert "seed: policy 1, log 20261123" in _problems(exc)
    with pytest.raises(EvidenceImportError) as exc:
        import_evidence([mock_log], reseeded, assign={"cyber_knowledge": "scalegate/mmlu_proxy"})
    assert "re-run it with the policy's arguments" in _problems(exc)


def test_model_mismatch_is_an_error(mock_log: Path, policy: Policy) -> None:
    with pytest.raises(EvidenceImportError) as exc:
        import_evidence([mock_log], policy, model="hf/HuggingFaceTB/SmolLM2-135M")
    assert "model mismatch" in _problems(exc) and "'mockllm/model'" in _problems(exc)
    with pytest.raises(EvidenceImportError) as exc:
        import_evidence([LM_RESULTS], policy, assign={"cyber_knowledge": LM_TASK}, model="hf//tmp/other")
    assert "'/tmp/tiny-llama'" in _problems(exc)
    # without --model, files of two models cannot make one assessment's evidence
    with pytest.raises(EvidenceImportError) as exc:
        import_evidence([mock_log, LM_RESULTS], policy, assign={"bio_knowledge": LM_TASK})
    assert "evidence for one assessment must come from one model" in _problems(exc)
    # the same model, named the lm-eval way or the Inspect way
    for name in (LM_MODEL, "/tmp/tiny-llama", "hf//tmp/../tmp/tiny-llama"):
        assert import_evidence([LM_RESULTS], policy, assign={"cyber_knowledge": LM_TASK}, model=name)


def test_a_failing_file_among_good_ones_writes_nothing(
    tmp_path: Path, mock_log: Path, policy: Policy
) -> None:
    bad = tmp_path / "half.eval"
    bad.write_bytes(mock_log.read_bytes()[:1000])
    out = tmp_path / "evidence-out"
    with pytest.raises(EvidenceImportError) as exc:
        write_evidence(
            import_evidence(
                [mock_log, LM_RESULTS, bad],
                policy,
                assign={"bio_knowledge": LM_TASK},
                model="mockllm/model",
            ),
            out,
        )
    assert str(bad) in _problems(exc)
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]


# ------------------------------------------------------------------- the evidence folder


def test_evidence_folder_is_written_once_and_checked_on_load(
    tmp_path: Path, mock_log: Path, policy: Policy
) -> None:
    evidence = import_evidence([mock_log], policy)
    out = write_evidence(evidence, tmp_path / "ev")
    assert sorted(p.name for p in out.iterdir()) == ["evidence", "imported.json"]
    assert load_evidence_dir(out / "evidence") == evidence
    with pytest.raises(InputError, match="already exists and is not empty"):
        write_evidence(evidence, out)
    assert [p.name for p in tmp_path.iterdir()] == ["ev"]  # no temporary folder left behind

    target = out / "evidence" / "cyber_knowledge.json"
    data = json.loads(target.read_text())
    data["metrics"]["accuracy"]["low"] = 0.9
    target.write_text(json.dumps(data))
    with pytest.raises(EvidenceImportError) as exc:
        load_evidence_dir(out)
    assert "changed since it was imported" in _problems(exc)
    with pytest.raises(InputError, match=r"no imported\.json"):
        load_evidence_dir(tmp_path)
