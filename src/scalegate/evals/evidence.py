"""scalegate's own versioned evidence record.

Inspect's log format is not a frozen public spec, so the fields a decision needs are copied
out of the EvalLog (through Inspect's Python API) into this record. The Inspect log stays
next to it for `inspect view` and for audit.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from scalegate.evals.stats import Estimate
from scalegate.policy.base import EvidenceStatus
from scalegate.policy.schema import CheckName

EVIDENCE_SCHEMA = "scalegate.evidence/1"


SourceFormat = Literal["inspect_eval", "inspect_json", "lm_eval"]
CountedFrom = Literal["inspect_samples", "lm_eval_samples", "lm_eval_n_samples"]


class ImportSource(BaseModel):
    """Where one imported piece of evidence came from, down to the bytes."""

    model_config = ConfigDict(frozen=True)

    format: SourceFormat
    tool: Literal["inspect_ai", "lm_eval"]
    tool_version: str | None = None
    file: str
    sha256: str
    task: str  # the task as the source names it
    metric: str | None = None  # lm-eval's metric key, e.g. "acc,none"
    counted_from: CountedFrom
    samples_file: str | None = None
    samples_sha256: str | None = None
    task_hash: str | None = None  # lm-eval's `task_hashes` entry (over its per-doc hashes)
    imported_at: str
    imported_by: str  # the scalegate version that imported it


ReuseKind = Literal["cache", "resumed_eval", "resumed_samples"]


class Reuse(BaseModel):
    """Set when the evidence was read from an earlier run's Inspect log rather than (only) from
    model calls of this assessment; the log is regraded with the current rules either way."""

    model_config = ConfigDict(frozen=True)

    # cache: a completed log from the evidence cache (no model call); resumed_eval: this
    # output folder's completed log (`assess --resume`); resumed_samples: an interrupted
    # eval whose completed samples were reused and only the rest were run
    kind: ReuseKind
    source: str  # the cache entry folder, or the log resumed from
    # when the reused log ran: its completion, or its start for an interrupted one
    ran_at: str | None = None
    samples_reused: int = 0


class Provenance(BaseModel):
    """What it takes to say 'same model, same data, same prompts, same code'."""

    model_config = ConfigDict(frozen=True)

    model: str
    model_args: dict[str, Any] = Field(default_factory=dict)
    weights_sha256: str | None = None
    task: str
    task_args: dict[str, Any] = Field(default_factory=dict)
    task_version: str | int | None = None
    dataset_sha256: str | None = None
    prompts_sha256: str | None = None
    prompt_format: str | None = None
    sample_ids_sha256: str | None = None
    seed: int | None = None
    packages: dict[str, str] = Field(default_factory=dict)
    inspect_run_id: str | None = None
    inspect_eval_id: str | None = None
    source: ImportSource | None = None  # set when the evidence was imported, not run here
    # the evidence cache key: a content hash of everything that determines the result
    # (docs/design/cache.md); None for tasks Inspect resolves by name (never cached)
    cache_key: str | None = None
    reused: Reuse | None = None
    # set when the log was merged from sample shards run by workers (`scalegate.scale`): each
    # unit's shard, node and every attempt with its error, since where evidence was produced
    # (cluster, node, retries) has moved published scores by points
    scale_out: dict[str, Any] | None = None


RunStatus = Literal["success", "cancelled", "error"]


class Counts(BaseModel):
    """All that grading reads, and all it needs: a record anyone can re-grade.

    `scored` counts distinct samples (epochs are averaged per sample first), so `successes`
    is a whole number for one epoch and a sum of per-sample means for several.
    """

    model_config = ConfigDict(frozen=True)

    run_status: RunStatus = "success"
    run_error: str | None = None
    planned: int | None = None  # distinct samples the run meant to score
    scored: int = 0
    successes: float = 0.0
    errors: int = 0  # distinct samples with a run or instrument failure
    unparsed: int = 0  # distinct samples whose answer the model did not give readably
    non_binary: int = 0  # scores that are not correct/incorrect
    blocked: int = 0  # samples a declared mitigation refused (wrong answers, not the model's)
    epochs: int = 1
    # chosen option -> samples, for multiple choice (answer-position collapse)
    choices: dict[str, int] = Field(default_factory=dict)
    n_options: int | None = None
    # cluster value -> (sum of per-sample scores, samples), when the eval declares a cluster field
    cluster_field: str | None = None
    clusters: dict[str, tuple[float, int]] = Field(default_factory=dict)
    # stopped early by scalegate's sequential rule: only the confidence sequence is valid
    sequential: bool = False


class SpecBinding(BaseModel):
    """The eval spec evidence was gathered for: evidence read by a policy whose eval asks
    another question (task, arguments, metric) is `mismatch`, whatever the eval is called."""

    model_config = ConfigDict(frozen=True)

    task: str
    args: dict[str, Any] = Field(default_factory=dict)
    metric: str = "accuracy"


CheckStatus = Literal["passed", "flagged", "not_applicable"]


class CheckRecord(BaseModel):
    """One sandbagging check's reading of the model on one eval (evals/elicitation_checks.py).

    `counts` are what the interval and the flag are recomputed from by any reader, at the
    reading policy's confidence and scalegate's margin for the check, so an edited figure or a
    record made under looser settings cannot pass a check the counts fail."""

    model_config = ConfigDict(frozen=True)

    check: CheckName
    status: CheckStatus
    reason: str
    figure: float | None = None  # the statistic, in accuracy points (0-1)
    low: float | None = None
    high: float | None = None
    margin: float | None = None
    confidence: float | None = None
    counts: dict[str, float] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)
    recovered: float | None = None  # fine_tune_probe: accuracy after the probe

    @property
    def interval(self) -> tuple[float, float] | None:
        return None if self.low is None or self.high is None else (self.low, self.high)


class EvalEvidence(BaseModel):
    """One eval's result for one checkpoint, with the reason it can or cannot be used."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)

    schema_: str = Field(EVIDENCE_SCHEMA, alias="schema")
    eval_id: str
    status: EvidenceStatus
    message: str | None = None
    metrics: dict[str, Estimate] = Field(default_factory=dict)
    n_planned: int | None = None
    n_scored: int = 0
    n_errors: int = 0
    n_unparsed: int = 0
    scoring_methods: dict[str, int] = Field(default_factory=dict)
    log_path: str | None = None
    provenance: Provenance | None = None
    started_at: str | None = None
    completed_at: str | None = None
    # Set when the eval ran under several elicitation profiles (evals/elicitation.py): each
    # profile's own evidence, the one whose score stands, and the correction applied.
    profiles: dict[str, EvalEvidence] = Field(default_factory=dict)
    best_profile: str | None = None
    correction: str | None = None
    # Post-mitigation evidence: the mitigations it ran through, and whether it was gathered
    # under red-team profiles (a policy may refuse it otherwise).
    mitigations: list[str] = Field(default_factory=list)
    red_teamed: bool = False
    # What grading read (evals/grading.py), so any reader re-grades under its own policy, and
    # the spec the evidence answers. None on records written before scalegate 0.x kept them.
    counts: Counts | None = None
    spec: SpecBinding | None = None
    # what the record says beyond grading (a sequential stop, a reuse), kept across re-grading
    note: str | None = None
    # Sandbagging checks run on the pre-mitigation model (policy `elicitation.checks`); a probe's
    # recovered score, when there is one, is the profile `fine_tune_probe` above.
    checks: list[CheckRecord] = Field(default_factory=list)

    @property
    def usable(self) -> bool:
        return self.status is EvidenceStatus.ok
