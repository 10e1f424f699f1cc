"""One assessment as an experiment tracker's run: params, metrics, tags and artifacts.

MLflow and W&B exporters (`to_mlflow`, `to_wandb`) log the same `TrackedRun`, so the two
cannot disagree on what an assessment is. The folder is verified first (`from_folder`: the
policy by hash, the decision recomputed from the evidence), so an edited folder never reaches
a tracker looking like evidence. A tracker holds point values; whether an action is allowed
lives in the `decision/*` tags, read from the decision, never re-derived from the metrics.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from scalegate.evals.evidence import EvalEvidence
from scalegate.report import formats
from scalegate.report.kinds import KINDS
from scalegate.report.sources import Source, from_folder

KEY_TAG = "scalegate.assessment_sha256"  # what makes a second export of one folder a no-op
REPORTS = ("capability", "safeguards")


@dataclass(frozen=True)
class TrackedRun:
    key: str  # sha256 of assessment.json: the same folder is the same run
    name: str
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    started_ms: int | None
    ended_ms: int | None
    source: Source  # the verified folder, for the artifacts


def tracked_run(folder: Path) -> TrackedRun:
    """The run for one assessment folder; raises `NotVerified` or `InputError` on a folder that
    does not hold up."""
    src = from_folder(folder, "internal")
    data = src.assessment
    model, cp = data.get("model") or {}, data.get("checkpoint") or {}
    params = {
        "policy": f"{src.policy.policy.name} {src.policy.policy.version}",
        "policy_sha256": src.policy_sha256,
        "model": str(model.get("reference")),
        "weights_sha256": str(model.get("weights_sha256") or "-"),
        "effective_compute": _number(cp.get("effective_compute")),
        "training_compute": _number(cp.get("training_compute")),
        "checkpoint": str(cp.get("label") or cp.get("model") or "-"),
        "sample_limit": str(data.get("sample_limit") or "-"),
        "protections": ", ".join(data.get("protections_in_place") or []) or "-",
        "scalegate_version": str(data.get("scalegate_version")),
    }
    metrics: dict[str, float] = {}
    tags = {KEY_TAG: _digest(folder), "scalegate.kind": "assessment"}
    for prefix, evidence in (("", src.evidence), ("post/", src.post_evidence)):
        for eval_id, ev in sorted((evidence or {}).items()):
            tags[f"evidence/{prefix}{eval_id}"] = str(ev.status)
            metrics.update(eval_metrics(f"{prefix}{eval_id}", ev))
    for action, a in src.decision.actions.items():
        tags[f"decision/{action}"] = str(a.status)
    for view, card in (("pre", src.scorecard.pre_mitigation), ("post", src.scorecard.post_mitigation)):
        for domain, score in card.domains.items():
            tags[f"level/{view}/{domain}"] = score.level
    tags["scorecard/inconclusive"] = str(src.scorecard.inconclusive).lower()
    return TrackedRun(
        key=tags[KEY_TAG],
        name=f"{params['model']} @ {params['effective_compute']} FLOP",
        params=params,
        metrics=metrics,
        tags=tags,
        started_ms=_ms(data.get("started_at")),
        ended_ms=_ms(data.get("completed_at")),
        source=src,
    )


def eval_metrics(name: str, ev: EvalEvidence) -> dict[str, float]:
    """Each metric of a usable eval as its value, interval bounds, n and confidence. Evidence
    that is not usable logs no numbers: its status tag says why, and a chart never shows a
    score the gate did not accept."""
    if not ev.usable:
        return {}
    out: dict[str, float] = {}
    for metric, est in sorted(ev.metrics.items()):
        base = f"{name}/{metric}"
        out |= {
            base: est.value,
            f"{base}/low": est.low,
            f"{base}/high": est.high,
            f"{base}/n": float(est.n),
            f"{base}/confidence": est.confidence,
        }
    return {k: v for k, v in out.items() if math.isfinite(v)}


@contextmanager
def artifacts(run: TrackedRun) -> Iterator[list[Path]]:
    """assessment.json, the policy it was decided under, and the capability and safeguards
    reports rendered as HTML (in a scratch folder, removed afterwards)."""
    folder = run.source.folder
    assert folder is not None  # a tracked run is always read from a folder
    with tempfile.TemporaryDirectory(prefix="scalegate-export-") as tmp:
        files = [folder / "assessment.json", folder / "policy.yaml"]
        for kind in REPORTS:
            path = Path(tmp) / f"{kind}.html"
            html = formats.render("report", "html", KINDS[kind].build(run.source))
            path.write_text(html, encoding="utf-8")
            files.append(path)
        yield files


def _digest(folder: Path) -> str:
    return hashlib.sha256((folder / "assessment.json").read_bytes()).hexdigest()


def _number(value: object) -> str:
    return f"{value:.6g}" if isinstance(value, int | float) else "-"


def _ms(stamp: object) -> int | None:
    try:
        when = dt.datetime.fromisoformat(str(stamp))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def describe(run: TrackedRun) -> str:
    """One line for the CLI: which run, how many metrics, the decision per action."""
    decisions = ", ".join(f"{k[9:]}={v}" for k, v in run.tags.items() if k.startswith("decision/"))
    return f"{run.name}: {len(run.metrics)} metrics; {decisions}"
