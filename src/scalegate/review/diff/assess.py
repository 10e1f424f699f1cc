"""`assess_changes`: every assessor in policy order over one shared context, and the guarantee
that a policy whose text changed is never reported as unchanged."""

from __future__ import annotations

from scalegate.policy.schema import Policy
from scalegate.review.diff.change import Change
from scalegate.review.diff.context import Context
from scalegate.review.diff.domains import assess_domains
from scalegate.review.diff.governance import (
    assess_cadence,
    assess_commitments,
    assess_governance,
    assess_marginal_risk,
)
from scalegate.review.diff.levels import assess_levels, assess_meta
from scalegate.review.diff.measurement import (
    assess_elicitation,
    assess_evals,
    assess_post_mitigation,
    assess_statistics,
)
from scalegate.review.diff.protections import assess_protections, assess_safety_cases
from scalegate.review.diff.responses import assess_responses
from scalegate.review.diff.structural import diff_policies

#: The policy's fields the assessors above compare; any other is reported as not assessed.
_POLICY_FIELDS = (
    "scalegate",
    "policy",
    "levels",
    "actions",
    "statistics",
    "evidence",
    "evals",
    "elicitation",
    "post_mitigation",
    "domains",
    "protections",
    "safety_cases",
    "responses",
    "cadence",
    "governance",
    "commitments",
    "marginal_risk",
)


def assess_changes(old: Policy, new: Policy) -> list[Change]:
    """Every change from `old` to `new` with its direction, in policy order."""
    ctx = Context.of(old, new)
    assess_meta(ctx)
    assess_levels(ctx)
    assess_statistics(ctx)
    assess_evals(ctx)
    assess_elicitation(ctx, "elicitation", old.elicitation, new.elicitation)
    assess_post_mitigation(ctx)
    assess_domains(ctx)
    assess_protections(ctx)
    assess_safety_cases(ctx)
    assess_responses(ctx)
    assess_cadence(ctx)
    assess_governance(ctx)
    assess_commitments(ctx)
    assess_marginal_risk(ctx)
    ctx.rest("policy", old, new, _POLICY_FIELDS)
    if not ctx.out:
        # nothing assessed but the text differs: never report "no changes" for a change
        for line in diff_policies(old, new):
            path = line.split(" ", 1)[1].split(":", 1)[0].split(" ", 1)[0]
            ctx.add("unclear", path, line, "not assessed")
    return ctx.out
