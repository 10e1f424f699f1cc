"""One eval's evidence, however it is obtained: reused, resumed, or run, then graded.

For each eval (one run per elicitation profile, pre- or post-mitigation) this looks, in
order, for: a complete log of its cache key in the output folder (`resume`), a complete log
in the evidence cache, and an interrupted log of that key in the output folder (`resume`),
whose completed samples are reused while the rest run. The model is loaded only when some
eval must actually run; a complete fresh log enters the cache. Every log is graded with the
policy's current rules (evals/grading.py), and the evidence is bound to the eval spec it
answers, so every later reader can re-grade it (docs/design/cache.md).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from scalegate.evals import cache as cache_mod
from scalegate.evals import elicitation, elicitation_checks, grading, sandbagging
from scalegate.evals.cache import CacheKey, EvidenceCache
from scalegate.evals.evidence import EvalEvidence, Reuse
from scalegate.evals.runner import ModelTarget, evidence_from_log, load_model, run_eval
from scalegate.policy.base import EvidenceStatus
from scalegate.policy.schema import CheckName, Policy, Statistics

#: (eval id, metric) -> the comparisons a sequential run settles, or None (run every sample)
StopAt = Callable[[str, str], "list[tuple[str, float]] | None"]


class Progress(Protocol):
    """What the caller shows while evals run (a progress bar per eval)."""

    def eval_started(self, eval_id: str, total: int | None) -> None: ...
    def sample_done(self) -> None: ...
    def eval_finished(self, evidence: EvalEvidence) -> None: ...


@dataclass
class Acquisition:
    """What every run of an assessment shares."""

    policy: Policy
    sample_limit: int | None
    target: ModelTarget
    out_dir: Path
    sink: Progress
    cache: EvidenceCache | None
    resume: bool
    max_days: int | None
    scratch: Path
    tasks: dict[str, Any]
    cannot: dict[str, str]  # run id -> why the task cannot take the run's profile
    stop_at: StopAt
    # loaded on first need (an assessment answered wholly from the cache loads none), one per
    # model: the target, and any fine-tuned or refusal-trained model a profile or mitigation names
    models: dict[str, _LazyModel] = field(default_factory=dict)

    def model_for(self, target: ModelTarget) -> _LazyModel:
        return self.models.setdefault(target.inspect_model, _LazyModel(target))


def acquire(ctx: Acquisition, eval_id: str, group: list[elicitation.Variant]) -> EvalEvidence:
    """One eval's evidence from its runs (one run, or several combined: the best profile),
    graded by the policy and bound to the eval spec it answers."""
    policy = ctx.policy
    required = policy.checks_for(eval_id) if group[0].side == "pre" else []
    # the probe's recovered score is one more profile: the best of them pays for it
    extra = int("fine_tune_probe" in required)
    statistics = elicitation.adjusted(policy.statistics, len(group) + extra)
    parts = {v.profile_name: _variant_evidence(ctx, v, statistics) for v in group}
    bound = grading.bind(policy.evals[eval_id])
    found = _checks(ctx, eval_id, group, required, statistics)
    if found.recovered is not None:
        parts[sandbagging.PROBE_PROFILE] = found.recovered
    update = {"spec": bound, "checks": found.records}
    if len(parts) == 1 and group[0].run_id == eval_id:
        return parts[group[0].profile_name].model_copy(update=update)
    post = policy.post_mitigation
    red = tuple(p for p in (post.red_team_profiles if post else []) if group[0].side == "post" and p in parts)
    combined = elicitation.combine(
        eval_id,
        parts,
        policy.evals[eval_id].metric,
        policy.statistics,
        mitigations=group[0].mitigations,
        red_team_profiles=red,
        worst_case=policy.evals[eval_id].worst_case,
    )
    return combined.model_copy(update=update)


def _checks(
    ctx: Acquisition,
    eval_id: str,
    group: list[elicitation.Variant],
    required: list[CheckName],
    statistics: Statistics,
) -> sandbagging.CheckRun:
    """The sandbagging checks the policy requires of this eval, on the target model's plain run
    (its zero-shot variant, else its first on the target); none on the post-mitigation side."""
    if not required:
        return sandbagging.CheckRun([])
    plain = [v for v in group if v.model is None and not v.mitigations]
    zero_shot = [v for v in plain if v.profile_name == elicitation.DEFAULT_PROFILE]
    base = (zero_shot or plain)[0] if plain else None
    if base is None or base.run_id in ctx.cannot:
        why = "no run of this eval on the target model to check"
        return sandbagging.CheckRun([elicitation_checks.not_applicable(n, why) for n in required])
    from scalegate.evals.model_ref import weights_target

    run_id = f"{eval_id}@checks"
    ctx.sink.eval_started(run_id, None)
    found = sandbagging.run_checks(
        eval_id,
        required,
        ctx.model_for(weights_target(ctx.target)).get(),
        ctx.tasks.get(base.run_id),
        ctx.policy.evals[eval_id],
        statistics,
        ctx.policy.evidence,
    )
    ctx.sink.eval_finished(
        found.recovered
        or EvalEvidence(
            eval_id=run_id,
            status=EvidenceStatus.ok,
            message="; ".join(f"{r.check}: {r.status}" for r in found.records),
        )
    )
    return found


def run_key(
    policy: Policy,
    variant: elicitation.Variant,
    task: Any,
    target: ModelTarget,
    statistics: Statistics,
    stop_at: list[tuple[str, float]] | None,
) -> CacheKey | None:
    """The evidence cache key of one run: what a worker of a sharded run must reproduce, so
    its logs stand for the run exactly as a single process's would."""
    elicit, mitigation = variant.key_parts()
    return cache_mod.eval_key(
        variant.spec,
        task,
        target,
        statistics=statistics,
        rules=policy.evidence,
        stop_at=stop_at,
        elicitation=elicit,
        mitigation=mitigation,
    )


def _variant_evidence(ctx: Acquisition, variant: elicitation.Variant, statistics: Statistics) -> EvalEvidence:
    from scalegate.evals.model_ref import target_for

    run_id = variant.run_id
    task: Any = ctx.tasks.get(run_id)
    ctx.sink.eval_started(run_id, len(task.dataset) if hasattr(task, "dataset") else None)
    if run_id in ctx.cannot:
        ev = EvalEvidence(eval_id=run_id, status=EvidenceStatus.missing, message=ctx.cannot[run_id])
    else:
        target = ctx.target if variant.model is None else target_for(variant.model)
        stop_at = ctx.stop_at(variant.eval_id, variant.spec.metric)
        key = run_key(ctx.policy, variant, task, target, statistics, stop_at)
        ev = _evidence_for(
            run_id,
            variant.spec,
            task,
            target,
            ctx.policy,
            ctx.sample_limit,
            ctx.out_dir,
            key=key,
            model=ctx.model_for(target),
            sink=ctx.sink,
            stop_at=stop_at,
            cache=ctx.cache,
            resume=ctx.resume,
            max_days=ctx.max_days,
            scratch=ctx.scratch,
            statistics=statistics,
        )
    ctx.sink.eval_finished(ev)
    return ev


class _LazyModel:
    """The Inspect model, loaded at most once and only when an eval must run."""

    def __init__(self, target: ModelTarget) -> None:
        self.target = target
        self.model: Any = None
        self.error: str | None = None
        self.tried = False

    def get(self) -> Any:
        if not self.tried:
            self.tried = True
            try:
                self.model = load_model(self.target)
            except Exception as exc:  # e.g. a provider without credentials: the eval fails closed
                self.error = f"cannot load model {self.target.inspect_model}: {type(exc).__name__}: {exc}"
        return self.model


def _evidence_for(
    eval_id: str,
    spec: Any,
    task: Any,
    target: ModelTarget,
    policy: Policy,
    sample_limit: int | None,
    out_dir: Path,
    *,
    key: CacheKey | None,
    model: _LazyModel,
    sink: Progress,
    stop_at: list[tuple[str, float]] | None,
    cache: EvidenceCache | None,
    resume: bool,
    max_days: int | None,
    scratch: Path,
    statistics: Statistics,
) -> EvalEvidence:
    """One eval's evidence: reused from a complete log where one may stand for its key, else run
    (resuming an interrupted log of this output folder where there is one)."""
    # one folder per run, so a log's place names its eval (Inspect names the file by the task,
    # which several evals share); logs of the older flat layout still resume
    log_dir = out_dir / "logs" / eval_id

    def grade(log: Any, reuse: Reuse, started: str | None, completed: str | None) -> EvalEvidence:
        ev = evidence_from_log(eval_id, spec, log, target, rules=policy.evidence, statistics=statistics)
        for _ in range(ev.n_scored):
            sink.sample_done()
        update: dict[str, Any] = {"started_at": started, "completed_at": completed or ev.completed_at}
        if ev.provenance is not None:
            update["provenance"] = ev.provenance.model_copy(
                update={"cache_key": key.digest if key else None, "reused": reuse}
            )
        return ev.model_copy(update=update)

    found = (
        cache_mod.logs_for_key(log_dir, key.digest) or cache_mod.logs_for_key(log_dir.parent, key.digest)
        if key is not None and resume
        else []
    )
    # 1. this folder's own complete log of the eval (`--resume` after the eval had finished)
    for f in found:
        if f.status != "success":
            continue
        reused = _complete_log(f.path, eval_id, spec, target, policy, max_days, statistics)
        if reused is not None:
            log, started, completed = reused
            kind = Reuse(kind="resumed_eval", source=str(f.path), ran_at=completed)
            return grade(log, kind, started, completed)
    # 2. the evidence cache
    if key is not None and cache is not None:
        hit = cache.lookup(key, max_days).entry
        if hit is not None:
            log = _copy_cached_log(hit, log_dir)
            if log is not None:
                started = hit.meta.get("started_at")
                reuse = Reuse(kind="cache", source=str(hit.folder), ran_at=hit.ran_at)
                return grade(log, reuse, started, hit.ran_at)
    # 3. run it, from an interrupted log of this folder where there is one
    if model.get() is None:
        return EvalEvidence(eval_id=eval_id, status=EvidenceStatus.error, message=model.error)
    # Any log of this key not reused above may be resumed (a `success` one with errored
    # samples too: those run again), unless its samples are older than the cadence allows.
    previous = cache_mod.best_previous(found, scratch, max_days) if found else None

    def run(prev: Any) -> EvalEvidence:
        return run_eval(
            eval_id,
            spec,
            target,
            log_dir=log_dir,
            rules=policy.evidence,
            statistics=statistics,
            task=task,
            sample_limit=sample_limit,
            model=model.model,
            on_sample=sink.sample_done,
            stop_at=stop_at,
            previous=prev,
            metadata={cache_mod.KEY_METADATA: key.digest} if key is not None else None,
        )

    ev: EvalEvidence | None = None
    if previous is not None:
        prev_log, prev_found = previous
        n_reused = cache_mod.reusable_samples(prev_log)
        for _ in range(n_reused):
            sink.sample_done()
        try:
            ev = run(prev_log)
        except Exception:  # e.g. an Inspect without PreviousTask: run the eval afresh
            ev = None
        if ev is not None and ev.log_path is None:  # Inspect could not resume it: afresh
            ev = None
        elif ev is not None and ev.provenance is not None:
            reuse = Reuse(
                kind="resumed_samples",
                source=str(prev_found.path),
                ran_at=prev_found.created,
                samples_reused=n_reused,
            )
            ev = ev.model_copy(update={"provenance": ev.provenance.model_copy(update={"reused": reuse})})
    if ev is None:
        ev = run(None)
    if key is not None and ev.provenance is not None:
        ev = ev.model_copy(update={"provenance": ev.provenance.model_copy(update={"cache_key": key.digest})})
    if key is not None and cache is not None and ev.log_path is not None:
        _store(cache, key, Path(ev.log_path), eval_id, ev)
    return ev


def _complete_log(
    path: Path,
    eval_id: str,
    spec: Any,
    target: ModelTarget,
    policy: Policy,
    max_days: int | None,
    statistics: Statistics,
) -> tuple[Any, str | None, str | None] | None:
    """A finished log of this folder that may stand for its eval: complete and not stale."""
    from inspect_ai.log import read_eval_log

    try:
        log = read_eval_log(str(path))
        ev = evidence_from_log(eval_id, spec, log, target, rules=policy.evidence, statistics=statistics)
    except Exception:
        return None
    started, completed = cache_mod.log_times(log)
    if not cache_mod.is_complete(log, ev) or cache_mod.too_old(completed, max_days) is not None:
        return None
    return log, started, completed


def _copy_cached_log(hit: cache_mod.CacheEntry, log_dir: Path) -> Any | None:
    """The cached log, copied into this output folder so the folder stands on its own."""
    from inspect_ai.log import read_eval_log

    name = Path(str(hit.meta.get("original_log") or "cached.eval")).name
    log_dir.mkdir(parents=True, exist_ok=True)
    dest = log_dir / name
    try:
        if not dest.exists():
            tmp = dest.with_name(f".{name}.{os.getpid()}.tmp")
            shutil.copyfile(hit.log, tmp)
            os.replace(tmp, dest)
        return read_eval_log(str(dest))
    except Exception:
        return None


def _store(cache: EvidenceCache, key: CacheKey, log_path: Path, eval_id: str, ev: EvalEvidence) -> None:
    """Put a complete log in the cache; an incomplete one never enters it."""
    from inspect_ai.log import read_eval_log

    try:
        header = read_eval_log(str(log_path), header_only=True)
        if cache_mod.is_complete(header, ev):
            cache.put(key, log_path, eval_id, header)
    except OSError:
        pass  # a cache that cannot be written costs a re-run later, never a wrong result
