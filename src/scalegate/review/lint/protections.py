"""Rules on the METR protections component: whether safeguards and weight security follow capability,
are tested against someone trying to break them, and cover internal use and weight release.
"""

from __future__ import annotations

from collections.abc import Iterator

from scalegate.policy.schema import CommitmentKind, Policy
from scalegate.review.lint.reads import (
    ADVERSARIAL,
    _capability_gated,
    _commitment_present,
    _level_facts,
    _thresholds,
)
from scalegate.review.lint.registry import Hit, _rule


@_rule(
    "L06",
    "NO_SAFEGUARD_EFFICACY_TEST",
    "warning",
    checks="No `safeguard_testing` commitment, no `post_mitigation` with `red_team: true`, and no "
    "protection of kind `deployment` or `alignment` whose description names adversarial testing "
    "(red-team, jailbreak, bug bounty, control eval).",
    why="Safeguards shown to work only by re-running capability evals on the safeguarded model have "
    "not been tested against anyone trying to break them.",
    source="OpenAI PF v2 changelog item 9; DeepMind FSF v1 deployment level 2; Anthropic ASL-3 "
    "Deployment Standard item 3",
    fix="Add `commitments.safeguard_testing` with an efficacy target, or a deployment protection that "
    "requires red-teaming.",
)
def _no_safeguard_test(policy: Policy) -> Iterator[Hit]:
    if _commitment_present(policy, CommitmentKind.safeguard_testing):
        return
    if policy.post_mitigation is not None and policy.post_mitigation.red_team:
        return  # post-mitigation evidence must come from red-team runs: tested by the gate itself
    if any(
        p.kind in ("deployment", "alignment") and ADVERSARIAL.search(p.description)
        for p in policy.protections.values()
    ):
        return
    yield Hit("protections", "no safeguard_testing commitment and no adversarially tested protection")


@_rule(
    "L16",
    "NO_SECURITY_LEVEL_MAPPING",
    "warning",
    checks="No protection of kind `security` is required by a capability-conditioned response; or such a "
    "protection has no `rand_sl`; or security is required only on post-mitigation levels.",
    why="Stolen weights bypass every deployment safeguard; security must follow capability, with "
    "attackers in and out of scope named.",
    source="DeepMind FSF v2/v3; Anthropic ASL-3 Security Standard; RAND 'Securing AI Model Weights' (2024)",
    fix="Declare security protections with `kind: security` and `rand_sl`, required on "
    "`pre_mitigation_at_least` levels.",
)
def _no_security_mapping(policy: Policy) -> Iterator[Hit]:
    required: dict[str, set[str]] = {}  # protection -> sides that require it
    for r in policy.responses:
        if r.require is None:
            continue
        sides = {"pre" if f.pre_mitigation_at_least else "post" for f in _level_facts(r.if_)}
        for p in r.require.protections:
            if sides and policy.protections[p].kind == "security":
                required.setdefault(p, set()).update(sides)
    if not required:
        yield Hit("protections", "no security protection is required at any capability level")
        return
    for p in sorted(required):
        if policy.protections[p].rand_sl is None:
            yield Hit(
                f"protections.{p}", f"security protection '{p}' maps to no RAND security level (rand_sl)"
            )
    if not any("pre" in s for s in required.values()):
        yield Hit(
            "responses",
            "security is required only on post-mitigation levels; theft bypasses mitigations",
        )


@_rule(
    "L07",
    "INTERNAL_DEPLOYMENT_GAP",
    "warning",
    checks="No action named like `internal_deployment` is gated by a capability-conditioned response, and "
    "there is no `internal_deployment` commitment.",
    why="The most capable systems are used internally first, often with fewer safeguards.",
    source="Apollo Research, 'AI Behind Closed Doors' (2025-04-17); OpenAI PF v2 scope; DeepMind FSF v3",
    fix="Gate `internal_deployment` in a response, or add `commitments.internal_deployment`.",
)
def _internal_gap(policy: Policy) -> Iterator[Hit]:
    internal = [a for a in policy.actions if "internal" in a]
    if any(_capability_gated(policy, a) for a in internal):
        return
    if _commitment_present(policy, CommitmentKind.internal_deployment):
        return
    what = f"{', '.join(internal)} is never gated" if internal else "no internal-deployment action"
    yield Hit("actions", f"{what} at any capability level and no internal_deployment commitment")


@_rule(
    "L31",
    "OPEN_WEIGHTS_UNGATED",
    "warning",
    checks="An open-weights action exists but no capability-conditioned response blocks it or requires "
    "anything before it.",
    why="Released weights cannot be recalled, and every safeguard can be fine-tuned away.",
    source="OpenAI PF v2 (fine-tune if weights are released); Anthropic RSP v1 containment risks",
    fix="Add a response that blocks the open-weights action at a capability level.",
)
def _open_weights(policy: Policy) -> Iterator[Hit]:
    for a in policy.actions:
        if "open_weights" in a and not _capability_gated(policy, a):
            yield Hit("responses", f"'{a}' is not gated at any capability level")


@_rule(
    "L40",
    "OPEN_WEIGHTS_WITHOUT_SANDBAGGING_CHECK",
    "warning",
    checks="An open-weights action exists, but no eval a threshold reads requires a sandbagging "
    "check (`elicitation.checks`, policy-wide or the eval's own).",
    why="A threshold is ruled out on what the model did, not what it can do; a model that hides a "
    "capability passes, and released weights let anyone unlock it (a few correct demonstrations "
    "unlock password-locked models).",
    source="Greenblatt et al. 2024 (password-locked models); Tice et al. 2024 (noise injection); "
    "UK AISI sandbagging auditing game (Taylor et al. 2025); OpenAI PF v2 §3.1 (sandbagging)",
    fix="Add `elicitation: {checks: [fine_tune_probe, noise_injection]}` (docs/design/sandbagging.md).",
)
def _open_weights_unchecked(policy: Policy) -> Iterator[Hit]:
    gated = [a for a in policy.actions if "open_weights" in a]
    if not gated:
        return
    conds = [cond for *_, t, _c in _thresholds(policy) for cond in (t.when, t.alert) if cond]
    read = {e for cond in conds for e in cond.evals()}
    if not any(policy.checks_for(e) for e in read if e in policy.evals):
        yield Hit("elicitation", f"{', '.join(gated)} is decided on evals no sandbagging check reads")
