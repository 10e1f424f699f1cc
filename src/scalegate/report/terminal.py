"""The terminal scorecard and decision (rich)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from scalegate.assessment import Assessment
from scalegate.evals.evidence import EvalEvidence
from scalegate.gates import ActionStatus, basis
from scalegate.policy.base import EvidenceStatus
from scalegate.policy.schema import Policy
from scalegate.report.formats import renders
from scalegate.report.readings import because, level_reading, threshold_reading
from scalegate.safety_case import CaseResult, ClaimResult
from scalegate.scoring import DomainScore

_STATE_STYLE = {
    "crossed": "bold red",
    "inconclusive": "yellow",
    "below": "green",
    "unknown": "magenta",
}


def evidence_table(a: Assessment, policy: Policy | None = None) -> Table:
    """One row per eval (and per eval's post-mitigation evidence); an eval run under several
    profiles shows its best profile's score and n, then one dim row per profile. With the
    policy, chance is shown beside each score and evals no threshold reads are marked as
    controls: a near-chance score then reads as what it is."""
    t = Table(title="Evidence", title_justify="left", expand=False)
    rows = [(eval_id, ev) for eval_id, ev in a.evidence.items()]
    rows += [(f"{eval_id} (post-mitigation)", ev) for eval_id, ev in (a.post_evidence or {}).items()]
    levels = {e.confidence for _, ev in rows for e in ev.metrics.values()}
    interval = f"{levels.pop():.0%} interval" if len(levels) == 1 else "interval"
    chance = {k: e.chance for k, e in policy.evals.items()} if policy else {}
    show_chance = any(c is not None for c in chance.values())
    gated = _gated_evals(policy) if policy else set()
    for col in ("eval", "n", "score", interval, *(["chance"] if show_chance else []), "status"):
        t.add_column(col, overflow="fold")
    for name, ev in rows:
        base = name.removesuffix(" (post-mitigation)")
        label = f"{name} (control)" if policy and base not in gated else name
        extra = [_chance(chance.get(base))] if show_chance else []
        _evidence_row(t, label, ev, extra=extra)
        for profile, part in ev.profiles.items():
            level = next((f" ({e.confidence:.2%})" for e in part.metrics.values()), "")
            _evidence_row(t, f"  {profile}{level}", part, dim=True, extra=[""] * len(extra))
    for eval_id, missing in a.scorecard.evidence_status.items():
        if eval_id not in a.evidence:
            extra = [_chance(chance.get(eval_id))] if show_chance else []
            t.add_row(eval_id, "-", "-", "-", *extra, Text(missing.value, style="bold red"))
    return t


def _gated_evals(policy: Policy) -> set[str]:
    """Evals some threshold or alert reads; the others are controls."""
    conds = [
        c for d in policy.domains.values() for t in d.thresholds.values() for c in (t.when, t.alert) if c
    ]
    return set().union(*(c.evals() for c in conds))


def _chance(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _evidence_row(
    t: Table, name: str, ev: EvalEvidence, dim: bool = False, extra: list[str] | None = None
) -> None:
    est = next(iter(ev.metrics.values()), None)
    status = Text(ev.status.value, style="green" if ev.usable else "bold red")
    if ev.red_teamed:
        status.append("  red-teamed", style="cyan")
    if ev.message:
        status.append(f"  {ev.message[:120]}", style="dim")
    n = str(est.n) if est and ev.profiles else str(ev.n_scored)
    if not ev.profiles and ev.n_planned and ev.n_planned != ev.n_scored:
        n += f"/{ev.n_planned}"
    t.add_row(
        Text(name),  # names from the policy: never read as markup
        n,
        f"{est.value:.3f}" if est else "-",
        Text(f"[{est.low:.3f}, {est.high:.3f}]") if est else "-",
        *(Text(x) for x in extra or []),
        status,
        style="dim" if dim else None,
    )


def scorecard_table(a: Assessment) -> Table:
    t = Table(title="Scorecard", title_justify="left")
    for col in ("domain", "pre-mitigation", "post-mitigation", "alerts", "thresholds"):
        t.add_column(col)
    post = a.scorecard.post_mitigation.domains
    for name, d in a.scorecard.pre_mitigation.domains.items():
        states = Text()
        pre_levels = {t.level for t in d.thresholds}
        post_only = [t for t in post[name].thresholds if t.level not in pre_levels]
        for thr in [*d.thresholds, *post_only]:
            label, _, rule = threshold_reading(thr).partition(" (")
            states.append(f"{thr.name}{' (post)' if thr in post_only else ''}: ")
            states.append(label, style=_STATE_STYLE.get(thr.when.state.value, ""))
            if rule:
                states.append(f" ({rule}", style="yellow")
            states.append("  ")
        t.add_row(
            Text(f"{name} ({d.title})"),
            _level(d),
            _level(post[name]),
            Text(", ".join(d.alerts) or "none", style="yellow" if d.alerts else "green"),
            states,
        )
    return t


_TONE_STYLE = {"muted": "dim", "unknown": "magenta", None: "bold"}


def _level(d: DomainScore) -> Text:
    text, tone = level_reading(d)
    return Text(text, style=_TONE_STYLE[tone])


_ACTION_STYLE = {"allowed": "bold green", "blocked": "bold red", "needs_signoff": "bold yellow"}


def decision_table(a: Assessment, policy: Policy | None = None) -> Table:
    t = Table(title="Decision", title_justify="left")
    grounds = basis(policy, a.scorecard) if policy is not None else {}
    t.add_column("action")
    t.add_column("status")
    t.add_column("because")
    for name, ad in a.decision.actions.items():
        why = Text()
        for i, (clause, text) in enumerate(because(name, ad, grounds)):
            why.append("\n" if i else "")
            if clause in ("sign-off", "inform"):
                why.append(text, style="yellow")
            elif clause in ("basis", ""):
                why.append(text, style="dim")
            else:
                why.append(clause, style="bold")
                why.append(f": {text}")
        t.add_row(Text(name), Text(ad.status.value, style=_ACTION_STYLE[ad.status.value]), why)
    return t


def render(a: Assessment, console: Console, policy: Policy | None = None) -> None:
    console.print(view(a, policy))


@renders("assessment", "json")
def to_json(a: Assessment, policy: Policy) -> str:
    """What `assessment.json` holds, with each action's basis (`assess --json`)."""
    from scalegate.assessment import assessment_json

    return json.dumps(assessment_json(a, policy), indent=2) + "\n"


@renders("assessment", "terminal")
def view(a: Assessment, policy: Policy | None = None) -> Group:
    """The assessment as a terminal reads it: header, evidence, scorecard, decision, details."""
    items: list[RenderableType] = []
    head = Text()
    head.append(f"{a.policy.name} v{a.policy.version}", style="bold")
    head.append(f"  (sha256 {a.policy.sha256[:12]})\n", style="dim")
    head.append(f"model {a.model.reference}")
    if a.model.weights_sha256:
        head.append(f"  (weights {a.model.weights_sha256[:12]})", style="dim")
    if a.checkpoint.effective_compute:
        head.append(f"\neffective compute {a.checkpoint.effective_compute:.3g} FLOP")
    items.append(Panel(head, title="scalegate assessment", expand=False))
    items.append(evidence_table(a, policy))
    items.append(scorecard_table(a))
    if a.scorecard.post_mitigation.note:
        items.append(Text(a.scorecard.post_mitigation.note, style="dim italic"))
    items.append(decision_table(a, policy))
    details = []
    for r in a.decision.applied_responses:
        line = Text(r.clause, style="bold")
        for fact in r.facts:
            line.append(f"\n  - {fact}", style="dim")
        for duty in r.obligations:
            line.append(f"\n  obligation: {duty}", style="yellow")
        details.append(line)
    if details:
        items.append(Panel(Group(*details), title="responses that applied", expand=False))
    if a.decision.required_protections:
        missing = [p for p in a.decision.required_protections if p not in a.protections_in_place]
        items.append(
            f"Required protections: {', '.join(a.decision.required_protections)}"
            + (f"  (missing: {', '.join(missing)})" if missing else "")
        )
    items += [case_tree(result) for result in a.safety_cases.values()]
    bad = [e for e, s in a.scorecard.evidence_status.items() if s is not EvidenceStatus.ok]
    if bad:
        items.append(Text(f"Unusable evidence (fails closed): {', '.join(bad)}", style="bold red"))
    if a.output_dir:
        out = shown_path(Path(a.output_dir))
        logs = Path(a.output_dir) / "logs"
        where = f"Wrote {out}/assessment.json"
        if logs.is_dir() and any(logs.iterdir()):
            where += f"; Inspect logs: inspect view --log-dir {out}/logs"
        items.append(Text(where, style="dim"))
    return Group(*items)


def shown_path(path: Path) -> str:
    """Relative to the working folder when under it: shorter, and copy-pastable."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def next_steps(
    a: Assessment,
    policy: Policy,
    decision_id: str | None,
    not_recorded: str | None,
    argv: list[str] | None = None,
) -> list[str]:
    """The exact commands that would move each action that is not yet allowed, and how to
    record one that is. Never advice that would weaken the decision: protections must really
    be in place, an override is signed by the roles the policy names and flagged forever."""
    ref = decision_id[:12] if decision_id else "DECISION_ID"
    steps: list[str] = []
    if not_recorded:
        steps.append(f"Exploratory run, not recorded ({not_recorded}): it authorises nothing.")
        if not_recorded != "--no-ledger":
            steps.append(
                f"  To make this policy binding: scalegate policy propose {a.policy.source or 'POLICY'}"
            )
    unusable = [e for e, s in a.scorecard.evidence_status.items() if s is not EvidenceStatus.ok]
    if unusable:
        steps.append(
            f"Unusable evidence ({', '.join(unusable)}) fails closed: run it (`--eval NAME` without "
            "`--limit`), or import logs: scalegate evidence import LOGS --out ev/ && "
            "scalegate assess --evidence ev/"
        )
    missing = sorted(
        {p for d in a.decision.actions.values() for p in d.required_protections} - set(a.protections_in_place)
    )
    if missing:
        flags = [x for p in missing for x in ("--protection", p)]
        steps.append(
            f"Required protection(s) not declared: {', '.join(missing)}. Once they are really in place: "
            f"{shlex.join(['scalegate', *(argv or ['assess']), *flags])}"
        )
    gov = policy.governance
    override_roles = list(gov.signoff.get("override", [])) if gov else []
    by_evidence: list[str] = []
    by_level: list[str] = []
    for name, ad in a.decision.actions.items():
        if ad.status is ActionStatus.needs_signoff and decision_id:
            for role in ad.signoff_roles:
                key = f".scalegate/keys/{role}.key"
                create = (
                    ""
                    if Path(key).is_file()
                    else f'scalegate keys create {role} --role {role} --holder "NAME" && '
                )
                steps.append(
                    f"{name}: sign as {role}: {create}scalegate signoff {ref} --role {role} --key {key}"
                )
        blocks = [r for r in ad.reasons if r.kind == "block"]
        if ad.status is ActionStatus.blocked and blocks:
            # a block that rests only on unusable evidence lifts with better evidence, not an override
            only_evidence = all(r.evals and set(r.evals) <= set(unusable) for r in blocks)
            (by_evidence if only_evidence else by_level).append(name)
    if by_evidence:
        steps.append(f"Blocked until that evidence is usable: {', '.join(by_evidence)}")
    if by_level:
        clauses = sorted(
            {r.clause for n in by_level for r in a.decision.actions[n].reasons if r.kind == "block"}
        )
        how = (
            f"An override (flagged in every later report) needs {', '.join(override_roles)}: "
            f"scalegate override {ref} --action ACTION --justification TEXT --key PATH:ROLE"
            if override_roles
            else "The policy allows no override."
        )
        steps.append(f"Blocked by the policy ({', '.join(clauses)}): {', '.join(by_level)}. {how}")
    allowed = [n for n, ad in a.decision.actions.items() if ad.status is ActionStatus.allowed]
    if allowed and decision_id:
        steps.append(
            f"Record an allowed action when you take it: scalegate ledger record-action {ref} ACTION"
        )
    if decision_id:
        steps.append(f"Where each action stands: scalegate ledger status {ref}")
    return steps


def steps_panel(steps: list[str]) -> Panel:
    return Panel(Text("\n".join(steps) or "nothing to do"), title="next steps", expand=False)


def render_case(result: CaseResult, console: Console) -> None:
    console.print(case_tree(result))


def case_tree(result: CaseResult) -> Tree:
    """A safety case as a tree: each claim with its verdict, links and what is missing."""
    mark = ("supported", "bold green") if result.supported else ("NOT SUPPORTED", "bold red")
    root = Tree(Text.assemble((f"{result.requirement}: ", "bold"), result.claim, "  ", mark))
    for arg in result.arguments:
        _claim_node(root, arg)
    if result.missing:
        gaps = root.add(Text("missing", style="bold red"))
        for m in result.missing:
            gaps.add(Text(m, style="red"))
    return root


def _claim_node(parent: Tree, claim: ClaimResult) -> None:
    kind = f"[{claim.type}] " if claim.type else ""
    style = "green" if claim.supported else "red"
    node = parent.add(
        Text.assemble(
            (f"{claim.id} ", "bold"),
            (kind, "cyan"),
            claim.claim,
            "  ",
            ("ok" if claim.supported else "x", style),
        )
    )
    for link in claim.links:
        node.add(Text(f"{link.link}: {link.detail}", style="green" if link.holds else "red"))
    for sub in claim.subclaims:
        _claim_node(node, sub)
