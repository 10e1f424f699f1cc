"""Multiple-choice answers read from an open-weights model's log-probabilities.

Small models rarely answer in a parseable format, and with a letter prompt they mostly pick
the same letter whatever the question: both measure formatting, not knowledge. Two
log-likelihood readings avoid that, as lm-evaluation-harness does:

- `answer_loglik` (default): log P(answer text | question) for each option, normalised by
  the answer's length in bytes (lm-eval's `acc_norm`). The question is computed once for its
  four continuations: laid out with them in one packed row (`packed_answer_logliks`), many
  questions a forward pass, or, where a model cannot take packed rows, through a shared KV
  cache one question at a time (`answer_logliks`).
- `letter_logprob`: log P(" A".." D" | question with lettered options) at the prompt's last
  token, many prompts a forward pass (packed rows, or padded batches of similar token
  length). Cheaper; meaningful for larger models.

`LocalScorer` batches the concurrent requests of an Inspect run and picks the path.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

#: Most prompts in one letter forward pass, and most tokens (counting padding, if any).
LETTER_BATCH = 32
LETTER_TOKEN_BUDGET = 4096
#: Most questions in one answer-text forward pass, and most tokens (counting padding, if any).
ANSWER_BATCH = 32
ANSWER_TOKEN_BUDGET = 4096
#: The packed rows' check against the KV-cache path (`packing_check`), in nats per answer
#: token. On SmolLM2-135M the two agree within 3e-5 a token in float32 and 0.25 in bfloat16
#: (rounding differs with the shape of the pass). In 16-bit floats this is a coarse net: the
#: exact probes of `packing_check` are what catch a mask or position ids left unapplied.
PACKING_TOLERANCE = {"wide": 1e-3, "half": 0.5}

Req = TypeVar("Req")
Res = TypeVar("Res")

log = logging.getLogger(__name__)


def letter_token_ids(tokenizer: Any, letters: Sequence[str]) -> list[int]:
    """The token of " X" for each letter; they must be distinct single tokens."""
    return pick_letter_ids(lambda text: tokenizer.encode(text, add_special_tokens=False), letters)


def pick_letter_ids(encode: Callable[[str], list[int]], letters: Sequence[str]) -> list[int]:
    """`letter_token_ids` through any tokeniser (`encode` adds no special tokens): a local
    one, or a server's, whose ids must be chosen by the same rule."""
    ids: list[int] = []
    for letter in letters:
        toks = encode(f" {letter}")
        if len(toks) != 1:
            toks = encode(letter)
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
    return letter_logprobs_encoded(model, [tokenizer.encode(p) for p in prompts], letter_ids)


def letter_logprobs_encoded(
    model: Any, encoded: Sequence[Sequence[int]], letter_ids: list[int]
) -> list[list[float]]:
    """`letter_logprobs` on prompts already tokenised: one forward pass for all of them."""
    import torch

    device = next(model.parameters()).device
    width = max(len(e) for e in encoded)
    # Right padding keeps positions identical to an unpadded pass; read at each last real token.
    ids = torch.zeros((len(encoded), width), dtype=torch.long)
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


@dataclass(frozen=True)
class AnswerRequest:
    """One question's prompt tokens and the tokens of each answer continuing it."""

    prefix: list[int]
    continuations: list[list[int]]

    @property
    def size(self) -> int:
        """Tokens of the packed row: the prompt once, then every answer."""
        return len(self.prefix) + sum(len(c) for c in self.continuations)


def encode_answers(tokenizer: Any, prefix: str, answers: Sequence[str]) -> AnswerRequest:
    """Tokenise as lm-eval does: encode prefix+answer whole and keep the tokens past the
    prefix's encoding, so merges across the boundary are scored as the model would see them."""
    return answer_request(tokenizer.encode(prefix), [tokenizer.encode(prefix + a) for a in answers])


def answer_request(prefix: list[int], wholes: Sequence[list[int]]) -> AnswerRequest:
    """`encode_answers` from the encodings of the prefix and of each prefix+answer (by any
    tokeniser: a local one, or a server's), so both paths split a question the same way."""
    conts = [whole[len(prefix) :] for whole in wholes]
    if any(not c for c in conts):
        raise ValueError("an answer option tokenised to nothing after the prompt")
    return AnswerRequest(prefix, conts)


def per_byte_logliks(logliks: Sequence[float], options: Sequence[str]) -> list[float]:
    """lm-eval's acc_norm: each " option"'s log-likelihood over its length in bytes, so a
    longer option is not picked less for its length. One definition for the eval's
    `answer_loglik` answer and the sandbagging checks, which must read the same measurement."""
    return [v / len((" " + o).encode("utf-8")) for v, o in zip(logliks, options, strict=True)]


def answer_logliks(model: Any, tokenizer: Any, prefix: str, answers: list[str]) -> list[float]:
    """Sum of log P(answer tokens | prefix) per answer, the prefix computed once.

    The prefix runs alone and its KV cache is copied for the answers: two passes a question,
    but any causal LM with a cache can take it. `packed_answer_logliks` gives the same values
    for many questions in one pass where the model supports it. Tokenisation: `encode_answers`.
    """
    return cached_answer_logliks(model, encode_answers(tokenizer, prefix, answers))


def cached_answer_logliks(model: Any, request: AnswerRequest) -> list[float]:
    """`answer_logliks` on a tokenised request."""
    import torch

    pre, conts = request.prefix, request.continuations
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
        # transformers 5.2x names the key-value cache `cache` (`past_key_values` before, now deprecated)
        name = "cache" if "cache" in head else "past_key_values"
        cache = head[name]
        cache.batch_repeat_interleave(len(conts))
        tail = model(ids.to(device), attention_mask=mask.to(device), **{name: cache})
        logp = torch.log_softmax(tail.logits.float(), dim=-1)
    out = []
    for i, c in enumerate(conts):
        total = first[c[0]].item()
        total += sum(logp[i, j - 1, c[j]].item() for j in range(1, len(c)))
        out.append(total)
    return out


def packing_unsupported(model: Any) -> str | None:
    """Why packed rows (`packed_answer_logliks`, `packed_letter_logprobs`) cannot run on this
    model, or None when nothing rules them out.

    Packing needs a decoder whose forward takes `position_ids` and an attention that applies a
    custom 4-D additive mask as given: transformers' `sdpa` and `eager` do (masking_utils
    returns a 4-D mask untouched); flash-attention kernels take no such mask, and sliding-window
    or other non-full attention layers would have theirs replaced. Logit soft-capping or
    scaling lives in the LM head's caller, which packing bypasses. A model that passes here is
    still checked against the KV-cache path on its first batch (`LocalScorer`).
    """
    config = getattr(model, "config", None)
    get_decoder = getattr(model, "get_decoder", None)
    get_head = getattr(model, "get_output_embeddings", None)
    if config is None or get_decoder is None or get_head is None:
        return "not a transformers causal LM with a separate decoder and LM head"
    decoder = get_decoder()
    if decoder is None or get_head() is None:
        return "no decoder or no LM head"
    if "position_ids" not in inspect.signature(decoder.forward).parameters:
        return f"{type(decoder).__name__}.forward takes no position_ids"
    impl = getattr(config, "_attn_implementation", None)
    if impl not in ("sdpa", "eager"):
        return f"attention implementation {impl!r} (packing needs 'sdpa' or 'eager')"
    if not getattr(config, "is_causal", True):
        return "not a causal model"
    layer_types = getattr(config, "layer_types", None) or []
    if any(t != "full_attention" for t in layer_types):
        return "layers other than full attention"
    if getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True):
        return "sliding-window attention"
    for attr in ("final_logit_softcapping", "logit_scale"):
        if getattr(config, attr, None) not in (None, 1, 1.0):
            return f"config.{attr} is set"
    return None


@dataclass
class _Packed:
    """Requests packed into rows as tensors, and where their tokens are read."""

    ids: Any  # (rows, width) token ids, padded at the end of each row
    positions: Any  # (rows, width) position ids; each answer restarts at len(prefix)
    groups: Any  # (rows, width) the request each token belongs to; -1 padding
    parts: Any  # (rows, width) 0 prefix (and padding), k+1 answer k
    last: list[tuple[int, int]]  # per request: (row, column) of its prefix's last token
    rows: list[int]  # per answer token: its row
    cols: list[int]  # per answer token: the column whose output predicts it
    targets: list[int]  # per answer token: the token


def _pack(requests: Sequence[AnswerRequest]) -> _Packed:
    """Place requests one after another in rows as wide as the largest request, largest
    first into the first row with room: shorter requests share rows instead of being padded
    to the longest. (Rows no wider than padded ones: a masked pair of tokens still costs its
    attention score, so wider rows would spend more than they save.)"""
    import torch

    sizes = [r.size for r in requests]
    cap = max(sizes)
    fill: list[int] = []
    place = [(0, 0)] * len(requests)  # (row, first column)
    for i in sorted(range(len(requests)), key=lambda i: -sizes[i]):
        row = next((j for j, used in enumerate(fill) if used + sizes[i] <= cap), len(fill))
        if row == len(fill):
            fill.append(0)
        place[i] = (row, fill[row])
        fill[row] += sizes[i]
    shape = (len(fill), max(fill))
    ids = torch.zeros(shape, dtype=torch.long)
    pos = torch.zeros(shape, dtype=torch.long)
    groups = torch.full(shape, -1, dtype=torch.long)
    parts = torch.zeros(shape, dtype=torch.long)
    packed = _Packed(ids, pos, groups, parts, [], [], [], [])
    for i, r in enumerate(requests):
        row, at = place[i]
        p = len(r.prefix)
        ids[row, at : at + p] = torch.tensor(r.prefix)
        pos[row, at : at + p] = torch.arange(p)
        groups[row, at : at + sizes[i]] = i
        packed.last.append((row, at + p - 1))
        end_of_prefix = at + p - 1
        at += p
        for k, c in enumerate(r.continuations):
            n = len(c)
            ids[row, at : at + n] = torch.tensor(c)
            pos[row, at : at + n] = torch.arange(p, p + n)
            parts[row, at : at + n] = k + 1
            packed.rows += [row] * n
            packed.cols += [end_of_prefix, *range(at, at + n - 1)]  # the prefix predicts token 0
            packed.targets += c
            at += n
    return packed


def _packed_hidden(model: Any, packed: _Packed) -> Any:
    """The decoder's last hidden states over packed rows, in one forward pass.

    The 4-D additive mask lets a token attend to earlier tokens of its own request only, and
    within it to the prefix and to its own part: answers never see each other. Padding
    attends to earlier padding (no query row is fully masked) and is never read.
    """
    import torch

    param = next(model.parameters())
    dtype = param.dtype if param.dtype.is_floating_point else torch.float32
    g, part = packed.groups, packed.parts
    q = torch.arange(g.shape[1])
    causal = (q[None, :] <= q[:, None])[None]
    allowed = (
        causal
        & (g[:, :, None] == g[:, None, :])
        & ((part[:, None, :] == 0) | (part[:, :, None] == part[:, None, :]))
    )
    mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill_(~allowed, torch.finfo(dtype).min)
    with torch.inference_mode():
        return model.get_decoder()(
            input_ids=packed.ids.to(param.device),
            attention_mask=mask[:, None].to(param.device),
            position_ids=packed.positions.to(param.device),
            use_cache=False,
        ).last_hidden_state


def _score_packed(model: Any, packed: _Packed) -> list[float]:
    """log P(token) at every answer token of the packed rows, in one forward pass."""
    import torch

    hidden = _packed_hidden(model, packed)
    device = hidden.device
    with torch.inference_mode():
        h = hidden[torch.tensor(packed.rows, device=device), torch.tensor(packed.cols, device=device)]
        logits = model.get_output_embeddings()(h).float()
        tgt = torch.tensor(packed.targets, device=device)
        picked = logits.gather(1, tgt[:, None])[:, 0] - torch.logsumexp(logits, dim=-1)
    values: list[float] = picked.cpu().tolist()
    return values


def packed_answer_logliks(model: Any, requests: Sequence[AnswerRequest]) -> list[list[float]]:
    """Sum of log P(answer tokens | prefix) per answer of each request, in one forward pass.

    Each request is laid out as its prefix, then its answers one after another; requests are
    packed into rows as wide as the largest request (`_pack`). A 4-D mask lets the prefix
    attend causally within itself and each answer attend to the prefix and causally to its
    own tokens, never to another answer or request; each answer's position ids restart at
    len(prefix). Every answer therefore sees exactly the sequence prefix+answer, as in a
    separate pass, while the prefix is computed once. Hidden states go through the LM head
    only where an answer token is predicted.

    Only for models `packing_unsupported` clears and `packing_check` passes;
    `cached_answer_logliks` is the fallback.
    """
    values = _score_packed(model, _pack(requests))
    out: list[list[float]] = []
    at = 0
    for r in requests:
        sums = []
        for c in r.continuations:
            sums.append(sum(values[at : at + len(c)]))
            at += len(c)
        out.append(sums)
    return out


def packed_letter_logprobs(
    model: Any, encoded: Sequence[Sequence[int]], letter_ids: list[int]
) -> list[list[float]]:
    """`letter_logprobs_encoded` with short prompts sharing rows (`_pack`), each attending
    only to itself, its positions from 0. Same models as `packed_answer_logliks`."""
    import torch

    packed = _pack([AnswerRequest(list(e), []) for e in encoded])
    hidden = _packed_hidden(model, packed)
    with torch.inference_mode():
        rows, cols = zip(*packed.last, strict=True)
        h = hidden[torch.tensor(rows, device=hidden.device), torch.tensor(cols, device=hidden.device)]
        logits = model.get_output_embeddings()(h).float()
        logp = torch.log_softmax(logits, dim=-1)[:, letter_ids]
    return [row.tolist() for row in logp.cpu()]


def packing_check(model: Any, request: AnswerRequest) -> str | None:
    """Check on one request that this model honours packed rows; None when it does.

    Three probes, on the request with one more answer appended (all its answers' tokens, so
    the last answer has several): (1) changing the tokens of the other answers must leave the
    last answer's log-probs exactly as they were (the mask keeps answers apart: a masked key
    adds an exact zero); (2) giving the last answer the positions it would have in a plain
    row must change them (the position ids are used); (3) the packed values must equal the
    KV-cache path's within PACKING_TOLERANCE nats per token (nothing else is bypassed). A
    model whose kernels are not deterministic fails (1) and keeps the KV-cache path.
    """
    import torch

    tol = _packing_tolerance(model)
    joined = [t for c in request.continuations for t in c]
    probe = AnswerRequest(request.prefix, [*request.continuations, joined])
    try:
        base = _pack([probe])
        last = slice(len(base.targets) - len(joined), None)
        want = _score_packed(model, base)[last]
        others = (base.parts >= 1) & (base.parts <= len(request.continuations))
        vocab = model.get_input_embeddings().num_embeddings
        changed = replace(base, ids=torch.where(others, (base.ids + 1) % vocab, base.ids))
        if _score_packed(model, changed)[last] != want:
            return "an answer's log-probs depend on the other answers: the 4-D mask is not applied"
        is_last = base.parts == len(probe.continuations)
        shift = len(base.targets) - len(joined)
        moved = replace(base, positions=torch.where(is_last, base.positions + shift, base.positions))
        if _score_packed(model, moved)[last] == want:
            return "log-probs do not depend on position_ids: they are not applied"
        packed = packed_answer_logliks(model, [request])[0]
    except Exception as exc:  # a model that rejects the mask or the position ids
        return f"packed pass failed: {type(exc).__name__}: {exc}"
    cached = cached_answer_logliks(model, request)
    for g, w, c in zip(packed, cached, request.continuations, strict=True):
        if not abs(g - w) <= tol * len(c):
            return f"packed {g:.4f} against {w:.4f} through the KV cache over {len(c)} tokens"
    return None


def _packing_tolerance(model: Any) -> float:
    dtype = next(model.parameters()).dtype
    half = dtype.is_floating_point and dtype.itemsize < 4
    return PACKING_TOLERANCE["half" if half else "wide"]


@dataclass
class _Pending(Generic[Req, Res]):
    request: Req
    size: int
    future: asyncio.Future[Res]


@dataclass
class Batcher(Generic[Req, Res]):
    """Collects concurrent per-sample requests from Inspect and runs them in batches.

    Inspect runs each sample as its own coroutine; scoring them one at a time would waste the
    CPU. Requests wait one short tick, then the pending set is sorted by size (tokens) and cut
    into batches of at most `batch_size` requests and `token_budget` tokens as `cost` counts
    them (by default padded: rows x the largest size), which run in a worker thread (torch
    releases the GIL). A failure reaches every waiter of its batch as that sample's own
    error, which the runner counts.
    """

    run_batch: Callable[[list[Req]], list[Res]]
    batch_size: int
    token_budget: int | None = None
    #: tokens a batch costs, from its sizes in ascending order (default: padded rows)
    cost: Callable[[list[int]], int] = lambda sizes: len(sizes) * sizes[-1]
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

    def _batches(self, pending: list[_Pending[Req, Res]]) -> list[list[_Pending[Req, Res]]]:
        batches: list[list[_Pending[Req, Res]]] = []
        current: list[_Pending[Req, Res]] = []
        for p in sorted(pending, key=lambda p: p.size):
            full = len(current) >= self.batch_size or (
                self.token_budget is not None
                and self.cost([*(c.size for c in current), p.size]) > self.token_budget
            )
            if current and full:
                batches.append(current)
                current = []
            current.append(p)
        if current:
            batches.append(current)
        return batches

    async def _drain(self) -> None:
        pending, self._pending = self._pending, []
        for batch in self._batches(pending):
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
    """Both readings for one loaded model, shared by all samples of a run.

    Where the model allows it, both readings run on packed rows (`packed_answer_logliks`,
    `packed_letter_logprobs`): short requests share a row, so a batch costs about its tokens
    whatever mix of lengths Inspect delivers (it starts samples in waves of its concurrency,
    which sorting within a wave cannot even out). The model must pass
    `packing_unsupported` and, on the first batch, `packing_check`. Otherwise (a decoder
    without position ids, flash attention, sliding windows, a model that ignores the mask)
    letters run in padded batches (`letter_logprobs_encoded`) and answer text through the KV
    cache a question at a time (`cached_answer_logliks`): slower, the same values. The
    decision is kept per model object, dtype and attention implementation.
    """

    model: Any
    tokenizer: Any
    letters: tuple[str, ...]
    letter_batcher: Batcher[list[int], list[float]] = field(init=False)
    answer_batcher: Batcher[AnswerRequest, list[float]] = field(init=False)
    _letter_ids: list[int] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.letter_batcher = Batcher(self._letters, LETTER_BATCH, LETTER_TOKEN_BUDGET, self._cost)
        self.answer_batcher = Batcher(self._answers, ANSWER_BATCH, ANSWER_TOKEN_BUDGET, self._cost)

    @property
    def packing(self) -> bool | None:
        """Whether requests are scored in packed rows; None until the first batch decides."""
        return _PACKING.get(self.model, {}).get(_packing_key(self.model))

    def _cost(self, sizes: list[int]) -> int:
        return sum(sizes) if self.packing else len(sizes) * sizes[-1]

    def _decide_packing(self, probe: AnswerRequest) -> bool:
        packing = self.packing
        if packing is None:
            why = packing_unsupported(self.model) or packing_check(self.model, probe)
            if why is not None:
                log.info("no packed rows for this model (padded batches, KV cache): %s", why)
            packing = why is None
            _PACKING.setdefault(self.model, {})[_packing_key(self.model)] = packing
        return packing

    def _letters(self, encoded: list[list[int]]) -> list[list[float]]:
        if self._letter_ids is None:
            self._letter_ids = letter_token_ids(self.tokenizer, self.letters)
        ids = self._letter_ids
        if self._decide_packing(AnswerRequest(encoded[0], [[i] for i in ids])):
            return packed_letter_logprobs(self.model, encoded, ids)
        return letter_logprobs_encoded(self.model, encoded, ids)

    def _answers(self, requests: list[AnswerRequest]) -> list[list[float]]:
        if self._decide_packing(requests[0]):
            return packed_answer_logliks(self.model, requests)
        return [cached_answer_logliks(self.model, r) for r in requests]

    async def letter_logprobs(self, prompt: str) -> list[float]:
        encoded = self.tokenizer.encode(prompt)
        return await self.letter_batcher.submit(encoded, len(encoded))

    async def answer_logliks(self, prefix: str, answers: list[str]) -> list[float]:
        request = encode_answers(self.tokenizer, prefix, answers)
        return await self.answer_batcher.submit(request, request.size)


#: Packing decisions by model object (weakly held), then by (dtype, attention implementation).
_PACKING: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], bool]] = weakref.WeakKeyDictionary()


def _packing_key(model: Any) -> tuple[str, str]:
    impl = getattr(getattr(model, "config", None), "_attn_implementation", None)
    return (str(next(model.parameters()).dtype), str(impl))


_SCORERS: dict[tuple[int, int], LocalScorer] = {}


def scorer_for(model: Any, tokenizer: Any, letters: tuple[str, ...]) -> LocalScorer:
    key = (id(model), id(asyncio.get_running_loop()))
    found = _SCORERS.get(key)
    if found is None or found.model is not model:
        found = LocalScorer(model, tokenizer, letters)
        _SCORERS.clear()  # one model at a time: do not keep old models alive
        _SCORERS[key] = found
    return found
