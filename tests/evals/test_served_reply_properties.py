"""Fail closed on a served model's replies: any change to a valid `/v1/completions` reply either
leaves the scores exactly as they were (it touched nothing that is read) or is refused. No
reply can move an option's score without being refused."""

from __future__ import annotations

import copy
import math
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalegate.evals.served_scoring import ServedScoringError, read_reply

ids = st.integers(min_value=0, max_value=50_000)
logprob = st.floats(min_value=-30.0, max_value=0.0, allow_nan=False)


@st.composite
def questions(draw: Any) -> tuple[list[list[int]], int, list[list[float]]]:
    """Prompts (a shared prefix, then each continuation) and each prompt token's log-probability."""
    prefix = draw(st.lists(ids, min_size=1, max_size=6))
    conts = draw(st.lists(st.lists(ids, min_size=1, max_size=4), min_size=1, max_size=4))
    prompts = [prefix + c for c in conts]
    values = [[draw(logprob) for _ in p] for p in prompts]
    return prompts, len(prefix), values


def valid_reply(prompts: list[list[int]], values: list[list[float]], order: list[int]) -> dict[str, Any]:
    choices = []
    for i in order:
        generated = 7
        choices.append(
            {
                "index": i,
                "text": "x",
                "logprobs": {
                    "tokens": [f"token_id:{t}" for t in [*prompts[i], generated]],
                    "token_logprobs": [None, *values[i][1:], -0.5],
                },
            }
        )
    return {"choices": choices}


def expected(values: list[list[float]], start: int) -> list[float]:
    return [sum(v[start:]) for v in values]


HARMLESS = range(6, 9)
BAD_VALUES = [None, math.nan, math.inf, -math.inf, 0.25, "x", True, [1]]


def mutate(reply: dict[str, Any], rng: random.Random, prompts: list[list[int]], kinds: range) -> bool:
    """Change `reply` in place one way; True where the change touches what is read (so it must
    be refused), False where it must not matter."""
    choices = reply["choices"]
    readable = [c for c in choices if type(c["index"]) is int and 0 <= c["index"] < len(prompts)]
    if not readable:  # an earlier change renumbered every choice
        return False
    choice = rng.choice(readable)
    sent = prompts[choice["index"]]
    lp = choice["logprobs"]
    kind = rng.choice(kinds)
    if kind == 0:  # an echoed id differs
        j = rng.randrange(len(sent))
        lp["tokens"][j] = f"token_id:{sent[j] + 1}"
        return True
    if kind == 1:  # a read log-probability is impossible
        j = rng.randrange(1, len(sent)) if len(sent) > 1 else None
        if j is None:
            return False
        lp["token_logprobs"][j] = rng.choice(BAD_VALUES)
        return True
    if kind == 2:  # a choice lost
        choices.remove(choice)
        return True
    if kind == 3:  # a choice doubled
        choices.append(copy.deepcopy(choice))
        return True
    if kind == 4:  # renumbered
        choice["index"] = rng.choice([len(prompts), -1, "0", None, True, 1.0])
        return True
    if kind == 5:  # the echo cut short
        cut = rng.randrange(len(sent))
        lp[rng.choice(["tokens", "token_logprobs"])] = lp["token_logprobs"][:cut]
        return True
    if kind == 6:  # the first prompt token's (never read, never defined) value
        lp["token_logprobs"][0] = rng.choice([-3.0, None, 0.0])
        return False
    if kind == 7:  # the generated token, past the prompt
        lp["token_logprobs"][-1] = rng.choice([-9.0, None, math.nan])
        lp["tokens"][-1] = rng.choice(["token_id:1", "zz"])
        return False
    rng.shuffle(choices)  # order does not matter: choices are matched by index
    return False


@settings(max_examples=400, deadline=None)
@given(questions(), st.randoms(use_true_random=False))
def test_a_changed_reply_reads_the_same_or_is_refused(
    q: tuple[list[list[int]], int, list[list[float]]], rng: random.Random
) -> None:
    prompts, start, values = q
    order = list(range(len(prompts)))
    rng.shuffle(order)
    reply = valid_reply(prompts, values, order)
    assert read_reply(reply, prompts, start) == expected(values, start)
    mutate(reply, rng, prompts, HARMLESS)  # first a change that must not matter, then any
    touched = mutate(reply, rng, prompts, range(9))
    try:
        got = read_reply(reply, prompts, start)
    except ServedScoringError:
        return
    assert not touched, "a change to what is read was accepted"
    assert got == expected(values, start)


@pytest.mark.parametrize("start", [0, 3])
def test_no_log_probability_to_read_is_refused(start: int) -> None:
    """A prompt of no tokens (nothing to condition on), or an answer of no tokens (which
    would score 0, the best possible), is refused rather than read."""
    prompts = [[1, 2, 3], [1, 2, 3, 4]]
    reply = valid_reply(prompts, [[0.0, -1.0, -1.0], [0.0, -1.0, -1.0, -2.0]], [0, 1])
    with pytest.raises(ServedScoringError):
        read_reply(reply, prompts, start)
