"""Evaluation-gated training: assess at the policy's cadence, stop when a gate closes.

The per-step check is a float comparison against a precomputed schedule, so a training loop
pays nothing measurable when no assessment is due (benchmarks/bench_gatekeeper.py). When one
is due, the checkpoint is saved, assessed with the policy's evals, recorded (state file and,
by default, the ledger), forecast, and training is told to stop if `continue_training` is
not allowed (or an alert fired and the policy pauses on alerts).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scalegate import compute
from scalegate.errors import ScalegateError
from scalegate.policy.conditions import Op, bounds
from scalegate.policy.loader import LoadedPolicy, load_policy
from scalegate.policy.schema import Policy

STATE_FILE = "gatekeeper.json"


class TrainingBlocked(ScalegateError):
    """Training may not (re)start: the last decision does not allow `continue_training`."""

    exit_code = 3


@dataclass
class GateResult:
    effective_compute: float
    due: compute.Due
    stop: bool
    reasons: list[str]
    warnings: list[str]
    assessment_path: Path
    decision_entry: str | None = None
    assessment: Any = None


@dataclass
class _Record:
    effective_compute: float
    at: str
    assessment_path: str
    decision_entry: str | None
    continue_training: str
    stopped: bool
    reasons: list[str]
    counts: dict[str, list[float]]  # eval -> [successes, n]
    alerts: list[str] = field(default_factory=list)


class Gatekeeper:
    """Owns the assessment schedule of one training run (state in `out_dir/gatekeeper.json`)."""

    def __init__(
        self,
        policy: str | Path | LoadedPolicy = "reference",
        *,
        out_dir: str | Path,
        flop_per_step: float | None = None,
        algorithmic_multiplier: float = 1.0,
        protections: tuple[str, ...] | list[str] = (),
        model_args: dict[str, Any] | None = None,
        sample_limit: int | None = None,
        eval_ids: list[str] | None = None,
        db: str | None = None,
        key: Path | None = None,
        use_ledger: bool = True,
        on_message: Callable[[str], None] | None = None,
        first_at_compute: float = 0.0,
        relative_to: str | None = None,
    ) -> None:
        """`relative_to`: the decision a `relative: {to: reference}` claim compares each
        checkpoint with (claims on `last_comprehensive` or a pinned decision are resolved from
        the ledger; without the ledger every claim is unknown and rules nothing out)."""
        self.loaded = policy if isinstance(policy, LoadedPolicy) else load_policy(policy)
        self.policy = self.loaded.policy
        self.cadence = self.policy.cadence
        # absolute: the recorded paths must not depend on the working directory of a later reader
        self.out_dir = Path(out_dir).resolve()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.flop_per_step = flop_per_step
        self.multiplier = algorithmic_multiplier
        self.protections = set(protections)
        self.model_args = model_args
        self.sample_limit = sample_limit
        self.eval_ids = eval_ids
        self.db, self.key, self.use_ledger = db, key, use_ledger
        self.relative_to = relative_to
        if not (math.isfinite(first_at_compute) and first_at_compute >= 0):
            raise ValueError(f"first_at_compute must be a finite number >= 0, got {first_at_compute!r}")
        self.first_at_compute = first_at_compute
        self.say = on_message or (lambda msg: print(f"[scalegate] {msg}", flush=True))
        self.history: list[_Record] = self._load()
        self.forecast_crossing: float | None = None
        self._reschedule()

    # -- the hot path -------------------------------------------------------------------------
    def effective_compute_at(self, step: int) -> float:
        if self.flop_per_step is None:
            raise ValueError("give flop_per_step (e.g. compute.dense_training_flop(params, tokens_per_step))")
        return self.flop_per_step * step * self.multiplier

    def due(self, effective_compute: float) -> bool:
        """Cheap: two comparisons against the precomputed schedule (a NaN counter reads as due)."""
        return not effective_compute < self._next_compute or time.time() >= self._deadline

    # -- when due -----------------------------------------------------------------------------
    def assess(self, effective_compute: float, save_checkpoint: Callable[[Path], None]) -> GateResult:
        """Save the checkpoint, assess it, record, forecast, and say whether training must stop."""
        from scalegate.assessment import run_assessment
        from scalegate.evals.model_ref import target_for
        from scalegate.plan import Checkpoint, make_plan

        now = dt.datetime.now(dt.UTC)
        reason = compute.assessment_due(
            self.cadence, self._last(), effective_compute, now, forecast_crossing=self.forecast_crossing
        )
        due = reason or compute.Due(kind="first", detail="assessment requested")
        n = len(self.history) + 1
        ckpt = self.out_dir / "checkpoints" / f"{n:03d}-ec{effective_compute:.3e}"
        save_checkpoint(ckpt)
        self.say(f"assessment {n} due ({due.detail}); checkpoint {ckpt}")
        model = f"hf/{ckpt.resolve()}"
        plan = make_plan(
            self.policy,
            Checkpoint(model=model, effective_compute=effective_compute, label=f"assessment {n}"),
            self.eval_ids,
            self.sample_limit,
        )
        target = target_for(model, self.model_args)
        out = self.out_dir / "assessments" / f"{n:03d}"
        references = self._references(target)
        result = run_assessment(self.loaded, plan, target, out, self.protections, references=references)
        decision_entry = self._record_in_ledger(result)
        reasons, alerts = self._stop_reasons(result)
        record = _Record(
            effective_compute=effective_compute,
            at=now.isoformat(timespec="seconds"),
            assessment_path=str(out / "assessment.json"),
            decision_entry=decision_entry,
            continue_training=result.decision.actions["continue_training"].status.value,
            stopped=bool(reasons),
            reasons=reasons,
            counts={
                k: [e.metrics[m].successes, e.metrics[m].n]
                for k, e in result.evidence.items()
                if e.usable
                for m in [self.policy.evals[k].metric]
                if m in e.metrics
            },
            alerts=alerts,
        )
        self.history.append(record)
        warnings = self._forecast()
        self._save()
        self._reschedule()
        for w in warnings:
            self.say(f"EARLY WARNING: {w}")
        if reasons:
            self.say("training must stop: " + "; ".join(reasons))
        return GateResult(
            effective_compute, due, bool(reasons), reasons, warnings, out, decision_entry, result
        )

    def step(self, effective_compute: float, save_checkpoint: Callable[[Path], None]) -> GateResult | None:
        """The plain hook for custom loops: None when nothing is due."""
        if not self.due(effective_compute):
            return None
        return self.assess(effective_compute, save_checkpoint)

    def check_resume(self) -> None:
        """Refuse to (re)start a run the last decision stopped, unless a new decision allows it:
        the same evidence now decides `allowed` (e.g. the required protections are in place),
        or the ledger records an override of `continue_training`."""
        last = self.history[-1] if self.history else None
        if last is None or not last.stopped:
            return
        from scalegate.assessment import Assessment, recompute

        recorded = Assessment.model_validate_json(Path(last.assessment_path).read_text())
        again = recorded.model_copy(update={"protections_in_place": sorted(self.protections)})
        _, decision = recompute(self.loaded, again)
        alerts_block = bool(last.alerts) and bool(self.cadence and self.cadence.alerts_pause_training)
        if decision.allowed("continue_training") and not alerts_block:
            self.say("resuming: with the protections now in place the decision allows continue_training")
            entry = self._record_in_ledger(again.model_copy(update={"decision": decision}))
            self.history[-1] = _replace(
                last,
                stopped=False,
                decision_entry=entry or last.decision_entry,
                reasons=[*last.reasons, "resumed under a new decision"],
            )
            self._save()
            return
        if self._overridden(last.decision_entry):
            self.say("resuming: the ledger records an override of continue_training")
            self.history[-1] = _replace(last, stopped=False)
            self._save()
            return
        raise TrainingBlocked(
            "this run was stopped by the gate: "
            + "; ".join(last.reasons)
            + ". A new decision that allows continue_training is needed: put the required protections "
            "in place (Gatekeeper(protections=[...])) or record an override in the ledger."
        )

    # -- internals ----------------------------------------------------------------------------
    def _last(self) -> compute.LastAssessment | None:
        if not self.history:
            return None
        r = self.history[-1]
        return compute.LastAssessment(
            effective_compute=r.effective_compute, at=dt.datetime.fromisoformat(r.at)
        )

    def _reschedule(self) -> None:
        s = compute.schedule(self.cadence, self._last(), forecast_crossing=self.forecast_crossing)
        if not self.history:
            # the first assessment: due at `first_at_compute` (0: at the first check), not by time
            self._next_compute = self.first_at_compute
            self._deadline = 0.0 if self.first_at_compute == 0 else float("inf")
            return
        self._next_compute = s.next_compute if s.next_compute is not None else float("inf")
        deadlines = [d.timestamp() for d in (s.deadline, s.post_training_deadline) if d is not None]
        self._deadline = min(deadlines) if deadlines else float("inf")

    def _stop_reasons(self, result: Any) -> tuple[list[str], list[str]]:
        reasons = []
        ct = result.decision.actions["continue_training"]
        if ct.status.value != "allowed":
            why = "; ".join(f"{r.clause}: {r.summary}" for r in ct.reasons) or f"status {ct.status.value}"
            reasons.append(f"continue_training is {ct.status.value} ({why})")
        alerts = [
            f"{d.domain}:{lvl}" for d in result.scorecard.pre_mitigation.domains.values() for lvl in d.alerts
        ]
        if alerts and self.cadence is not None and self.cadence.alerts_pause_training:
            reasons.append(f"alert(s) fired ({', '.join(alerts)}) and the policy pauses training on alerts")
        return reasons, alerts

    def _forecast(self) -> list[str]:
        """Project each at_least line (thresholds and alerts) from the history so far."""
        from scalegate.forecast import Point, project_crossing

        self.forecast_crossing = None
        if len(self.history) < 2:
            return []
        warnings: list[str] = []
        nxt = compute.schedule(self.cadence, self._last()).next_compute
        latest = self.history[-1].effective_compute
        for eval_id, line, label in threshold_lines(self.policy):
            points = [
                Point(r.effective_compute, r.counts[eval_id][0], int(r.counts[eval_id][1]))
                for r in self.history
                if eval_id in r.counts
            ]
            if len(points) < 2:
                continue
            chance = self.policy.evals[eval_id].chance
            try:
                crossing = project_crossing(points, line, floor=chance)
            except ValueError:  # fewer than two distinct compute values: nothing to project yet
                continue
            if crossing.already_crossed or crossing.median is None or crossing.low is None:
                continue
            soonest = crossing.low
            if nxt is not None and soonest <= nxt and soonest >= latest:
                high = crossing.high or float("inf")
                warnings.append(
                    f"{label} ({eval_id} >= {line:g}) is projected to be crossed at "
                    f"{crossing.median:.3g} FLOP (90% interval {crossing.low:.3g}-{high:.3g}), "
                    f"before the next scheduled assessment at {nxt:.3g}"
                )
                self.forecast_crossing = min(self.forecast_crossing or soonest, soonest)
        return warnings

    def _references(self, target: Any) -> dict[str, Any]:
        """The references of the policy's relative claims, from the ledger as it stands."""
        from scalegate.ledger.references import claims_of

        if not self.use_ledger or not claims_of(self.policy):
            return {}
        from scalegate.ledger.store import Ledger, db_url
        from scalegate.ledger.workflow import references_for

        ledger = Ledger(db_url(self.db))
        try:
            model = {"reference": target.reference, "weights_sha256": target.weights_sha256}
            return references_for(ledger, self.policy, model, self.relative_to)
        finally:
            ledger.close()

    def _record_in_ledger(self, assessment: Any) -> str | None:
        if not self.use_ledger:
            return None
        from scalegate.ledger.store import Ledger, db_url
        from scalegate.ledger.workflow import operator_key, record_assessment

        ledger = Ledger(db_url(self.db))
        try:
            _, decision = record_assessment(ledger, self.loaded, assessment, operator_key(ledger, self.key))
        finally:
            ledger.close()
        return decision.entry_id

    def _overridden(self, decision_entry: str | None) -> bool:
        if not self.use_ledger or decision_entry is None:
            return False
        from scalegate.ledger.store import Ledger, db_url
        from scalegate.ledger.workflow import action_status

        ledger = Ledger(db_url(self.db))
        try:
            return bool(action_status(ledger, decision_entry)["continue_training"]["overridden"])
        finally:
            ledger.close()

    def _load(self) -> list[_Record]:
        path = self.out_dir / STATE_FILE
        if not path.exists():
            return []
        return [_Record(**r) for r in json.loads(path.read_text())["history"]]

    def _save(self) -> None:
        path = self.out_dir / STATE_FILE
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(
            json.dumps(
                {"policy_sha256": self.loaded.sha256, "history": [r.__dict__ for r in self.history]}, indent=2
            )
        )
        os.replace(tmp, path)


def threshold_lines(policy: Policy) -> list[tuple[str, float, str]]:
    """(eval, value, label) for every line that rising capability crosses, in every threshold
    and alert: what a capability forecast projects against. An `at_least` comparison is one;
    so is an `at_most` under `not:` (polarity from `conditions.bounds`)."""
    out: list[tuple[str, float, str]] = []
    for dname, domain in policy.domains.items():
        for level, thr in domain.thresholds.items():
            for kind, cond in (("threshold", thr.when), ("alert", thr.alert)):
                for bound, positive in bounds(cond):
                    if (bound.op is Op.at_least) == positive:
                        out.append((bound.eval, bound.value, f"{dname} {level} {kind}"))
    return out


def _replace(r: _Record, **changes: Any) -> _Record:
    return _Record(**{**r.__dict__, **changes})
