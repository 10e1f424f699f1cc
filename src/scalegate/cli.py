"""The `scalegate` command line.

Exit codes (documented in the README): 0 the command completed; 3 an action named with
`--require` is not allowed; 2 bad input (policy, flags, model reference); 1 internal error.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from scalegate import cli_export, cli_relative, cli_report, cli_scale, cli_serve
from scalegate import cli_ledger as ledger_cli
from scalegate.errors import InputError, ScalegateError

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT, EXIT_REQUIRE = 0, 1, 2, 3

app = typer.Typer(
    name="scalegate",
    help=(
        "Executable, auditable responsible scaling policies.\n\n"
        "Evaluate a model with the evals a policy names (through UK AISI's Inspect), read the "
        "results as confidence intervals against the policy's thresholds, and decide which "
        "actions (continue_training, internal_deployment, external_deployment, open_weights) "
        "are allowed. Missing, errored or unreadable evidence never allows an action."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
policy_app = typer.Typer(help="Validate and inspect policy files.", no_args_is_help=True)
evidence_app = typer.Typer(help="Evidence produced elsewhere: import it.", no_args_is_help=True)
case_app = typer.Typer(help="Affirmative safety cases: check and draw them.", no_args_is_help=True)
assets_app = typer.Typer(help="Pinned offline assets (model and data wheels).", no_args_is_help=True)
app.add_typer(policy_app, name="policy")
app.add_typer(assets_app, name="assets")
app.add_typer(case_app, name="case")
app.add_typer(evidence_app, name="evidence")
app.add_typer(ledger_cli.ledger_app, name="ledger")
app.add_typer(ledger_cli.keys_app, name="keys")
app.add_typer(ledger_cli.audit_app, name="audit")
policy_app.command("propose")(ledger_cli.policy_propose)
policy_app.command("approve")(ledger_cli.policy_approve)
policy_app.command("adopt")(ledger_cli.policy_adopt)
app.command("signoff")(ledger_cli.signoff_cmd)
app.command("override")(ledger_cli.override_cmd)
app.command("report")(cli_report.report)
app.add_typer(cli_serve.serve_app, name="serve")
app.add_typer(cli_export.export_app, name="export")
app.command("plan")(cli_scale.plan_cmd)
app.command("sweep")(cli_scale.sweep_cmd)
app.add_typer(cli_scale.unit_app, name="unit")
app.command("compare-models")(cli_relative.compare_models_cmd)
app.command("relative-n")(cli_relative.relative_n_cmd)


def _e(value: object) -> str:
    """Text from input (names, paths, messages quoting a file) printed through rich: escaped,
    so a `[/x]` in a policy name or file name is shown, not read as markup (a traceback)."""
    return escape(str(value))


err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        from scalegate import __version__

        sys.stdout.write(f"scalegate {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Executable, auditable responsible scaling policies."""
    _show_asset_progress()


class _ErrHandler(logging.Handler):
    """First-use asset work (fetch, verify, convert: tens of seconds) announced on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        err.print(f"[dim]assets:[/] {_e(record.getMessage())}", highlight=False)


def _show_asset_progress() -> None:
    log = logging.getLogger("scalegate.assets")
    if not any(isinstance(h, _ErrHandler) for h in log.handlers):
        log.addHandler(_ErrHandler(logging.INFO))
        log.setLevel(logging.INFO)


class _Bar:
    """Rich progress for an assessment: one bar per eval, counting samples."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: Any = None

    def eval_started(self, eval_id: str, total: int | None) -> None:
        self.task = self.progress.add_task(eval_id, total=total)

    def sample_done(self) -> None:
        if self.task is not None:
            self.progress.advance(self.task)

    def eval_finished(self, evidence: Any) -> None:
        style = "green" if evidence.usable else "red"
        self.progress.update(self.task, description=f"{evidence.eval_id} [{style}]{evidence.status.value}[/]")


def _parse_model_args(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--model-arg '{pair}': expected KEY=VALUE, e.g. dtype=bfloat16")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


@app.command()
def assess(
    policy: Annotated[
        str,
        typer.Option(
            "--policy", "--preset", "-p", help="Policy YAML file, or a preset name (`scalegate policy list`)."
        ),
    ] = "reference",
    mapping: Annotated[
        Path | None,
        typer.Option(
            "--map",
            help="Mapping YAML: run the policy's evals as other tasks (e.g. the bundled proxies) and "
            "operationalize prose-only thresholds; the mapped policy is what gets recorded.",
        ),
    ] = None,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help="Inspect model string: hf/<local dir or hub id>, openai/<model>, vllm/<model>, "
            "... The default is the bundled SmolLM2-135M-Instruct (offline).",
        ),
    ] = "bundled/smollm2-135m-instruct",
    model_arg: Annotated[
        list[str],
        typer.Option("--model-arg", "-M", help="Provider argument KEY=VALUE (repeatable)."),
    ] = [],  # noqa: B006 - typer reads the default
    effective_compute: Annotated[
        float | None,
        typer.Option(help="Effective training compute of this checkpoint, in FLOP (e.g. 3e24)."),
    ] = None,
    training_compute: Annotated[
        float | None,
        typer.Option(
            help="Raw training compute of this checkpoint, in FLOP (for `training_compute_at_least`)."
        ),
    ] = None,
    case: Annotated[
        list[Path],
        typer.Option("--case", help="A safety case YAML the policy may require (repeatable)."),
    ] = [],  # noqa: B006
    evidence_dir: Annotated[
        Path | None,
        typer.Option(
            "--evidence",
            help="Imported evidence (`scalegate evidence import ... --out DIR`): these evals are not "
            "run; evidence for another model is stale and fails closed.",
        ),
    ] = None,
    protection: Annotated[
        list[str],
        typer.Option("--protection", help="A protection from the policy that is in place (repeatable)."),
    ] = [],  # noqa: B006
    eval_ids: Annotated[
        list[str],
        typer.Option("--eval", help="Run only this eval (repeatable); the rest count as missing."),
    ] = [],  # noqa: B006
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=1,
            help="At most N samples per eval (smoke runs; recorded in the assessment). Below the "
            "policy's min_samples the evidence is `insufficient` and fails closed.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder (default: scalegate-results/<time>)."),
    ] = None,
    require: Annotated[
        list[str],
        typer.Option("--require", help="Exit 3 unless this action is allowed (repeatable)."),
    ] = [],  # noqa: B006
    as_json: Annotated[bool, typer.Option("--json", help="Print the assessment JSON on stdout.")] = False,
    db: ledger_cli.DbOpt = None,
    key: ledger_cli.KeyOpt = None,
    no_ledger: Annotated[bool, typer.Option("--no-ledger", help="Do not append to the ledger.")] = False,
    no_cache: Annotated[
        bool,
        typer.Option(
            "--no-cache",
            help="Neither reuse nor store cached evidence: every eval calls the model.",
        ),
    ] = False,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            "--cache-dir",
            help="Evidence cache folder (default: $SCALEGATE_CACHE_DIR, else evidence/ in "
            "scalegate's data folder). Entries are complete Inspect logs keyed by a hash of the "
            "model's weights, the task and its data, seed and versions; older than the policy's "
            "cadence.max_days they are re-run.",
        ),
    ] = None,
    preliminary: Annotated[
        bool,
        typer.Option(
            "--preliminary",
            help="Run only the policy's `cadence.preliminary` evals and decide whether a "
            "comprehensive assessment is due (the model is not shown to be within the margin of "
            "the last one comprehensively assessed); recorded in the ledger, it authorises nothing.",
        ),
    ] = False,
    relative_to: Annotated[
        str | None,
        typer.Option(
            "--relative-to",
            help="The reference decision (its ledger id or a unique prefix) that the policy's "
            "`relative: {to: reference}` claims compare this model with.",
        ),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume",
            help="Continue an interrupted assessment in this output folder (pass the options it "
            "was started with): finished evals are reused, an eval cut short reuses its completed "
            "samples and runs only the rest.",
        ),
    ] = None,
) -> None:
    """Run the policy's evals on a model, score them, and decide what may be done.

    With no options: the bundled reference policy on the bundled SmolLM2-135M-Instruct with
    the bundled benign knowledge proxies, fully offline (assets are fetched and verified by
    sha256 on first use). Evidence is cached: re-assessing an unchanged checkpoint makes no
    model call.
    """
    from scalegate.assessment import check_protections, run_assessment
    from scalegate.evals.cache import EvidenceCache
    from scalegate.evals.model_ref import target_for
    from scalegate.plan import Checkpoint, make_plan
    from scalegate.policy import load_policy
    from scalegate.report import terminal

    loaded = load_policy(policy)
    if mapping is not None:
        from scalegate.policy.mapping import apply_mapping, load_mapping

        loaded = apply_mapping(loaded, load_mapping(mapping), mapping.name)
    cases = _load_cases(loaded.policy, case)
    imported = None
    if evidence_dir is not None:
        from scalegate.evals.imports import load_evidence_dir

        imported = load_evidence_dir(evidence_dir)
    unknown_actions = [a for a in require if a not in loaded.policy.actions]
    if unknown_actions:
        raise InputError(
            f"--require: unknown action(s) {unknown_actions}; the policy gates {loaded.policy.actions}"
        )
    check_protections(loaded.policy, set(protection))
    for flag, value in (("--effective-compute", effective_compute), ("--training-compute", training_compute)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise InputError(f"{flag}: a positive, finite number of FLOP (e.g. 3e24), not {value:g}")
    checkpoint = Checkpoint(
        model=model, effective_compute=effective_compute, training_compute=training_compute
    )
    claim = _preliminary_claim(loaded.policy, eval_ids, require) if preliminary else None
    plan = make_plan(loaded.policy, checkpoint, claim.evals if claim else eval_ids or None, limit)
    if resume is not None:
        if out is not None and out.resolve() != resume.resolve():
            raise InputError(f"--resume {resume} and --out {out}: a resumed assessment stays in its folder")
        if not resume.is_dir():
            raise InputError(f"--resume {resume}: no such folder")
    out_dir = resume or out or Path("scalegate-results") / dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    if no_cache and cache_dir is not None:
        raise InputError("--no-cache and --cache-dir: choose one")
    _check_writable(out_dir, "--resume" if resume else "--out")
    if cache_dir is not None:  # an explicit cache that cannot be written would be silently unused
        _check_writable(cache_dir.expanduser(), "--cache-dir")
    err.print(
        f"[dim]policy[/] {_e(loaded.policy.policy.name)} v{_e(loaded.policy.policy.version)}  "
        f"[dim]model[/] {_e(model)}  [dim]out[/] {_e(out_dir)}"
    )
    ledger = signer = None
    exploratory = "--no-ledger" if no_ledger else None
    if not no_ledger:  # open the ledger and key first: a bad key must not cost a model run
        from scalegate.ledger.workflow import not_in_force, operator_key

        ledger = ledger_cli.open_ledger(db, create=True)
        exploratory = not_in_force(ledger, loaded)
        if exploratory is None:
            from scalegate.ledger.workflow import default_key_path
            from scalegate.report.terminal import shown_path

            key_path = key or default_key_path()
            had_key = key_path.exists()
            signer = operator_key(ledger, key)
            if not had_key:
                err.print(
                    f"[yellow]created[/] the ledger's first key at {_e(shown_path(key_path))}: an "
                    "unencrypted "
                    "Ed25519 private key (owner-readable only) that signs as admin and operator, so it "
                    "can register new keys. Keep it safe; `scalegate keys list` shows who holds what."
                )
        elif require:
            raise InputError(
                f"--require: {exploratory}, so this run would be exploratory and authorise nothing. "
                f"Adopt it first (`scalegate policy propose {loaded.source}`), or check outside the "
                "record with --no-ledger"
            )
        else:
            ledger = None
    with err.status("Preparing model (first use fetches and verifies pinned assets)..."):
        target = target_for(model, _parse_model_args(model_arg))
    references = _references(loaded.policy, target, relative_to, ledger, db, claim)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=False) as bar:
        result = run_assessment(
            loaded,
            plan,
            target,
            out_dir,
            set(protection),
            _Bar(bar),
            cases,
            imported,
            cache=None if no_cache else EvidenceCache(cache_dir),
            resume=resume is not None,
            references=references,
        )
    _print_reuse(result)
    if claim is not None:
        _finish_preliminary(loaded, claim, result, out_dir, ledger, signer, exploratory, as_json)
        return
    decision_id = None
    if ledger is not None and signer is not None:
        from scalegate.ledger.workflow import record_assessment

        _, decision_entry = record_assessment(ledger, loaded, result, signer)
        decision_id = decision_entry.entry_id
        ledger_cli.print_override_flags(ledger)
        err.print(
            f"[dim]ledger[/] {_e(ledger.url)}: decision entry [bold]{decision_id}[/] "
            f"(`scalegate ledger status {decision_id[:12]}`)"
        )
    else:  # kept beside the results, never in the ledger: it authorises nothing
        (out_dir / "EXPLORATORY.txt").write_text(
            f"Not recorded in a ledger ({exploratory}): this decision authorises nothing.\n", encoding="utf-8"
        )
    if as_json:
        _emit("assessment", "json", result, None, policy=loaded.policy)
        if exploratory:
            err.print(f"[bold yellow]exploratory[/] (not recorded: {_e(exploratory)}); it authorises nothing")
    else:
        _emit("assessment", "terminal", result, None, policy=loaded.policy)
        steps = terminal.next_steps(result, loaded.policy, decision_id, exploratory, sys.argv[1:])
        Console().print(terminal.steps_panel(steps))
    refused = [a for a in require if not result.decision.allowed(a)]
    if refused:
        err.print(f"[bold red]--require: not allowed: {_e(', '.join(refused))}[/]")
        raise typer.Exit(EXIT_REQUIRE)


def _preliminary_claim(policy: Any, eval_ids: list[str], require: list[str]) -> Any:
    if policy.cadence is None or policy.cadence.preliminary is None:
        raise InputError(
            "--preliminary: the policy has no `cadence.preliminary` (the relative claim that decides "
            "whether a comprehensive assessment is due); see docs/policy-language.md"
        )
    if eval_ids or require:
        raise InputError("--preliminary runs the claim's evals and decides no action: drop --eval/--require")
    return policy.cadence.preliminary.relative


def _finish_preliminary(
    loaded: Any,
    claim: Any,
    result: Any,
    out_dir: Path,
    ledger: Any,
    signer: Any,
    exploratory: Any,
    as_json: bool,
) -> None:
    """The verdict of a preliminary assessment: printed, written beside it, recorded."""
    from scalegate.relative import preliminary_verdict

    confidence = loaded.policy.statistics.confidence
    verdict = preliminary_verdict(
        claim.evals, claim.margin, confidence, result.evidence, result.relative, claim.key
    )
    (out_dir / "preliminary.json").write_text(verdict.model_dump_json(indent=2) + "\n", encoding="utf-8")
    if ledger is not None and signer is not None:
        from scalegate.ledger.workflow import record_preliminary

        entry = record_preliminary(ledger, loaded, result, verdict, signer)
        err.print(f"[dim]ledger[/] {_e(ledger.url)}: preliminary entry [bold]{entry.entry_id}[/]")
    else:
        err.print(f"[bold yellow]exploratory[/] (not recorded: {_e(exploratory)})")
    if as_json:
        Console().print_json(verdict.model_dump_json())
        return
    for e in verdict.comparison.evals if verdict.comparison else []:
        d = e.difference
        shown = "-" if d is None else f"{d.value:+.3f} [{d.low:+.3f}, {d.high:+.3f}] n={d.n}"
        Console(highlight=False).print(
            f"  {_e(e.eval_id)}: {shown}: {e.relation}" + (f" ({_e(e.reason)})" if e.reason else "")
        )
    colour, due = ("red", "due") if verdict.due else ("green", "not due")
    Console(highlight=False).print(f"[bold {colour}]comprehensive assessment {due}[/]: {_e(verdict.reason)}")


def _references(
    policy: Any, target: Any, given: str | None, ledger: Any, db: str | None, preliminary: Any = None
) -> dict[str, Any]:
    """The references the policy's relative claims read (or, for `--preliminary`, its claim),
    from the ledger (read-only for an exploratory run); a claim with none is unknown and rules
    nothing out."""
    from scalegate.ledger.references import GIVEN, claims_of
    from scalegate.ledger.workflow import references_for

    claims = {preliminary.key: preliminary} if preliminary is not None else claims_of(policy)
    if given is not None and GIVEN not in claims:
        raise InputError(
            f"--relative-to {given}: the policy has no `relative: {{to: reference}}` claim to read it"
        )
    if not claims:
        return {}
    if ledger is None:
        try:
            ledger = ledger_cli.open_ledger(db, read_only=True)
        except InputError:
            if given is not None:
                raise
            return {}
    model = {"reference": target.reference, "weights_sha256": target.weights_sha256}
    found = references_for(ledger, policy, model, given, claims)
    ref = found.get(GIVEN)
    if given is not None and ref is not None and ref.decision_id is None:
        raise InputError(f"--relative-to {given}: {ref.problem}")
    for r in found.values():
        if r.problem is not None:
            err.print(f"[yellow]relative claim `{_e(r.key)}`: {_e(r.problem)}; it rules nothing out[/]")
    return found


def _print_reuse(result: Any) -> None:
    """Say which evals were not (wholly) run now: from the cache, or resumed."""
    what = {"cache": "evidence cache", "resumed_eval": "resumed, finished before", "resumed_samples": ""}
    parts = []
    for eval_id, ev in result.evidence.items():
        r = ev.provenance.reused if ev.provenance is not None else None
        if r is not None:
            detail = what[r.kind] or f"resumed, {r.samples_reused} samples reused"
            parts.append(f"{eval_id} ({detail}, ran {r.ran_at})")
    if parts:
        err.print(f"[dim]reused earlier results (regraded with this policy):[/] {_e('; '.join(parts))}")


@app.command("compute")
def compute_cmd(
    parameters: Annotated[float, typer.Option(help="Model parameters, e.g. 7e9.")],
    tokens: Annotated[float, typer.Option(help="Training tokens so far, e.g. 2e12.")],
    multiplier: Annotated[
        float, typer.Option(help="Algorithmic-efficiency multiplier relative to the reference recipe.")
    ] = 1.0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Estimate training FLOP (6 x parameters x tokens, dense transformers) and effective compute."""
    from scalegate.compute import estimate_from_args

    try:
        figures = estimate_from_args(parameters, tokens, multiplier)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    if as_json:
        sys.stdout.write(json.dumps(figures, indent=2) + "\n")
        return
    Console().print(
        f"training FLOP      {figures['training_flop']:.3e}  (6 x {parameters:.3g} x {tokens:.3g})\n"
        f"effective compute  {figures['effective_compute']:.3e}  (x {multiplier:g} algorithmic efficiency)"
    )


@app.command("forecast")
def forecast_cmd(
    source: Annotated[
        Path | None,
        typer.Option(
            "--from", help="A training run's gatekeeper folder (default: the ledger's assessments)."
        ),
    ] = None,
    policy: Annotated[
        str | None, typer.Option("--policy", "-p", help="Policy for the lines (default: the one in force).")
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the PNG plots.")] = Path("forecast"),
    db: ledger_cli.DbOpt = None,
) -> None:
    """Project when each threshold and alert line will be crossed, from assessments so far.

    Fits each eval's accuracy against log effective compute (logistic with a floor at chance;
    logit-linear with few points), prints the projected crossing with a 90% interval, and
    writes one plot per eval.
    """
    from rich.table import Table

    from scalegate.forecast import Point, plot, project_crossing
    from scalegate.gatekeeper import threshold_lines
    from scalegate.policy import load_policy, parse_policy

    if source is not None:
        history = _gatekeeper_history(source)
        loaded = load_policy(policy or "reference")
    else:
        from scalegate.ledger.workflow import policy_in_force

        ledger = ledger_cli.open_ledger(db)
        current = policy_in_force(ledger)
        if current is None and policy is None:
            raise InputError("the ledger has no assessments; pass --from a gatekeeper folder")
        loaded = load_policy(policy) if policy else parse_policy(current.payload["text"])  # type: ignore[union-attr]
        history = []
        for e in ledger.iter_entries():
            ec = (
                (e.payload.get("checkpoint") or {}).get("effective_compute")
                if e.kind == "assessment"
                else None
            )
            if ec and e.payload.get("policy", {}).get("sha256") == loaded.sha256:
                counts = {
                    k: [m["successes"], m["n"]]
                    for k, ev in e.payload["evidence"].items()
                    if ev["status"] == "ok"
                    for m in ev["metrics"].values()
                }
                history.append((ec, counts))
    pol = loaded.policy
    table = Table(title="Projected crossings (effective compute, FLOP)")
    for col in ("line", "eval", "value", "points", "median", "90% interval", "note"):
        table.add_column(col)
    rows = 0
    for eval_id in pol.evals:
        points = [Point(ec, *c[eval_id]) for ec, c in sorted(history, key=lambda h: h[0]) if eval_id in c]
        lines = {label: value for e, value, label in threshold_lines(pol) if e == eval_id}
        if not points or not lines:
            continue
        for label, value in lines.items():
            if len(points) < 2:
                table.add_row(
                    label, eval_id, f"{value:g}", str(len(points)), "-", "-", "needs 2+ assessments"
                )
                continue
            try:
                c = project_crossing(points, value, floor=pol.evals[eval_id].chance)
            except ValueError as exc:  # e.g. every assessment at the same compute
                table.add_row(label, eval_id, f"{value:g}", str(len(points)), "-", "-", str(exc))
                continue
            interval = f"{c.low:.3g} - {c.high:.3g}" if c.low and c.high else "-"
            median = "crossed" if c.already_crossed else (f"{c.median:.3g}" if c.median else "-")
            table.add_row(label, eval_id, f"{value:g}", str(len(points)), median, interval, c.note)
        rows += len(lines)
        if len(points) >= 2:
            out_dir.mkdir(parents=True, exist_ok=True)
            plot(
                {eval_id: points},
                lines,
                out_dir / f"forecast-{eval_id}.png",
                floor=pol.evals[eval_id].chance,
                title=f"{_e(pol.policy.name)}: {_e(eval_id)}",
            )
    if not rows:
        err.print(
            f"nothing to project: {len(history)} assessment(s) under {_e(pol.policy.name)} with an effective "
            "compute, none with usable evidence for an eval that has a threshold or alert line. "
            "Assess two or more checkpoints with --effective-compute first."
        )
        return
    Console().print(table)
    if out_dir.is_dir():
        err.print(f"[dim]plots in {_e(out_dir)}/[/]")


def _gatekeeper_history(source: Path) -> list[tuple[float, dict[str, list[int]]]]:
    """(effective compute, counts per eval) from a training run's gatekeeper folder."""
    file = source / "gatekeeper.json"
    if not file.is_file():
        raise InputError(f"--from {source}: no gatekeeper.json there (pass a Gatekeeper's output folder)")
    try:
        state = json.loads(file.read_text(encoding="utf-8"))
        return [(float(r["effective_compute"]), dict(r["counts"])) for r in state["history"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"--from {source}: gatekeeper.json is not a Gatekeeper state file ({exc})") from exc


@policy_app.command("validate")
def policy_validate(
    files: Annotated[list[str], typer.Argument(help="Policy YAML files or preset names.")],
) -> None:
    """Check policy files; print every problem with its line and field. Exit 2 if any."""
    from scalegate.errors import PolicyError
    from scalegate.policy import load_policy

    failed = False
    for f in files:
        try:
            lp = load_policy(f)
        except PolicyError as exc:
            failed = True
            err.print(f"[bold red]{_e(exc.source)}[/]: invalid policy")
            for p in exc.problems:
                err.print(f"  {_e(p)}")
            continue
        pol = lp.policy
        thresholds = sum(len(d.thresholds) for d in pol.domains.values())
        Console().print(
            f"[green]ok[/] {_e(lp.source)}: {_e(pol.policy.name)} v{_e(pol.policy.version)} - "
            f"{len(pol.levels)} levels, {len(pol.evals)} evals, {len(pol.domains)} domains, "
            f"{thresholds} thresholds, {len(pol.responses)} responses (sha256 {lp.sha256[:12]})"
        )
    if failed:
        raise typer.Exit(EXIT_INPUT)


@policy_app.command("show")
def policy_show(
    name: Annotated[str, typer.Argument(help="Preset name or policy file.")] = "reference",
) -> None:
    """Print a policy's YAML (e.g. to start your own from the reference policy)."""
    from scalegate.policy import load_policy

    sys.stdout.write(load_policy(name).text)


@policy_app.command("list")
def policy_list() -> None:
    """The bundled presets: the published frameworks encoded clause by clause, and `reference`."""
    from scalegate.policy import load_policy, preset_names
    from scalegate.report.records import print_records

    rows = []
    for name in preset_names():
        pol = load_policy(name).policy
        thresholds = [t for d in pol.domains.values() for t in d.thresholds.values()]
        rows.append(
            [
                name,
                pol.policy.name,
                pol.policy.version,
                str(pol.policy.effective or "-"),
                str(len(pol.domains)),
                str(len(thresholds)),
                str(sum(t.when is not None for t in thresholds)),
            ]
        )
    columns = ("preset", "framework", "version", "effective", "domains", "thresholds", "operationalized")
    print_records(Console(), "presets (scalegate policy init --preset NAME)", columns, rows)


@policy_app.command("init")
def policy_init(
    preset: Annotated[str, typer.Option("--preset", help="Preset to start from.")] = "reference",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here (default: stdout); never overwrites.")
    ] = None,
) -> None:
    """Start a policy from a preset: the YAML, with its citations, ready to edit."""
    from scalegate.policy import load_policy

    text = load_policy(preset).text
    if out is None:
        sys.stdout.write(text)
        return
    if out.exists():
        raise InputError(f"{out} exists; choose another --out or remove it first")
    out.write_text(text, encoding="utf-8")
    err.print(
        f"[green]wrote[/] {_e(out)} (from preset {_e(preset)}); "
        f"check it with `scalegate policy lint {_e(out)}`"
    )


@policy_app.command("compare")
def policy_compare(
    policies: Annotated[
        list[str] | None, typer.Argument(help="Policy files or preset names (default: every preset).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="terminal, markdown or html.")] = "terminal",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file.")] = None,
) -> None:
    """Side by side: domains, thresholds, triggers, buffers, elicitation, decision rules,
    protections, governance, commitments and grades of several policies."""
    from scalegate.policy import load_policy, preset_names
    from scalegate.report import formats
    from scalegate.review.compare import compare_policies

    formats.resolve("policy-compare", fmt)  # a bad --format fails before any work
    names = policies or preset_names()
    shorts = [_short_name(n) for n in names]
    if len(set(shorts)) != len(shorts):
        twice = sorted({n for n in shorts if shorts.count(n) > 1})
        raise InputError(f"policy compare: {twice} named twice; compare distinct policies")
    loaded = [(short, load_policy(n).policy) for short, n in zip(shorts, names, strict=True)]
    cmp = compare_policies(loaded, _grades(loaded))
    _emit("policy-compare", fmt, cmp, out)


@policy_app.command("diff")
def policy_diff(
    old: Annotated[str, typer.Argument(help="The earlier policy (file or preset).")],
    new: Annotated[str, typer.Argument(help="The later policy (file or preset).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="terminal or markdown.")] = "terminal",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file.")] = None,
    neutral: Annotated[
        bool, typer.Option("--neutral", help="Also list neutral changes (wording, citations).")
    ] = False,
) -> None:
    """What got stronger or weaker between two versions of a policy: thresholds raised or
    lowered, buffers removed, commitments hedged, domains dropped. Exit 0 either way."""
    from scalegate.policy import load_policy
    from scalegate.report import formats
    from scalegate.review.diff import assess_changes

    formats.resolve("policy-diff", fmt)
    changes = assess_changes(load_policy(old).policy, load_policy(new).policy)
    _emit("policy-diff", fmt, changes, out, neutral=neutral)


def _short_name(ref: str) -> str:
    return Path(ref).stem if ref.endswith((".yaml", ".yml")) else ref


def _grades(loaded: list[tuple[str, Any]]) -> dict[str, dict[str, str]]:
    from scalegate.review.grade import grade_policy

    out: dict[str, dict[str, str]] = {}
    for name, pol in loaded:
        g = grade_policy(pol)
        out[name] = {c.title: f"{c.letter} ({c.met}/{c.total})" for c in g.components}
        out[name]["overall"] = g.overall_letter
    return out


@policy_app.command("lint")
def policy_lint(
    files: Annotated[list[str], typer.Argument(help="Policy files or preset names.")],
    as_json: Annotated[bool, typer.Option("--json", help="Findings and grades as JSON on stdout.")] = False,
    grades: Annotated[bool, typer.Option("--grades/--no-grades", help="Also grade the policy.")] = True,
    details: Annotated[
        bool,
        typer.Option("--details", help="Also info notes, why/fix/source of each finding, each criterion."),
    ] = False,
    ignore: Annotated[
        list[str], typer.Option("--ignore", help="Skip a rule by id or name (repeatable).")
    ] = [],  # noqa: B006
) -> None:
    """Check a policy against best practice (docs/lint.md): errors and warnings with their rule
    and clause, then grades per METR key component and Seoul commitment. `--details` adds the
    info notes, why each finding matters, how to fix it and the source of the criticism.
    Exit 3 when any finding is an error."""
    from scalegate.policy import load_policy
    from scalegate.report.policy_review import render_findings, render_grades
    from scalegate.review.grade import grade_policy, grades_json
    from scalegate.review.lint import RULES, findings_json, has_errors, lint_policy

    unknown = [r for r in ignore if r not in RULES and r not in {x.name for x in RULES.values()}]
    if unknown:
        raise InputError(f"--ignore: unknown rule(s) {unknown}; see docs/lint.md")
    console = Console()
    report: dict[str, Any] = {}
    failed = False
    for ref in files:
        loaded = load_policy(ref)
        findings = lint_policy(loaded.policy, ignore)
        failed |= has_errors(findings)
        graded = grade_policy(loaded.policy, findings) if grades else None
        if as_json:
            report[ref] = {
                "findings": findings_json(findings),
                **({"grades": grades_json(graded)} if graded else {}),
            }
            continue
        console.rule(
            f"{_e(loaded.source)}: {_e(loaded.policy.policy.name)} v{_e(loaded.policy.policy.version)}"
        )
        console.print(render_findings(findings, details=details), crop=False)
        if graded is not None:
            console.print(render_grades(graded, details=details))
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    if failed:
        raise typer.Exit(EXIT_REQUIRE)


def _emit(subject: str, fmt: str, value: Any, out: Path | None, **options: Any) -> None:
    """Through the one registry of formats (report/formats.py), and say where it went."""
    from scalegate.report import formats

    formats.emit(subject, fmt, value, out, **options)
    if out is not None:
        err.print(f"[green]wrote[/] {_e(out)}")


@policy_app.command("schema")
def policy_schema() -> None:
    """Print the policy JSON Schema (for editor autocompletion)."""
    from scalegate.policy.schema import Policy

    sys.stdout.write(json.dumps(Policy.model_json_schema(by_alias=True), indent=2) + "\n")


@assets_app.command("fetch")
def assets_fetch() -> None:
    """Fetch, verify and unpack every pinned asset now (otherwise done on first use)."""
    from scalegate.evals import assets

    for asset in assets.ASSETS.values():
        path = assets.wheel_path(asset)
        err.print(f"[green]verified[/] {asset.filename}  sha256 {asset.sha256[:12]}  {_e(path)}")
    err.print(f"MMLU: {_e(assets.mmlu_path())}")
    with err.status("Converting SmolLM2-135M-Instruct (GGUF -> transformers folder)..."):
        err.print(f"SmolLM2: {_e(assets.smollm2_dir())}")


@evidence_app.command("import")
def evidence_import(
    files: Annotated[
        list[Path], typer.Argument(help="Inspect logs (.eval, .json), lm-eval results JSON, or folders.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="A new folder for the imported evidence.")],
    policy: Annotated[str, typer.Option("--policy", "-p", help="Policy file or preset.")] = "reference",
    assign: Annotated[
        list[str],
        typer.Option(
            "--assign",
            help="EVAL=TASK[:acc_norm]: map a source task onto a policy eval (required for lm-eval; "
            "for Inspect logs when task and args match no eval or several).",
        ),
    ] = [],  # noqa: B006
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="The model the files must be for (checked).")
    ] = None,
) -> None:
    """Import evidence produced elsewhere, graded by the same fail-closed rules as a run.

    All files are checked before anything is written; the folder appears whole or not at all.
    Use it with `scalegate assess --evidence DIR` (evidence for another model is stale).
    """
    from scalegate.evals.imports import import_evidence, write_evidence
    from scalegate.policy import load_policy

    pairs: dict[str, str] = {}
    for item in assign:
        eval_id, sep, task = item.partition("=")
        if not sep or not eval_id or not task:
            raise InputError(f"--assign {item}: expected EVAL=TASK, e.g. cyber_knowledge=mmlu_security")
        pairs[eval_id] = task
    loaded = load_policy(policy)
    evidence = import_evidence(files, loaded.policy, assign=pairs or None, model=model)
    write_evidence(evidence, out)
    for eval_id, ev in evidence.items():
        est = next(iter(ev.metrics.values()), None)
        score = f"{est.value:.3f} [{est.low:.3f}, {est.high:.3f}] n={est.n}" if est else "-"
        Console().print(f"[bold]{_e(eval_id)}[/]  {ev.status.value}  {_e(score)}")
    err.print(
        f"[green]imported[/] {len(evidence)} eval(s) into {_e(out)}; `scalegate assess --evidence {_e(out)}`"
    )


def _load_cases(policy: Any, paths: list[Path]) -> list[tuple[Any, dict[str, str | None]]]:
    from scalegate.assessment import check_case_names
    from scalegate.safety_case import document_digests, load_case

    cases = [(load_case(p), p) for p in paths]
    check_case_names(policy, [c for c, _ in cases])
    return [(c, document_digests(c, p.parent)) for c, p in cases]


@case_app.command("check")
def case_check(
    files: Annotated[list[Path], typer.Argument(help="Safety case YAML files.")],
    policy: Annotated[str, typer.Option("--policy", "-p", help="Policy file or preset.")] = "reference",
    evidence_from: Annotated[
        Path | None,
        typer.Option(
            "--assessment",
            "-a",
            help="assessment.json (or its folder) whose evidence the eval links are checked against.",
        ),
    ] = None,
    protection: Annotated[
        list[str], typer.Option("--protection", help="A protection that is in place (repeatable).")
    ] = [],  # noqa: B006
) -> None:
    """Check safety cases against the policy's requirements and the evidence; draw each as a tree.

    Exit 0 when every case is supported, 3 when one is not (the claims that fail are named).
    """
    from scalegate.assessment import Assessment, check_protections
    from scalegate.policy import load_policy
    from scalegate.report.terminal import render_case
    from scalegate.safety_case import evaluate_case

    loaded = load_policy(policy)
    check_protections(loaded.policy, set(protection))
    evidence = {}
    if evidence_from is not None:
        path = evidence_from / "assessment.json" if evidence_from.is_dir() else evidence_from
        if not path.is_file():
            raise InputError(f"--assessment {evidence_from}: no assessment.json there")
        evidence = Assessment.model_validate_json(path.read_text()).evidence
    console = Console()
    unsupported = 0
    for case, docs in _load_cases(loaded.policy, files):
        result = evaluate_case(loaded.policy, case, evidence, set(protection), docs)
        render_case(result, console)
        unsupported += not result.supported
    if unsupported:
        raise typer.Exit(EXIT_REQUIRE)


def _check_writable(folder: Path, flag: str) -> None:
    """Before any model runs: the results folder can be created and written. Folders made for
    the check are removed again, so a command refused later leaves nothing behind."""
    made = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".scalegate-write-check-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        for p in made:  # deepest first
            p.rmdir()
    except OSError as exc:
        raise InputError(
            f"{flag} {folder}: cannot write there ({exc.strerror or exc}); choose a writable folder"
        ) from exc


def main() -> None:
    try:
        app()  # standalone: click maps usage errors to exit 2 and typer.Exit to its code
    except ScalegateError as exc:
        err.print(f"[bold red]error:[/] {_e(exc)}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("[red]interrupted[/]")
        sys.exit(130)
    except OSError as exc:  # the machine, not scalegate: a full disk, a read-only or missing path
        where = f" ({exc.filename})" if exc.filename else ""
        err.print(f"[bold red]error:[/] {_e(exc.strerror or exc)}{_e(where)}; nothing further was written")
        sys.exit(2)
    except Exception:
        err.print_exception()
        err.print("[bold red]internal error[/] (exit 1): please report it with the trace above")
        sys.exit(EXIT_INTERNAL)
