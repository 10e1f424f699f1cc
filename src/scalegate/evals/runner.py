"""Run a policy's eval through Inspect and turn its log into fail-closed evidence.

Inspect's defaults suit exploration: a run can end `success` with errored samples, and model
calls retry forever. scalegate bounds retries, counts every errored, missing and unreadable
sample, and grades the result with an EvidenceStatus that a gate can trust.

With `statistics.sequential` the eval stops once a confidence sequence settles every
threshold given in `stop_at` (sequential.py); samples skipped that way are planned not to run,
so they do not make the evidence `partial`, while errored ones still do.

`previous` resumes an interrupted eval the way Inspect's own `eval_retry` does: the earlier
log's completed samples are reused (copied into the new log, never run again) and only the
rest run. It goes through Inspect's `PreviousTask`, which `eval_retry` and `eval_set` use,
because `eval_retry` itself rebuilds the task from the registry and reloads the model, which
would drop the sequential manager and load the weights a second time (docs/design/cache.md).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from scalegate.errors import InputError
from scalegate.evals import grading, sequential
from scalegate.evals.evidence import EvalEvidence, Provenance
from scalegate.policy.base import EvidenceStatus
from scalegate.policy.schema import EvalSpec, EvidenceRules, Statistics

SCALEGATE_PREFIX = "scalegate/"
#: Bounded retries and a per-call timeout: a gate must finish, and say so if it could not.
MAX_RETRIES = 3
CALL_TIMEOUT_S = 300
#: Stop an eval early when this share of samples errors (its evidence is unusable anyway).
FAIL_ON_ERROR = 0.2

#: Eval metadata naming the sha256 of the local weights a log was produced from.
WEIGHTS_METADATA = "scalegate_weights_sha256"

#: The generation settings every eval runs with; part of the evidence cache key.
GENERATE_CONFIG: dict[str, Any] = {"temperature": 0.0}

SampleCallback = Callable[[], None]


@dataclass(frozen=True)
class ModelTarget:
    """The model under assessment, as Inspect will call it, and how it was identified."""

    reference: str  # what the user typed (or the bundled default's name)
    inspect_model: str  # the Inspect model string actually used
    model_args: dict[str, Any] = field(default_factory=dict)
    weights_sha256: str | None = None


def task_factory(spec: EvalSpec) -> Any | None:
    """The task function of a scalegate task, None for a task Inspect resolves by name."""
    if not spec.task.startswith(SCALEGATE_PREFIX):
        return None
    from scalegate.evals import _registry

    return getattr(_registry, spec.task.removeprefix(SCALEGATE_PREFIX), None)


def build_task(spec: EvalSpec, sample_limit: int | None = None) -> Any:
    """A scalegate task object, built early so bad task args fail before any model call.

    Other tasks stay names for Inspect to resolve (registry names, files).
    """
    factory = task_factory(spec)
    if factory is None:
        return spec.task  # Inspect resolves it (or reports it not found: evidence `missing`)
    args = dict(spec.args)
    if sample_limit is not None:
        args["limit"] = min(sample_limit, args.get("limit") or sample_limit)
    try:
        task = factory(**args)
    except TypeError as exc:
        raise InputError(f"task {spec.task}: bad arguments {sorted(args)}: {exc}") from exc
    check_epochs(spec, getattr(task, "epochs", None))
    return task


def check_epochs(spec: EvalSpec, epochs: int | None) -> None:
    """Epochs at temperature 0 (every scalegate run) repeat one answer: more of them add no
    information, and a reader could mistake them for more samples. Refused unless the policy
    says why (`epochs_reason`); graded, they are averaged per sample either way."""
    if epochs is not None and epochs > 1 and not spec.epochs_reason:
        raise InputError(
            f"task {spec.task}: {epochs} epochs at temperature {GENERATE_CONFIG['temperature']:g} repeat "
            "the same answer and add no information; use one epoch, or give the eval an `epochs_reason` "
            "saying why repeats differ (each sample still counts once)"
        )


def load_model(target: ModelTarget) -> Any:
    """Load the model once per assessment; every eval reuses it (a local model is loaded,
    not re-read from disk, for each eval)."""
    from inspect_ai.model import get_model

    with contextlib.redirect_stdout(io.StringIO()):
        return get_model(target.inspect_model, memoize=False, **target.model_args)


def run_eval(
    eval_id: str,
    spec: EvalSpec,
    target: ModelTarget,
    *,
    log_dir: Path | str,
    rules: EvidenceRules,
    statistics: Statistics,
    task: Any | None = None,
    sample_limit: int | None = None,
    model: Any | None = None,
    on_sample: SampleCallback | None = None,
    stop_at: Sequence[tuple[str, float]] | None = None,
    previous: Any | None = None,
    metadata: dict[str, Any] | None = None,
    sample_ids: Sequence[str | int] | None = None,
    stopping: Any | None = None,
) -> EvalEvidence:
    """Run one eval and grade it. `model`: an Inspect Model from `load_model` (else loaded
    from `target`); `task`: a Task object from `build_task` (else `spec.task` by name).

    `stop_at`: the policy's comparisons on this eval's metric, as ("at_least" | "at_most",
    value) pairs (`sequential.thresholds_for`). With `statistics.sequential` on, a Task object
    then runs its samples in a seeded order and stops once the confidence sequence settles
    every one of them. None or empty: every sample runs, as without `sequential`.

    `previous`: an EvalLog of the same eval (same cache key) that did not complete; its
    samples that completed without error are reused and only the others run. Needs a Task
    object. `metadata`: added to the Inspect log's eval metadata (the cache key).
    `sample_ids`: run only these samples of a Task object (one shard of a scaled-out run,
    `scalegate.scale`); the shard's log is graded only once merged with its siblings.
    `stopping`: for a sequential run, an Inspect early-stopping manager used in place of the
    run's own rule (a shard of a distributed run: the coordinator's rule stops it). `log_dir`:
    a folder or an fsspec URL.
    """
    from inspect_ai import Task
    from inspect_ai import eval as inspect_eval

    from scalegate.evals import progress

    if sample_ids is not None and not list(sample_ids):
        raise ValueError("an empty sample selection: Inspect would read it as every sample")
    started = _now()
    task_obj = task if task is not None else spec.task
    task_args = {} if not isinstance(task_obj, str) else dict(spec.args)
    note = None
    plan = sequential_config(task_obj, statistics, rules, stop_at)
    if plan is not None and isinstance(task_obj, Task):
        task_obj = sequential.sequential_task(
            task_obj,
            plan["stop_at"],
            plan["confidence"],
            min_samples=plan["min_samples"],
            seed=plan["seed"],
        )
        if stopping is not None:
            task_obj.early_stopping = stopping
    elif statistics.sequential and stop_at:
        note = "sequential: no early stop, the task was not built as a Task object; every sample ran"
    base = _provenance(spec, target)
    to_run: Any = task_obj
    if previous is not None:
        if not isinstance(task_obj, Task):
            raise ValueError("resuming an eval needs a Task object, not a task name")
        from inspect_ai._eval.task import PreviousTask

        to_run = PreviousTask(
            id=previous.eval.task_id,
            task=task_obj,
            task_args=task_args,
            model=None,
            model_roles=None,
            sandbox=None,
            log=previous,
            log_info=None,
        )
    try:
        # Inspect announces hooks with print(); stdout belongs to scalegate (`--json`).
        with progress.sample_callback(on_sample), contextlib.redirect_stdout(io.StringIO()):
            logs = inspect_eval(
                to_run,
                task_args=task_args,
                model=model if model is not None else target.inspect_model,
                model_args={} if model is not None else target.model_args,
                log_dir=str(log_dir),
                log_format="eval",
                display="none",
                max_retries=MAX_RETRIES,
                timeout=CALL_TIMEOUT_S,
                fail_on_error=FAIL_ON_ERROR,
                limit=sample_limit if isinstance(task_obj, str) else None,
                sample_id=list(sample_ids) if sample_ids is not None else None,
                # the weights the log was produced from, so an import can pin them
                metadata={**(metadata or {}), WEIGHTS_METADATA: target.weights_sha256}
                if target.weights_sha256
                else metadata,
                **GENERATE_CONFIG,
            )
    except Exception as exc:  # Inspect raises for unknown tasks, bad args, provider failures
        text = f"{type(exc).__name__}: {exc}"
        status = EvidenceStatus.missing if _is_not_found(exc) else EvidenceStatus.error
        return EvalEvidence(
            eval_id=eval_id,
            status=status,
            message=text[:2000],
            provenance=base,
            started_at=started,
            completed_at=_now(),
        )
    if not logs:
        return EvalEvidence(
            eval_id=eval_id,
            status=EvidenceStatus.missing,
            message="Inspect ran no task",
            provenance=base,
            started_at=started,
            completed_at=_now(),
        )
    return evidence_from_log(
        eval_id, spec, logs[0], target, rules=rules, statistics=statistics, started_at=started, note=note
    )


#: the metadata a merged shard log carries (scalegate.scale.merge): where each shard ran
SCALE_OUT_METADATA = "scalegate_merged"


def sequential_config(
    task: Any, statistics: Statistics, rules: EvidenceRules, stop_at: Sequence[tuple[str, float]] | None
) -> dict[str, Any] | None:
    """How `run_eval` will stop this task early: None when every sample runs (sequential off,
    nothing to settle, or a task given by name). Part of the evidence cache key, since the
    log of a sequential run depends on it."""
    from inspect_ai import Task

    if not (statistics.sequential and stop_at):
        return None
    if not isinstance(task, Task) or task.sample_source is not None:
        return None
    return {
        "stop_at": [[op, float(v)] for op, v in stop_at],
        "confidence": statistics.confidence,
        "min_samples": rules.min_samples,
        "seed": statistics.sequential_seed,
    }


def evidence_from_log(
    eval_id: str,
    spec: EvalSpec,
    log: Any,
    target: ModelTarget,
    *,
    rules: EvidenceRules,
    statistics: Statistics,
    started_at: str | None = None,
    note: str | None = None,
) -> EvalEvidence:
    """Grade an Inspect EvalLog. The order of checks is the order of severity.

    A log stopped by scalegate's sequential manager is estimated on the samples its rule used,
    always with the confidence sequence (whatever `statistics.interval` says: a fixed-n
    interval after optional stopping would be invalid), and its skipped samples are not
    counted as missing. `note` is added to the evidence message.
    """
    from inspect_ai.log import read_eval_log

    if log.samples is None and log.location:
        log = read_eval_log(log.location)
    samples = list(log.samples or [])
    meta = (log.eval.metadata or {}).get("scalegate_provenance", {})
    ids = sorted(str(s.id) for s in samples)
    provenance = _provenance(
        spec,
        target,
        task_version=log.eval.task_version,
        dataset_sha256=meta.get("dataset_sha256"),
        prompts_sha256=meta.get("prompts_sha256"),
        prompt_format=meta.get("prompt_format"),
        sample_ids_sha256=hashlib.sha256(json.dumps(ids).encode()).hexdigest(),
        seed=meta.get("seed"),
        inspect_run_id=log.eval.run_id,
        inspect_eval_id=log.eval.eval_id,
        scale_out=(log.eval.metadata or {}).get(SCALE_OUT_METADATA),
    )
    dataset_n = log.eval.dataset.samples if log.eval.dataset else None
    epochs = log.eval.config.epochs or 1
    planned = dataset_n
    if log.eval.config.limit is not None and planned is not None:
        limit = log.eval.config.limit
        planned = min(planned, limit) if isinstance(limit, int) else planned

    listed = planned  # what the run set out to score; `planned` becomes what grading expects
    record = sequential.record_from_log(log)
    cluster = spec.cluster or statistics.cluster
    observations = [observe_sample(s, cluster) for s in samples]
    ran = {o.sample_id for o in observations if not o.error and o.value is not None}
    problem = None
    if record is not None:
        # The confidence sequence holds at every n at once, so it may be read at the stopping n at
        # the policy's own confidence, even one other than the level the rule stopped at.
        by_key = {(s.id, s.epoch): o for s, o in zip(samples, observations, strict=True)}
        used = [by_key.get((key[0], key[1])) for key in record.get("used", [])]
        successes = sum(o.value or 0 for o in used if o is not None)
        matches = (
            None not in used and len(used) == record.get("n_used") and successes == record.get("successes")
        )
        if used and not matches:
            problem = "the sequential stopping record does not match the logged sample scores"
        # the estimate reads the samples the rule used; errors and unreadable answers are
        # counted over every sample that ran
        kept = {o.sample_id for o in used if o is not None}
        observations = [o for o in observations if o.sample_id in kept or o.error or o.value is None]
        if planned is not None:
            planned -= int(record.get("early_stops", 0))
            # every planned sample ran (some after the stop, outside the estimate): complete
            planned = len(kept) if len(ran) >= planned else planned
        note = "; ".join(x for x in (note, sequential.describe(record)) if x)
    if log.status == "cancelled":
        run_status, run_error = "cancelled", "the Inspect run was cancelled"
    elif log.status != "success":
        detail = log.error.message if log.error else f"status {log.status}"
        run_status, run_error = "error", f"the Inspect run did not succeed: {detail}"[:2000]
    elif problem is not None:
        run_status, run_error = "error", problem
    else:
        run_status, run_error = "success", None
    counts = grading.tally(
        observations,
        planned=planned,
        epochs=epochs,
        n_options=max((len(s.choices) for s in samples if s.choices), default=None),
        cluster_field=cluster,
        sequential=record is not None,
        run_status=run_status,  # type: ignore[arg-type]
        run_error=run_error,
    )
    if epochs > 1 and not _temperature(log) > 0 and not spec.epochs_reason:
        extra = (
            f"{epochs} epochs at temperature 0 repeat one answer: averaged per sample (n = {counts.scored})"
        )
        note = "; ".join(x for x in (note, extra) if x)
    status, message, metrics = grading.grade(counts, spec, statistics, rules)
    if note:
        message = f"{message}; {note}" if message else note
    methods: Counter[str] = Counter(
        str(m)
        for s in samples
        for sc in list((s.scores or {}).values())[:1]
        if (m := (sc.metadata or {}).get("method"))
    )
    return EvalEvidence(
        eval_id=eval_id,
        status=status,
        message=message[:2000] if message else None,
        metrics=metrics,
        n_planned=listed,
        # every sample that ran and was scored; the estimate's n may be fewer (a sequential stop)
        n_scored=max(counts.scored, len(ran)) if record is not None else counts.scored,
        n_errors=counts.errors,
        n_unparsed=counts.unparsed,
        scoring_methods=dict(methods),
        log_path=str(log.location) if log.location else None,
        provenance=provenance,
        started_at=started_at or log.eval.created,
        completed_at=_now(),
        counts=counts,
        spec=grading.bind(spec),
        note=note[:1000] if note else None,
    )


def _temperature(log: Any) -> float:
    """The sampling temperature a log ran at (0 when it records none: read as deterministic)."""
    for config in (getattr(log.plan, "config", None), getattr(log.eval, "model_generate_config", None)):
        value = getattr(config, "temperature", None)
        if isinstance(value, int | float):
            return float(value)
    return 0.0


def observe_sample(sample: Any, cluster: str | None) -> grading.Observation:
    """One (sample, epoch) of an Inspect log: its first score read through grading.observe."""
    value: int | None = None
    error, unparsed, choice = sample.error is not None, False, None
    if not error:
        if not sample.scores:
            error = True  # never scored: the instrument did not run
        else:
            score = next(iter(sample.scores.values()))
            reason = getattr(score, "reason", None)
            value, error, unparsed = grading.observe(score.value, reason, score.metadata)
            if sample.choices and isinstance(score.answer, str) and score.answer.strip():
                choice = score.answer.strip()
    meta = sample.metadata or {}
    first = next(iter(sample.scores.values())) if sample.scores else None
    blocked = first is not None and (first.metadata or {}).get("blocked") is not None
    return grading.Observation(
        sample_id=str(sample.id),
        value=value,
        error=error,
        unparsed=unparsed,
        blocked=blocked,
        choice=choice,
        cluster=None if cluster is None or meta.get(cluster) is None else str(meta.get(cluster)),
    )


def _provenance(spec: EvalSpec, target: ModelTarget, **run: Any) -> Provenance:
    """What identifies the model, task and code; `run` adds what only the Inspect log knows."""
    return Provenance(
        model=target.reference,
        model_args=target.model_args,
        weights_sha256=target.weights_sha256,
        task=spec.task,
        task_args=dict(spec.args),
        packages=package_versions(),
        **run,
    )


def _is_not_found(exc: Exception) -> bool:
    """Inspect has no dedicated exception for an unknown task; recognise its messages."""
    text = str(exc).lower()
    return isinstance(exc, FileNotFoundError | ModuleNotFoundError) or any(
        marker in text for marker in ("no inspect tasks were found", "not found", "no such file")
    )


def package_versions() -> dict[str, str]:
    out = {}
    for name in ("scalegate", "inspect_ai", "transformers", "torch"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
