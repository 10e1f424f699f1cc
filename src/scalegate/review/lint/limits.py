"""Rules on the METR limits component: which capabilities a policy watches, and whether each threshold
says precisely enough what crossing it means.
"""

from __future__ import annotations

from collections.abc import Iterator

from scalegate.policy.schema import CommitmentKind, Policy
from scalegate.review.lint.reads import (
    ACTOR,
    CORE_CATEGORIES,
    CORE_GROUPS,
    MAGNITUDE,
    MISALIGNMENT_CATEGORIES,
    MISUSE_CATEGORIES,
    SELF_ACTING,
    _commitment_present,
    _fact_ranks,
    _missing_commitments,
    _ranks,
    _thresholds,
    capability_conditioned,
)
from scalegate.review.lint.registry import Hit, _rule


@_rule(
    "L01",
    "VAGUE_THRESHOLD",
    "warning",
    checks="A threshold's `description` has fewer than 4 words; or names no magnitude or baseline "
    "(uplift, beyond, compared with, a number, expert-level, ...); or, for a capability/outcome "
    "threshold in a misuse domain (cbrn, bio, chem, nuclear, cyber), names no actor profile "
    "(novice, expert, attacker, state, ...) unless the model itself acts (automates, autonomously); "
    "or repeats another level's description in the same domain.",
    why="A threshold that does not say who gains how much over what baseline is decided by an opaque "
    "internal judgement, not by the policy.",
    source="METR common elements (metr.org/common-elements); LessWrong on RSP v2; SaferAI ratings "
    "(Microsoft, Anthropic v3)",
    fix="State the actor profile, the baseline (e.g. 2023 search and textbooks) and the harm magnitude "
    "in the threshold's description.",
)
def _vague_threshold(policy: Policy) -> Iterator[Hit]:
    same: dict[tuple[str, str], list[str]] = {}  # (domain, normalised description) -> levels
    for dname, _domain, level, thr, _clause in _thresholds(policy):
        same.setdefault((dname, thr.description.strip().lower()), []).append(level)
    for dname, domain, level, thr, clause in _thresholds(policy):
        text = thr.description
        gaps: list[str] = []
        if len(text.split()) < 4:
            gaps.append("is too short to define a capability")
        if not MAGNITUDE.search(text):
            gaps.append("names no magnitude or baseline")
        misuse = domain.category in MISUSE_CATEGORIES and thr.kind in ("capability", "outcome")
        if misuse and not ACTOR.search(text) and not SELF_ACTING.search(text):
            gaps.append("names no actor profile (who is uplifted)")
        twins = [lv for lv in same[(dname, text.strip().lower())] if lv != level]
        if twins:
            named = ", ".join(twins[:5]) + (f" and {len(twins) - 5} more" if len(twins) > 5 else "")
            gaps.append(f"is word for word the description of level(s) {named}")
        if gaps:
            yield Hit(clause, f"{dname} '{level}' threshold description {'; '.join(gaps)}: {text!r}")


@_rule(
    "L02",
    "NO_OPERATIONAL_EVAL",
    "warning",
    checks="A threshold has no `when` condition (error when no threshold of the policy has one; "
    "info when `not_operationalized` explains what is left to judgement).",
    why="Without a pre-registered pass/fail condition, eval results do not translate into a level; "
    "scalegate treats such a threshold as unknown (fail closed), so it can only ever block.",
    source="aisafetyclaims.org on OpenAI; Seoul commitment II (assess how close a model is)",
    fix="Add `when: {eval: NAME, at_least: X}` (or a suite); if the framework leaves it to judgement, "
    "say so in `not_operationalized`.",
)
def _no_operational_eval(policy: Policy) -> Iterator[Hit]:
    all_thr = list(_thresholds(policy))
    if all_thr and all(thr.when is None for *_, thr, _c in all_thr):
        yield Hit(
            "domains",
            f"none of the policy's {len(all_thr)} thresholds has a `when` condition: no eval result "
            "can ever move a level, so the gate decides on prose alone",
            severity="error",
        )
        return
    for dname, _d, level, thr, clause in all_thr:
        if thr.when is not None:
            continue
        if thr.not_operationalized:
            yield Hit(
                clause,
                f"{dname} '{level}' is prose only ({thr.not_operationalized}); the gate treats it as unknown",
                severity="info",
            )
        else:
            yield Hit(
                clause,
                f"{dname} '{level}' has no `when` condition and no `not_operationalized` explanation",
            )


@_rule(
    "L09",
    "THRESHOLD_TOO_HIGH",
    "warning",
    checks="In a core domain (cbrn, bio, chem, nuclear, cyber, ai_rnd, autonomy), the lowest threshold "
    "that a blocking or requiring response reaches is at the top level (no intermediate tier), or "
    "no threshold of the domain is reached by one at all.",
    why="If the first tier that changes anything is the catastrophic one, nothing changes until the "
    "model is near catastrophe.",
    source="Midas Project, 'How Anthropic's AI Safety Framework Misses the Mark' (2025-07-08); "
    "Zvi on OpenAI PF beta",
    fix="Add a threshold below the top level and a response that blocks or requires protections there.",
)
def _threshold_too_high(policy: Policy) -> Iterator[Hit]:
    top = len(policy.levels) - 1
    level_ranks = _ranks(policy)
    for dname, domain in policy.domains.items():
        if domain.category not in CORE_CATEGORIES or not domain.thresholds:
            continue
        gating = [
            rank
            for r in policy.responses
            if r.block or r.require is not None
            for rank in _fact_ranks(policy, r, dname, level_ranks)
        ]
        lowest = min(gating, default=None)
        ranks = sorted(level_ranks[lv] for lv in domain.thresholds)
        gated = [t for t in ranks if lowest is not None and lowest <= t]
        if gated and gated[0] == top:
            yield Hit(
                f"domains.{dname}",
                f"the first tier of {dname} that blocks or requires anything is the top level "
                f"'{policy.levels[top]}'",
            )
        elif not gated:  # worse still: the rule must not fall silent when the last gate goes
            yield Hit(f"domains.{dname}", f"no tier of {dname} blocks or requires anything")


@_rule(
    "L18",
    "MISSING_DOMAIN",
    "warning",
    checks="No domain with thresholds in one of the core groups: bio/chem (`category` cbrn, bio or chem), "
    "cyber, AI R&D/autonomy (ai_rnd or autonomy). A domain in the group that has no thresholds "
    "(status research / ongoing_assessment) does not count.",
    why="An omitted core risk is a risk no eval watches; exclusions should be justified, not silent.",
    source="SaferAI ratings (Microsoft, Amazon: no justification for excluded risks)",
    fix="Add a domain with thresholds for the group (and set each domain's `category`).",
)
def _missing_domain(policy: Policy) -> Iterator[Hit]:
    for group, cats in CORE_GROUPS.items():
        covering = [n for n, d in policy.domains.items() if d.category in cats]
        if any(policy.domains[n].thresholds for n in covering):
            continue
        extra = (
            f" ({', '.join(covering)} is tracked without thresholds)"
            if covering
            else " (check each domain's `category`)"
        )
        yield Hit("domains", f"no domain with thresholds covers {group}{extra}")


@_rule(
    "L17",
    "NO_MISALIGNMENT_COVERAGE",
    "warning",
    checks="No domain of category autonomy or misalignment has thresholds, and no capability-conditioned "
    "response requires a protection of kind `alignment` or a safety case with a control or "
    "propensity argument.",
    why="Policies that only watch misuse leave a model that undermines oversight or exfiltrates itself "
    "outside the gate.",
    source="EA Forum, 'We read every lab's safety plan' (2025); DeepMind FSF v2 instrumental reasoning "
    "levels; OpenAI PF v2 research categories",
    fix="Add an autonomy/misalignment domain, or require an `alignment` protection (or a safety case "
    "with control/propensity arguments) at a capability level.",
)
def _no_misalignment(policy: Policy) -> Iterator[Hit]:
    if any(d.category in MISALIGNMENT_CATEGORIES and d.thresholds for d in policy.domains.values()):
        return
    for r in policy.responses:
        if r.require is None or not capability_conditioned(r):
            continue
        if any(policy.protections[p].kind == "alignment" for p in r.require.protections):
            return
        case = policy.safety_cases.get(r.require.safety_case or "")
        if case is not None and {"control", "propensity"} & set(case.arguments):
            return
    yield Hit(
        "domains",
        "no autonomy/misalignment domain with thresholds and no alignment protection or control/propensity "
        "safety case required at any level",
    )


@_rule(
    "L19",
    "NO_RESIDUAL_RISK_STATEMENT",
    "warning",
    checks="`commitments` lacks `risk_tolerance` (what risk is acceptable) or `residual_risk` "
    "(assessment of the risk left after mitigations).",
    why="Without a stated tolerance, 'adequately mitigated' has no yardstick; thresholds alone are "
    "risk management without acceptance criteria.",
    source="SaferAI, 'RSPs Are Risk Management Done Wrong'; DeepMind FSF v3 §1.6; OpenAI PF v2 "
    "Safeguards Report",
    fix="Add `commitments.risk_tolerance` and `commitments.residual_risk`.",
)
def _no_residual_risk(policy: Policy) -> Iterator[Hit]:
    missing = _missing_commitments(policy, CommitmentKind.risk_tolerance, CommitmentKind.residual_risk)
    if missing:
        yield Hit("commitments", f"no {' or '.join(missing)} commitment")


@_rule(
    "L25",
    "NO_UNKNOWN_UNKNOWNS",
    "warning",
    checks="`commitments` lacks `unknown_unknowns`.",
    why="The tracked domains are the risks known when the policy was written; new ones need a process "
    "to be found and added.",
    source="SaferAI rating of OpenAI PF v2 (removed the beta's unknown-unknowns work); OpenAI PF beta",
    fix="Add `commitments.unknown_unknowns` describing how new risk categories are sought.",
)
def _no_unknown_unknowns(policy: Policy) -> Iterator[Hit]:
    if not _commitment_present(policy, CommitmentKind.unknown_unknowns):
        yield Hit("commitments", "no process for identifying new risk categories (unknown_unknowns)")
