"""Relative determinations: a model's evidence against a reference's, eval by eval, read as
"not higher than the reference by more than a margin" (docs/design/relative.md).

Each eval's difference is paired when both runs scored the same questions (the same dataset
hash, matched by sample id, one epoch each): `paired.paired_difference`, cluster-robust when
the eval declares clusters. Otherwise it is unpaired from the two estimates
(`paired.unpaired_difference`), recorded as such and wider. A claim over several evals is an
intersection-union test: it holds only when every eval shows `not_higher` at the one-sided
level, which bounds the chance of a false claim by that level with no multiplicity
correction (Berger 1982). Anything that is not a clean, matching, fixed-n comparison on both
sides leaves the eval unreadable, and the claim unsupported: evidence that is not `ok`, a
different instrument (task, arguments or dataset), or a sequentially stopped run (its sample
is chosen by its own outcomes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from scalegate.errors import InputError
from scalegate.evals.evidence import EvalEvidence
from scalegate.evals.paired import Difference, Relation, paired_difference, unpaired_difference
from scalegate.policy.base import EvidenceStatus


class EvalComparison(BaseModel):
    model_config = ConfigDict(frozen=True)

    eval_id: str
    margin: float
    relation: Relation  # inconclusive whenever the comparison cannot be read
    difference: Difference | None = None
    model_accuracy: float | None = None
    reference_accuracy: float | None = None
    reason: str | None = None  # why unreadable, or why unpaired


class Comparison(BaseModel):
    model_config = ConfigDict(frozen=True)

    evals: list[EvalComparison]
    margin: float
    confidence: float  # two-sided; each eval's claim reads a one-sided bound at (1 - c) / 2
    holds: bool  # `not_higher` shown on every eval

    @property
    def unsupported(self) -> list[EvalComparison]:
        return [e for e in self.evals if e.relation is not Relation.not_higher]


def compare(
    model: dict[str, EvalEvidence],
    reference: dict[str, EvalEvidence],
    eval_ids: list[str],
    margin: float,
    confidence: float,
    clusters: dict[str, str | None] | None = None,
) -> Comparison:
    """`clusters`: each eval's cluster field (the policy's `cluster`), for cluster-robust pairs."""
    if not eval_ids:
        raise ValueError("a relative claim names at least one eval")
    evals = [
        compare_eval(e, model.get(e), reference.get(e), margin, confidence, (clusters or {}).get(e))
        for e in eval_ids
    ]
    holds = all(e.relation is Relation.not_higher for e in evals)
    return Comparison(evals=evals, margin=margin, confidence=confidence, holds=holds)


def compare_eval(
    eval_id: str,
    model: EvalEvidence | None,
    reference: EvalEvidence | None,
    margin: float,
    confidence: float,
    cluster: str | None = None,
) -> EvalComparison:
    def unread(reason: str) -> EvalComparison:
        return EvalComparison(eval_id=eval_id, margin=margin, relation=Relation.inconclusive, reason=reason)

    for side, ev in (("the model", model), ("the reference", reference)):
        if ev is None:
            return unread(f"{side} has no evidence for {eval_id}")
        if ev.status is not EvidenceStatus.ok:
            return unread(f"{side}'s evidence is {ev.status}: {ev.message or 'no message'}")
        est = ev.metrics.get("accuracy")
        if est is None:
            return unread(f"{side}'s evidence has no accuracy estimate")
        if est.method == "confidence_sequence":
            return unread(f"{side}'s run stopped sequentially (its sample depends on its outcomes)")
    assert model is not None and reference is not None
    why = _instrument_differs(model, reference)
    if why is not None:
        return unread(why)
    a, b = model.metrics["accuracy"], reference.metrics["accuracy"]
    pairs = _pairs(model, reference, cluster)
    if isinstance(pairs, str):
        diff = unpaired_difference(
            a.successes,
            a.n,
            b.successes,
            b.n,
            confidence,
            deff_model=a.design_effect or 1.0,
            deff_reference=b.design_effect or 1.0,
        )
        reason: str | None = f"unpaired: {pairs}"
    else:
        xs, ys, clusters = pairs
        diff = paired_difference(xs, ys, confidence, clusters)
        reason = None
    return EvalComparison(
        eval_id=eval_id,
        margin=margin,
        relation=diff.relation(margin),
        difference=diff,
        model_accuracy=a.value,
        reference_accuracy=b.value,
        reason=reason,
    )


def _instrument_differs(model: EvalEvidence, reference: EvalEvidence) -> str | None:
    pm, pr = model.provenance, reference.provenance
    if pm is None or pr is None:
        return "no provenance on one side: the instruments cannot be shown to be the same"
    for field in ("task", "task_args", "dataset_sha256", "prompts_sha256", "prompt_format"):
        if getattr(pm, field) != getattr(pr, field):
            return (
                f"different instruments: {field} differs ({getattr(pm, field)!r} vs {getattr(pr, field)!r})"
            )
    return None


def _pairs(
    model: EvalEvidence, reference: EvalEvidence, cluster: str | None
) -> tuple[list[int], list[int], list[str] | None] | str:
    """Matched (model, reference) scores, by sample id, with the model's cluster labels; or why
    the two runs cannot be paired."""
    mine, theirs = _outcomes(model, cluster), _outcomes(reference, cluster)
    if isinstance(mine, str):
        return mine
    if isinstance(theirs, str):
        return theirs
    common = sorted(set(mine) & set(theirs))
    if not common:
        return "no sample id in common"
    if len(common) < min(len(mine), len(theirs)):
        return f"the runs scored different samples ({len(common)} in common of {len(mine)} and {len(theirs)})"
    xs = [mine[k][0] for k in common]
    ys = [theirs[k][0] for k in common]
    # a sample without the cluster field is a cluster of its own (never pooled with others)
    clusters = None if cluster is None else [mine[k][1] or f"sample:{k}" for k in common]
    return xs, ys, clusters


def _outcomes(ev: EvalEvidence, cluster: str | None) -> dict[str, tuple[int, str | None]] | str:
    """Each sample's 0/1 score and cluster, read from the run's own Inspect log."""
    from inspect_ai.log import read_eval_log

    from scalegate.evals.runner import observe_sample

    if ev.log_path is None or not Path(ev.log_path).is_file():
        return "no per-sample log (imported evidence, or the log was moved)"
    try:
        log = read_eval_log(ev.log_path)
    except Exception as exc:
        return f"the log cannot be read ({type(exc).__name__})"
    if (log.eval.config.epochs or 1) > 1:
        return "more than one epoch per sample"
    out: dict[str, tuple[int, str | None]] = {}
    for s in log.samples or []:
        o = observe_sample(s, cluster)
        if o.error or o.value is None:
            return f"sample {s.id} has no clean score"
        out[str(s.id)] = (int(o.value), o.cluster)
    return out


def evidence_of(folder: Path) -> dict[str, Any]:
    """The evidence records of an assessment folder (`assess --out`), by eval id."""
    out = {}
    for path in sorted((folder / "evidence").glob("*.json")):
        if path.name.endswith(".post.json"):
            continue
        try:
            ev = EvalEvidence.model_validate_json(path.read_bytes())
        except (OSError, ValidationError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"{path}: not a scalegate evidence record ({first})") from exc
        out[ev.eval_id] = ev
    return out
