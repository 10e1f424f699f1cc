"""`scalegate export wandb`: each assessment as a Weights & Biases run, in offline mode.

Nothing leaves the machine: runs are written under `DIR/wandb/offline-run-*` and uploaded
later by the user with `wandb sync`. The run id is the assessment's digest, so a folder
already exported into DIR is skipped, and syncing the same assessment twice updates one run.
Params go to the run's config (inputs), metrics to its history and summary, and the decision
per action, levels and evidence statuses to the summary as text and to tags (`decision:ACTION=STATUS`).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scalegate.errors import InputError
from scalegate.integrations.tracking import TrackedRun, artifacts

ID_LENGTH = 32  # W&B run ids: letters, digits, dashes and underscores


@dataclass(frozen=True)
class Written:
    run: TrackedRun
    path: Path  # the offline run's folder
    created: bool  # False: an earlier export into the same DIR holds it


def run_id(run: TrackedRun) -> str:
    return run.key[:ID_LENGTH]


def export(
    runs: Iterable[TrackedRun],
    directory: Path,
    project: str,
    progress: Callable[[Written], None] | None = None,
) -> list[Written]:
    try:
        import wandb
    except ImportError as exc:
        raise InputError("scalegate export wandb needs wandb: pip install 'scalegate[wandb]'") from exc
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for run in runs:
        found = _existing(directory, run)
        if found is None:
            result = Written(run, _log(wandb, directory, project, run), True)
        else:
            result = Written(run, found, False)
        out.append(result)
        if progress is not None:
            progress(result)
    return out


def _existing(directory: Path, run: TrackedRun) -> Path | None:
    hits = sorted((directory / "wandb").glob(f"offline-run-*-{run_id(run)}"))
    return hits[-1] if hits else None


def _log(wandb: Any, directory: Path, project: str, run: TrackedRun) -> Path:
    settings = wandb.Settings(silent=True, console="off", x_disable_stats=True, save_code=False)
    tags = [f"{k.split('/', 1)[1]}={v}"[:64] for k, v in run.tags.items() if k.startswith("decision/")]
    live = wandb.init(
        project=project,
        dir=str(directory),
        mode="offline",
        id=run_id(run),
        name=run.name,
        config=run.params,
        tags=[f"decision:{t}"[:64] for t in tags],
        job_type="assessment",
        settings=settings,
    )
    folder = Path(live.dir).parent  # DIR/wandb/offline-run-*/files -> the run's folder
    try:
        live.log(run.metrics)
        live.summary.update(run.tags)
        artifact = wandb.Artifact(f"assessment-{run_id(run)}", type="assessment")
        with artifacts(run) as files:
            for path in files:
                artifact.add_file(str(path), name=path.name)
            live.log_artifact(artifact)
    except BaseException:
        live.finish(exit_code=1)
        shutil.rmtree(folder, ignore_errors=True)  # half a run must not pass for an export later
        raise
    live.finish()
    return folder
