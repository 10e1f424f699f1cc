"""The evidence cache: completed Inspect logs, keyed by everything that determines their result.

A key is the sha256 of a canonical JSON of: the model's identity (a local folder's path with
the digest of its weight files and of its other files - config, tokenizer - or, for an API endpoint,
the provider/model string and its arguments, which is weaker: the provider may change what
stands behind a name), the task (name, arguments, version, scalegate's dataset and prompt
hashes, a hash of every sample as Inspect will see it, the sample ids), the generation
settings, the sequential-stopping settings where they apply, the package versions that can
change a score (scalegate, inspect_ai, transformers, torch), and placeholders for the
elicitation profile and mitigation (None today: keys change when they arrive).

The cache holds the LOG, not a verdict: a hit is regraded with the policy's current rules,
so changing `evidence.min_samples` or the confidence level never needs a re-run. Only
complete logs enter (`success`, every planned sample scored, none errored), and an entry older
than the policy's `cadence.max_days` is not used: the eval runs again and the fresh log
replaces it. See docs/design/cache.md.

Layout: `<root>/v1/<key[:2]>/<key>/{entry.json,log.eval}`, each entry written in a
temporary folder and renamed into place, so a reader sees a whole entry or none.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scalegate.evals.assets import data_dir, sha256_file
from scalegate.evals.evidence import EvalEvidence
from scalegate.evals.model_ref import WEIGHTS_PROVIDERS
from scalegate.evals.runner import (
    GENERATE_CONFIG,
    SCALEGATE_PREFIX,
    ModelTarget,
    package_versions,
    sequential_config,
)
from scalegate.evals.served_scoring import ENGINE
from scalegate.policy.base import EvidenceStatus
from scalegate.policy.schema import EvalSpec, EvidenceRules, Statistics

KEY_SCHEMA = "scalegate.cache-key/1"
ENTRY_SCHEMA = "scalegate.cache-entry/1"
LAYOUT = "v1"
LOG_NAME = "log.eval"
ENTRY_NAME = "entry.json"
#: Evidence statuses a complete run can end with; anything else is re-run, never cached.
COMPLETE = frozenset({EvidenceStatus.ok, EvidenceStatus.insufficient, EvidenceStatus.unreliable})


def default_cache_dir() -> Path:
    """$SCALEGATE_CACHE_DIR, else `evidence/` under scalegate's data folder."""
    env = os.environ.get("SCALEGATE_CACHE_DIR")
    return Path(env).expanduser() if env else data_dir() / "evidence"


def canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def digest(data: Any) -> str:
    return hashlib.sha256(canonical(data)).hexdigest()


@dataclass(frozen=True)
class CacheKey:
    digest: str
    components: dict[str, Any]


def model_identity(target: ModelTarget) -> dict[str, Any]:
    """Local weights by content; anything else by name and arguments (an endpoint). A served
    model's options are scored by its server (served_scoring.py), which is named too: evidence
    cached when `vllm/` answers were generated and parsed is not that measurement."""
    served = {"scored_by": ENGINE} if target.inspect_model.startswith("vllm/") else {}
    return served | _located(target)


def _located(target: ModelTarget) -> dict[str, Any]:
    folder = _local_folder(target)
    if target.weights_sha256 and folder is not None:
        return {
            "kind": "weights",
            # the path too: Inspect's log names it, and evidence naming another model is stale
            # (evals/imports.py), so a copy of a checkpoint elsewhere is assessed afresh
            "model": target.inspect_model,
            "weights_sha256": target.weights_sha256,
            "files_sha256": other_files_sha256(folder),
            "model_args": target.model_args,
        }
    return {"kind": "endpoint", "model": target.inspect_model, "model_args": target.model_args}


def _local_folder(target: ModelTarget) -> Path | None:
    provider, _, name = target.inspect_model.partition("/")
    if provider not in WEIGHTS_PROVIDERS:
        return None
    folder = Path(name).expanduser()
    return folder if folder.is_dir() else None


def other_files_sha256(folder: Path) -> str:
    """Config, tokenizer and every other file that is not a weight file: they change outputs
    as surely as the weights do, and `weights_sha256` does not cover them."""
    from scalegate.evals.model_ref import WEIGHT_SUFFIXES

    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix not in WEIGHT_SUFFIXES):
        rel = f.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):  # .git, .cache: not the model
            continue
        h.update(f"{rel.as_posix()}\0{sha256_file(f)}\n".encode())
    return h.hexdigest()


def samples_sha256(dataset: Any) -> str:
    """Every sample as Inspect will run it, in order: id, input, target, choices, metadata."""
    h = hashlib.sha256()
    for s in dataset:
        if isinstance(s.input, str):
            given: Any = s.input
        else:  # chat messages: role and text (their own ids are random)
            given = [[m.role, m.text] for m in s.input]
        record = {
            "id": s.id,
            "input": given,
            "target": s.target,
            "choices": s.choices,
            "metadata": s.metadata,
        }
        h.update(canonical(record) + b"\n")
    return h.hexdigest()


def eval_key(
    spec: EvalSpec,
    task: Any,
    target: ModelTarget,
    *,
    statistics: Statistics,
    rules: EvidenceRules,
    stop_at: Sequence[tuple[str, float]] | None = None,
    elicitation: dict[str, Any] | None = None,
    mitigation: dict[str, Any] | None = None,
) -> CacheKey | None:
    """The cache key of one eval, or None when it cannot be keyed by content: a task given
    to Inspect by name (registry, file) has a dataset scalegate cannot hash before it runs.

    `elicitation` / `mitigation`: the profile and mitigations the run is under (None for the
    plain zero-shot, pre-mitigation run, whose keys are unchanged by their arrival)."""
    from inspect_ai import Task

    if not isinstance(task, Task) or not spec.task.startswith(SCALEGATE_PREFIX):
        return None
    samples = list(task.dataset)
    meta = (task.metadata or {}).get("scalegate_provenance", {})
    components: dict[str, Any] = {
        "model": model_identity(target),
        "task": {
            "name": spec.task,
            "args": spec.args,
            "version": task.version,
            "epochs": task.epochs,
            "provenance": meta,
            "samples_sha256": samples_sha256(samples),
            "sample_ids_sha256": digest(sorted(str(s.id) for s in samples)),
            "n_samples": len(samples),
        },
        "seed": meta.get("seed"),
        "generate": GENERATE_CONFIG,
        "sequential": sequential_config(task, statistics, rules, stop_at),
        "packages": package_versions(),
        "elicitation": elicitation,
        "mitigation": mitigation,
    }
    return CacheKey(digest=digest({"schema": KEY_SCHEMA, **components}), components=components)


def is_complete(log: Any, evidence: EvalEvidence) -> bool:
    """A log that may stand for its key: Inspect finished it, and every planned sample was
    scored without error (a partial or errored run is never complete, whatever Inspect says)."""
    return log.status == "success" and evidence.n_errors == 0 and evidence.status in COMPLETE


def log_times(log: Any) -> tuple[str | None, str | None]:
    """(started, completed) of an Inspect log, as ISO strings."""
    stats = getattr(log, "stats", None)
    started = getattr(stats, "started_at", None) or log.eval.created
    completed = getattr(stats, "completed_at", None)
    return (str(started) if started else None, str(completed) if completed else None)


def age_days(when: str | None, now: dt.datetime | None = None) -> float | None:
    if not when:
        return None
    try:
        t = dt.datetime.fromisoformat(when)
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return ((now or dt.datetime.now(dt.UTC)) - t).total_seconds() / 86400


def too_old(when: str | None, max_days: int | None, now: dt.datetime | None = None) -> str | None:
    """Why a result that ran at `when` is stale under `cadence.max_days` (None if it is not).
    A time that cannot be read is stale: fail closed."""
    if max_days is None:
        return None
    age = age_days(when, now)
    if age is None:
        return f"no readable run time ({when!r}); cadence.max_days is {max_days}"
    if age > max_days:
        return f"ran {age:.0f} days ago, more than the policy's cadence.max_days of {max_days}"
    return None


@dataclass(frozen=True)
class CacheEntry:
    key: str
    folder: Path
    log: Path
    ran_at: str | None
    meta: dict[str, Any]


@dataclass(frozen=True)
class Lookup:
    entry: CacheEntry | None
    reason: str  # "hit", or why it missed


class EvidenceCache:
    """A folder of completed Inspect logs by cache key."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or default_cache_dir()).expanduser()

    def folder(self, key: str) -> Path:
        return self.root / LAYOUT / key[:2] / key

    def lookup(self, key: CacheKey, max_days: int | None = None, now: dt.datetime | None = None) -> Lookup:
        folder = self.folder(key.digest)
        entry_file, log_file = folder / ENTRY_NAME, folder / LOG_NAME
        if not entry_file.is_file():
            return Lookup(None, "absent")
        try:
            meta = json.loads(entry_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return Lookup(None, f"unreadable entry: {exc}")
        if meta.get("schema") != ENTRY_SCHEMA or meta.get("key") != key.digest:
            return Lookup(None, "entry is for another key or schema")
        if digest({"schema": KEY_SCHEMA, **meta.get("components", {})}) != key.digest:
            return Lookup(None, "entry components do not hash to its key")
        if not log_file.is_file() or sha256_file(log_file) != meta.get("log_sha256"):
            return Lookup(None, "log missing or altered since it was cached")
        stale = too_old(meta.get("ran_at"), max_days, now)
        if stale is not None:
            return Lookup(None, f"stale: {stale}")
        return Lookup(CacheEntry(key.digest, folder, log_file, meta.get("ran_at"), meta), "hit")

    def put(self, key: CacheKey, log_path: Path, eval_id: str, log: Any) -> Path:
        """Store a complete log under `key`, atomically; an existing entry is replaced (it was
        stale or unreadable, else it would have been used)."""
        final = self.folder(key.digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key.digest[:12]}-", dir=final.parent))
        try:
            shutil.copyfile(log_path, tmp / LOG_NAME)
            started, completed = log_times(log)
            meta = {
                "schema": ENTRY_SCHEMA,
                "key": key.digest,
                "components": key.components,
                "eval_id": eval_id,  # informational: the same key may serve other eval ids
                "log_sha256": sha256_file(tmp / LOG_NAME),
                "original_log": str(log_path),
                "started_at": started,
                "ran_at": completed,
                "cached_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "inspect_run_id": log.eval.run_id,
                "inspect_eval_id": log.eval.eval_id,
            }
            _write_synced(tmp / ENTRY_NAME, json.dumps(meta, indent=2, default=str) + "\n")
            _fsync(tmp / LOG_NAME)
            if final.exists():  # replace: move the old one aside first (readers then miss, harmlessly)
                old = Path(tempfile.mkdtemp(prefix=f".{key.digest[:12]}-old-", dir=final.parent))
                os.replace(final, old / "entry")
                shutil.rmtree(old, ignore_errors=True)
            try:
                os.replace(tmp, final)
            except OSError:  # another process stored the same key meanwhile: theirs stands
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final


def _fsync(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_synced(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


# --- resume: the logs an interrupted assessment left in its output folder ----------------------

#: Where the cache key is recorded in an Inspect log (`log.eval.metadata`).
KEY_METADATA = "scalegate_cache_key"


@dataclass(frozen=True)
class FoundLog:
    path: Path
    status: str
    created: str


def logs_for_key(log_dir: Path, key: str) -> list[FoundLog]:
    """The Inspect logs in `log_dir` written for this key, newest first; unreadable ones (a
    file cut short by a kill) are skipped."""
    from inspect_ai.log import read_eval_log

    found: list[tuple[str, float, FoundLog]] = []
    for path in sorted(log_dir.glob("*.eval")) if log_dir.is_dir() else []:
        try:
            header = read_eval_log(str(path), header_only=True)
        except Exception:
            continue
        if (header.eval.metadata or {}).get(KEY_METADATA) != key:
            continue
        f = FoundLog(path, str(header.status), str(header.eval.created))
        found.append((f.created, path.stat().st_mtime, f))
    return [f for _, _, f in sorted(found, key=lambda t: (t[0], t[1]), reverse=True)]


def _reusable(log: Any) -> list[Any]:
    def clean(s: Any) -> bool:
        return s.error is None and getattr(s, "invalidation", None) is None and bool(s.scores)

    return [s for s in log.samples or [] if clean(s)]


def reusable_samples(log: Any) -> int:
    """Samples Inspect will reuse from `log` on resume: completed, scored, not errored."""
    return len(_reusable(log))


def oldest_sample(log: Any) -> str | None:
    """When the earliest reusable sample started (a resumed log carries older samples than
    its own start)."""
    times = [str(s.started_at) for s in _reusable(log) if getattr(s, "started_at", None)]

    def age(t: str) -> float:  # an unreadable time counts as the oldest: too_old() fails closed
        a = age_days(t)
        return float("inf") if a is None else a

    return max(times, key=age, default=None)


def resumable_log(path: Path, scratch: Path) -> Any | None:
    """The log to resume from. An interrupted (`started`) log is first recovered with Inspect's
    `recover_eval_log`: the samples flushed to the file plus those its sample buffer holds as
    completed; samples in flight at the kill come back as errors, which are run again. The
    recovered copy goes to `scratch`, never next to the original."""
    from inspect_ai.log import RecoveryNotAvailable, read_eval_log, recover_eval_log

    try:
        log = read_eval_log(str(path))
    except Exception:
        return None
    if log.status == "started":
        with contextlib.suppress(RecoveryNotAvailable, Exception):
            log = recover_eval_log(str(path), output=str(scratch / path.name), cleanup=False)
    return log


def best_previous(
    candidates: Sequence[FoundLog], scratch: Path, max_days: int | None = None
) -> tuple[Any, FoundLog] | None:
    """Of the incomplete logs for a key, the one with the most reusable samples (a resumed
    run's log carries its predecessor's samples, so usually the newest). A log holding a
    sample older than `max_days` is not resumed from: that sample would be stale."""
    best: tuple[int, Any, FoundLog] | None = None
    for found in candidates:
        if too_old(found.created, max_days) is not None:
            continue
        log = resumable_log(found.path, scratch)
        if log is None or (max_days is not None and too_old(oldest_sample(log), max_days) is not None):
            continue
        n = reusable_samples(log)
        if n and (best is None or n > best[0]):
            best = (n, log, found)
    return (best[1], best[2]) if best is not None else None
