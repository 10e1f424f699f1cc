"""Multiple-choice answers read from an open-weights model's log-probabilities.

Small models rarely answer in a parseable format, and with a letter prompt they mostly pick
the same letter whatever the question: both measure formatting, not knowledge. Two
log-likelihood readings avoid that, as lm-evaluation-harness does:

- `answer_loglik` (default): log P(answer text | question) for each option, normalised by
  the answer's length in bytes (lm-eval's `acc_norm`). The question is run once and its
  KV cache shared by the four continuations.
- `letter_logprob`: log P(" A".." D" | question with lettered options), one forward pass
  per question, batched by similar length. Cheaper; meaningful for larger models.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

LETTER_BATCH = 8

Req = TypeVar("Req")
Res = TypeVar("Res")


def letter_token_ids(tokenizer: Any, letters: Sequence[str]) -> list[int]:
    """The token of " X" for each letter; they must be distinct single tokens."""
    ids: list[int] = []
    for letter in letters:
        toks = tokenizer.encode(f" {letter}", add_special_tokens=False)
        if len(toks) != 1:
            toks = tokenizer.encode(letter, add_special_tokens=False)
        if len(toks) != 1:
            raise ValueError(f"answer letter {letter!r} is not a single token for this tokenizer")
        ids.append(toks[0])
    if len(set(ids)) != len(ids):
        raise ValueError("answer letters map to the same token for this tokenizer")
    return ids


def letter_logprobs(
    model: Any, tokenizer: Any, prompts: list[str], letter_ids: list[int]
) -> list[list[float]]:
    """Log-probabilities (normalised over the full vocabulary) of each letter after each prompt."""
    import torch

    encoded = [tokenizer.encode(p) for p in prompts]
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    width = max(len(e) for e in encoded)
    # Right padding keeps positions identical to an unpadded pass; read at each last real token.
    ids = torch.full((len(encoded), width), pad, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for i, e in enumerate(encoded):
        ids[i, : len(e)] = torch.tensor(e)
        mask[i, : len(e)] = 1
    last = torch.tensor([len(e) - 1 for e in encoded], device=device)
    with torch.inference_mode():
        hidden = model.get_decoder()(input_ids=ids.to(device), attention_mask=mask.to(device))
        h = hidden.last_hidden_state[torch.arange(len(encoded), device=device), last]
        logits = model.get_output_embeddings()(h).float()
        logp = torch.log_softmax(logits, dim=-1)[:, letter_ids]
    return [row.tolist() for row in logp.cpu()]


def answer_logliks(model: Any, tokenizer: Any, prefix: str, answers: list[str]) -> list[float]:
    """Sum of log P(answer tokens | prefix) per answer, the prefix computed once.

    Tokenisation follows lm-eval: encode prefix+answer whole and take the tokens past the
    prefix's encoding, so merges across the boundary are scored as the model would see them.
    """
    import torch

    pre = tokenizer.encode(prefix)
    conts = [tokenizer.encode(prefix + a)[len(pre) :] for a in answers]
    if any(not c for c in conts):
        raise ValueError("an answer option tokenised to nothing after the prompt")
    device = next(model.parameters()).device
    width = max(len(c) for c in conts)
    ids = torch.zeros((len(conts), width), dtype=torch.long)
    mask = torch.zeros((len(conts), len(pre) + width), dtype=torch.long)
    mask[:, : len(pre)] = 1
    for i, c in enumerate(conts):
        ids[i, : len(c)] = torch.tensor(c)
        mask[i, len(pre) : len(pre) + len(c)] = 1
    with torch.inference_mode():
        head = model(torch.tensor([pre], device=device), use_cache=True)
        first = torch.log_softmax(head.logits[0, -1].float(), dim=-1)
        cache = head.past_key_values
        cache.batch_repeat_interleave(len(conts))
        tail = model(ids.to(device), attention_mask=mask.to(device), past_key_values=cache)
        logp = torch.log_softmax(tail.logits.float(), dim=-1)
    out = []
    for i, c in enumerate(conts):
        total = first[c[0]].item()
        total += sum(logp[i, j - 1, c[j]].item() for j in range(1, len(c)))
        out.append(total)
    return out


@dataclass
class _Pending(Generic[Req, Res]):
    request: Req
    size: int
    future: asyncio.Future[Res]


@dataclass
class Batcher(Generic[Req, Res]):
    """Collects concurrent per-sample requests from Inspect and runs them in batches.

    Inspect runs each sample as its own coroutine; scoring them one at a time would waste the
    CPU. Requests wait one short tick, then the pending set is sorted by size and cut into
    batches that run in a worker thread (torch releases the GIL). A failure reaches every
    waiter of its batch as that sample's own error, which the runner counts.
    """

    run_batch: Callable[[list[Req]], list[Res]]
    batch_size: int
    _pending: list[_Pending[Req, Res]] = field(default_factory=list)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def submit(self, request: Req, size: int) -> Res:
        fut: asyncio.Future[Res] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(request, size, fut))
        await asyncio.sleep(0.01)  # let sibling samples enqueue before the first batch runs
        async with self._lock:
            if not fut.done():
                await self._drain()
        return await fut

    async def _drain(self) -> None:
        pending, self._pending = self._pending, []
        pending.sort(key=lambda p: p.size)
        for start in range(0, len(pending), self.batch_size):
            batch = pending[start : start + self.batch_size]
            try:
                results = await asyncio.to_thread(self.run_batch, [p.request for p in batch])
            except Exception as exc:
                for p in batch:
                    p.future.set_exception(exc)
                continue
            for p, res in zip(batch, results, strict=True):
                p.future.set_result(res)


@dataclass
class LocalScorer:
    """Both readings for one loaded model, shared by all samples of a run."""

    model: Any
    tokenizer: Any
    letters: tuple[str, ...]
    letter_batcher: Batcher[str, list[float]] = field(init=False)
    answer_batcher: Batcher[tuple[str, list[str]], list[float]] = field(init=False)

    def __post_init__(self) -> None:
        self.letter_batcher = Batcher(self._letters, LETTER_BATCH)
        self.answer_batcher = Batcher(self._answers, 1)

    def _letters(self, prompts: list[str]) -> list[list[float]]:
        ids = letter_token_ids(self.tokenizer, self.letters)
        return letter_logprobs(self.model, self.tokenizer, prompts, ids)

    def _answers(self, reqs: list[tuple[str, list[str]]]) -> list[list[float]]:
        return [answer_logliks(self.model, self.tokenizer, p, a) for p, a in reqs]

    async def letter_logprobs(self, prompt: str) -> list[float]:
        return await self.letter_batcher.submit(prompt, len(prompt))

    async def answer_logliks(self, prefix: str, answers: list[str]) -> list[float]:
        return await self.answer_batcher.submit((prefix, answers), len(prefix))


_SCORERS: dict[tuple[int, int], LocalScorer] = {}


def scorer_for(model: Any, tokenizer: Any, letters: tuple[str, ...]) -> LocalScorer:
    key = (id(model), id(asyncio.get_running_loop()))
    found = _SCORERS.get(key)
    if found is None or found.model is not model:
        found = LocalScorer(model, tokenizer, letters)
        _SCORERS.clear()  # one model at a time: do not keep old models alive
        _SCORERS[key] = found
    return found
