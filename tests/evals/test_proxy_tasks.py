"""The bundled MMLU proxy: sampling, prompts, answer parsing, and log-likelihood scoring."""

from __future__ import annotations

from pathlib import Path

import pytest

from scalegate.errors import InputError
from scalegate.evals.assets import mmlu_path
from scalegate.evals.mmlu import load_questions, select
from scalegate.evals.proxy_tasks import parse_letter


def test_mmlu_file_loads_all_well_formed_rows_and_skips_header_rows() -> None:
    questions = load_questions(mmlu_path())
    assert len(questions) == 14042  # 14,044 rows, two of them repeated header rows
    assert all(q.answer in "ABCD" for q in questions)


def test_selection_is_a_seeded_shuffle_across_subjects() -> None:
    subjects = ["college chemistry", "high school chemistry"]
    first = select(mmlu_path(), subjects, limit=40, seed=1)
    again = select(mmlu_path(), subjects, limit=40, seed=1)
    other = select(mmlu_path(), subjects, limit=40, seed=2)
    assert [q.id for q in first] == [q.id for q in again]
    assert [q.id for q in first] != [q.id for q in other]
    # the file is grouped by subject: the first 40 rows would all be one subject
    assert {q.subject for q in first} == set(subjects)


def test_unknown_subject_names_the_known_ones() -> None:
    with pytest.raises(InputError, match="computer security"):
        select(mmlu_path(), ["computer_security"], limit=5)


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("B", "B"),
        (" (C) because", "C"),
        ("The answer is D.", "D"),
        ("answer: a", "A"),
        ("I cannot tell", None),
        ("", None),
        ("Because of reasons", None),
    ],
)
def test_parse_letter(text: str, letter: str | None) -> None:
    assert parse_letter(text) == letter


def _full_loglik(model, tok, prefix: str, answer: str) -> float:  # type: ignore[no-untyped-def]
    import torch

    pre = tok.encode(prefix)
    whole = tok.encode(prefix + answer)
    with torch.inference_mode():
        logp = torch.log_softmax(model(torch.tensor([whole])).logits[0].float(), dim=-1)
    return sum(logp[j - 1, whole[j]].item() for j in range(len(pre), len(whole)))


def test_shared_prefix_logliks_equal_full_recomputation(tiny_llama: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from scalegate.evals.local_scoring import answer_logliks

    tok = AutoTokenizer.from_pretrained(tiny_llama)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama).eval()
    prefix = "Question: What protects data in transit?\nAnswer:"
    answers = [" TLS", " A firewall rule set", " Nothing", " Disk encryption at rest"]
    got = answer_logliks(model, tok, prefix, answers)
    want = [_full_loglik(model, tok, prefix, a) for a in answers]
    assert got == pytest.approx(want, abs=1e-4)


def test_batched_letter_logprobs_equal_one_at_a_time(tiny_llama: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from scalegate.evals.local_scoring import letter_logprobs, letter_token_ids

    tok = AutoTokenizer.from_pretrained(tiny_llama)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama).eval()
    ids = letter_token_ids(tok, ("A", "B", "C", "D"))
    prompts = ["Short?\nAnswer:", "A much longer question with many more tokens in it?\nAnswer:"]
    batched = letter_logprobs(model, tok, prompts, ids)
    single = [letter_logprobs(model, tok, [p], ids)[0] for p in prompts]
    for b, s in zip(batched, single, strict=True):
        assert b == pytest.approx(s, abs=1e-4)


def test_modular_questions_are_correct_complete_and_seeded() -> None:
    from scalegate.evals.mmlu import modular_questions

    qs = modular_questions(10, seed=1)
    assert len(qs) == 100 and len({q.id for q in qs}) == 100
    for q in qs:
        a, b = (int(x) for x in q.question.removeprefix("What is ").removesuffix(" modulo 10?").split(" + "))
        assert q.choices["ABCD".index(q.answer)] == str((a + b) % 10)
        assert len(set(q.choices)) == 4
    assert [q.id for q in modular_questions(10, seed=1)] == [q.id for q in qs]
    assert [q.id for q in modular_questions(10, seed=2)] != [q.id for q in qs]
    with pytest.raises(InputError):
        modular_questions(3)
