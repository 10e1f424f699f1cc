"""One assessment, end to end: plan -> evidence -> scorecard -> decision, written as it goes.

This is the thin shell around the pure core: it asks `evals.acquire` for each eval's evidence
(reused, resumed or run), takes imported evidence where it is given, re-grades all of it by
the policy (as every later reader does), and writes files. Evidence is written per eval as
soon as it exists, so a crash loses at most the eval in flight, and the final
`assessment.json` carries every input needed to recompute the decision.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from scalegate import __version__
from scalegate.errors import InputError
from scalegate.evals import cache as cache_mod
from scalegate.evals import elicitation
from scalegate.evals.acquire import Acquisition, Progress, acquire
from scalegate.evals.availability import unavailable
from scalegate.evals.cache import EvidenceCache
from scalegate.evals.evidence import EvalEvidence
from scalegate.evals.runner import (
    ModelTarget,
    build_task,
    task_factory,
)
from scalegate.gates import Decision, basis, decide
from scalegate.plan import Checkpoint, Plan
from scalegate.policy.base import EvidenceStatus
from scalegate.policy.loader import LoadedPolicy
from scalegate.policy.schema import Policy
from scalegate.recompute import decide_again, graded
from scalegate.relative import Reference, RelativeInputs, Scores, sample_scores
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
    # every eval's per-sample scores (so this assessment can later serve as a reference) and
    # the references the policy's relative claims were read against
    relative: RelativeInputs | None = None
    output_dir: str | None = None


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
    references: dict[str, Reference] | None = None,
) -> Assessment:
    """`cases`: safety cases with the digests of the documents they cite (see
    `scalegate.safety_case.document_digests`), checked against this assessment's evidence.

    `cache`: the evidence cache to read and fill (None: neither). `resume`: `out_dir` holds
    an interrupted run of this same assessment (its `run.json` must match); its complete
    logs are reused and its interrupted ones resumed sample by sample.

    `references`: each relative claim's reference, resolved from the ledger
    (`ledger.references.resolve`); a claim without one is unknown and rules nothing out."""
    policy = loaded.policy
    protections = set(protections_in_place or ())
    check_protections(policy, protections)
    check_case_names(policy, [c for c, _ in cases])
    sink: Progress = progress or _Silent()
    runs, post_runs, cannot, tasks = prepare_runs(policy, plan)
    run_record = _run_record(loaded, plan, target, protections)
    started = _start_run(out_dir, run_record, resume)
    evidence_dir = out_dir / "evidence"
    evidence_dir.mkdir(parents=True, exist_ok=True)
    absent = {p.eval_id: why for p in plan.evals if (why := unavailable(p.spec)) is not None}
    # imported evidence (`scalegate evidence import`) stands in for a run: no model call
    given = _imported_for(plan, target, imported or {}, policy)
    absent.update(dict.fromkeys(given, "imported"))
    scratch = Path(tempfile.mkdtemp(prefix="scalegate-resume-"))
    ctx = Acquisition(
        policy=policy,
        sample_limit=plan.sample_limit,
        target=target,
        out_dir=out_dir,
        sink=sink,
        cache=cache,
        resume=resume,
        max_days=policy.cadence.max_days if policy.cadence is not None else None,
        scratch=scratch,
        tasks=tasks,
        cannot=cannot,
        stop_at=lambda eval_id, metric: stop_at_for(policy, eval_id, metric, cases),
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
                ev = acquire(ctx, eval_id, runs[eval_id])
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
                ev = acquire(ctx, eval_id, group)
            post_evidence[eval_id] = ev
            _write_json(evidence_dir / f"{eval_id}.post.json", ev.model_dump(mode="json"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    # Graded once more, by the same rules, as every reader will: a run answers its own eval's
    # spec; imported evidence keeps the spec it was imported for (a mismatch fails closed).
    evidence, regraded_post = graded(policy, evidence, post_evidence)
    post_evidence = regraded_post or {}
    for eval_id, ev in evidence.items():
        _write_json(evidence_dir / f"{eval_id}.json", ev.model_dump(mode="json"))
    for eval_id, ev in post_evidence.items():
        _write_json(evidence_dir / f"{eval_id}.post.json", ev.model_dump(mode="json"))
    relative = RelativeInputs(scores=scores_of(policy, evidence), references=references or {})
    scorecard = _scorecard(policy, evidence, plan.checkpoint, post_evidence if post_runs else None, relative)
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
        relative=relative,
        output_dir=str(out_dir),
    )
    _write_json(out_dir / "assessment.json", assessment_json(result, policy))
    (out_dir / "policy.yaml").write_text(loaded.text, encoding="utf-8")
    return result


Runs = dict[str, list[elicitation.Variant]]


def prepare_runs(policy: Policy, plan: Plan) -> tuple[Runs, Runs, dict[str, str], dict[str, Any]]:
    """Every run of every eval (one per elicitation profile, pre- and post-mitigation), its task
    built first: bad task arguments are input errors, found before any model call. Returns the
    pre runs and post runs per eval, why a run cannot be taken (it stays `missing`: fail
    closed, never an error for the assessment), and each other run's task. Shared with the
    scale-out planner, whose units must be these runs exactly."""
    runs = {p.eval_id: elicitation.variants(policy, p.eval_id, "pre") for p in plan.evals}
    post_runs = {
        e: elicitation.variants(policy, e, "post") for e in elicitation.post_evals(policy) if e in runs
    }
    every = [v for group in (*runs.values(), *post_runs.values()) for v in group]
    cannot = {v.run_id: why for v in every if (why := elicitation.unsupported(v, task_factory(v.spec)))}
    tasks = {v.run_id: build_task(v.spec, plan.sample_limit) for v in every if v.run_id not in cannot}
    return runs, post_runs, cannot, tasks


def assessment_json(result: Assessment, policy: Policy) -> dict[str, Any]:
    """What `assessment.json` and `assess --json` hold: the assessment, and per action what
    its status rests on (`basis`: the clauses that gate it, how many operational thresholds
    the evidence ruled out). `basis` is derived for readers; the ledger records the
    assessment without it, and nothing reads it back as an input."""
    data = result.model_dump(mode="json")
    data["basis"] = {a: b.model_dump(mode="json") for a, b in basis(policy, result.scorecard).items()}
    return data


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


def stop_at_for(
    policy: Policy, eval_id: str, metric: str, cases: Sequence[tuple[SafetyCase, dict[str, str | None]]] = ()
) -> list[tuple[str, float]] | None:
    """With `statistics.sequential`, every comparison that reads this eval, safety-case links
    included: the eval stops once all are settled (docs/design/sequential.md)."""
    if not policy.statistics.sequential:
        return None
    from scalegate.evals.sequential import thresholds_for

    links = [link.bound for case, _ in cases for link in _eval_links(case)]
    return thresholds_for(policy, eval_id, metric, also=[b for b in links if b is not None])


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
    from scalegate.evals.imports import against_source, stale_for

    max_days = policy.cadence.max_days if policy is not None and policy.cadence is not None else None
    out: dict[str, EvalEvidence] = {}
    for p in plan.evals:
        ev = imported.get(p.eval_id)
        if ev is None:
            continue
        if policy is not None:
            ev = against_source(ev, p.spec, policy)
        why = stale_for(ev, target.reference, target.weights_sha256)
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
    relative: RelativeInputs,
) -> Scorecard:
    return build_scorecard(
        policy,
        evidence,
        checkpoint.effective_compute,
        post_evidence=post_evidence,
        training_compute=checkpoint.training_compute,
        relative=relative,
    )


def scores_of(policy: Policy, evidence: dict[str, EvalEvidence]) -> dict[str, Scores]:
    """Each eval's per-sample scores from its log (clusters by the policy's field), or why not."""
    out: dict[str, Scores] = {}
    for eval_id, ev in evidence.items():
        spec = policy.evals.get(eval_id)
        cluster = (spec.cluster if spec else None) or policy.statistics.cluster
        out[eval_id] = (
            sample_scores(ev, cluster) if ev.status is EvidenceStatus.ok else f"evidence {ev.status}"
        )
    return out


def recompute(loaded: LoadedPolicy, assessment: Assessment) -> tuple[Scorecard, Decision]:
    """The decision from recorded inputs alone: what an auditor runs to check a record."""
    return decide_again(
        loaded.policy,
        assessment.evidence,
        assessment.checkpoint.model_dump(),
        set(assessment.protections_in_place),
        assessment.safety_cases,
        post_evidence=assessment.post_evidence,
        relative=assessment.relative,
    )


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
