"""The terminal scorecard and decision (rich)."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from scalegate.assessment import Assessment
from scalegate.evals.evidence import EvalEvidence
from scalegate.gates import ActionStatus
from scalegate.policy.schema import EvidenceStatus
from scalegate.safety_case import CaseResult, ClaimResult

_STATE_STYLE = {
    "crossed": "bold red",
    "inconclusive": "yellow",
    "below": "green",
    "unknown": "magenta",
}


def evidence_table(a: Assessment) -> Table:
    """One row per eval (and per eval's post-mitigation evidence); an eval run under several
    profiles shows its best profile's score and n, then one dim row per profile."""
    t = Table(title="Evidence", title_justify="left", expand=False)
    rows = [(eval_id, ev) for eval_id, ev in a.evidence.items()]
    rows += [(f"{eval_id} (post-mitigation)", ev) for eval_id, ev in (a.post_evidence or {}).items()]
    levels = {e.confidence for _, ev in rows for e in ev.metrics.values()}
    interval = f"{levels.pop():.0%} interval" if len(levels) == 1 else "interval"
    for col in ("eval", "n", "score", interval, "status"):
        t.add_column(col)
    for name, ev in rows:
        _evidence_row(t, name, ev)
        for profile, part in ev.profiles.items():
            level = next((f" ({e.confidence:.2%})" for e in part.metrics.values()), "")
            _evidence_row(t, f"  {profile}{level}", part, dim=True)
    for eval_id, missing in a.scorecard.evidence_status.items():
        if eval_id not in a.evidence:
            t.add_row(eval_id, "-", "-", "-", Text(missing.value, style="bold red"))
    return t


def _evidence_row(t: Table, name: str, ev: EvalEvidence, dim: bool = False) -> None:
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
        name,
        n,
        f"{est.value:.3f}" if est else "-",
        f"[{est.low:.3f}, {est.high:.3f}]" if est else "-",
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
        for thr in d.thresholds:
            label = "prose only" if not thr.when.operationalized else thr.when.state.value
            states.append(f"{thr.name}: ")
            states.append(label, style=_STATE_STYLE.get(thr.when.state.value, ""))
            if thr.status == "cannot_rule_out":
                states.append(" (cannot rule out)", style="yellow")
            states.append("  ")
        t.add_row(
            f"{name} ({d.title})",
            _level(d.level, d.unknown),
            _level(post[name].level, post[name].unknown),
            Text(", ".join(d.alerts) or "none", style="yellow" if d.alerts else "green"),
            states,
        )
    return t


def _level(level: str, unknown: bool) -> Text:
    return Text(level + (" (unknown evidence)" if unknown else ""), style="magenta" if unknown else "bold")


_ACTION_STYLE = {"allowed": "bold green", "blocked": "bold red", "needs_signoff": "bold yellow"}


def decision_table(a: Assessment) -> Table:
    t = Table(title="Decision", title_justify="left")
    t.add_column("action")
    t.add_column("status")
    t.add_column("because")
    for name, ad in a.decision.actions.items():
        why = Text()
        if ad.status is ActionStatus.needs_signoff:
            why.append(f"allowed once signed off by: {', '.join(ad.signoff_roles)}", style="yellow")
        if ad.notify_roles and ad.status is not ActionStatus.blocked:
            why.append(("\n" if why else "") + f"inform first: {', '.join(ad.notify_roles)}", style="yellow")
        for i, r in enumerate(ad.reasons):
            why.append("\n" if i else "")
            why.append(r.clause, style="bold")
            why.append(f": {r.summary}")
        t.add_row(
            name,
            Text(ad.status.value, style=_ACTION_STYLE[ad.status.value]),
            why if ad.reasons or why else Text("no response applies", style="dim"),
        )
    return t


def render(a: Assessment, console: Console) -> None:
    head = Text()
    head.append(f"{a.policy.name} v{a.policy.version}", style="bold")
    head.append(f"  (sha256 {a.policy.sha256[:12]})\n", style="dim")
    head.append(f"model {a.model.reference}")
    if a.model.weights_sha256:
        head.append(f"  (weights {a.model.weights_sha256[:12]})", style="dim")
    if a.checkpoint.effective_compute:
        head.append(f"\neffective compute {a.checkpoint.effective_compute:.3g} FLOP")
    console.print(Panel(head, title="scalegate assessment", expand=False))
    console.print(evidence_table(a))
    console.print(scorecard_table(a))
    if a.scorecard.post_mitigation.note:
        console.print(Text(a.scorecard.post_mitigation.note, style="dim italic"))
    console.print(decision_table(a))
    details = []
    for r in a.decision.applied_responses:
        line = Text(r.clause, style="bold")
        for fact in r.facts:
            line.append(f"\n  - {fact}", style="dim")
        for duty in r.obligations:
            line.append(f"\n  obligation: {duty}", style="yellow")
        details.append(line)
    if details:
        console.print(Panel(Group(*details), title="responses that applied", expand=False))
    if a.decision.required_protections:
        missing = [p for p in a.decision.required_protections if p not in a.protections_in_place]
        console.print(
            f"Required protections: {', '.join(a.decision.required_protections)}"
            + (f"  (missing: {', '.join(missing)})" if missing else "")
        )
    for result in a.safety_cases.values():
        render_case(result, console)
    bad = [e for e, s in a.scorecard.evidence_status.items() if s is not EvidenceStatus.ok]
    if bad:
        console.print(Text(f"Unusable evidence (fails closed): {', '.join(bad)}", style="bold red"))
    if a.output_dir:
        console.print(
            Text(
                f"Wrote {a.output_dir}/assessment.json; Inspect logs in "
                f"{a.output_dir}/logs (open with `inspect view --log-dir ...`)",
                style="dim",
            )
        )


def render_case(result: CaseResult, console: Console) -> None:
    """A safety case as a tree: each claim with its verdict, links and what is missing."""
    mark = ("supported", "bold green") if result.supported else ("NOT SUPPORTED", "bold red")
    root = Tree(Text.assemble((f"{result.requirement}: ", "bold"), result.claim, "  ", mark))
    for arg in result.arguments:
        _claim_node(root, arg)
    if result.missing:
        gaps = root.add(Text("missing", style="bold red"))
        for m in result.missing:
            gaps.add(Text(m, style="red"))
    console.print(root)


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
