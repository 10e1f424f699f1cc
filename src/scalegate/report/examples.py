"""Example items for a report, read from the eval's own Inspect log (STREAM asks for them).

Chosen at random with a seed derived from the eval id and the log's sample set, so the same
log gives the same examples. Never drawn from a safeguard eval (a refusal or red-team set,
whose prompts are the hazard being refused) and never under the public profile; the report
says which and why.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

from scalegate.evals.evidence import EvalEvidence
from scalegate.policy.schema import EvalSpec

_MAX_CHARS = 600


@dataclass(frozen=True)
class Example:
    sample_id: str
    epoch: int
    prompt: str
    target: str
    answer: str
    score: str


def safeguard(spec: EvalSpec) -> bool:
    """A safeguard eval (a refusal or red-team set): its worst case is the lowest score."""
    return spec.worst_case == "lowest" or spec.task.endswith("refusal_rate")


def withheld_because(spec: EvalSpec | None, ev: EvalEvidence, public: bool) -> str | None:
    """Why this eval's examples are not shown, or None when they may be."""
    if spec is not None and safeguard(spec):
        return "a safeguard (refusal / red-team) set: its prompts are never reproduced"
    if ev.red_teamed or ev.mitigations:
        return "red-team or mitigated runs: prompts are never reproduced"
    if public:
        return "withheld under the public profile (items stay private to keep the eval uncontaminated)"
    if not ev.log_path or not Path(ev.log_path).is_file():
        return "the Inspect log is not at the path the evidence names"
    return None


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _MAX_CHARS else text[: _MAX_CHARS - 1] + "…"


def draw(ev: EvalEvidence, count: int) -> list[Example]:
    """`count` samples from the log, seeded by the eval id and its sample ids."""
    if count <= 0 or not ev.log_path:
        return []
    from inspect_ai.log import read_eval_log_sample, read_eval_log_sample_summaries

    summaries = sorted(read_eval_log_sample_summaries(ev.log_path), key=lambda s: (str(s.id), s.epoch))
    seed = hashlib.sha256(
        (ev.eval_id + "\0" + "\0".join(f"{s.id}:{s.epoch}" for s in summaries)).encode()
    ).digest()
    chosen = random.Random(seed).sample(summaries, min(count, len(summaries)))
    out = []
    for s in sorted(chosen, key=lambda s: (str(s.id), s.epoch)):
        sample = read_eval_log_sample(ev.log_path, s.id, s.epoch)
        prompt = sample.input if isinstance(sample.input, str) else "\n".join(m.text for m in sample.input)
        target = sample.target if isinstance(sample.target, str) else ", ".join(sample.target)
        scores = "; ".join(f"{k}: {v.value}" for k, v in (sample.scores or {}).items())
        answer = sample.output.completion if sample.output else ""
        if not answer and sample.scores:
            answer = next((str(v.answer) for v in sample.scores.values() if v.answer is not None), "")
        out.append(Example(str(s.id), s.epoch, _clip(prompt), _clip(target), _clip(answer), scores))
    return out
