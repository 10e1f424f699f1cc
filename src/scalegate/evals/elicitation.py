"""Elicitation profiles and mitigations: one eval becomes several runs, and their results one.

A capability eval asks what the model *could* do, so the policy may name several profiles
(zero-shot, few-shot, chain of thought, best-of-n, system-prompt variants, a fine-tuned
model) and the eval's score is the best of them. Taking the best of m intervals is a multiple
comparison: each run is graded at confidence 1 - alpha/m (Bonferroni), so with probability at
least 1 - alpha every interval covers its profile's true rate at once, and then
[max of the lows, max of the highs] covers the best profile's true rate. The record keeps each
profile's evidence and says which one won.

Post-mitigation evidence is the same eval run through the policy's mitigations (a system
prompt, input and output filters, a refusal-trained model), under the eval's profiles plus the
red-team profiles, so the safeguarded system is scored against the best attack tried.

For scalegate's own tasks a profile or mitigation is a set of task arguments (the task
implements it: few-shot examples, the template, the filters...). A task that does not take the
arguments a profile needs (a registry task, say) cannot run under it: that run's evidence is
`missing`, with the reason, and the eval fails closed.
"""

from __future__ import annotations

import inspect as pyinspect
from dataclasses import dataclass, field
from typing import Any, Literal

from scalegate.errors import InputError
from scalegate.evals.evidence import EvalEvidence
from scalegate.evals.stats import Estimate
from scalegate.policy.base import EvidenceStatus
from scalegate.policy.schema import EvalSpec, Mitigation, Policy, Profile, Statistics

Side = Literal["pre", "post"]
DEFAULT_PROFILE = "zero_shot"
#: Which non-ok status a combined eval reports when several runs failed: the most serious.
_SEVERITY = (
    "error",
    "cancelled",
    "partial",
    "missing",
    "elicitation_gap",
    "unreliable",
    "insufficient",
    "stale",
)


@dataclass(frozen=True)
class Variant:
    """One run of one eval: a profile, on one side of the mitigation boundary."""

    eval_id: str
    side: Side
    profile_name: str
    profile: Profile
    spec: EvalSpec  # the policy's spec with the profile's and mitigations' task arguments
    mitigations: tuple[str, ...] = ()
    model: str | None = None  # a fine-tuned or refusal-trained model that replaces the target
    extra: dict[str, Any] = field(default_factory=dict)  # the arguments added to spec.args

    @property
    def run_id(self) -> str:
        """The name of this run's logs and evidence file: `eval`, `eval@profile`, `eval@post:...`."""
        if self.side == "pre" and self.profile_name == DEFAULT_PROFILE and not self.extra and not self.model:
            return self.eval_id
        side = "post:" if self.side == "post" else ""
        return f"{self.eval_id}@{side}{self.profile_name}"

    def key_parts(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The evidence cache key's `elicitation` and `mitigation` components."""
        elicitation = (
            None
            if self.run_id == self.eval_id
            else {
                "name": self.profile_name,
                **self.profile.model_dump(mode="json", exclude_none=True),
            }
        )
        mitigation = {"names": list(self.mitigations), "args": self.extra} if self.mitigations else None
        return elicitation, mitigation


def profile_names(policy: Policy, eval_id: str) -> list[str]:
    """The eval's own profiles, else the policy-wide ones, else zero-shot alone."""
    spec = policy.evals[eval_id]
    for elicitation in (spec.elicitation, policy.elicitation):
        if elicitation is not None and elicitation.profiles:
            return list(dict.fromkeys(elicitation.profiles))
    return [DEFAULT_PROFILE]


def post_evals(policy: Policy) -> list[str]:
    """The evals that get post-mitigation runs (none without `post_mitigation`)."""
    post = policy.post_mitigation
    if post is None:
        return []
    return list(post.evals) if post.evals is not None else list(policy.evals)


def variants(policy: Policy, eval_id: str, side: Side) -> list[Variant]:
    """Every run the eval needs on one side, in a stable order."""
    spec = policy.evals[eval_id]
    names = profile_names(policy, eval_id)
    mitigation_names: tuple[str, ...] = ()
    base: dict[str, Any] = {}
    model: str | None = None
    if side == "post":
        post = policy.post_mitigation
        if post is None:
            return []
        names += [n for n in post.red_team_profiles if n not in names]
        mitigation_names = tuple(post.mitigations)
        base, model = mitigation_args([policy.mitigations[m] for m in post.mitigations])
    out = []
    for name in names:
        profile = policy.profile(name)
        if profile is None:  # the loader reports unknown names; a hand-built policy may not
            raise InputError(f"eval {eval_id}: unknown profile '{name}'")
        extra = _merge_args(base, profile_args(profile))
        out.append(
            Variant(
                eval_id=eval_id,
                side=side,
                profile_name=name,
                profile=profile,
                spec=spec.model_copy(update={"args": {**spec.args, **extra}}),
                mitigations=mitigation_names,
                model=profile.model if profile.kind == "fine_tuned" else model,
                extra=extra,
            )
        )
    return out


def profile_args(profile: Profile) -> dict[str, Any]:
    """The task arguments that implement a profile in scalegate's tasks."""
    match profile.kind:
        case "few_shot":
            return {"few_shot": profile.k}
        case "chain_of_thought":
            return {"chain_of_thought": True}
        case "best_of_n":
            return {"best_of": profile.n}
        case "system_prompt":
            return {"system_prompt": profile.system_prompt}
        case "red_team":
            return {"template": profile.template}
        case _:  # zero_shot; fine_tuned changes the model, not the task
            return {}


def mitigation_args(mitigations: list[Mitigation]) -> tuple[dict[str, Any], str | None]:
    """Task arguments and model replacement for a stack of mitigations. System prompts are
    joined in order; two filters of one kind, or two models, cannot be stacked implicitly."""
    args: dict[str, Any] = {}
    prompts = [m.system_prompt for m in mitigations if m.system_prompt]
    if prompts:
        args["system_prompt"] = "\n\n".join(prompts)
    model: str | None = None
    for kind in ("input_filter", "output_filter", "model"):
        given = [getattr(m, kind) for m in mitigations if getattr(m, kind)]
        if len(given) > 1:
            raise InputError(
                f"post_mitigation stacks {len(given)} mitigations with a {kind} ({given}); "
                f"write one judge that combines them and declare it once"
            )
        if given and kind == "model":
            model = given[0]
        elif given:
            args[kind] = given[0]
    return args, model


def _merge_args(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if key == "system_prompt" and key in out:
            out[key] = f"{out[key]}\n\n{value}"  # the mitigation's prompt first: it stays in force
        else:
            out[key] = value
    return out


def unsupported(variant: Variant, factory: Any) -> str | None:
    """Why the task cannot run under this variant, or None. `factory`: the task function for a
    scalegate task, None for a task Inspect resolves by name (its arguments are unknown)."""
    if not variant.extra:
        return None
    if factory is None:
        return (
            f"profile '{variant.profile_name}'{' with mitigations' if variant.mitigations else ''} needs "
            f"task arguments {sorted(variant.extra)}, which only scalegate's tasks take; "
            f"{variant.spec.task} cannot run under it (wrap the task, or drop the profile)"
        )
    params = pyinspect.signature(factory).parameters
    missing = [k for k in variant.extra if k not in params]
    if missing:
        return (
            f"task {variant.spec.task} does not take {missing}, which profile '{variant.profile_name}' needs"
        )
    return None


def adjusted(statistics: Statistics, m: int) -> Statistics:
    """The statistics each of m runs is graded with, so the best of them stays at the policy's level."""
    if m <= 1:
        return statistics
    return statistics.model_copy(update={"confidence": 1 - (1 - statistics.confidence) / m})


def combine(
    eval_id: str,
    parts: dict[str, EvalEvidence],
    metric: str,
    statistics: Statistics,
    *,
    mitigations: tuple[str, ...] = (),
    red_team_profiles: tuple[str, ...] = (),
    worst_case: Literal["highest", "lowest"] = "highest",
) -> EvalEvidence:
    """The eval's evidence from its runs (profile name -> evidence, each graded with `adjusted`).

    `worst_case`: `highest` keeps the best-eliciting profile (capability); `lowest` the one
    that pushed the score down most (a refusal rate under attack), with the interval
    [min of lows, min of highs], which covers the minimum by the same argument.

    Usable only when every run is: a profile that failed might have been the best one, so the
    eval fails closed with the most serious status among the failures.
    """
    m = len(parts)
    each = adjusted(statistics, m).confidence
    correction = f"best of {m} profiles, Bonferroni on the lower ends: each at {each:.4g}"
    red_teamed = bool(red_team_profiles) and all(
        parts[p].status is EvidenceStatus.ok for p in red_team_profiles if p in parts
    )
    common: dict[str, Any] = {
        "eval_id": eval_id,
        "profiles": parts,
        "correction": correction if m > 1 else None,
        "mitigations": list(mitigations),
        "red_teamed": red_teamed,
        "n_scored": sum(p.n_scored for p in parts.values()),
        "n_errors": sum(p.n_errors for p in parts.values()),
        "n_unparsed": sum(p.n_unparsed for p in parts.values()),
        "n_planned": sum(p.n_planned or 0 for p in parts.values()) or None,
        "scoring_methods": _summed(p.scoring_methods for p in parts.values()),
        "started_at": min((p.started_at for p in parts.values() if p.started_at), default=None),
        "completed_at": max((p.completed_at for p in parts.values() if p.completed_at), default=None),
    }
    failed = [(name, p) for name, p in parts.items() if p.status is not EvidenceStatus.ok]
    if failed:
        worst = min((p for _, p in failed), key=lambda p: _rank(p.status))
        why = "; ".join(f"{n}: {p.status.value}{f' ({p.message})' if p.message else ''}" for n, p in failed)
        return EvalEvidence(status=worst.status, message=f"profile run(s) not usable: {why}", **common)
    with_metric = {name: p for name, p in parts.items() if metric in p.metrics}
    if len(with_metric) < m:
        lacking = sorted(set(parts) - set(with_metric))
        return EvalEvidence(
            status=EvidenceStatus.error, message=f"profile run(s) {lacking} report no '{metric}'", **common
        )
    pick = max if worst_case == "highest" else min
    best_name = pick(with_metric, key=lambda n: (with_metric[n].metrics[metric].value, n))
    best = with_metric[best_name]
    estimates = [p.metrics[metric] for p in with_metric.values()]
    # The maximum is ruled out below t only when every profile's upper end is, and the profile
    # whose true score is the maximum errs there with at most (1 - c) / 2 on its own: the upper
    # ends need no correction (it would only cost samples). The lower ends keep it: the best
    # of m lower ends would otherwise confirm a crossing too often.
    highs = [e.at(statistics.confidence).high for e in estimates] if worst_case == "highest" else None
    joint = Estimate(
        value=best.metrics[metric].value,
        successes=best.metrics[metric].successes,
        n=best.metrics[metric].n,
        low=pick(e.low for e in estimates),
        high=max(highs) if highs is not None else pick(e.high for e in estimates),
        confidence=statistics.confidence,
        method=best.metrics[metric].method,
    )
    return EvalEvidence(
        status=EvidenceStatus.ok,
        message=f"best profile: {best_name}" if m > 1 else None,
        metrics={metric: joint},
        log_path=best.log_path,
        provenance=best.provenance,
        best_profile=best_name,
        **common,
    )


def _rank(status: EvidenceStatus) -> int:
    return _SEVERITY.index(status.value) if status.value in _SEVERITY else len(_SEVERITY)


def _summed(counts: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in counts:
        for k, v in c.items():
            out[k] = out.get(k, 0) + v
    return out
