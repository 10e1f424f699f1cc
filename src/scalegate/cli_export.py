"""`scalegate export mlflow|wandb`: assessments into the experiment trackers labs already run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from scalegate.errors import InputError, NotVerified, ScalegateError

if TYPE_CHECKING:
    from scalegate.integrations.tracking import TrackedRun

err = Console(stderr=True)
export_app = typer.Typer(
    help="Log assessments to an experiment tracker (MLflow, or W&B offline).", no_args_is_help=True
)

FoldersArg = Annotated[
    list[Path],
    typer.Argument(
        help="Assessment folders (what `scalegate assess -o DIR` wrote), or folders holding them "
        "(e.g. scalegate-results): every assessment.json below is exported.",
        show_default=False,
    ),
]


def _runs(folders: list[Path]) -> list[TrackedRun]:
    """Every assessment under the folders, each verified; any that fails stops the export
    before anything is logged, so a tracker never holds half a batch next to an edited folder."""
    from scalegate.integrations.tracking import tracked_run

    found: list[Path] = []
    for folder in folders:
        if not folder.is_dir():
            raise InputError(f"{folder}: not a folder; pass what `scalegate assess -o DIR` wrote")
        if (folder / "assessment.json").is_file():
            found.append(folder)
        else:
            found += sorted(p.parent for p in folder.rglob("assessment.json"))
    if not found:
        where = ", ".join(map(str, folders))
        raise InputError(f"no assessment.json under {where}; run `scalegate assess` first")
    runs, refused = [], []
    for folder in dict.fromkeys(found):
        try:
            runs.append(tracked_run(folder))
        except ScalegateError as exc:
            refused.append(f"{folder}: {exc}")
    if refused:
        raise NotVerified("nothing exported; these folders do not verify:\n  " + "\n  ".join(refused))
    return runs


@export_app.command("mlflow")
def mlflow_cmd(
    folders: FoldersArg,
    tracking_uri: Annotated[
        str,
        typer.Option(
            "--tracking-uri",
            help="The MLflow tracking server (http://host:5000) or store (sqlite:///mlflow.db, a folder).",
        ),
    ],
    experiment: Annotated[str, typer.Option(help="The experiment (created if new).")] = "scalegate",
) -> None:
    """Log each assessment as an MLflow run. Params: policy, model, weights hash, effective
    compute; metrics: each eval's score with its interval bounds, n and confidence (unusable
    evidence logs none; its status is a tag); tags: the decision per action, each domain's
    level; artifacts: assessment.json, policy.yaml, the capability and safeguards reports.
    Each folder is verified first; an assessment already exported is skipped.

    Example:

      scalegate export mlflow scalegate-results --tracking-uri http://127.0.0.1:5000
    """
    from scalegate.integrations import to_mlflow
    from scalegate.integrations.tracking import describe

    def said(done: to_mlflow.Exported) -> None:
        verb = "logged" if done.created else "already there"
        err.print(f"[green]{verb}[/] run {done.run_id}: {escape(describe(done.run))}")

    runs = _runs(folders)
    to_mlflow.export(runs, tracking_uri, experiment, progress=said)


@export_app.command("wandb")
def wandb_cmd(
    folders: FoldersArg,
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the offline runs are written (DIR/wandb/offline-run-*).")
    ] = Path("."),
    project: Annotated[str, typer.Option(help="The W&B project the runs sync into.")] = "scalegate",
) -> None:
    """Write each assessment as a W&B run in offline mode (nothing is uploaded): the same
    params, metrics, tags and artifacts as `export mlflow`. Upload later with
    `wandb sync DIR/wandb/offline-run-*`. An assessment already written into DIR is skipped.

    Example:

      scalegate export wandb scalegate-results --dir wandb-export --project rsp-evals
    """
    from scalegate.integrations import to_wandb
    from scalegate.integrations.tracking import describe

    def said(done: to_wandb.Written) -> None:
        verb = "wrote" if done.created else "already there"
        err.print(f"[green]{verb}[/] {escape(str(done.path))}: {escape(describe(done.run))}")

    runs = _runs(folders)
    written = to_wandb.export(runs, directory, project, progress=said)
    if written:
        err.print(f"upload with: wandb sync {escape(str(directory / 'wandb'))}/offline-run-*")
