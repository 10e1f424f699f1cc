"""Counts -> evidence status and interval: the one set of grading rules.

Every source of evidence (an Inspect log run here, an imported Inspect log, an lm-eval
results file, a cached or resumed run, a ledger entry being verified) is reduced to `Counts`,
and `grade` turns counts into a status and an interval under the *reading* policy's
`statistics` and `evidence` rules. `regrade` applies it to stored evidence, so evidence
imported or cached under a lax policy is read with the strict policy's rules, never with the
interval it was recorded with (docs/design/statistics.md, "Graded by the reader").

Degenerate evidence is unreliable, never low: an answer the model did not give in a readable
form (Inspect's `Score.reason` `invalid_response_format`, `no_response`, `refusal`, or its
`NOANSWER` value) counts as unparsed; a scorer or grader failure counts as an error; a score
wholly below chance, or an answer-position collapse, is a broken measurement.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scalegate.evals.evidence import Counts, EvalEvidence, RunStatus, SpecBinding

__all__ = ["Counts", "Observation", "bind", "grade", "observe", "regrade", "regrade_all", "tally"]
from scalegate.evals.stats import Estimate, cluster_design_effect, estimate_proportion
from scalegate.policy.base import EvidenceStatus
from scalegate.policy.schema import CheckName, EvalSpec, EvidenceRules, Statistics

#: Score reasons (Inspect's `ScoreReason`) that put the failure on the model under test.
MODEL_SIDE = frozenset({"invalid_response_format", "no_response", "refusal"})
#: ... and on the measurement instrument: the sample's score is not evidence at all.
INSTRUMENT_SIDE = frozenset({"grader_failed", "scoring_failed"})
#: Inspect's value for "no answer" (`inspect_ai.scorer.NOANSWER`): a wrong, unparsed answer.
NOANSWER = "N"


@dataclass(frozen=True)
class Observation:
    """One scored (sample, epoch) as any source records it."""

    sample_id: str
    value: int | None  # 1 correct, 0 incorrect, None not correct/incorrect
    error: bool = False  # the run failed on this sample, or the instrument did
    unparsed: bool = False  # the model gave no readable answer
    choice: str | None = None
    cluster: str | None = None
    blocked: bool = False  # refused by a declared mitigation's filter: a wrong answer, by design


def observe(
    value: Any, reason: str | None, metadata: Mapping[str, Any] | None
) -> tuple[int | None, bool, bool]:
    """(value, instrument error, unparsed) of one score, from Inspect's standard fields and
    scalegate's own `parsed` flag."""
    from scalegate.evals.sequential import binary_value

    reason = reason or None
    if reason in INSTRUMENT_SIDE:
        return None, True, False
    unparsed = reason in MODEL_SIDE or (metadata or {}).get("parsed") is False
    if value == NOANSWER:
        return 0, False, True
    return binary_value(value), False, unparsed


def tally(
    observations: Iterable[Observation],
    *,
    planned: int | None,
    epochs: int = 1,
    n_options: int | None = None,
    cluster_field: str | None = None,
    sequential: bool = False,
    run_status: RunStatus = "success",
    run_error: str | None = None,
) -> Counts:
    """Reduce observations to counts: one observation per sample (the mean over its epochs).

    A sample with any errored epoch is an error; any unreadable epoch makes it unparsed; any
    epoch that is not correct/incorrect makes it non-binary."""
    by_sample: dict[str, list[Observation]] = defaultdict(list)
    for o in observations:
        by_sample[o.sample_id].append(o)
    successes, scored, errors, unparsed, non_binary, blocked = 0.0, 0, 0, 0, 0, 0
    choices: Counter[str] = Counter()
    clusters: dict[str, list[float]] = {}
    for obs in by_sample.values():
        if any(o.error for o in obs):
            errors += 1
            continue
        if any(o.value is None for o in obs):
            non_binary += 1
            continue
        mean = sum(o.value or 0 for o in obs) / len(obs)
        successes += mean
        scored += 1
        unparsed += any(o.unparsed for o in obs)
        blocked += all(o.blocked for o in obs)
        for o in obs:
            if o.choice:
                choices[o.choice] += 1
        if cluster_field is not None:
            key = obs[0].cluster if obs[0].cluster is not None else "<none>"
            row = clusters.setdefault(key, [0.0, 0])
            row[0] += mean
            row[1] += 1
    return Counts(
        run_status=run_status,
        run_error=run_error,
        planned=planned,
        scored=scored,
        successes=round(successes, 9),
        errors=errors,
        unparsed=unparsed,
        non_binary=non_binary,
        blocked=blocked,
        epochs=epochs,
        choices=dict(choices),
        n_options=n_options,
        cluster_field=cluster_field,
        clusters={k: (round(v[0], 9), int(v[1])) for k, v in clusters.items()},
        sequential=sequential,
    )


def chance_of(spec: EvalSpec, counts: Counts) -> float:
    """The score of random guessing: declared, or 1 / options for multiple choice."""
    if spec.chance > 0:
        return spec.chance
    return 1.0 / counts.n_options if counts.n_options and counts.n_options > 1 else 0.0


def estimate(counts: Counts, statistics: Statistics) -> Estimate | None:
    """The interval of `counts` under `statistics`; None without a scored sample."""
    if counts.scored == 0:
        return None
    if counts.sequential:  # a fixed-n interval read at a stopping time is invalid
        return estimate_proportion(
            counts.successes, counts.scored, statistics.confidence, "confidence_sequence"
        )
    if counts.cluster_field is not None and counts.clusters:
        groups = list(counts.clusters.values())
        return estimate_proportion(
            counts.successes,
            counts.scored,
            statistics.confidence,
            statistics.interval,
            design_effect=round(cluster_design_effect(groups), 9),
            clusters=len(groups),
        )
    return estimate_proportion(counts.successes, counts.scored, statistics.confidence, statistics.interval)


def grade(
    counts: Counts, spec: EvalSpec, statistics: Statistics, rules: EvidenceRules
) -> tuple[EvidenceStatus, str | None, dict[str, Estimate]]:
    """Status, reason and metrics of counts under a policy. Checks run in order of severity;
    the interval is reported whatever the status (a gate reads it only when `ok`)."""
    est = estimate(counts, statistics) if counts.run_status == "success" else None
    metrics = {spec.metric: est} if est is not None else {}
    status, why = _status(counts, spec, rules, est)
    return status, why, metrics


def _status(
    c: Counts, spec: EvalSpec, rules: EvidenceRules, est: Estimate | None
) -> tuple[EvidenceStatus, str | None]:
    if c.run_status == "cancelled":
        return EvidenceStatus.cancelled, c.run_error or "the run was cancelled"
    if c.run_status == "error":
        return EvidenceStatus.error, c.run_error or "the run did not succeed"
    if spec.metric != "accuracy":
        return EvidenceStatus.error, (
            f"metric '{spec.metric}' is not supported yet: scalegate gates on per-sample "
            "proportions (accuracy)"
        )
    if c.non_binary:
        return EvidenceStatus.error, (
            f"{c.non_binary} sample scores are not correct/incorrect; cannot form a proportion"
        )
    if c.errors:
        return EvidenceStatus.partial, f"{c.errors} sample(s) errored or could not be graded"
    if c.planned is not None and c.scored < c.planned:
        return EvidenceStatus.partial, f"only {c.scored} of {c.planned} planned samples were scored"
    if c.scored and c.unparsed / c.scored > rules.max_unparsed_fraction:
        return EvidenceStatus.unreliable, (
            f"{c.unparsed} of {c.scored} answers could not be read "
            f"({c.unparsed / c.scored:.0%} > the policy's limit of {rules.max_unparsed_fraction:.0%})"
        )
    if c.scored < rules.min_samples:
        return EvidenceStatus.insufficient, (
            f"{c.scored} scored samples < the policy's minimum of {rules.min_samples}"
        )
    chance = chance_of(spec, c)
    answered = c.scored - c.blocked  # a mitigation's blocks are its effect, not the model's answers
    if chance > 0 and answered > 0:
        plain = estimate_proportion(min(c.successes, answered), answered, est.confidence if est else 0.95)
        if plain.high < chance:
            return EvidenceStatus.unreliable, (
                f"score {plain.value:.3f} [{plain.low:.3f}, {plain.high:.3f}] on {answered} answered "
                f"items lies wholly below chance ({chance:g}): a broken measurement or a model avoiding "
                "the right answer, not evidence of inability"
            )
    if rules.max_option_share is not None and c.choices:
        top, count = max(c.choices.items(), key=lambda kv: (kv[1], kv[0]))
        share = count / sum(c.choices.values())
        if share > rules.max_option_share:
            return EvidenceStatus.unreliable, (
                f"option '{top}' was chosen for {share:.0%} of the items (> the policy's "
                f"max_option_share of {rules.max_option_share:.0%}): answer-position collapse, "
                "a broken measurement"
            )
    return EvidenceStatus.ok, None


def bind(spec: EvalSpec) -> SpecBinding:
    return SpecBinding(task=spec.task, args=dict(spec.args), metric=spec.metric)


def spec_difference(bound: SpecBinding, spec: EvalSpec) -> str | None:
    """The first field in which evidence's spec differs from the reading policy's, or None."""
    want = bind(spec)
    for name in ("task", "metric", "args"):
        if getattr(bound, name) != getattr(want, name):
            return f"{name} {getattr(bound, name)!r} (the policy's eval asks for {getattr(want, name)!r})"
    return None


def counts_of(ev: EvalEvidence) -> Counts:
    """The counts behind evidence; a record from before counts were kept is rebuilt from its
    summary fields (no clusters, choices or epochs: those checks cannot apply to it)."""
    if ev.counts is not None:
        return ev.counts
    est = next(iter(ev.metrics.values()), None)
    run: RunStatus = "success"
    if ev.status is EvidenceStatus.cancelled:
        run = "cancelled"
    elif ev.status is EvidenceStatus.error and est is None:
        run = "error"
    return Counts(
        run_status=run,
        run_error=ev.message if run != "success" else None,
        planned=ev.n_planned,
        scored=est.n if est is not None else ev.n_scored,
        successes=est.successes if est is not None else 0.0,
        errors=ev.n_errors,
        unparsed=ev.n_unparsed,
        sequential=est is not None and est.method == "confidence_sequence",
    )


#: Statuses set by what the evidence is *for*, not by its counts: grading never changes them.
_NOT_GRADED = frozenset({EvidenceStatus.missing, EvidenceStatus.stale, EvidenceStatus.mismatch})


def regrade(ev: EvalEvidence, spec: EvalSpec, statistics: Statistics, rules: EvidenceRules) -> EvalEvidence:
    """Evidence graded by the policy that reads it: its spec checked, its interval and status
    recomputed from its counts under `statistics` and `rules`.

    Imported evidence that names no spec is `mismatch` (it cannot show it answers this eval);
    evidence produced by this assessment carries the spec it ran.
    """
    if ev.status in _NOT_GRADED:
        return ev
    if ev.spec is None and ev.provenance is not None and ev.provenance.source is not None:
        return _mismatch(
            ev, "imported evidence does not record the eval spec it was imported for; import it again"
        )
    if ev.spec is not None and (why := spec_difference(ev.spec, spec)) is not None:
        return _mismatch(ev, f"gathered for another eval spec: {why}")
    return _regraded(ev, spec, statistics, rules)


def _regraded(ev: EvalEvidence, spec: EvalSpec, statistics: Statistics, rules: EvidenceRules) -> EvalEvidence:
    if ev.status in _NOT_GRADED:
        return ev
    if ev.profiles:
        return _recombine(ev, spec, statistics, rules)
    counts = _clustered_as_read(counts_of(ev), spec.cluster or statistics.cluster)
    status, message, metrics = grade(counts, spec, statistics, rules)
    if ev.note:
        message = f"{message}; {ev.note}" if message else ev.note
    return ev.model_copy(update={"status": status, "message": message, "metrics": metrics, "counts": counts})


def _clustered_as_read(counts: Counts, field: str | None) -> Counts:
    """Counts grouped as the reading policy says. A reader that clusters on a field the record
    did not group by can only assume the worst: all samples in one cluster (fail closed)."""
    if field is None:
        if counts.cluster_field is None:
            return counts
        return counts.model_copy(update={"cluster_field": None, "clusters": {}})
    if counts.cluster_field == field or counts.scored == 0:
        return counts
    return counts.model_copy(
        update={"cluster_field": field, "clusters": {"<not recorded>": (counts.successes, counts.scored)}}
    )


def _mismatch(ev: EvalEvidence, why: str) -> EvalEvidence:
    return ev.model_copy(update={"status": EvidenceStatus.mismatch, "message": why, "metrics": {}})


def _recombine(
    ev: EvalEvidence, spec: EvalSpec, statistics: Statistics, rules: EvidenceRules
) -> EvalEvidence:
    """Best-of-profiles evidence: each profile re-graded at the corrected level, then combined.
    (Profiles ran variants of the spec, so only the combined record is bound to it.)"""
    from scalegate.evals import elicitation

    each = elicitation.adjusted(statistics, len(ev.profiles))
    parts = {name: _regraded(p, spec, each, rules) for name, p in ev.profiles.items()}
    out = elicitation.combine(
        ev.eval_id,
        parts,
        spec.metric,
        statistics,
        mitigations=tuple(ev.mitigations),
        worst_case=spec.worst_case,
    )
    red = ev.red_teamed and out.status is EvidenceStatus.ok
    return out.model_copy(update={"red_teamed": red, "spec": ev.spec, "note": ev.note, "checks": ev.checks})


def regrade_all(
    evidence: Mapping[str, EvalEvidence],
    specs: Mapping[str, EvalSpec],
    statistics: Statistics,
    rules: EvidenceRules,
    checks: Mapping[str, Sequence[CheckName]] | None = None,
) -> dict[str, EvalEvidence]:
    """Every piece of evidence for an eval in `specs` re-graded by the reading policy, and
    read against the sandbagging checks it requires of each eval (`checks`: pre-mitigation
    evidence only; elicitation_checks.gate)."""
    from scalegate.evals import elicitation_checks

    out = {}
    for k, ev in evidence.items():
        if k not in specs:
            out[k] = ev
            continue
        again = regrade(ev, specs[k], statistics, rules)
        if checks is not None:
            again = elicitation_checks.gate(again, checks.get(k, []), statistics.confidence)
        out[k] = again
    return out


def grading_differences(
    recorded: Mapping[str, EvalEvidence], regraded: Mapping[str, EvalEvidence]
) -> list[str]:
    """Evals whose recorded status or interval is not what the reading policy's rules give:
    evidence graded under another policy's statistics, or edited."""
    out = []
    for k, ev in recorded.items():
        again = regraded.get(k)
        if again is None:
            continue
        if ev.status != again.status or not _same_intervals(ev, again):
            out.append(
                f"eval '{k}': recorded {ev.status.value} {_shown(ev)}, but this policy's statistics and "
                f"evidence rules give {again.status.value} {_shown(again)}"
            )
    return out


#: Recorded and recomputed intervals agree to this (libm differences across machines).
TOLERANCE = 1e-9


def _same_intervals(a: EvalEvidence, b: EvalEvidence) -> bool:
    if set(a.metrics) != set(b.metrics):
        return False
    for m, x in a.metrics.items():
        y = b.metrics[m]
        if x.n != y.n or x.confidence != y.confidence or x.method != y.method:
            return False
        if any(abs(p - q) > TOLERANCE for p, q in ((x.value, y.value), (x.low, y.low), (x.high, y.high))):
            return False
    return True


def _shown(ev: EvalEvidence) -> str:
    return (
        ", ".join(f"{m} [{e.low:.4f}, {e.high:.4f}] n={e.n}" for m, e in ev.metrics.items())
        or "(no interval)"
    )
