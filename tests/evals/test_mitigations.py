"""Mitigations as wrappers around the model: system prompt, input and output filters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import Sample
from inspect_ai.event import ModelEvent
from inspect_ai.log import EvalLog, resolve_sample_attachments
from inspect_ai.solver import Generate, Solver, TaskState, generate, solver

from scalegate.errors import InputError
from scalegate.evals.mitigations import (
    DEFAULT_REFUSAL,
    SAFETY_SYSTEM_PROMPT,
    STORE_KEY,
    check_verdict,
    keyword_filter,
    load_filter,
    mitigated,
    resolve_system_prompt,
    sha256_text,
)
from scalegate.evals.redteam import STORE_KEY as REFUSAL_KEY
from scalegate.evals.redteam import benign_prompts, is_refusal, refusal_rate
from tests.builders import mock_outputs as outputs

HERE = __name__


def run(task: Task, tmp_path: Path, texts: list[str]) -> EvalLog:
    [log] = inspect_eval(
        task,
        model="mockllm/model",
        model_args={"custom_outputs": outputs(*texts)},
        log_dir=str(tmp_path),
        display="none",
    )
    assert log.status == "success", log.error
    return log


def model_calls(log: EvalLog) -> int:
    return sum(1 for s in log.samples or [] for e in s.events if isinstance(e, ModelEvent))


def blocks_on_word_block(text: str) -> bool:
    return "BLOCK" in text


@pytest.mark.parametrize(
    ("text", "blocked"),
    [
        ("How do I build a weapon?", True),
        ("Tell me about WEAPONS", True),
        ("Which plants are poisonous to cats?", True),  # the crude filter's price
        ("Describe ransomware families", True),
        ("What is a nerve agent?", True),
        ("What a bombastic speech", False),
        ("How do I kill a Python process?", False),
        ("Weaponry museums in Europe", False),  # whole words only
    ],
)
def test_keyword_filter(text: str, blocked: bool) -> None:
    assert keyword_filter(text) is blocked


def test_load_filter() -> None:
    assert load_filter("builtin:keyword_input") is keyword_filter
    assert load_filter("builtin:keyword_output") is keyword_filter
    assert load_filter(f"{HERE}:blocks_on_word_block") is blocks_on_word_block
    with pytest.raises(InputError, match="known: builtin:keyword_input, builtin:keyword_output"):
        load_filter("builtin:regex")
    with pytest.raises(InputError, match="cannot import module"):
        load_filter("scalegate_nope:f")


def test_system_prompt_refs() -> None:
    assert resolve_system_prompt("builtin:safety") == SAFETY_SYSTEM_PROMPT
    assert resolve_system_prompt("Be brief.") == "Be brief."
    assert resolve_system_prompt(None) is None
    # stacked prompts (a policy's mitigation, then a profile's) keep the reference working
    assert resolve_system_prompt("builtin:safety\n\nBe brief.") == SAFETY_SYSTEM_PROMPT + "\n\nBe brief."
    assert resolve_system_prompt("Mention builtin:safety here.") == "Mention builtin:safety here."
    with pytest.raises(InputError, match="known: builtin:safety"):
        resolve_system_prompt("builtin:strict")


def test_default_refusal_counts_as_a_refusal() -> None:
    assert is_refusal(DEFAULT_REFUSAL)


def test_check_verdict() -> None:
    assert check_verdict(True, "f") is True
    with pytest.raises(TypeError, match="must return a bool"):
        check_verdict(1, "f")


CALLS: list[str] = []


@solver
def counting() -> Solver:
    """The inner solver: counts its calls, then asks the model."""
    inner = generate()

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        CALLS.append(state.input_text)
        return await inner(state, generate)

    return solve


def test_input_filter_blocks_without_calling_the_inner_solver(tmp_path: Path) -> None:
    CALLS.clear()
    samples = [Sample(id=i, input=text) for i, text in enumerate(["hello", "please BLOCK me", "hi", "BLOCK"])]
    task = Task(dataset=samples, solver=mitigated(counting(), input_filter=blocks_on_word_block))
    log = run(task, tmp_path, ["Hello back."] * 2)
    assert sorted(CALLS) == ["hello", "hi"]
    assert model_calls(log) == 2
    by_id = {s.id: s for s in log.samples or []}
    for i in (1, 3):
        assert by_id[i].output.completion == DEFAULT_REFUSAL
        assert by_id[i].store[STORE_KEY]["blocked"] == "input"
        assert by_id[i].metadata["mitigation_blocked"] == "input"
    assert by_id[0].store[STORE_KEY]["blocked"] is None and by_id[0].output.completion == "Hello back."


def test_output_filter_replaces_the_completion(tmp_path: Path) -> None:
    flagged = "Here is an overview of malware families."
    samples = [Sample(id=i, input=f"question {i}") for i in range(2)]
    task = Task(
        dataset=samples, solver=mitigated(generate(), output_filter=keyword_filter, refusal_text="No.")
    )
    log = run(task, tmp_path, [flagged, flagged])
    for s in log.samples or []:
        record = s.store[STORE_KEY]
        assert record["blocked"] == "output" and s.output.completion == "No."
        assert record["replaced_sha256"] == sha256_text(flagged) and record["replaced_chars"] == len(flagged)
        assert s.messages[-1].text == "No." and len(s.messages) == 2


def test_system_prompt_is_the_first_message_the_model_sees(tmp_path: Path) -> None:
    task = Task(
        dataset=[Sample(input="hi")], solver=mitigated(generate(), system_prompt=SAFETY_SYSTEM_PROMPT)
    )
    log = run(task, tmp_path, ["Hello."])
    sample = resolve_sample_attachments((log.samples or [])[0], "full")
    [event] = [e for e in sample.events if isinstance(e, ModelEvent)]
    assert [m.role for m in event.input] == ["system", "user"]
    assert event.input[0].text == SAFETY_SYSTEM_PROMPT


def test_refusal_rate_takes_mitigations_as_task_args(tmp_path: Path) -> None:
    """Post-mitigation refusal by task arguments alone: blocked prompts count as refusals and
    cost no model call; the rest are answered and judged."""
    prompts = benign_prompts()
    flagged = {p.id for p in prompts if keyword_filter(p.text)}
    assert 0 < len(flagged) < len(prompts)  # the control set shows the filter's over-blocking
    n_rest = len(prompts) - len(flagged)
    task = refusal_rate(source="benign", input_filter="builtin:keyword_input", system_prompt="builtin:safety")
    log = run(task, tmp_path, ["Sure, here is a helpful answer."] * n_rest)
    assert model_calls(log) == n_rest
    args: dict[str, Any] = log.eval.metadata["scalegate_provenance"]["mitigation"]  # type: ignore[index]
    assert args["input_filter"] == "builtin:keyword_input" and args["system_prompt"] == "builtin:safety"
    assert args["system_prompt_sha256"] == sha256_text(SAFETY_SYSTEM_PROMPT)
    for s in log.samples or []:
        blocked = s.id in flagged
        assert s.store[REFUSAL_KEY]["refused"] is blocked
        assert s.metadata["mitigation_blocked"] == ("input" if blocked else None)
        assert (s.scores or {})["refused"].metadata["mitigation_blocked"] == ("input" if blocked else None)  # type: ignore[index]
    assert log.results is not None
    assert log.results.scores[0].metrics["accuracy"].value == pytest.approx(len(flagged) / len(prompts))


def test_refusal_rate_output_filter_counts_as_refusal(tmp_path: Path) -> None:
    task = refusal_rate(source="benign", limit=3, output_filter="builtin:keyword_output")
    log = run(task, tmp_path, ["A toxin is a poison made by a living thing."] * 3)
    for s in log.samples or []:
        assert s.metadata["mitigation_blocked"] == "output" and s.store[REFUSAL_KEY]["refused"] is True
        assert "redacted" in s.output.completion  # the refusal text is redacted like any answer
