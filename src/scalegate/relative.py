"""Relative determinations: a model's evidence against a reference's, eval by eval, read as
"not higher than the reference by more than a margin" (docs/design/relative.md).

Each eval's difference is paired when both runs scored the same questions (the same dataset
hash, matched by sample id, one epoch each): `paired.paired_difference`, cluster-robust when
the eval declares clusters. Otherwise it is unpaired from the two estimates by a union bound
valid under any dependence (`paired.unpaired_difference(dependent=True)`: the runs answered
one dataset), recorded as such and wider. A claim over several evals is an
intersection-union test: it holds only when every eval shows `not_higher` at the one-sided
level, which bounds the chance of a false claim by that level with no multiplicity
correction (Berger 1982). Anything that is not a clean, matching, fixed-n comparison on both
sides leaves the eval unreadable, and the claim unsupported: evidence that is not `ok`, a
different instrument (task, arguments or dataset), or a sequentially stopped run (its sample
is chosen by its own outcomes).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from scalegate.errors import InputError
from scalegate.evals.evidence import EvalEvidence
from scalegate.evals.paired import Difference, Relation, paired_difference, unpaired_difference
from scalegate.policy.base import EvidenceStatus


class SampleScores(BaseModel):
    """One eval's per-sample 0/1 scores, recorded with an assessment (a few bytes a question)
    so a later comparison, and `ledger verify`, pairs the two runs without their logs."""

    model_config = ConfigDict(frozen=True)

    ids: list[str]
    scores: str  # "0" or "1" per id, in order
    clusters: list[str | None] | None = None  # by the recording policy's cluster field

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        """A record read back from a ledger or a folder is untrusted: malformed scores are a
        parse error (the reference is unusable), never a crash or a silent misreading."""
        if set(self.scores) - {"0", "1"}:
            raise ValueError("scores must be a string of 0s and 1s")
        if len(self.scores) != len(self.ids) or len(set(self.ids)) != len(self.ids):
            raise ValueError("one score per distinct sample id")
        if self.clusters is not None and len(self.clusters) != len(self.ids):
            raise ValueError("one cluster label per sample id")
        return self

    def as_map(self) -> dict[str, tuple[int, str | None]]:
        labels = self.clusters or [None] * len(self.ids)
        return {i: (int(s), c) for i, s, c in zip(self.ids, self.scores, labels, strict=True)}


#: An eval's recorded scores, or why there are none (imported evidence, several epochs, ...).
Scores = SampleScores | str


class Reference(BaseModel):
    """A relative claim's reference as resolved from the ledger: the decision, the model it was
    about, its evidence and per-sample scores, and the thresholds its own decision ruled out.
    `problem` says why it cannot be used (missing, superseded, not comprehensive, ...): a
    claim read against it is inconclusive."""

    model_config = ConfigDict(frozen=True)

    key: str  # the claim's `to`: reference, last_comprehensive or decision:ID
    decision_id: str | None = None
    model: dict[str, Any] | None = None
    problem: str | None = None
    evidence: dict[str, EvalEvidence] = {}
    scores: dict[str, Scores] = {}
    ruled_out: list[str] = []  # "domain/level", pre-mitigation, in the reference's own decision


class RelativeInputs(BaseModel):
    """What the policy's relative claims read beyond the model's evidence, recorded with the
    assessment: the model's per-sample scores and each claim's resolved reference."""

    model_config = ConfigDict(frozen=True)

    scores: dict[str, Scores] = {}
    references: dict[str, Reference] = {}


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
    model_scores: Mapping[str, Scores],
    reference_scores: Mapping[str, Scores],
) -> Comparison:
    """Pure: from the two sides' evidence and recorded per-sample scores (the model's cluster
    labels are the ones read)."""
    if not eval_ids:
        raise ValueError("a relative claim names at least one eval")
    no = "no per-sample scores recorded"
    evals = [
        compare_eval(
            e,
            model.get(e),
            reference.get(e),
            margin,
            confidence,
            model_scores.get(e, no),
            reference_scores.get(e, no),
        )
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
    model_scores: Scores,
    reference_scores: Scores,
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
    pairs = _pairs(model_scores, reference_scores)
    if isinstance(pairs, str):
        diff = unpaired_difference(
            a.successes,
            a.n,
            b.successes,
            b.n,
            confidence,
            deff_model=a.design_effect or 1.0,
            deff_reference=b.design_effect or 1.0,
            dependent=True,  # one dataset: the two runs' correlation is unknown, maybe negative
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


def _pairs(mine: Scores, theirs: Scores) -> tuple[list[int], list[int], list[str] | None] | str:
    """Matched (model, reference) scores, by sample id, with the model's cluster labels; or why
    the two runs cannot be paired."""
    if isinstance(mine, str):
        return f"the model: {mine}"
    if isinstance(theirs, str):
        return f"the reference: {theirs}"
    a, b = mine.as_map(), theirs.as_map()
    common = sorted(set(a) & set(b))
    if not common:
        return "no sample id in common"
    if len(common) < min(len(a), len(b)):
        return f"the runs scored different samples ({len(common)} in common of {len(a)} and {len(b)})"
    xs = [a[k][0] for k in common]
    ys = [b[k][0] for k in common]
    # a sample without the cluster field is a cluster of its own (never pooled with others)
    clusters = None if mine.clusters is None else [a[k][1] or f"sample:{k}" for k in common]
    return xs, ys, clusters


def sample_scores(ev: EvalEvidence, cluster: str | None) -> Scores:
    """Each sample's 0/1 score and cluster label, read from the run's own Inspect log; or why
    they cannot be (the caller records either). Only a fixed-n, one-epoch run whose every
    sample has a clean score and whose counts match its evidence is pairable."""
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
    ids: list[str] = []
    scores: list[str] = []
    labels: list[str | None] = []
    for s in log.samples or []:
        o = observe_sample(s, cluster)
        if o.error or o.value not in (0, 1):
            return f"sample {s.id} has no clean 0/1 score"
        ids.append(str(s.id))
        scores.append(str(int(o.value or 0)))
        labels.append(o.cluster)
    if len(set(ids)) != len(ids):
        return "a sample id occurs twice in the log"
    est = ev.metrics.get("accuracy")
    if est is None or est.n != len(ids) or abs(est.successes - scores.count("1")) > 1e-9:
        return "the log's samples do not match the evidence's counts"
    return SampleScores(ids=ids, scores="".join(scores), clusters=None if cluster is None else labels)


class PreliminaryVerdict(BaseModel):
    """Whether a comprehensive assessment is due, from a preliminary one (`cadence.preliminary`):
    not due only when the model is shown no more than the margin above the reference on every
    eval the claim names; a reference with a problem, or any eval not shown, makes it due."""

    model_config = ConfigDict(frozen=True)

    due: bool
    reason: str
    reference: str | None = None  # the reference decision's entry id
    comparison: Comparison | None = None


def preliminary_verdict(
    claim_evals: list[str],
    margin: float,
    confidence: float,
    evidence: dict[str, EvalEvidence],
    inputs: RelativeInputs,
    key: str,
) -> PreliminaryVerdict:
    """Pure, so `ledger verify` recomputes it from the record and the chain."""
    ref = inputs.references.get(key)
    if ref is None or ref.problem is not None:
        why = "no reference resolved" if ref is None else ref.problem
        return PreliminaryVerdict(
            due=True, reason=f"due: {why}", reference=None if ref is None else ref.decision_id
        )
    result = compare(evidence, ref.evidence, claim_evals, margin, confidence, inputs.scores, ref.scores)
    if result.holds:
        reason = f"not due: not more than {margin:g} above decision {str(ref.decision_id)[:12]} on every eval"
    else:
        shown = "; ".join(
            f"{e.eval_id}: {e.relation}" + (f" ({e.reason})" if e.reason else "") for e in result.unsupported
        )
        reason = f"due: not shown to be no more capable than decision {str(ref.decision_id)[:12]} ({shown})"
    return PreliminaryVerdict(
        due=not result.holds, reason=reason, reference=ref.decision_id, comparison=result
    )


def recorded_scores(payload: Mapping[str, Any]) -> dict[str, Scores] | None:
    """The per-sample scores an assessment record carries (None: recorded before they were)."""
    relative = payload.get("relative")
    if not isinstance(relative, Mapping) or "scores" not in relative:
        return None
    return RelativeInputs.model_validate({"scores": relative["scores"]}).scores


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
