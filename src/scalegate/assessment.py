"""One assessment, end to end: plan -> evidence -> scorecard -> decision, written as it goes.

This is the thin shell around the pure core: it calls models (through the runner) and writes
files. Evidence is written per eval as soon as it exists, so a crash loses at most the eval
in flight, and the final `assessment.json` carries every input needed to recompute the
decision.

Each eval that scalegate builds as a Task has a cache key (evals/cache.py). Before running it,
the shell looks, in order, for: a complete log of that key in this output folder (`resume`),
a complete log in the evidence cache, and an interrupted log of that key in this output folder
(`resume`), whose completed samples are reused while the rest run. The model is loaded only
when some eval must actually run. A complete fresh log enters the cache. Reused logs are
always regraded with the policy's current rules; one older than `cadence.max_days` is stale
and runs again (docs/design/cache.md).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from scalegate import __version__
from scalegate.errors import InputError
from scalegate.evals import cache as cache_mod
from scalegate.evals import elicitation
from scalegate.evals.availability import unavailable
from scalegate.evals.cache import CacheKey, EvidenceCache
from scalegate.evals.evidence import EvalEvidence, Reuse
from scalegate.evals.runner import (
    ModelTarget,
    build_task,
    evidence_from_log,
    load_model,
    run_eval,
    task_factory,
)
from scalegate.gates import Decision, decide
from scalegate.plan import Checkpoint, Plan
from scalegate.policy.loader import LoadedPolicy
from scalegate.policy.schema import EvidenceStatus, Policy, Statistics
from scalegate.recompute import decide_again
from scalegate.safety_case import CaseResult, SafetyCase, evaluate_case
from scalegate.scoring import Scorecard, build_scorecard

ASSESSMENT_SCHEMA = "scalegate.assessment/1"
RUN_SCHEMA = "scalegate.run/1"
#: Written when an assessment starts: what `--resume` checks it continues the same assessment.
RUN_FILE = "run.json"


class PolicyRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    sha256: str
    source: str


class ModelRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    reference: str
    inspect_model: str
    model_args: dict[str, Any] = Field(default_factory=dict)
    weights_sha256: str | None = None


class Assessment(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)

    schema_: str = Field(ASSESSMENT_SCHEMA, alias="schema")
    scalegate_version: str
    started_at: str
    completed_at: str
    policy: PolicyRef
    model: ModelRef
    checkpoint: Checkpoint
    sample_limit: int | None = None
    protections_in_place: list[str]
    evidence: dict[str, EvalEvidence]
    # post-mitigation evidence, where the policy says how to gather it (`post_mitigation:`)
    post_evidence: dict[str, EvalEvidence] | None = None
    scorecard: Scorecard
    decision: Decision
    # the safety cases submitted, each with its verdict and the document digests it was
    # checked against, so the verdict can be recomputed from the record
    safety_cases: dict[str, CaseResult] = Field(default_factory=dict)
    output_dir: str | None = None


class Progress(Protocol):
    """What the shell reports while it works; the CLI draws it, tests may ignore it."""

    def eval_started(self, eval_id: str, total: int | None) -> None: ...
    def sample_done(self) -> None: ...
    def eval_finished(self, evidence: EvalEvidence) -> None: ...


class _Silent:
    def eval_started(self, eval_id: str, total: int | None) -> None:
        pass

    def sample_done(self) -> None:
        pass

    def eval_finished(self, evidence: EvalEvidence) -> None:
        pass


def run_assessment(
    loaded: LoadedPolicy,
    plan: Plan,
    target: ModelTarget,
    out_dir: Path,
    protections_in_place: set[str] | None = None,
    progress: Progress | None = None,
    cases: Sequence[tuple[SafetyCase, dict[str, str | None]]] = (),
    imported: dict[str, EvalEvidence] | None = None,
    cache: EvidenceCache | None = None,
    resume: bool = False,
) -> Assessment:
    """`cases`: safety cases with the digests of the documents they cite (see
    `scalegate.safety_case.document_digests`), checked against this assessment's evidence.

    `cache`: the evidence cache to read and fill (None: neither). `resume`: `out_dir` holds
    an interrupted run of this same assessment (its `run.json` must match); its complete
    logs are reused and its interrupted ones resumed sample by sample."""
    policy = loaded.policy
    protections = set(protections_in_place or ())
    check_protections(policy, protections)
    check_case_names(policy, [c for c, _ in cases])
    sink: Progress = progress or _Silent()
    # Every run of every eval (one per elicitation profile, pre- and post-mitigation), its task
    # built first: bad task arguments are input errors, found before any model call.
    runs = {p.eval_id: elicitation.variants(policy, p.eval_id, "pre") for p in plan.evals}
    post_runs = {
        e: elicitation.variants(policy, e, "post") for e in elicitation.post_evals(policy) if e in runs
    }
    every = [v for group in (*runs.values(), *post_runs.values()) for v in group]
    # a run the task cannot take is `missing` (fail closed), never an error for the assessment
    cannot = {v.run_id: why for v in every if (why := elicitation.unsupported(v, task_factory(v.spec)))}
    tasks = {v.run_id: build_task(v.spec, plan.sample_limit) for v in every if v.run_id not in cannot}
    run_record = _run_record(loaded, plan, target, protections)
    started = _start_run(out_dir, run_record, resume)
    evidence_dir = out_dir / "evidence"
    evidence_dir.mkdir(parents=True, exist_ok=True)
    absent = {p.eval_id: why for p in plan.evals if (why := unavailable(p.spec)) is not None}
    # imported evidence (`scalegate evidence import`) stands in for a run: no model call
    given = _imported_for(plan, target, imported or {}, policy)
    absent.update(dict.fromkeys(given, "imported"))
    scratch = Path(tempfile.mkdtemp(prefix="scalegate-resume-"))
    ctx = _Context(
        loaded=loaded,
        plan=plan,
        target=target,
        out_dir=out_dir,
        sink=sink,
        cache=cache,
        resume=resume,
        max_days=policy.cadence.max_days if policy.cadence is not None else None,
        scratch=scratch,
        tasks=tasks,
        cannot=cannot,
        cases=cases,
    )
    evidence: dict[str, EvalEvidence] = {}
    post_evidence: dict[str, EvalEvidence] = {}
    try:
        for planned in plan.evals:
            eval_id = planned.eval_id
            if eval_id in given:
                ev = given[eval_id]
            elif eval_id in absent:
                ev = EvalEvidence(eval_id=eval_id, status=EvidenceStatus.missing, message=absent[eval_id])
            else:
                ev = _eval_evidence(ctx, eval_id, runs[eval_id])
            evidence[eval_id] = ev
            _write_json(evidence_dir / f"{eval_id}.json", ev.model_dump(mode="json"))
            if eval_id in absent:  # no run: still reported, as every eval is
                sink.eval_started(eval_id, None)
                sink.eval_finished(ev)
        for eval_id, group in post_runs.items():
            if eval_id in absent:
                why = "imported" if eval_id in given else absent[eval_id]
                ev = EvalEvidence(
                    eval_id=eval_id, status=EvidenceStatus.missing, message=f"post-mitigation: {why}"
                )
            else:
                ev = _eval_evidence(ctx, eval_id, group)
            post_evidence[eval_id] = ev
            _write_json(evidence_dir / f"{eval_id}.post.json", ev.model_dump(mode="json"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    scorecard = _scorecard(policy, evidence, plan.checkpoint, post_evidence if post_runs else None)
    case_results = {
        case.case: evaluate_case(policy, case, evidence, protections, docs) for case, docs in cases
    }
    decision = decide(policy, scorecard, protections, case_results)
    result = Assessment(
        scalegate_version=__version__,
        started_at=started,
        completed_at=_now(),
        policy=PolicyRef(
            name=policy.policy.name,
            version=policy.policy.version,
            sha256=loaded.sha256,
            source=loaded.source,
        ),
        model=ModelRef(
            reference=target.reference,
            inspect_model=target.inspect_model,
            model_args=target.model_args,
            weights_sha256=target.weights_sha256,
        ),
        checkpoint=plan.checkpoint,
        sample_limit=plan.sample_limit,
        protections_in_place=sorted(protections),
        evidence=evidence,
        post_evidence=post_evidence if post_runs else None,
        scorecard=scorecard,
        decision=decision,
        safety_cases=case_results,
        output_dir=str(out_dir),
    )
    _write_json(out_dir / "assessment.json", result.model_dump(mode="json"))
    (out_dir / "policy.yaml").write_text(loaded.text, encoding="utf-8")
    return result


@dataclass
class _Context:
    """What every run of an assessment shares."""

    loaded: LoadedPolicy
    plan: Plan
    target: ModelTarget
    out_dir: Path
    sink: Progress
    cache: EvidenceCache | None
    resume: bool
    max_days: int | None
    scratch: Path
    tasks: dict[str, Any]
    cannot: dict[str, str]  # run id -> why the task cannot take the run's profile
    cases: Sequence[tuple[SafetyCase, dict[str, str | None]]]
    # loaded on first need (an assessment answered wholly from the cache loads none), one per
    # model: the target, and any fine-tuned or refusal-trained model a profile or mitigation names
    models: dict[str, _LazyModel] = field(default_factory=dict)

    def model_for(self, target: ModelTarget) -> _LazyModel:
        return self.models.setdefault(target.inspect_model, _LazyModel(target))


def _eval_evidence(ctx: _Context, eval_id: str, group: list[elicitation.Variant]) -> EvalEvidence:
    """One eval's evidence from its runs: one run as before, several combined (best profile)."""
    policy = ctx.loaded.policy
    statistics = elicitation.adjusted(policy.statistics, len(group))
    parts = {v.profile_name: _variant_evidence(ctx, v, statistics) for v in group}
    if len(group) == 1 and group[0].run_id == eval_id:
        return parts[group[0].profile_name]
    post = policy.post_mitigation
    red = tuple(p for p in (post.red_team_profiles if post else []) if group[0].side == "post" and p in parts)
    return elicitation.combine(
        eval_id,
        parts,
        policy.evals[eval_id].metric,
        policy.statistics,
        mitigations=group[0].mitigations,
        red_team_profiles=red,
        worst_case=policy.evals[eval_id].worst_case,
    )


def _variant_evidence(ctx: _Context, variant: elicitation.Variant, statistics: Statistics) -> EvalEvidence:
    from scalegate.evals.model_ref import target_for

    run_id = variant.run_id
    task: Any = ctx.tasks.get(run_id)
    ctx.sink.eval_started(run_id, len(task.dataset) if hasattr(task, "dataset") else None)
    if run_id in ctx.cannot:
        ev = EvalEvidence(eval_id=run_id, status=EvidenceStatus.missing, message=ctx.cannot[run_id])
    else:
        target = ctx.target if variant.model is None else target_for(variant.model)
        stop_at = _stop_at(ctx.loaded.policy, variant.eval_id, variant.spec.metric, ctx.cases)
        elicit, mitigation = variant.key_parts()
        key = cache_mod.eval_key(
            variant.spec,
            task,
            target,
            statistics=statistics,
            rules=ctx.loaded.policy.evidence,
            stop_at=stop_at,
            elicitation=elicit,
            mitigation=mitigation,
        )
        ev = _evidence_for(
            run_id,
            variant.spec,
            task,
            target,
            ctx.loaded,
            ctx.plan,
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
    loaded: LoadedPolicy,
    plan: Plan,
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
    policy = loaded.policy
    log_dir = out_dir / "logs"

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

    found = cache_mod.logs_for_key(log_dir, key.digest) if key is not None and resume else []
    # 1. this folder's own complete log of the eval (`--resume` after the eval had finished)
    for f in found:
        if f.status != "success":
            continue
        reused = _complete_log(f.path, eval_id, spec, target, loaded, max_days, statistics)
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
            sample_limit=plan.sample_limit,
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
    loaded: LoadedPolicy,
    max_days: int | None,
    statistics: Statistics,
) -> tuple[Any, str | None, str | None] | None:
    """A finished log of this folder that may stand for its eval: complete and not stale."""
    from inspect_ai.log import read_eval_log

    try:
        log = read_eval_log(str(path))
        ev = evidence_from_log(
            eval_id, spec, log, target, rules=loaded.policy.evidence, statistics=statistics
        )
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


def _run_record(
    loaded: LoadedPolicy, plan: Plan, target: ModelTarget, protections: set[str]
) -> dict[str, Any]:
    """What makes two runs the same assessment, for `--resume`."""
    return {
        "policy_sha256": loaded.sha256,
        "model": target.reference,
        "weights_sha256": target.weights_sha256,
        "model_args": target.model_args,
        "evals": [p.eval_id for p in plan.evals],
        "sample_limit": plan.sample_limit,
        "effective_compute": plan.checkpoint.effective_compute,
        "training_compute": plan.checkpoint.training_compute,
        "protections": sorted(protections),
    }


def _start_run(out_dir: Path, record: dict[str, Any], resume: bool) -> str:
    """Write (or, resuming, check) `run.json`; the assessment's start time."""
    path = out_dir / RUN_FILE
    if resume:
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(
                f"--resume {out_dir}: no readable {RUN_FILE} ({exc}); not a scalegate output folder"
            ) from exc
        differ = sorted(k for k, v in record.items() if json.dumps(previous.get(k)) != json.dumps(v))
        if differ:
            detail = "; ".join(f"{k}: was {previous.get(k)!r}, now {record[k]!r}" for k in differ)
            raise InputError(
                f"--resume {out_dir}: this is not the same assessment ({detail}); run it with the "
                "options it was started with, or start a new one"
            )
        return str(previous.get("started_at") or _now())
    started = _now()
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_json(path, {"schema": RUN_SCHEMA, "started_at": started, **record})
    return started


def check_protections(policy: Policy, protections: set[str]) -> None:
    unknown = sorted(protections - set(policy.protections))
    if unknown:
        raise InputError(
            f"--protection: {unknown} not declared in the policy "
            f"(declared: {sorted(policy.protections) or 'none'})"
        )


def _stop_at(
    policy: Policy, eval_id: str, metric: str, cases: Sequence[tuple[SafetyCase, dict[str, str | None]]]
) -> list[tuple[str, float]] | None:
    """With `statistics.sequential`, every comparison that reads this eval, safety-case links
    included: the eval stops once all are settled (docs/design/sequential.md)."""
    if not policy.statistics.sequential:
        return None
    from scalegate.evals.sequential import thresholds_for

    links = [link for case, _ in cases for link in _eval_links(case)]
    return thresholds_for(policy, eval_id, metric, also=links)


def _eval_links(case: SafetyCase) -> list[Any]:
    out: list[Any] = []

    def walk(claim: Any) -> None:
        out.extend(link for link in claim.evidence if link.eval is not None)
        for sub in claim.subclaims:
            walk(sub)

    for arg in case.arguments:
        walk(arg)
    return out


def _imported_for(
    plan: Plan, target: ModelTarget, imported: dict[str, EvalEvidence], policy: Policy | None = None
) -> dict[str, EvalEvidence]:
    """Imported evidence for the planned evals, marked stale where it is for another model or
    older than the policy's `cadence.max_days`."""
    from scalegate.evals.imports import stale_for

    max_days = policy.cadence.max_days if policy is not None and policy.cadence is not None else None
    out: dict[str, EvalEvidence] = {}
    for p in plan.evals:
        ev = imported.get(p.eval_id)
        if ev is None:
            continue
        why = stale_for(ev, target.reference)
        if why is None and (old := cache_mod.too_old(ev.completed_at, max_days)) is not None:
            why = f"imported evidence {old}: stale"
        out[p.eval_id] = (
            ev if why is None else ev.model_copy(update={"status": EvidenceStatus.stale, "message": why})
        )
    return out


def check_case_names(policy: Policy, cases: list[SafetyCase]) -> None:
    """Before any model call: each case answers a requirement the policy declares, once."""
    names = [c.case for c in cases]
    for name in names:
        if name not in policy.safety_cases:
            known = ", ".join(sorted(policy.safety_cases)) or "none"
            raise InputError(f"--case: the policy declares no safety case '{name}' (safety_cases: {known})")
    if len(set(names)) != len(names):
        raise InputError("--case: two cases answer the same requirement; submit one per requirement")


def _scorecard(
    policy: Policy,
    evidence: dict[str, EvalEvidence],
    checkpoint: Checkpoint,
    post_evidence: dict[str, EvalEvidence] | None,
) -> Scorecard:
    return build_scorecard(
        policy,
        evidence,
        checkpoint.effective_compute,
        post_evidence=post_evidence,
        training_compute=checkpoint.training_compute,
    )


def recompute(loaded: LoadedPolicy, assessment: Assessment) -> tuple[Scorecard, Decision]:
    """The decision from recorded inputs alone: what an auditor runs to check a record."""
    return decide_again(
        loaded.policy,
        assessment.evidence,
        assessment.checkpoint.model_dump(),
        set(assessment.protections_in_place),
        assessment.safety_cases,
        post_evidence=assessment.post_evidence,
    )


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
