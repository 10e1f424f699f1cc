"""What the rules read: the vocabularies and readings of the schema (level facts, gating, training and
release actions, core categories) that docs/lint.md defines once and rules of several components share.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import BaseModel

from scalegate.policy import conditions
from scalegate.policy.base import Cited
from scalegate.policy.conditions import ResponseCondition
from scalegate.policy.schema import CommitmentKind, Domain, Elicitation, Policy, Response, Threshold

MISUSE_CATEGORIES = frozenset({"cbrn", "bio", "chem", "nuclear", "cyber"})
CORE_CATEGORIES = MISUSE_CATEGORIES | {"ai_rnd", "autonomy"}
# a policy should cover one category of each group (L18)
CORE_GROUPS: dict[str, frozenset[str]] = {
    "biological/chemical (cbrn, bio or chem)": frozenset({"cbrn", "bio", "chem"}),
    "cyber": frozenset({"cyber"}),
    "AI R&D / autonomy (ai_rnd or autonomy)": frozenset({"ai_rnd", "autonomy"}),
}
MISALIGNMENT_CATEGORIES = frozenset({"autonomy", "misalignment"})
BOARD_ROLE = re.compile(r"board|trust|ltbt|director|oversight|committee|\bssc\b", re.I)
ADVERSARIAL = re.compile(r"red[- ]?team|adversarial|jailbreak|bug bount|control eval|penetration", re.I)
HEDGE = re.compile(
    r"\b(may(?! not)|might|could|aims? to|intends? to|seeks? to|strives? to|endeavou?rs? to|tries to"
    r"|try to|where (?:possible|feasible|practicable|appropriate)|as appropriate|if feasible"
    r"|best efforts?|hopes? to)\b",
    re.I,
)
# L01 vocabulary: who gains (actor profile) and how much / compared with what (magnitude, baseline)
ACTOR = re.compile(
    r"\b(?:novice|non-?expert|expert|amateur|lay(?:person|people)?\b|undergrad|graduate|ph\.?d|student"
    r"|researcher|scientist|engineer|professional|specialist|practitioner|actor|attacker|adversar"
    r"|individual|group|team|terrorist|criminal|hacker|operator|states?\b|nation|anyone|user|people"
    r"|person|human|insider|malicious|skilled|unskilled|resourced|basic training)",
    re.I,
)
# the model itself is the actor: no human actor profile to name
SELF_ACTING = re.compile(r"automat|autonom|on its own|without human", re.I)
MAGNITUDE = re.compile(
    r"\d|%|uplift|beyond|compar|relative|baseline|\bthan\b|without|significant|substantial|meaningful"
    r"|dramatic|material|severe|mass|catastroph|casualt|death|fatalit|damage|end-to-end|fully|autonom"
    r"|automat|accelerat|-level|equivalent|textbook|search|internet|tools|novel|large-scale|widespread"
    r"|infrastructure",
    re.I,
)


def _thresholds(policy: Policy) -> Iterator[tuple[str, Domain, str, Threshold, str]]:
    for dname, domain in policy.domains.items():
        for level, thr in domain.thresholds.items():
            yield dname, domain, level, thr, f"domains.{dname}.thresholds.{level}"


def _level_facts(cond: ResponseCondition) -> Iterator[ResponseCondition]:
    """Level facts through which rising capability can make the condition hold."""
    return (fact for _view, fact in conditions.level_facts(cond))


def _alert_facts(cond: ResponseCondition) -> Iterator[ResponseCondition]:
    """Alert facts through which a firing alert can make the condition hold."""
    return (f for f, positive in conditions.facts(cond) if f.alert is not None and f.alert == positive)


def _any_fact(cond: ResponseCondition, pred: Callable[[ResponseCondition], bool]) -> bool:
    return any(pred(node) for node, _positive in conditions.nodes(cond))


def _fact_level(fact: ResponseCondition) -> str:
    level = fact.pre_mitigation_at_least or fact.post_mitigation_at_least
    assert level is not None
    return level


def _ranks(policy: Policy) -> dict[str, int]:
    """Each level's rank, looked up in constant time (rules that compare every threshold with
    every response stay linear on a policy with a thousand levels)."""
    return {level: i for i, level in enumerate(policy.levels)}


def _fact_ranks(policy: Policy, resp: Response, dname: str, ranks: dict[str, int] | None = None) -> list[int]:
    """Ranks of the levels at which capability in domain `dname` can make `resp` apply."""
    ranks = ranks if ranks is not None else _ranks(policy)
    return [ranks[_fact_level(f)] for f in _level_facts(resp.if_) if f.domains is None or dname in f.domains]


def capability_conditioned(resp: Response) -> bool:
    """Whether a level fact (not under `not`) can make the response apply: it reacts to capability."""
    return next(_level_facts(resp.if_), None) is not None


def _gates(policy: Policy, resp: Response, action: str) -> bool:
    """Whether the response blocks the action or requires something before it."""
    if action in resp.block:
        return True
    return resp.require is not None and action in (resp.require.before or policy.actions)


def _capability_gated(policy: Policy, action: str) -> bool:
    return any(capability_conditioned(r) and _gates(policy, r, action) for r in policy.responses)


def response_clause(policy: Policy, index: int) -> str:
    """`responses[3] (pause-at-critical)`: the path, and the id a decision would cite."""
    rid = policy.responses[index].id
    return f"responses[{index}]" + (f" ({rid})" if rid else "")


def _commitment_present(policy: Policy, kind: CommitmentKind) -> bool:
    return kind in policy.commitments


def _binding(policy: Policy, kind: CommitmentKind) -> bool:
    """A commitment the policy makes, not one it hedges (`binding: false`): only these stand in
    for a mechanism (a forecast for an alert, an audit for outside access)."""
    c = policy.commitments.get(kind)
    return c is not None and c.binding


def _missing_commitments(policy: Policy, *kinds: CommitmentKind) -> list[str]:
    return [k.value for k in kinds if k not in policy.commitments]


def training_actions(policy: Policy) -> list[str]:
    return [a for a in policy.actions if a == "continue_training" or "train" in a]


def release_actions(policy: Policy) -> list[str]:
    """Actions that put the model in others' hands: external deployment and weight release. A
    policy that names none so gets every action that is neither training nor internal."""
    out = [a for a in policy.actions if ("deploy" in a and "internal" not in a) or "open_weights" in a]
    training = training_actions(policy)
    return out or [a for a in policy.actions if a not in training and "internal" not in a] or policy.actions


def _is_board(policy: Policy, role: str) -> bool:
    roles = policy.governance.roles if policy.governance else {}
    return bool(BOARD_ROLE.search(role) or BOARD_ROLE.search(roles.get(role, "")))


def _strong(e: Elicitation | None) -> bool:
    return e is not None and bool(
        e.without_safety_training
        or e.fine_tune_for_misuse
        or e.best_scaffolds
        or e.treat_as_lower_bound
        or e.sandbagging is not None
        # profiles beyond the task's own prompt are elicitation the assessment actually runs
        or any(name != "zero_shot" for name in e.profiles or [])
    )


def _cited(obj: Any, path: str) -> Iterator[tuple[str, Cited]]:
    """Every clause that can carry a citation, with its dotted path."""
    if isinstance(obj, Cited):
        yield path, obj
    if isinstance(obj, BaseModel):
        for name in type(obj).model_fields:
            yield from _cited(getattr(obj, name), f"{path}.{name}" if path else name)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from _cited(value, f"{path}.{getattr(key, 'value', key)}")
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from _cited(value, f"{path}[{i}]")


def _gated_actions(policy: Policy, r: Response) -> set[str]:
    """What a response holds back: the actions it blocks or requires something before."""
    gated = set(r.block)
    if r.require is not None:
        gated |= set(r.require.before or policy.actions)
    return gated
