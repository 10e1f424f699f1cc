"""Rules on the METR accountability component: who owns and may override a decision, who outside is
told or can check, how the policy changes, and whether its clauses can be cited and relied on.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from scalegate.policy import conditions
from scalegate.policy.schema import CommitmentKind, Policy
from scalegate.review.lint.reads import (
    HEDGE,
    _binding,
    _cited,
    _commitment_present,
    _is_board,
    _missing_commitments,
    _thresholds,
    release_actions,
    response_clause,
)
from scalegate.review.lint.registry import Hit, _rule


@_rule(
    "L12",
    "NO_DECISION_OWNER",
    "error",
    checks="`governance` is missing or has no `roles`, or no release action (external deployment, open "
    "weights) is under `governance.signoff` (warning: some release actions are, others not).",
    why="Without named decision-makers and a sign-off chain, nobody is accountable for a go decision.",
    source="Seoul commitment VI; Anthropic RSP v2 §7; OpenAI PF v2 App. B",
    fix="Declare `governance.roles` and `governance.signoff: {external_deployment: [rso, ceo], ...}`.",
)
def _no_decision_owner(policy: Policy) -> Iterator[Hit]:
    g = policy.governance
    if g is None or not g.roles:
        yield Hit("governance", "no governance roles: nobody owns the decision")
        return
    release = release_actions(policy)
    signed = [a for a in release if g.signoff.get(a)]
    if not signed:
        yield Hit("governance.signoff", f"no sign-off for {', '.join(release)}")
        return
    for a in release:
        if a not in signed:
            yield Hit("governance.signoff", f"'{a}' needs no sign-off", severity="warning")


@_rule(
    "L30",
    "UNGOVERNED_OVERRIDE",
    "warning",
    checks="`governance.signoff` names no roles for `override`.",
    why="Frameworks let someone lift a gate (a board reversing a decision, a benefit exception); a "
    "policy that does not say who leaves that exception ungoverned. scalegate's ledger refuses every "
    "override without `override` roles (L35), so such an exception could only be taken off the record.",
    source="OpenAI PF v2 App. B (Board SSC may reverse); Anthropic RSP v2 §7",
    fix="Add `governance.signoff.override: [board]` (a body independent of the decision-makers).",
)
def _ungoverned_override(policy: Policy) -> Iterator[Hit]:
    g = policy.governance  # fires on absence too: no governance names no override roles
    if g is None or not g.signoff.get("override"):
        yield Hit("governance.signoff", "no roles must sign an override")


@_rule(
    "L35",
    "OVERRIDES_FAIL_CLOSED",
    "info",
    checks="`governance` is declared and `governance.signoff.override` is missing or names no roles "
    "(a policy without `governance` gets L12 instead).",
    why="The ledger allows an override only when every role under `governance.signoff.override` signs "
    "it; with none named it refuses every override (fail closed): a blocked action stays blocked "
    "until a new assessment or a new policy allows it.",
    source="scalegate ledger (docs/design/ledger.md: no override where the policy names no override roles)",
    fix="If the policy allows exceptions, name who must sign one: `governance.signoff.override: [board]` "
    "(roles declared under `governance.roles`); if it allows none, nothing needs to change.",
)
def _overrides_fail_closed(policy: Policy) -> Iterator[Hit]:
    g = policy.governance
    if g is None or g.signoff.get("override"):
        return
    how = "names no roles (`override: []`)" if "override" in g.signoff else "has no `override` entry"
    yield Hit(
        "governance.signoff",
        f"governance.signoff {how}: the ledger will refuse every override of this policy's decisions",
    )


@_rule(
    "L13",
    "NO_BOARD_OVERRIDE_OR_NOTICE",
    "warning",
    checks="No board-like role (key or title naming board, trust, LTBT, directors, oversight, committee) "
    "is in `governance.reverse` or in any `governance.inform_before` list.",
    why="A board that is neither told before a go decision nor able to reverse it cannot oversee it.",
    source="OpenAI PF beta/v2 (Board can reverse); Anthropic RSP v2 (shared with Board and LTBT before "
    "proceeding)",
    fix="Add `governance.reverse: [board]` and/or "
    "`governance.inform_before: {external_deployment: [board]}`.",
)
def _no_board(policy: Policy) -> Iterator[Hit]:
    g = policy.governance  # fires on absence too: no governance section names no board
    roles = set(g.reverse) | {r for rs in g.inform_before.values() for r in rs} if g is not None else set()
    if not any(_is_board(policy, r) for r in roles):
        yield Hit("governance", "no board-like role is informed before go decisions or can reverse them")


@_rule(
    "L14",
    "NO_NONCOMPLIANCE_CHANNEL",
    "warning",
    checks="`commitments` lacks `noncompliance_reporting` (info: it has one but lacks `anti_retaliation` "
    "or `no_non_disparagement`).",
    why="Staff who see the policy broken need a channel that does not run through the officer who "
    "broke it, and protection for using it.",
    source="Anthropic RSP v2 §7.1; OpenAI PF v2 §5.1; xAI RMF",
    fix="Add `commitments.noncompliance_reporting` (anonymous; `scalegate` ledger noncompliance reports), "
    "`anti_retaliation`, `no_non_disparagement`.",
)
def _no_noncompliance(policy: Policy) -> Iterator[Hit]:
    missing = _missing_commitments(
        policy,
        CommitmentKind.noncompliance_reporting,
        CommitmentKind.anti_retaliation,
        CommitmentKind.no_non_disparagement,
    )
    if CommitmentKind.noncompliance_reporting.value in missing:
        yield Hit("commitments", f"no {', '.join(missing)} commitment")
    elif missing:
        yield Hit("commitments", f"no {' or '.join(missing)} commitment", severity="info")


@_rule(
    "L08",
    "NO_EXTERNAL_ACCOUNTABILITY",
    "warning",
    checks="`commitments` has neither a binding `third_party_audit` nor a binding `external_evaluation` "
    "(a hedged one, `binding: false`, gives outsiders no access to count on).",
    why="Self-assessment under NDA is not an audit; outsiders need access to check the claims.",
    source="METR, 'Clarifying METR's auditing role'; SaferAI on Meta; Seoul commitment VIII",
    fix="Add `commitments.third_party_audit` (e.g. an auditor verifies the ledger's audit bundle) and/or "
    "`commitments.external_evaluation`.",
)
def _no_external(policy: Policy) -> Iterator[Hit]:
    kinds = (CommitmentKind.third_party_audit, CommitmentKind.external_evaluation)
    if not any(_binding(policy, k) for k in kinds):
        yield Hit("commitments", "no binding third_party_audit or external_evaluation commitment")


@_rule(
    "L15",
    "OPAQUE_POLICY_CHANGES",
    "warning",
    checks="`governance.changes` is missing, or lacks `public_changelog: true`, "
    "`publish_before_effective: true` or `notice_days` > 0 (info: empty `consult`).",
    why="Unannounced weakening: changes noted only in a PDF, or made days before they bite.",
    source="Midas Project Watchtower (Anthropic, 2025-05-14); METR key components (accountability)",
    fix="Set `governance.changes: {approve: [board], consult: [...], notice_days: 30, "
    "public_changelog: true, publish_before_effective: true}`.",
)
def _opaque_changes(policy: Policy) -> Iterator[Hit]:
    ch = policy.governance.changes if policy.governance else None
    if ch is None:
        yield Hit("governance.changes", "no change process: nothing says who may replace this policy, or how")
        return
    missing = [
        text
        for ok, text in (
            (ch.public_changelog, "no public change log"),
            (ch.publish_before_effective, "changes need not be published before they take effect"),
            (ch.notice_days > 0, "no notice period"),
        )
        if not ok
    ]
    if missing:
        yield Hit("governance.changes", "; ".join(missing))
    if not ch.consult:
        yield Hit("governance.changes.consult", "nobody is consulted before a change", severity="info")


@_rule(
    "L26",
    "NO_PERIODIC_REVIEW",
    "warning",
    checks="`commitments.periodic_review` is missing, or has no `every_months`, or `every_months` > 12.",
    why="A policy reviewed only when convenient drifts behind the science and the models.",
    source="OpenAI PF v2 (at least yearly); DeepMind FSF v3 (at least yearly); Anthropic RSP v2 "
    "(safeguards re-approved at least annually)",
    fix="Add `commitments.periodic_review` with `every_months: 12` or less.",
)
def _no_review(policy: Policy) -> Iterator[Hit]:
    c = policy.commitments.get(CommitmentKind.periodic_review)
    if c is None:
        yield Hit("commitments", "no periodic_review commitment")
    elif c.every_months is None:
        yield Hit("commitments.periodic_review", "periodic review without a schedule (every_months)")
    elif c.every_months > 12:
        yield Hit(
            "commitments.periodic_review", f"reviewed every {c.every_months:g} months, less than yearly"
        )


@_rule(
    "L20",
    "NO_PUBLIC_REPORTING",
    "warning",
    checks="`commitments.public_reporting` is missing, or its `audience` is set and is not `public`.",
    why="Delayed or absent disclosure leaves the public unable to check the policy was followed.",
    source="Seoul commitment VII; UK parliamentarians' letter (2025-08-29) on Gemini 2.5 Pro",
    fix="Add `commitments.public_reporting` (eval results / system card at or before deployment).",
)
def _no_public_reporting(policy: Policy) -> Iterator[Hit]:
    c = policy.commitments.get(CommitmentKind.public_reporting)
    if c is None:
        yield Hit("commitments", "no public_reporting commitment")
    elif c.audience not in (None, "public"):
        yield Hit("commitments.public_reporting.audience", f"'public' reporting addressed to {c.audience}")


@_rule(
    "L21",
    "NO_GOV_NOTICE",
    "warning",
    checks="`commitments` lacks `government_notice`.",
    why="Governments cannot prepare for a crossing, or an unmitigated risk, they are not told about.",
    source="Anthropic RSP v2 (notice to the U.S. Government); DeepMind FSF v2/v3 disclosure",
    fix="Add `commitments.government_notice`.",
)
def _no_gov_notice(policy: Policy) -> Iterator[Hit]:
    if not _commitment_present(policy, CommitmentKind.government_notice):
        yield Hit("commitments", "no government_notice commitment")


@_rule(
    "L23",
    "HEDGED_LANGUAGE",
    "warning",
    checks="A commitment has `binding: false`, or a commitment's `text`, a response's `description` or "
    "`obligations` hedge (may, might, could, aim to, intend to, strive, where possible, as appropriate, "
    "best effort; 'may not' is a prohibition and passes).",
    why="'May' and 'aim to' turn an obligation into an option, and an option is not a gate.",
    source="DeepMind FSF v1 ('exploratory'); xAI RMF Aug 2025 vs draft ('would' -> 'may')",
    fix="Rephrase as 'will' / 'must', or mark what is genuinely optional outside the commitments.",
)
def _hedged(policy: Policy) -> Iterator[Hit]:
    for kind, c in policy.commitments.items():
        clause = f"commitments.{kind.value}"
        if not c.binding:
            yield Hit(clause, f"{kind.value} is marked non-binding (binding: false)")
        elif m := HEDGE.search(c.text):
            yield Hit(clause, f"{kind.value} hedges with '{m.group(0)}': {c.text!r}")
    for i, r in enumerate(policy.responses):
        for field, text in [
            ("description", r.description or ""),
            *(("obligations", o) for o in r.obligations),
        ]:
            if m := HEDGE.search(text):
                yield Hit(
                    f"responses[{i}].{field}", f"{response_clause(policy, i)} hedges with '{m.group(0)}'"
                )


@_rule(
    "L32",
    "UNNAMED_RESPONSE",
    "info",
    checks="A response has no `id`.",
    why="Decisions cite a response by id; without one they cite `responses[i]`, which changes meaning "
    "when responses are reordered.",
    source="scalegate ledger design (decisions must stay recomputable and citable)",
    fix="Give every response a stable `id`.",
)
def _unnamed(policy: Policy) -> Iterator[Hit]:
    for i, r in enumerate(policy.responses):
        if not r.id:
            yield Hit(f"responses[{i}]", f"response {i} has no id; decisions will cite 'responses[{i}]'")


@_rule(
    "L33",
    "UNVERIFIED_CLAUSE",
    "info",
    checks="A clause carries `tag: U` (unverified against any source).",
    why="An unverified clause may not say what the framework says; it should be checked before anyone "
    "relies on it.",
    source="DOMAIN spec verification legend (V / V-2 / S / U)",
    fix="Check the clause against the primary text and update `tag`.",
)
def _unverified(policy: Policy) -> Iterator[Hit]:
    for path, clause in _cited(policy, ""):
        if clause.tag == "U":
            yield Hit(path, f"clause tagged unverified (U){f': {clause.source}' if clause.source else ''}")


@_rule(
    "L34",
    "SAMPLES_CANNOT_DECIDE",
    "warning",
    checks="`evidence.min_samples` is below 20, or an eval's planned number of samples (its `limit` "
    "argument, else `min_samples`) is too small for even a zero score (for `at_least`) or a perfect "
    "one (for `at_most`) to rule a threshold on it out at the policy's confidence with an exact "
    "interval: n <= log((1 - c) / 2) / log(1 - t).",
    why="An eval too small to rule a level out can only ever say 'cannot rule out': the threshold "
    "then blocks forever, or, once someone lowers the confidence to make it move, stops protecting. "
    "Below 20 samples the usual intervals also miss their level (Wilson's one-sided error reaches "
    "5-16% at n = 20 near high thresholds).",
    source="scalegate statistics notes (docs/design/statistics.md); planned-n check",
    fix="Raise the eval's `limit` (or `evidence.min_samples`) to at least the number named.",
)
def _samples_cannot_decide(policy: Policy) -> Iterator[Hit]:
    if policy.evidence.min_samples < 20:
        yield Hit(
            "evidence.min_samples",
            f"min_samples is {policy.evidence.min_samples}: below 20 an interval is too wide to decide, and "
            "Wilson's misses its level",
        )
    tail = (1 - policy.statistics.confidence) / 2
    for dname, _domain, level, thr, path in _thresholds(policy):
        for bound, _positive in filter(lambda bp: bp[1], conditions.bounds(thr.when)):
            op, eval_id, value = bound.op, bound.eval, bound.value
            spec = policy.evals.get(eval_id)
            limit = spec.args.get("limit") if spec is not None else None
            planned = limit if isinstance(limit, int) and limit > 0 else policy.evidence.min_samples
            edge = 1 - value if op == "at_least" else value  # the chance a perfect result clears it
            if not 0 < edge < 1:
                continue
            needed = math.floor(math.log(tail) / math.log(edge)) + 1
            if planned < needed:
                yield Hit(
                    f"{path}.when",
                    f"{dname} {level}: eval '{eval_id}' plans {planned} samples; even a "
                    f"{'zero' if op == 'at_least' else 'perfect'} score rules `{op}: {value:g}` out only "
                    f"from {needed} samples at confidence {policy.statistics.confidence:g}",
                )
