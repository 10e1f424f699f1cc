"""A simulated Inspect model with a known true accuracy, for sequential-stopping tests and the
scale-out benchmark.

Importing this module registers the `simulated` model API: `simulated/p=0.7` (optionally
`simulated/p=0.7,seed=3`, or with `&delay=0.2` seconds per call, asynchronously) answers
each of scalegate's modular-arithmetic questions correctly with probability p, decided once
per sample id by a seeded hash, so a run is reproducible and the whole Inspect path (solver,
generate, parsing, scorer, early stopping, log) is exercised. It reads the question from the
prompt, as a real model would: it never sees the target.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Any

from inspect_ai.model import ChatMessage, GenerateConfig, ModelAPI, ModelOutput, modelapi
from inspect_ai.tool import ToolChoice, ToolInfo

_QUESTION = re.compile(r"What is (\d+) \+ (\d+) modulo (\d+)\?")
_OPTION = re.compile(r"^([ABCD])\. (.+)$", re.MULTILINE)


def answers_correctly(sample_id: str, p: float, seed: int = 0) -> bool:
    """A uniform draw per (seed, sample id): below p means the sample is answered correctly."""
    digest = hashlib.sha256(f"{seed}:{sample_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < p


def parse_name(model_name: str) -> tuple[float, int]:
    params = _params(model_name)
    return float(params["p"]), int(params.get("seed", 0))


def _params(model_name: str) -> dict[str, str]:
    """`p=0.7,seed=3`; `&` also separates (Inspect reads a comma in a model string passed to
    `eval` as a list of models)."""
    return dict(part.split("=", 1) for part in re.split(r"[,&]", model_name) if part)


def parse_delay(model_name: str) -> float:
    """`delay=S`: seconds each call waits (a latency-bound API model); 0 by default."""
    return float(_params(model_name).get("delay", 0))


@modelapi(name="simulated")
class SimulatedAPI(ModelAPI):
    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        **model_args: Any,
    ) -> None:
        super().__init__(model_name, base_url, api_key, [], config)
        self.p, self.seed = parse_name(model_name)
        self.delay = parse_delay(model_name)

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        if self.delay:
            await asyncio.sleep(self.delay)
        prompt = input[-1].text
        question = _QUESTION.search(prompt)
        if question is None:
            return ModelOutput.from_content(model=self.model_name, content="I do not know.")
        a, b, modulus = (int(g) for g in question.groups())
        options = {letter: text.strip() for letter, text in _OPTION.findall(prompt)}
        right = next(letter for letter, text in options.items() if text == str((a + b) % modulus))
        wrong = next(letter for letter in sorted(options) if letter != right)
        sample_id = f"mod{modulus}-{a}-{b}"  # the id scalegate's task gives this question
        letter = right if answers_correctly(sample_id, self.p, self.seed) else wrong
        return ModelOutput.from_content(model=self.model_name, content=letter)
