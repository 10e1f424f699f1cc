"""`scalegate export mlflow`: each assessment as an MLflow run, next to the training curves.

Logged through `MlflowClient` (no global active run, so nothing leaks into a caller's own
MLflow session). A run is created, filled, and only then marked FINISHED; one that fails
half-way is marked FAILED, and a later export ignores it. A folder already exported as a
FINISHED run (same `assessment.json` bytes) is skipped, so exporting twice adds nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from scalegate.errors import InputError
from scalegate.integrations.tracking import KEY_TAG, TrackedRun, artifacts

BATCH = 100  # MLflow's log_batch takes at most 100 params and 100 tags per call


@dataclass(frozen=True)
class Exported:
    run: TrackedRun
    run_id: str
    created: bool  # False: an earlier export holds it


def client(tracking_uri: str) -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise InputError("scalegate export mlflow needs MLflow: pip install 'scalegate[mlflow]'") from exc
    return MlflowClient(tracking_uri=tracking_uri)


def export(
    runs: Iterable[TrackedRun],
    tracking_uri: str,
    experiment: str,
    progress: Callable[[Exported], None] | None = None,
) -> list[Exported]:
    mlflow = client(tracking_uri)
    found = mlflow.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found is not None else mlflow.create_experiment(experiment)
    out = []
    for run in runs:
        done = _existing(mlflow, experiment_id, run.key)
        result = Exported(run, done, False) if done else Exported(run, _log(mlflow, experiment_id, run), True)
        out.append(result)
        if progress is not None:
            progress(result)
    return out


def _existing(mlflow: Any, experiment_id: str, key: str) -> str | None:
    hits = mlflow.search_runs(
        [experiment_id],
        filter_string=f"tags.`{KEY_TAG}` = '{key}' and attributes.status = 'FINISHED'",
        max_results=1,
    )
    return str(hits[0].info.run_id) if hits else None


def _log(mlflow: Any, experiment_id: str, run: TrackedRun) -> str:
    from mlflow.entities import Metric, Param, RunTag

    created = mlflow.create_run(experiment_id, start_time=run.started_ms, run_name=run.name)
    run_id = str(created.info.run_id)
    stamp = run.ended_ms or int(time.time() * 1000)
    try:
        params = [Param(k, v) for k, v in run.params.items()]
        tags = [RunTag(k, v) for k, v in run.tags.items()]
        metrics = [Metric(k, v, stamp, 0) for k, v in run.metrics.items()]
        for i in range(0, max(len(params), len(tags), len(metrics)), BATCH):
            mlflow.log_batch(
                run_id,
                metrics=metrics[i : i + BATCH],
                params=params[i : i + BATCH],
                tags=tags[i : i + BATCH],
            )
        with artifacts(run) as files:
            for path in files:
                mlflow.log_artifact(run_id, str(path))
    except BaseException:
        mlflow.set_terminated(run_id, "FAILED")
        raise
    mlflow.set_terminated(run_id, "FINISHED", end_time=run.ended_ms)
    return run_id
