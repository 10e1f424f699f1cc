"""Multiple-choice answers read from a served model's prompt log-probabilities (vLLM).

Inspect's `vllm` provider starts (or connects to) one OpenAI-compatible vLLM server per model,
so a `vllm/...` checkpoint has no weights in this process to score options with. The server
computes what `local_scoring` computes: given a prompt, `/v1/completions` with `echo` and
`logprobs` returns the log-probability of every prompt token under the model (lm-evaluation-
harness's `local-completions` reads log-likelihoods this way). Both readings follow:

- `answer_loglik`: each option's tokens continue the question's tokens, and the sum of their
  log-probabilities is the option's log-likelihood (then per byte, as locally).
- `letter_logprob`: each letter's token continues the lettered prompt.

Tokens come from the server's own `/tokenize`, split exactly as `encode_answers` splits them,
and are sent as token ids, so the server scores the tokens chosen here, not a re-tokenised
string. The four options of a question go in one request; the server's prefix cache computes
the question once.

Fails closed: a reply that does not echo the ids sent, token by token (vLLM's
`return_tokens_as_token_ids`), or lacks a finite log-probability for any of them, raises
`ServedScoringError`. The sample errors rather than scoring, and an eval with errors
cannot pass its gate (grading.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from scalegate.evals.local_scoring import AnswerRequest, answer_request, pick_letter_ids

#: Recorded with each answer and in the evidence's scoring methods: where the numbers came from.
ENGINE = "vllm-prompt-logprobs"
_TIMEOUT = 120.0


class ServedScoringError(RuntimeError):
    """The server's reply cannot be read as the log-probabilities of the tokens sent."""


def is_served(api: Any) -> bool:
    """Inspect's vLLM provider (a server per model), the one served engine scored this way."""
    return type(api).__name__ == "VLLMAPI"


class ServedScorer:
    """`LocalScorer`'s two readings (`answer_logliks`, `letter_logprobs`) from a vLLM server."""

    def __init__(self, api: Any, letters: Sequence[str]) -> None:
        self.api = api
        self.letters = tuple(letters)
        self._letter_ids: list[int] | None = None

    async def answer_logliks(self, prefix: str, answers: list[str]) -> list[float]:
        """Sum of log P(answer tokens | prefix) for each answer."""
        whole = [await self._encode(prefix + a, special=True) for a in answers]
        request = answer_request(await self._encode(prefix, special=True), whole)
        return await self._continuations(request)

    async def letter_logprobs(self, prompt: str) -> list[float]:
        """log P(" X" | prompt) for each letter."""
        if self._letter_ids is None:
            encoded = {}
            for letter in self.letters:
                for text in (f" {letter}", letter):
                    encoded[text] = await self._encode(text, special=False)
            self._letter_ids = pick_letter_ids(encoded.__getitem__, self.letters)
        prefix = await self._encode(prompt, special=True)
        return await self._continuations(AnswerRequest(prefix, [[i] for i in self._letter_ids]))

    async def _continuations(self, request: AnswerRequest) -> list[float]:
        prompts = [request.prefix + c for c in request.continuations]
        reply = await self._post(
            "/v1/completions",
            {
                "model": self.api.service_model_name(),
                "prompt": prompts,
                # one token generated (some servers refuse none); its log-probability is
                # past the prompt's and never read
                "max_tokens": 1,
                "temperature": 0.0,
                "echo": True,
                "logprobs": 1,
                "return_tokens_as_token_ids": True,
            },
        )
        return read_reply(reply, prompts, len(request.prefix))

    async def _encode(self, text: str, *, special: bool) -> list[int]:
        reply = await self._post(
            "/tokenize",
            {"model": self.api.service_model_name(), "prompt": text, "add_special_tokens": special},
        )
        tokens = _field(reply, "tokens", list)
        if not all(isinstance(t, int) and not isinstance(t, bool) for t in tokens):
            raise ServedScoringError("/tokenize returned something other than token ids")
        return list(tokens)

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        ensure = getattr(self.api, "_ensure_server_started", None)
        if ensure is not None:  # Inspect starts its server lazily, on the first call
            await ensure()
        root = _root(self.api.base_url)
        asked = getattr(self.api, "_init_base_url", None)
        if asked and _root(asked) != root:
            # Inspect keeps one server entry per model name and process: a second base_url
            # for the same name is silently sent to the first. Evidence naming one server
            # must not hold another's numbers.
            raise ServedScoringError(
                f"asked for the vLLM server at {asked}, but Inspect sends this model's requests "
                f"to {self.api.base_url} (the first server given for it in this process)"
            )
        headers = {"Authorization": f"Bearer {self.api.api_key}"} if self.api.api_key else {}
        async with httpx.AsyncClient(timeout=_TIMEOUT) as client:
            resp = await client.post(root + path, json=body, headers=headers)
        if resp.status_code != 200:
            raise ServedScoringError(f"{path}: HTTP {resp.status_code}: {resp.text[:300]}")
        try:
            data = resp.json()
        except ValueError as e:
            raise ServedScoringError(f"{path}: the reply is not JSON") from e
        if not isinstance(data, dict):
            raise ServedScoringError(f"{path}: the reply is not a JSON object")
        return data


def _root(url: Any) -> str:
    return str(url).rstrip("/").removesuffix("/v1")


def _field(data: dict[str, Any], name: str, kind: type) -> Any:
    value = data.get(name)
    if not isinstance(value, kind):
        raise ServedScoringError(f"the server's reply has no {name!r} ({kind.__name__})")
    return value


def read_reply(reply: dict[str, Any], prompts: list[list[int]], start: int) -> list[float]:
    """Each prompt's summed log-probability of its tokens from `start` on, from a
    `/v1/completions` reply with `echo`, `logprobs` and `return_tokens_as_token_ids`. Anything
    but one choice per prompt, echoing exactly the ids sent, each read token with a finite
    log-probability at most 0, raises: a reply that cannot be read as that is not evidence."""
    if start < 1:  # the first token of a prompt has no log-probability to read
        raise ServedScoringError("the prompt tokenised to nothing before the answers")
    choices = _field(reply, "choices", list)
    if not all(isinstance(c, dict) for c in choices):
        raise ServedScoringError("a choice is not a JSON object")
    if any(len(sent) <= start for sent in prompts):  # an answer of no tokens would score 0, the best
        raise ServedScoringError("an answer tokenised to nothing after the prompt")
    indices = [c.get("index") for c in choices]
    if not all(type(i) is int for i in indices) or sorted(indices) != list(range(len(prompts))):
        raise ServedScoringError(f"{len(prompts)} prompts sent, choices numbered {indices[:8]}")
    by_index = {c["index"]: c for c in choices}
    # _prompt_logprobs(...)[j - 1] is token j's
    return [sum(_prompt_logprobs(by_index[i], sent)[start - 1 :]) for i, sent in enumerate(prompts)]


def _prompt_logprobs(choice: dict[str, Any], sent: list[int]) -> list[float]:
    """The log-probability of each token sent after the first (the first has none), checked
    to be those tokens'."""
    logprobs = choice.get("logprobs")
    if not isinstance(logprobs, dict):
        raise ServedScoringError("a choice has no logprobs: the server did not echo the prompt")
    values = _field(logprobs, "token_logprobs", list)
    tokens = _field(logprobs, "tokens", list)
    if len(values) < len(sent) or len(tokens) < len(sent):
        raise ServedScoringError(f"{len(sent)} tokens sent, {len(values)} echoed")
    for i, (token, want) in enumerate(zip(tokens, sent, strict=False)):
        if token != f"token_id:{want}":
            raise ServedScoringError(f"token {i} echoed as {str(token)[:40]!r}, sent token_id:{want}")
    out: list[float] = []
    for value in values[1 : len(sent)]:
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise ServedScoringError(f"a prompt token's log-probability is {str(value)[:40]!r}")
        if value > 0:
            raise ServedScoringError(f"a prompt token's log-probability is {value} (above 0)")
        out.append(float(value))
    return out
