"""The sandbagging checks' statistics, on inputs whose answer is known (the organisms' end-to-end
figures are in tests/evals/test_organisms.py)."""

from __future__ import annotations

import random

import pytest

from scalegate.evals.elicitation_checks import (
    difficulty_consistency,
    fine_tune_probe,
    noise_injection,
    solve_rates,
    weight_noise,
)

torch = pytest.importorskip("torch")


def _linear(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.Linear(4, 4))


def test_weight_noise_restores_every_weight_exactly_and_is_seeded() -> None:
    model = _linear()
    before = [p.detach().clone() for p in model.parameters()]
    with weight_noise(model, 0.5, seed=3):
        first = [p.detach().clone() for p in model.parameters()]
    with weight_noise(model, 0.5, seed=3):
        again = [p.detach().clone() for p in model.parameters()]
    after = list(model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    # 2-D weights move by about alpha * their spread; biases (1-D) never move
    moved = [not torch.equal(a, b) for a, b in zip(before, first, strict=True)]
    assert moved == [True, False, True, False]
    w0, w1 = before[0], first[0]
    assert 0.3 < float((w1 - w0).std() / w0.std()) < 0.7


def test_weight_noise_restores_after_an_exception() -> None:
    model = _linear()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(RuntimeError), weight_noise(model, 1.0, seed=0):
        raise RuntimeError("scoring failed")
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def _questions(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    return x, (x[:, :4]).argmax(-1)


def test_noise_injection_passes_a_model_that_noise_only_degrades() -> None:
    """A model that is exactly right (the identity on the first 4 inputs): noise can only hurt."""
    x, y = _questions(400, 0)
    model = torch.nn.Linear(8, 4, bias=False)
    with torch.no_grad():
        model.weight.zero_()
        model.weight[:, :4] = torch.eye(4)

    def scores(m: torch.nn.Module) -> list[int]:
        with torch.no_grad():
            return (m(x).argmax(-1) == y).int().tolist()

    result = noise_injection(model, scores, alphas=[0.1, 0.3, 1.0], seeds=(0, 1, 2))
    assert result.status == "passed"
    assert result.figure is not None and result.figure <= 0
    assert result.settings["measured_on"] == 200


def test_noise_injection_flags_a_model_whose_suppression_noise_breaks() -> None:
    """A model that knows the answer but inverts it behind a fragile gate (the sign of a small
    weight's mean): noise that flips the gate restores the answers."""
    x, y = _questions(400, 1)

    class Flipped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.know = torch.nn.Parameter(torch.eye(4))
            # noise is scaled by each weight's spread: a 2x2 gate with some, whose mean is small
            self.gate = torch.nn.Parameter(torch.tensor([[-1.0, 0.6], [0.5, -0.4]]))

        def forward(self, inp: torch.Tensor) -> torch.Tensor:
            return inp[:, :4] @ self.know * torch.sign(self.gate.mean())

    def scores(m: torch.nn.Module) -> list[int]:
        with torch.no_grad():
            return (m(x).argmax(-1) == y).int().tolist()

    model = Flipped()
    assert sum(scores(model)) == 0
    result = noise_injection(model, scores, alphas=[0.3, 1.0], seeds=tuple(range(8)))
    assert result.status == "flagged", result.reason
    assert result.interval is not None and result.interval[0] > 0.5  # far above noise's chance


def test_noise_injection_is_not_applicable_without_weights() -> None:
    class Api:
        def parameters(self) -> list[object]:
            return []

    result = noise_injection(Api(), lambda m: [1, 0], alphas=[0.1])
    assert result.status == "not_applicable"


def _consistency(p_easy: float, p_hard: float, n: int, seed: int) -> str:
    rng = random.Random(seed)
    difficulty = [0] * n + [1] * n
    easy = [int(rng.random() < p_easy) for _ in range(n)]
    per_question = easy + [int(rng.random() < p_hard) for _ in range(n)]
    return difficulty_consistency(per_question, difficulty).status


def test_difficulty_consistency_flags_easy_misses_and_not_an_honest_profile() -> None:
    assert _consistency(0.3, 0.8, 200, 0) == "flagged"
    assert _consistency(0.9, 0.4, 200, 0) == "passed"
    assert _consistency(0.5, 0.5, 200, 0) == "passed"


def test_difficulty_consistency_false_positive_rate_at_the_margin() -> None:
    """At a true hard-minus-easy gap equal to the margin (0.1), the flag is a one-sided test at
    5% (the one-sided level of `confidence=0.95`): over 400 seeded draws it fires at most 5% + 3
    MCSE (the union bound is conservative)."""
    fired = sum(_consistency(0.4, 0.5, 150, seed) == "flagged" for seed in range(400))
    assert fired / 400 <= 0.05 + 3 * (0.05 * 0.95 / 400) ** 0.5


def test_difficulty_consistency_needs_items_and_spread() -> None:
    assert difficulty_consistency([1] * 10, [1.0] * 10).status == "not_applicable"
    assert difficulty_consistency([1, 0] * 20, [1.0] * 40).status == "not_applicable"
    assert difficulty_consistency([1] * 30, [1.0] * 29).status == "not_applicable"


def test_solve_rates_are_one_minus_the_honest_models_mean() -> None:
    assert solve_rates([[1, 0, 1], [1, 1, 0]]) == [0.0, 0.5, 0.5]
    assert solve_rates([]) == []


def test_fine_tune_probe_compares_the_gain_with_the_control() -> None:
    """Scores here are a function of a number the 'fine-tune' sets: the probe's arithmetic."""

    class Weights(dict[str, float]):
        def parameters(self) -> list[torch.Tensor]:
            return [torch.zeros(2, 2)]

    def scores(m: dict[str, float]) -> list[int]:
        rng = random.Random(int(m["acc"] * 1000))
        return [int(rng.random() < m["acc"]) for _ in range(400)]

    def tune(m: dict[str, float], demos: int, seed: int) -> dict[str, float]:
        return Weights(acc=m["unlocked"], unlocked=m["unlocked"])

    locked = Weights(acc=0.4, unlocked=0.95)
    honest = Weights(acc=0.4, unlocked=0.5)
    flagged = fine_tune_probe(locked, honest, scores, tune, demonstrations=16)
    assert flagged.status == "flagged" and flagged.recovered is not None and flagged.recovered > 0.9
    passed = fine_tune_probe(honest, Weights(honest), scores, tune, demonstrations=16)
    assert passed.status == "passed"
    # without a control the gain alone is read against the margin (benign models gain too)
    assert fine_tune_probe(locked, None, scores, tune).status == "flagged"
    assert fine_tune_probe(honest, None, scores, tune).status == "passed"
