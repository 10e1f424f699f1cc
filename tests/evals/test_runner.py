"""Fail-closed grading of real Inspect runs: every way a run can go wrong is caught."""

from __future__ import annotations

from pathlib import Path

import pytest
from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ModelOutput, ModelUsage
from inspect_ai.scorer import CORRECT, INCORRECT, Score, Target, accuracy, scorer
from inspect_ai.solver import Generate, TaskState, solver

from scalegate.evals.runner import ModelTarget, build_task, run_eval
from scalegate.policy.base import EvidenceStatus
from scalegate.policy.schema import EvalSpec, EvidenceRules, Statistics

MOCK = ModelTarget(reference="mockllm/model", inspect_model="mockllm/model")
RULES = EvidenceRules(min_samples=5, max_unparsed_fraction=0.1)
STATS = Statistics()


def _dataset(n: int) -> MemoryDataset:
    return MemoryDataset([Sample(id=i, input=f"q{i}", target="yes") for i in range(n)])


@solver
def _fail_on(ids: set[int]):  # type: ignore[no-untyped-def]
    async def solve(state: TaskState, generate: Generate) -> TaskState:
        if state.sample_id in ids:
            raise RuntimeError(f"sample {state.sample_id} broke")
        state.output = ModelOutput.from_content(model="mock", content="yes")
        return state

    return solve


@scorer(metrics=[accuracy()])
def _score_with(value):  # type: ignore[no-untyped-def]
    async def score(state: TaskState, target: Target) -> Score:
        return Score(value=value(state) if callable(value) else value)

    return score


def _run(task: Task, tmp_path: Path, rules: EvidenceRules = RULES, spec: EvalSpec | None = None):  # type: ignore[no-untyped-def]
    return run_eval(
        "e",
        spec or EvalSpec(task="custom"),
        MOCK,
        log_dir=tmp_path,
        rules=rules,
        statistics=STATS,
        task=task,
    )


def test_clean_run_is_ok_with_an_exact_interval(tmp_path: Path) -> None:
    task = Task(
        dataset=_dataset(10),
        solver=_fail_on(set()),
        scorer=_score_with(lambda s: CORRECT if s.sample_id < 7 else INCORRECT),
    )
    ev = _run(task, tmp_path)
    assert ev.status is EvidenceStatus.ok
    est = ev.metrics["accuracy"]
    assert (est.successes, est.n) == (7, 10)
    # Clopper-Pearson, the default (Wilson gave [0.3968, 0.8922])
    assert est.low == pytest.approx(0.3475, abs=1e-3) and est.high == pytest.approx(0.9333, abs=1e-3)
    assert ev.log_path and Path(ev.log_path).is_file() and ev.log_path.endswith(".eval")


def test_errored_samples_make_evidence_partial_even_when_inspect_says_success(tmp_path: Path) -> None:
    task = Task(dataset=_dataset(10), solver=_fail_on({3}), scorer=_score_with(CORRECT))
    ev = _run(task, tmp_path)
    assert ev.status is EvidenceStatus.partial
    assert ev.n_errors == 1 and ev.n_scored == 9


def test_run_that_fails_is_error(tmp_path: Path) -> None:
    task = Task(dataset=_dataset(10), solver=_fail_on(set(range(10))), scorer=_score_with(CORRECT))
    ev = _run(task, tmp_path)
    assert ev.status is EvidenceStatus.error
    assert "did not succeed" in (ev.message or "")


def test_unknown_task_is_missing(tmp_path: Path) -> None:
    spec = EvalSpec(task="inspect_evals/no_such_task_anywhere")
    ev = run_eval("e", spec, MOCK, log_dir=tmp_path, rules=RULES, statistics=STATS)
    assert ev.status is EvidenceStatus.missing
    assert ev.metrics == {}


def test_non_binary_scores_are_an_error_not_a_score(tmp_path: Path) -> None:
    task = Task(dataset=_dataset(10), solver=_fail_on(set()), scorer=_score_with(0.5))
    ev = _run(task, tmp_path)
    assert ev.status is EvidenceStatus.error
    assert "not correct/incorrect" in (ev.message or "")


def test_too_few_samples_is_insufficient(tmp_path: Path) -> None:
    task = Task(dataset=_dataset(3), solver=_fail_on(set()), scorer=_score_with(CORRECT))
    ev = _run(task, tmp_path)
    assert ev.status is EvidenceStatus.insufficient


def test_unsupported_metric_is_an_error(tmp_path: Path) -> None:
    task = Task(dataset=_dataset(10), solver=_fail_on(set()), scorer=_score_with(CORRECT))
    ev = _run(task, tmp_path, spec=EvalSpec(task="custom", metric="f1"))
    assert ev.status is EvidenceStatus.error


def _mock_target(outputs: list[str]) -> ModelTarget:
    usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
    custom = [
        ModelOutput.from_content(model="mockllm/model", content=text).model_copy(update={"usage": usage})
        for text in outputs
    ]
    return ModelTarget("mockllm/model", "mockllm/model", {"custom_outputs": custom})


def _generated(spec: EvalSpec, target: ModelTarget, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A scalegate task run on the mock model's generations, graded with this module's rules."""
    return run_eval("e", spec, target, log_dir=tmp_path, rules=RULES, statistics=STATS, task=build_task(spec))


PARSE_SPEC = EvalSpec(
    task="scalegate/mmlu_proxy",
    args={"subjects": ["computer security"], "limit": 10, "seed": 3, "answer_method": "generate_parse"},
)


def test_unparseable_generations_make_evidence_unreliable_not_low(tmp_path: Path) -> None:
    spec = PARSE_SPEC
    target = _mock_target(["I am not sure what you mean."] * 10)
    ev = _generated(spec, target, tmp_path)
    assert ev.status is EvidenceStatus.unreliable
    assert ev.n_unparsed == 10
    assert ev.scoring_methods == {"generate_parse": 10}


def test_parseable_generations_are_scored(tmp_path: Path) -> None:
    spec = PARSE_SPEC
    answers = ["A", "B", "C", "D", "B"] * 2
    target = _mock_target(answers)
    ev = _generated(spec, target, tmp_path)
    assert ev.status is EvidenceStatus.ok and ev.n_unparsed == 0
    task = build_task(spec)
    expected = sum(1 for s, a in zip(task.dataset, answers, strict=True) if s.target == a)
    assert ev.metrics["accuracy"].successes == expected
    assert ev.counts is not None and ev.counts.choices == {"A": 2, "B": 4, "C": 2, "D": 2}


def test_one_letter_for_every_question_is_answer_position_collapse(tmp_path: Path) -> None:
    spec = PARSE_SPEC
    ev = _generated(spec, _mock_target(["B"] * 10), tmp_path)
    assert ev.status is EvidenceStatus.unreliable and "option 'B'" in (ev.message or "")


def test_auto_answer_method_parses_generations_for_api_models(tmp_path: Path) -> None:
    spec = EvalSpec(task="scalegate/mmlu_proxy", args={"subjects": ["virology"], "limit": 6, "seed": 1})
    ev = _generated(spec, _mock_target(["A"] * 6), tmp_path)
    assert ev.scoring_methods == {"generate_parse": 6}


def test_letter_logprob_reading_runs_inside_inspect_on_open_weights(tmp_path: Path, tiny_llama: Path) -> None:
    from scalegate.evals.model_ref import target_for
    from scalegate.evals.runner import load_model

    spec = EvalSpec(
        task="scalegate/mmlu_proxy",
        args={"subjects": ["virology"], "limit": 8, "seed": 1, "answer_method": "letter_logprob"},
    )
    target = target_for(f"hf/{tiny_llama}")
    model = load_model(target)
    ev = run_eval(
        "e",
        spec,
        target,
        log_dir=tmp_path,
        rules=RULES,
        statistics=STATS,
        task=build_task(spec),
        model=model,
    )
    assert ev.status is EvidenceStatus.ok and ev.scoring_methods == {"letter_logprob": 8}
    again = run_eval(  # the same loaded model serves a second eval
        "e2",
        spec,
        target,
        log_dir=tmp_path,
        rules=RULES,
        statistics=STATS,
        task=build_task(spec),
        model=model,
    )
    assert again.metrics == ev.metrics
