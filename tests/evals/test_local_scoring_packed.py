"""Packed rows (requests laid end to end, a 4-D mask keeping questions and answers apart,
position ids restarting): the same log-likelihoods as a plain forward pass per option."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from scalegate.evals.assets import mmlu_path
from scalegate.evals.mmlu import LETTERS, select
from scalegate.evals.proxy_tasks import render_cloze, render_prompt

#: float32: packed and plain passes differ by rounding only (under 1e-5 here).
TOL = 1e-4


def _model(folder: Path, attn: str = "sdpa") -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation=attn).eval()


def _tokenizer(folder: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


def _mmlu(limit: int = 5) -> list[Any]:
    return select(mmlu_path(), ["virology", "computer security", "astronomy"], limit=limit, seed=3)


def _questions() -> list[tuple[str, list[str]]]:
    """A handful of MMLU questions of different lengths, and two short ones with one-token
    and many-token options."""
    out = [(render_cloze(q), [" " + c for c in q.choices]) for q in _mmlu(8)]
    answers = [" TLS", " A firewall rule set", " No", " Disk encryption at rest"]
    out.append(("Question: What protects data in transit?\nAnswer:", answers))
    out.append(("Question: 2 + 2?\nAnswer:", [" 4", " 5", " twenty-two", " None of these"]))
    return out


def _plain(model: Any, tok: Any, prefix: str, answer: str) -> float:
    """The reference: prompt+option in one plain forward pass, log-probs of the option tokens."""
    import torch

    pre = tok.encode(prefix)
    whole = tok.encode(prefix + answer)
    with torch.inference_mode():
        logp = torch.log_softmax(model(torch.tensor([whole])).logits[0].float(), dim=-1)
    return sum(logp[j - 1, whole[j]].item() for j in range(len(pre), len(whole)))


def _plain_letters(model: Any, tok: Any, prompt: str, letter_ids: list[int]) -> list[float]:
    import torch

    with torch.inference_mode():
        logits = model(torch.tensor([tok.encode(prompt)])).logits[0, -1].float()
    return torch.log_softmax(logits, dim=-1)[letter_ids].tolist()  # type: ignore[no-any-return]


def _choice(values: list[float], answers: list[str]) -> str:
    normed = [v / len(a.encode("utf-8")) for v, a in zip(values, answers, strict=True)]
    return LETTERS[max(range(len(normed)), key=lambda i: normed[i])]


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_logliks_equal_a_plain_pass_per_option(tiny_llama: Path, attn: str) -> None:
    from scalegate.evals.local_scoring import (
        _pack,
        encode_answers,
        packed_answer_logliks,
        packing_unsupported,
    )

    model, tok = _model(tiny_llama, attn), _tokenizer(tiny_llama)
    assert packing_unsupported(model) is None
    questions = _questions()
    requests = [encode_answers(tok, p, a) for p, a in questions]
    # questions of different lengths, some sharing a row, rows padded at the end; options of
    # one token and of several
    assert len({r.size for r in requests}) >= len(requests) - 1
    rows = _pack(requests).ids.shape[0]
    assert 1 < rows < len(requests)
    lengths = {len(c) for r in requests for c in r.continuations}
    assert min(lengths) == 1 and max(lengths) >= 5

    packed = packed_answer_logliks(model, requests)  # every question in one forward pass
    for (prefix, answers), got in zip(questions, packed, strict=True):
        want = [_plain(model, tok, prefix, a) for a in answers]
        assert got == pytest.approx(want, abs=TOL)
        assert _choice(got, answers) == _choice(want, answers)


def test_packed_letter_logprobs_equal_a_plain_pass_per_prompt(tiny_llama: Path) -> None:
    from scalegate.evals.local_scoring import AnswerRequest, _pack, letter_token_ids, packed_letter_logprobs

    model, tok = _model(tiny_llama), _tokenizer(tiny_llama)
    ids = letter_token_ids(tok, LETTERS)
    prompts = [render_prompt(q) for q in _mmlu(8)] + ["Short?\nAnswer:", "2 + 2?\nA. 4\nB. 5\nAnswer:"]
    encoded = [tok.encode(p) for p in prompts]
    assert _pack([AnswerRequest(e, []) for e in encoded]).ids.shape[0] < len(prompts)
    got = packed_letter_logprobs(model, encoded, ids)
    for prompt, values in zip(prompts, got, strict=True):
        want = _plain_letters(model, tok, prompt, ids)
        assert values == pytest.approx(want, abs=TOL)
        assert values.index(max(values)) == want.index(max(want))


async def _score(scorer: Any, questions: list[tuple[str, list[str]]]) -> tuple[Any, Any]:
    answers = asyncio.gather(*(scorer.answer_logliks(p, a) for p, a in questions))
    letters = asyncio.gather(*(scorer.letter_logprobs(p) for p, _ in questions))
    return await answers, await letters


def _check_scorer(model: Any, tok: Any, questions: list[tuple[str, list[str]]], packing: bool) -> None:
    from scalegate.evals.local_scoring import LocalScorer, letter_token_ids

    scorer = LocalScorer(model, tok, LETTERS)
    answers, letters = asyncio.run(_score(scorer, questions))
    assert scorer.packing is packing
    ids = letter_token_ids(tok, LETTERS)
    for (prefix, options), got_answers, got_letters in zip(questions, answers, letters, strict=True):
        assert got_answers == pytest.approx([_plain(model, tok, prefix, o) for o in options], abs=TOL)
        assert got_letters == pytest.approx(_plain_letters(model, tok, prefix, ids), abs=TOL)


def test_scorer_packs_concurrent_questions_and_matches_the_reference(tiny_llama: Path) -> None:
    _check_scorer(_model(tiny_llama), _tokenizer(tiny_llama), _questions(), packing=True)


class _Decoder:
    """A decoder stand-in: drops what a model might ignore, or takes no position_ids at all."""

    def __init__(self, inner: Any, drop: str) -> None:
        self.inner, self.drop = inner, drop
        if drop == "signature":
            self.forward = lambda input_ids, attention_mask=None, **kw: inner(
                input_ids=input_ids, attention_mask=attention_mask, **kw
            )

    def forward(self, input_ids: Any, attention_mask: Any = None, position_ids: Any = None, **kw: Any) -> Any:
        if self.drop == "mask":  # the model builds its own mask instead
            attention_mask = None
        if self.drop == "positions":  # the model counts positions along the row
            position_ids = None
        return self.inner(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, **kw)

    def __call__(self, **kw: Any) -> Any:
        return self.forward(**kw)


@pytest.mark.parametrize(
    ("drop", "reason"),
    [
        ("signature", "takes no position_ids"),
        ("mask", "through the KV cache"),
        ("positions", "do not depend on position_ids"),
    ],
)
def test_models_that_cannot_take_packed_rows_fall_back(
    tiny_llama: Path, drop: str, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scalegate.evals.local_scoring import encode_answers, packing_check, packing_unsupported

    model, tok = _model(tiny_llama), _tokenizer(tiny_llama)
    decoder = _Decoder(model.get_decoder(), drop)
    monkeypatch.setattr(model, "get_decoder", lambda: decoder)
    questions = _questions()[:3]
    why = packing_unsupported(model) or packing_check(model, encode_answers(tok, *questions[0]))
    assert why is not None and reason in why
    # letters in padded batches, answer text through the KV cache: the same values
    _check_scorer(model, tok, questions, packing=False)


def test_flash_attention_is_not_packed(tiny_llama: Path) -> None:
    from scalegate.evals.local_scoring import packing_unsupported

    model = _model(tiny_llama)
    model.config._attn_implementation = "flash_attention_2"  # no load: the check reads the config
    assert "flash_attention_2" in (packing_unsupported(model) or "")


def test_batches_are_cut_by_count_and_by_tokens() -> None:
    from scalegate.evals.local_scoring import Batcher, _Pending

    async def cut(batcher: Batcher[int, int], sizes: list[int]) -> list[list[int]]:
        loop = asyncio.get_running_loop()
        pending = [_Pending(s, s, loop.create_future()) for s in sizes]
        return [[p.size for p in batch] for batch in batcher._batches(pending)]

    sizes = [10, 50, 5, 20, 30, 10, 40, 120]
    # padded (the default cost): rows x the largest at most 100 tokens, three a batch; a
    # request over the budget alone still runs
    padded: Batcher[int, int] = Batcher(lambda reqs: reqs, batch_size=3, token_budget=100)
    assert asyncio.run(cut(padded, sizes)) == [[5, 10, 10], [20, 30], [40, 50], [120]]
    # packed: the sum of sizes
    packed: Batcher[int, int] = Batcher(lambda reqs: reqs, 3, 100, cost=sum)
    assert asyncio.run(cut(packed, sizes)) == [[5, 10, 10], [20, 30, 40], [50], [120]]


def test_cached_logliks_use_the_current_cache_argument_without_warnings(tiny_llama: Path) -> None:
    """The cached-prefix path equals a plain pass, and warns about no deprecated argument (a
    `past_key_values` FutureWarning with a site-packages path leaked into every training run)."""
    import warnings

    from scalegate.evals.local_scoring import cached_answer_logliks, encode_answers

    model, tok = _model(tiny_llama), _tokenizer(tiny_llama)
    for prefix, answers in _questions()[:3]:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = cached_answer_logliks(model, encode_answers(tok, prefix, answers))
        assert got == pytest.approx([_plain(model, tok, prefix, a) for a in answers], abs=TOL)
