"""`scalegate compare-models`: a model's assessment against a reference's, eval by eval, as a
paired non-inferiority table (scalegate.relative)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from scalegate.cli_ledger import DbOpt
from scalegate.errors import InputError

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _side(arg: str, role: str, db: str | None) -> tuple[dict[str, Any], str | None, dict[str, Any] | None]:
    """A side's evidence, its policy text and its recorded per-sample scores (None: read them
    from the logs): from an assessment folder (`assess --out`), or from a decision recorded in
    the ledger (its id or a unique prefix)."""
    from scalegate.evals.evidence import EvalEvidence
    from scalegate.relative import evidence_of, recorded_scores

    path = Path(arg)
    if path.is_dir():
        if not (path / "assessment.json").is_file() or not (path / "evidence").is_dir():
            raise InputError(
                f"{role} {path}: not an assessment folder (no assessment.json and evidence/); give the "
                "folder `scalegate assess --out` wrote, or a decision id from the ledger"
            )
        text = (
            (path / "policy.yaml").read_text(encoding="utf-8") if (path / "policy.yaml").is_file() else None
        )
        try:
            record = json.loads((path / "assessment.json").read_text(encoding="utf-8"))
            scores = recorded_scores(record) if isinstance(record, dict) else None
        except ValueError as exc:  # not JSON, or per-sample scores that do not parse
            first = str(exc).splitlines()[0]
            raise InputError(f"{role} {path}/assessment.json: not a scalegate assessment ({first})") from exc
        return evidence_of(path), text, scores
    from scalegate.cli_ledger import open_ledger
    from scalegate.ledger.workflow import state_of

    ledger = open_ledger(db, read_only=True)
    decision = ledger.get(arg)
    if decision.kind != "decision":
        raise InputError(f"{role} {arg}: a {decision.kind} entry, not a decision (nor a folder here)")
    newer = state_of(ledger).latest.superseded_by(decision.entry_id)
    if newer is not None:
        err.print(f"[yellow]{role} {escape(arg)}: superseded by decision {newer[:12]} for the same model[/]")
    assessment = ledger.get(decision.payload["assessment_entry"])
    evidence = {k: EvalEvidence.model_validate(v) for k, v in assessment.payload["evidence"].items()}
    sha = decision.payload.get("policy_sha256")
    text = next(
        (
            e.payload["text"]
            for e in ledger.entries()
            if e.kind == "policy_adopted" and e.payload["sha256"] == sha
        ),
        None,
    )
    try:
        return evidence, text, recorded_scores(assessment.payload)
    except ValueError as exc:
        raise InputError(
            f"{role} {arg}: its per-sample scores do not parse ({str(exc).splitlines()[0]})"
        ) from exc


def compare_models_cmd(
    model: Annotated[
        str,
        typer.Argument(
            help="The model: its assessment folder, or its decision id in the ledger.", show_default=False
        ),
    ],
    reference: Annotated[
        str,
        typer.Argument(
            help="The reference: its assessment folder, or its decision id in the ledger.", show_default=False
        ),
    ],
    margin: Annotated[
        float,
        typer.Option(
            help="How far above the reference the model may score and still count as not higher "
            "(accuracy points as a fraction: 0.02 is two points).",
        ),
    ],
    evals: Annotated[
        list[str] | None,
        typer.Option("--eval", help="Only this eval (repeatable; default: every eval both assessed)."),
    ] = None,
    confidence: Annotated[
        float | None,
        typer.Option(
            help="Two-sided confidence; each claim reads a one-sided bound at (1 - c) / 2 (default: "
            "the model's policy's statistics.confidence).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
    db: DbOpt = None,
) -> None:
    """Is the model no more capable than the reference, within a margin, on every eval? Each
    eval's difference in accuracy is paired when both runs scored the same questions (matched
    by sample id on the same dataset; Tango's interval, cluster-robust when the eval declares
    clusters), else unpaired (a union bound valid under any correlation: wider, and said so).
    The claim holds only when every eval shows `not_higher`; evidence that is not ok, a
    different instrument or a sequentially stopped run leaves an eval unreadable and the claim
    unsupported.

    Example:

      scalegate compare-models results/ckpt-2000 results/ckpt-1000 --margin 0.02
      scalegate compare-models 3f9a2c 81be07 --margin 0.02      # two decisions in the ledger
    """
    import math

    from scalegate.policy.loader import parse_policy
    from scalegate.relative import compare, sample_scores

    if not (math.isfinite(margin) and -1 < margin < 1):
        raise InputError(f"--margin {margin:g}: a difference of accuracies lies in (-1, 1)")
    mine, text, my_scores = _side(model, "MODEL", db)
    theirs, _, their_scores = _side(reference, "REFERENCE", db)
    policy = parse_policy(text, "the model's policy").policy if text is not None else None
    if confidence is None:
        confidence = policy.statistics.confidence if policy is not None else 0.95
    if not 0 < confidence < 1:
        raise InputError(f"--confidence {confidence:g}: it lies in (0, 1)")
    ids = evals or sorted(set(mine) & set(theirs))
    if not ids:
        raise InputError("the two assessments have no eval in common; name evals with --eval")
    clusters = {e: s.cluster or policy.statistics.cluster for e, s in policy.evals.items()} if policy else {}

    def scores(evidence: dict[str, Any], recorded: dict[str, Any] | None) -> dict[str, Any]:
        if recorded is not None:
            return recorded
        return {e: sample_scores(evidence[e], clusters.get(e)) for e in ids if e in evidence}

    result = compare(
        mine, theirs, ids, margin, confidence, scores(mine, my_scores), scores(theirs, their_scores)
    )
    if as_json:
        out.print_json(json.dumps(result.model_dump(mode="json")))
        return
    table = Table(title=f"{escape(str(model))} against {escape(str(reference))}, margin {margin:+g}")
    for col in ("eval", "model", "reference", "difference", "interval", "how", "reading"):
        table.add_column(col)
    for e in result.evals:
        d = e.difference
        how = (
            "-" if d is None else (f"paired, n={d.n}" if d.paired else f"unpaired, {d.n} vs {d.n_reference}")
        )
        table.add_row(
            e.eval_id,
            "-" if e.model_accuracy is None else f"{e.model_accuracy:.3f}",
            "-" if e.reference_accuracy is None else f"{e.reference_accuracy:.3f}",
            "-" if d is None else f"{d.value:+.3f}",
            "-" if d is None else f"[{d.low:+.3f}, {d.high:+.3f}]",
            how,
            f"{e.relation}" + (f" ({escape(e.reason)})" if e.reason else ""),
        )
    out.print(table)
    verdict = "[green]holds[/]" if result.holds else "[red]not supported[/]"
    out.print(
        f"not higher than the reference by more than {margin:g} on every eval: {verdict} "
        f"(one-sided level {(1 - confidence) / 2:g} per eval; an intersection-union test needs no "
        "multiplicity correction)"
    )


def relative_n_cmd(
    margin: Annotated[float, typer.Option(help="The margin the claim allows (0.03 is three points).")],
    accuracy: Annotated[
        float, typer.Option(help="The model's expected accuracy (0-1).", min=0.0, max=1.0)
    ] = 0.6,
    reference_accuracy: Annotated[
        float | None,
        typer.Option(help="The reference's expected accuracy (default: the model's).", min=0.0, max=1.0),
    ] = None,
    correlation: Annotated[
        float,
        typer.Option(
            help="Per-question correlation of the two models' scores (frontier models: 0.3-0.7).",
            min=-1.0,
            max=1.0,
        ),
    ] = 0.5,
    confidence: Annotated[float, typer.Option(help="Two-sided confidence of the policy.")] = 0.95,
    power: Annotated[float, typer.Option(help="Chance of showing the claim when it is true.")] = 0.8,
) -> None:
    """How many questions a relative claim needs: the pairs for the paired test and the samples
    per model for the unpaired one, to show "not higher than the reference by more than the
    margin" with the given power (normal approximation, checked by simulation in `make
    bench-relative`). Use it to see whether a margin is achievable with the evals a policy names.

    Example:

      scalegate relative-n --margin 0.03 --accuracy 0.6 --correlation 0.5
    """
    from scalegate.evals.paired import planned_pairs, planned_unpaired

    ref = accuracy if reference_accuracy is None else reference_accuracy
    alpha = (1 - confidence) / 2
    try:
        paired = planned_pairs(accuracy, ref, correlation, margin, alpha, power)
        unpaired = planned_unpaired(accuracy, ref, margin, alpha, power)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    out.print(
        f"to show the model ({accuracy:g}) is not higher than the reference ({ref:g}) by more than "
        f"{margin:g}, with {power:.0%} power at one-sided level {alpha:g}:"
    )
    out.print(f"  paired (the same questions, correlation {correlation:g}): {paired:,} questions")
    out.print(
        f"  unpaired: {unpaired:,} questions per model (pairing needs {1 - paired / unpaired:.0%} fewer)"
    )
