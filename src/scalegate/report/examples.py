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


def log_file(ev: EvalEvidence, folder: Path | None) -> Path | None:
    """Where the eval's Inspect log is: in the assessment folder being reported (its
    `logs/<eval>/<file>`, wherever the folder has moved since), else at the recorded path
    (relative to where `assess` ran)."""
    if not ev.log_path:
        return None
    recorded = Path(ev.log_path)
    here = [folder / "logs" / recorded.parent.name / recorded.name] if folder is not None else []
    return next((p for p in [*here, recorded] if p.is_file()), None)


def withheld_because(spec: EvalSpec | None, ev: EvalEvidence, public: bool, log: Path | None) -> str | None:
    """Why this eval's examples are not shown, or None when they may be."""
    if spec is not None and safeguard(spec):
        return "a safeguard (refusal / red-team) set: its prompts are never reproduced"
    if ev.red_teamed or ev.mitigations:
        return "red-team or mitigated runs: prompts are never reproduced"
    if public:
        return "withheld under the public profile (items stay private to keep the eval uncontaminated)"
    if log is None:
        return "the Inspect log is neither in the assessment folder nor at the path the evidence names"
    return None


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _MAX_CHARS else text[: _MAX_CHARS - 1] + "…"


def draw(ev: EvalEvidence, log: Path, count: int) -> list[Example]:
    """`count` samples from the log, seeded by the eval id and its sample ids."""
    if count <= 0:
        return []
    from inspect_ai.log import read_eval_log_sample, read_eval_log_sample_summaries

    summaries = sorted(read_eval_log_sample_summaries(str(log)), key=lambda s: (str(s.id), s.epoch))
    seed = hashlib.sha256(
        (ev.eval_id + "\0" + "\0".join(f"{s.id}:{s.epoch}" for s in summaries)).encode()
    ).digest()
    chosen = random.Random(seed).sample(summaries, min(count, len(summaries)))
    out = []
    for s in sorted(chosen, key=lambda s: (str(s.id), s.epoch)):
        sample = read_eval_log_sample(str(log), s.id, s.epoch)
        prompt = sample.input if isinstance(sample.input, str) else "\n".join(m.text for m in sample.input)
        target = sample.target if isinstance(sample.target, str) else ", ".join(sample.target)
        scores = "; ".join(f"{k}: {v.value}" for k, v in (sample.scores or {}).items())
        answer = sample.output.completion if sample.output else ""
        if not answer and sample.scores:
            answer = next((str(v.answer) for v in sample.scores.values() if v.answer is not None), "")
        out.append(Example(str(s.id), s.epoch, _clip(prompt), _clip(target), _clip(answer), scores))
    return out
