"""Evidence produced elsewhere: Inspect logs and lm-evaluation-harness results, imported.

An assessment can rest on evals that were run on another machine, by another team, or by
another tool. `import_evidence` reads those files, maps each onto one of the policy's evals,
grades it with the same fail-closed rules as a native run, and records where it came from
(format, tool version, the file's sha256, the model and task as the file names them).

Formats, detected from the content, not the file name:

- an Inspect log, `.eval` (zip) or `.json`: graded by `runner.evidence_from_log`, exactly as
  `scalegate assess` grades its own logs. A log maps onto the one policy eval whose task and
  task arguments it matches (a smaller `limit` than the policy's counts as a match: it is
  the sample limit of `assess --limit`), or onto the eval that `assign` names.
- an lm-evaluation-harness results file (`results_<date>.json` from `--output_path`): each
  of its tasks is imported only where `assign` maps a policy eval onto it. Successes and n
  are counted from the per-doc `samples_<task>_<date>.jsonl` written by `--log_samples`
  (found beside the results file, or passed explicitly) when present, else recovered from
  the reported accuracy and `n-samples`, which must agree exactly.

Every file is read and checked before anything is returned, and `write_evidence` writes the
whole set into a fresh folder by a single rename: a failing file means nothing is imported.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import re
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from scalegate import __version__
from scalegate.errors import InputError
from scalegate.evals import grading
from scalegate.evals.assets import resolve_model, sha256_file
from scalegate.evals.evidence import CountedFrom, EvalEvidence, ImportSource, Provenance, SourceFormat
from scalegate.evals.runner import WEIGHTS_METADATA, ModelTarget, evidence_from_log
from scalegate.policy.base import EvidenceStatus
from scalegate.policy.schema import EvalSpec, Policy

IMPORT_SCHEMA = "scalegate.evidence-import/1"
MANIFEST = "imported.json"
EVIDENCE_DIR = "evidence"


#: lm-eval metrics that are a per-doc proportion and so can stand for `accuracy`.
LM_EVAL_ACCURACY = ("acc", "acc_norm")
#: |successes/n - reported accuracy| above this means the numbers do not belong together.
CONSISTENCY_TOLERANCE = 1e-6
_DATE_ID = re.compile(r"_(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(?:\.\d+)?)$")
_SAMPLES_NAME = re.compile(r"^samples_(?P<task>.+)_(?P<date>\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(?:\.\d+)?)$")


#: Imported evidence is plain EvalEvidence whose provenance names its source file
#: (`provenance.source`): kept as names so callers can say what they mean.
ImportedProvenance = Provenance
ImportedEvidence = EvalEvidence


class EvidenceImportError(InputError):
    """Files that cannot be imported; `problems` holds one line per problem (file, what, fix)."""

    def __init__(
        self, problems: list[str], header: str = "evidence import failed; nothing was imported"
    ) -> None:
        self.problems = problems
        super().__init__(header + "\n" + "\n".join(f"  {p}" for p in problems))


# --------------------------------------------------------------------------- sources


@dataclass
class _Model:
    """A model as one file (or the user) names it, with the spellings that count as it."""

    shown: str
    full: str
    forms: frozenset[str]


@dataclass
class _Inspect:
    path: Path
    sha256: str
    format: SourceFormat
    log: Any
    model: _Model

    @property
    def names(self) -> set[str]:
        e = self.log.eval
        return {n for n in (e.task, getattr(e, "task_registry_name", None)) if n}


@dataclass
class _Samples:
    path: Path
    sha256: str
    task: str | None
    date_id: str | None
    rows: list[dict[str, Any]]
    task_hash: str


@dataclass
class _LmEval:
    path: Path
    sha256: str
    data: dict[str, Any]
    model: _Model
    samples: dict[str, _Samples] = field(default_factory=dict)

    @property
    def tasks(self) -> list[str]:
        return sorted(self.data["results"])

    @property
    def date_id(self) -> str | None:
        m = _DATE_ID.search(self.path.stem)
        return m.group(1) if m else None


_Source = _Inspect | _LmEval


#: What a hostile or corrupted file can make the readers raise where they trust a field's type,
#: size or depth: reported as a malformed file, never a traceback (tests/evals/test_fuzz_imports.py).
_MALFORMED = (
    ValueError,
    TypeError,
    AttributeError,
    KeyError,
    IndexError,
    OverflowError,
    RecursionError,
    RuntimeError,
    UnicodeError,
)
#: More samples than any eval has: a count beyond it is an edited file, not evidence.
_MAX_SAMPLES = 10**9


def import_evidence(
    paths: list[Path],
    policy: Policy,
    *,
    assign: dict[str, str] | None = None,
    model: str | None = None,
) -> dict[str, EvalEvidence]:
    """Read, map and grade evidence files; raise EvidenceImportError listing every problem.
    A file whose fields have the wrong type, size or depth is one of those problems."""
    try:
        out = _import_evidence(paths, policy, assign=assign, model=model)
    except EvidenceImportError:
        raise
    except _MALFORMED as exc:
        raise EvidenceImportError(
            [
                f"a file is malformed where scalegate reads it ({type(exc).__name__}: {str(exc)[:200]}); "
                "import only the unedited output of Inspect or lm-eval"
            ]
        ) from exc
    implausible = [f"{k}: {why}" for k, ev in out.items() if (why := _implausible(ev))]
    if implausible:
        raise EvidenceImportError(implausible)
    return out


def _implausible(ev: EvalEvidence) -> str | None:
    """Counts and intervals no real run produces (negative, beyond n, inverted, not finite)."""
    c = ev.counts
    if c is not None:
        dumped = c.model_dump().values()
        numbers = [v for v in dumped if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if any(v < 0 or v > _MAX_SAMPLES for v in numbers):
            return f"sample counts out of range ({c.model_dump()}); the file is edited or corrupt"
    for name, est in ev.metrics.items():
        values = (est.value, est.low, est.high)
        if not all(math.isfinite(v) and 0 <= v <= 1 for v in values) or est.low > est.high:
            return f"metric {name}: value or interval outside [0, 1] or inverted"
        if not 0 <= est.successes <= est.n <= _MAX_SAMPLES:
            return f"metric {name}: {est.successes} successes of {est.n} samples is impossible"
    if ev.n_planned is not None and not 0 <= ev.n_planned <= _MAX_SAMPLES:
        return f"{ev.n_planned} planned samples is impossible"
    return None


def _import_evidence(
    paths: list[Path],
    policy: Policy,
    *,
    assign: dict[str, str] | None = None,
    model: str | None = None,
) -> dict[str, EvalEvidence]:
    """The import itself; `import_evidence` turns a malformed file's exceptions into problems.

    `assign`: policy eval id -> the source's task name (`TASK`, or `TASK:acc_norm` for an
    lm-eval metric other than `acc`). Required for lm-eval files; for Inspect logs only where
    the task and arguments match no single policy eval. `model`: the model under assessment;
    a file recording another model is an error, not a silent import. Without it, all files
    must record the same model.
    """
    problems: list[str] = []
    assign = dict(assign or {})
    files, samples_files = _expand(paths, problems)
    sources: list[_Source] = []
    explicit_samples: list[_Samples] = []
    for path in files:
        src = _read(path, problems)
        if src is not None:
            sources.append(src)
    for path in samples_files:
        s = _read_samples(path, problems)
        if s is not None:
            explicit_samples.append(s)
    if not files and not samples_files and not problems:
        problems.append("no files given: pass Inspect logs (.eval, .json) or lm-eval results_*.json")
    lm_sources = [s for s in sources if isinstance(s, _LmEval)]
    _pair_samples(explicit_samples, lm_sources, problems)
    targets = _parse_assign(assign, policy, problems)
    _check_models(sources, model, problems)
    if problems:
        raise EvidenceImportError(problems)

    plan = _map(sources, policy, targets, problems)
    if problems:
        raise EvidenceImportError(problems)

    now = _now()
    out: dict[str, EvalEvidence] = {}
    for eval_id, (src, task, metric) in plan.items():
        spec = policy.evals[eval_id]
        if isinstance(src, _Inspect):
            ev = _inspect_evidence(eval_id, spec, src, policy, now, problems)
        else:
            ev = _lm_eval_evidence(eval_id, spec, src, task, metric, policy, now, problems)
        if ev is not None:
            out[eval_id] = ev
    if problems:
        raise EvidenceImportError(problems)
    out = {k: _pinned(ev, plan[k][0], model) for k, ev in out.items()}
    return {k: out[k] for k in policy.evals if k in out}


def _pinned(ev: EvalEvidence, src: _Source, model: str | None) -> EvalEvidence:
    """Tie evidence to the weights it measured, so a later assessment of other weights saved
    under the same name finds it stale: the weights a scalegate run recorded in its log, else
    those of the local folder `--model` (or the file) names, as they are at import time."""
    if ev.provenance is None:
        return ev
    weights = None
    if isinstance(src, _Inspect):
        recorded = (src.log.eval.metadata or {}).get(WEIGHTS_METADATA)
        weights = recorded if isinstance(recorded, str) else None
    if weights is None:
        weights = _local_weights(model or ev.provenance.model)
    if weights is None:
        return ev
    return ev.model_copy(update={"provenance": ev.provenance.model_copy(update={"weights_sha256": weights})})


def _local_weights(model: str) -> str | None:
    from scalegate.evals.model_ref import target_for

    if not model.startswith(("hf/", "bundled/")):
        folder = Path(model).expanduser()
        # lm-eval records a local model by its path; only a model folder is hashed (a file
        # naming `/`, `~` or `.` must not make the importer read a whole disk or home)
        if not (folder.is_dir() and (folder / "config.json").is_file()):
            return None
        model = f"hf/{model}"
    elif model.startswith("hf/"):
        folder = Path(model.removeprefix("hf/")).expanduser()
        if folder.is_dir() and not (folder / "config.json").is_file():
            return None
    try:
        return target_for(model).weights_sha256
    except InputError:  # not a local folder here: nothing to pin (a local assessment finds it stale)
        return None


def _expand(paths: Iterable[Path], problems: list[str]) -> tuple[list[Path], list[Path]]:
    """Files to read (a folder stands for its .eval and .json files, recursively) and
    lm-eval samples files given explicitly. The same file named twice is read once."""
    files: list[Path] = []
    samples: list[Path] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        key = p.resolve()
        if key in seen:
            return
        seen.add(key)
        (samples if p.suffix == ".jsonl" else files).append(p)

    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.is_file() and f.suffix in (".eval", ".json") and f.name != "logs.json"
            )
            if not found:
                problems.append(f"{p}: no .eval or .json files in this folder; pass the log files")
            for f in found:
                add(f)
        elif p.is_file():
            add(p)
        else:
            problems.append(f"{p}: no such file")
    return files, samples


def _read(path: Path, problems: list[str]) -> _Source | None:
    """Detect the format from the bytes and read the file; a problem explains any failure."""
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except OSError as exc:
        problems.append(f"{path}: cannot be read ({exc.strerror}); check the path and permissions")
        return None
    digest = sha256_file(path)
    if head.startswith(b"PK"):
        return _read_inspect(path, digest, "inspect_eval", problems)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        if path.suffix == ".eval":
            problems.append(
                f"{path}: not a readable Inspect .eval log (not a zip archive): the file is truncated "
                "or corrupt; copy it again from where the eval ran"
            )
        else:
            problems.append(
                f"{path}: not valid JSON ({exc}); the file is truncated or corrupt, or not an eval "
                "result: pass Inspect logs (.eval, .json) or lm-eval results_*.json"
            )
        return None
    if isinstance(data, dict) and isinstance(data.get("eval"), dict) and "status" in data:
        return _read_inspect(path, digest, "inspect_json", problems)
    if isinstance(data, dict) and isinstance(data.get("results"), dict) and _looks_lm_eval(data):
        return _read_lm_eval(path, digest, data, problems)
    keys = sorted(data)[:8] if isinstance(data, dict) else type(data).__name__
    problems.append(
        f"{path}: neither an Inspect log nor an lm-evaluation-harness results file (top level: {keys}); "
        "pass Inspect logs (.eval, or .json written with --log-format json) or lm-eval's "
        "results_<date>.json from --output_path"
    )
    return None


def _looks_lm_eval(data: dict[str, Any]) -> bool:
    return "lm_eval_version" in data or ("configs" in data and ("n-samples" in data or "versions" in data))


def _read_inspect(path: Path, digest: str, fmt: SourceFormat, problems: list[str]) -> _Inspect | None:
    from inspect_ai.log import read_eval_log

    try:
        log = read_eval_log(str(path))
    except Exception as exc:  # zip, JSON and schema errors all mean: unusable file
        kind = "zip archive" if fmt == "inspect_eval" else "JSON log"
        problems.append(
            f"{path}: not a readable Inspect {kind} ({type(exc).__name__}: {str(exc)[:200]}); the file "
            "is truncated, corrupt or from an incompatible Inspect version; copy it again from where "
            "the eval ran, or re-run the eval"
        )
        return None
    recorded = str(log.eval.model)
    return _Inspect(path, digest, fmt, log, _model_of(recorded, provider_prefixed=True))


def _read_lm_eval(path: Path, digest: str, data: dict[str, Any], problems: list[str]) -> _LmEval | None:
    bad = [
        t
        for t, r in data["results"].items()
        if not isinstance(r, dict) or not all(isinstance(k, str) for k in r)
    ]
    if bad:
        problems.append(f"{path}: lm-eval results for {bad} are not objects; the file is corrupt")
        return None
    for key in ("n-samples", "versions", "configs", "config", "task_hashes"):
        if key in data and not isinstance(data[key], dict):
            problems.append(f"{path}: `{key}` is not an object; the file is corrupt or edited")
            return None
    config = data.get("config") or {}
    args = config.get("model_args")
    name = data.get("model_name") or (args.get("pretrained") if isinstance(args, dict) else None)
    if not name and isinstance(args, str):
        name = _parse_kv(args).get("pretrained")
    if not name:
        problems.append(
            f"{path}: the lm-eval results record no model name (`model_name`, config.model_args."
            "pretrained); evidence must name its model: re-run lm-eval with --output_path"
        )
        return None
    return _LmEval(path, digest, data, _model_of(str(name), provider_prefixed=False))


def _read_samples(path: Path, problems: list[str]) -> _Samples | None:
    rows: list[dict[str, Any]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: cannot be read ({exc}); copy the lm-eval samples file again")
        return None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            problems.append(
                f"{path}: line {lineno} is not JSON: the samples file is truncated or corrupt; "
                "copy it again from lm-eval's --output_path"
            )
            return None
        if not isinstance(row, dict) or "doc_id" not in row:
            problems.append(
                f"{path}: line {lineno} is not an lm-eval sample (no doc_id); pass the "
                "samples_<task>_<date>.jsonl that lm-eval wrote with --log_samples"
            )
            return None
        rows.append(row)
    if not rows:
        problems.append(f"{path}: the samples file is empty; re-run lm-eval with --log_samples")
        return None
    joined = "".join(
        str(r.get("doc_hash", "")) + str(r.get("prompt_hash", "")) + str(r.get("target_hash", ""))
        for r in rows
    )
    m = _SAMPLES_NAME.match(path.stem)
    return _Samples(
        path=path,
        sha256=sha256_file(path),
        task=m.group("task") if m else None,
        date_id=m.group("date") if m else None,
        rows=rows,
        task_hash=hashlib.sha256(joined.encode("utf-8")).hexdigest(),
    )


def _pair_samples(samples: list[_Samples], sources: list[_LmEval], problems: list[str]) -> None:
    """An explicitly given samples file belongs to the results file whose task hash it
    reproduces (or, for results without task hashes, whose name carries the same date)."""
    for s in samples:
        matches: list[tuple[_LmEval, str]] = []
        for src in sources:
            hashes = src.data.get("task_hashes") or {}
            for task in src.tasks:
                if hashes.get(task) == s.task_hash or (
                    task not in hashes and task == s.task and s.date_id and src.date_id == s.date_id
                ):
                    matches.append((src, task))
        if len(matches) != 1:
            what = "none" if not matches else ", ".join(f"{m.path} ({t})" for m, t in matches)
            problems.append(
                f"{s.path}: this samples file belongs to {'no' if not matches else 'more than one'} "
                f"lm-eval results file given ({what}); pass it together with the results_<date>.json "
                "of the same lm-eval run"
            )
            continue
        src, task = matches[0]
        if task in src.samples and src.samples[task].path.resolve() != s.path.resolve():
            problems.append(f"{s.path}: a second samples file for task '{task}' of {src.path}; pass one")
            continue
        src.samples[task] = s


def _parse_assign(
    assign: dict[str, str], policy: Policy, problems: list[str]
) -> dict[str, tuple[str, str | None]]:
    """eval id -> (source task, lm-eval metric name or None)."""
    out: dict[str, tuple[str, str | None]] = {}
    for eval_id, value in assign.items():
        if eval_id not in policy.evals:
            problems.append(
                f"--assign {eval_id}={value}: the policy has no eval '{eval_id}' "
                f"(evals: {', '.join(policy.evals) or 'none'})"
            )
            continue
        task, metric = value, None
        head, sep, tail = value.rpartition(":")
        if sep and tail.split(",")[0] in LM_EVAL_ACCURACY:
            task, metric = head, tail
        if not task.strip():
            problems.append(f"--assign {eval_id}={value}: give the source's task name, e.g. {eval_id}=TASK")
            continue
        out[eval_id] = (task, metric)
    return out


# ------------------------------------------------------------------------- models


def _norm(name: str) -> str:
    if name.startswith(("/", "./", "../", "~")):
        return str(Path(name).expanduser().resolve())
    return name.rstrip("/")


def _model_of(recorded: str, *, provider_prefixed: bool) -> _Model:
    """`provider_prefixed`: an Inspect model string (hf/<path or repo>): the part after the
    provider also names the model."""
    forms = {_norm(recorded)}
    if provider_prefixed and "/" in recorded:
        forms.add(_norm(recorded.split("/", 1)[1]))
    return _Model(shown=recorded, full=_norm(recorded), forms=frozenset(forms))


def _same_model(a: _Model, b: _Model) -> bool:
    return a.full in b.forms or b.full in a.forms


def _source_model_text(src: _Source) -> str:
    if isinstance(src, _Inspect):
        return f"'{src.model.shown}' (Inspect eval.model)"
    return f"'{src.model.shown}' (lm-eval model_name, backend {(src.data.get('config') or {}).get('model')})"


def _check_models(sources: list[_Source], model: str | None, problems: list[str]) -> None:
    if model is not None:
        wanted = _model_of(model, provider_prefixed=True)
        resolved = resolve_model(model) if model.startswith("bundled/") else model
        alias = _model_of(resolved, provider_prefixed=True)
        for src in sources:
            if not (_same_model(src.model, wanted) or _same_model(src.model, alias)):
                problems.append(
                    f"{src.path}: model mismatch: the file records model {_source_model_text(src)}, "
                    f"but the model under assessment is '{model}'; import only that model's evidence, "
                    "or correct --model"
                )
        return
    if sources:
        first = sources[0]
        for src in sources[1:]:
            if not _same_model(first.model, src.model):
                problems.append(
                    f"{src.path}: model mismatch: it records model {_source_model_text(src)}, but "
                    f"{first.path} records {_source_model_text(first)}; evidence for one assessment "
                    "must come from one model: import each model's files separately, or pass --model"
                )


# ------------------------------------------------------------------------- mapping


def _task_matches(spec_task: str, names: set[str]) -> bool:
    candidates = {spec_task}
    if "@" in spec_task:
        candidates.add(spec_task.rsplit("@", 1)[1])
    return bool(candidates & names)


def _arg_differences(spec: EvalSpec, log: Any) -> list[str]:
    """How a log's task arguments differ from the policy eval's (empty: the same eval).

    `limit` may be smaller than the policy's: a sample limit, as with `assess --limit`."""
    e = log.eval
    full: dict[str, Any] = dict(e.task_args or {})
    passed: dict[str, Any] = dict(getattr(e, "task_args_passed", None) or full)
    out: list[str] = []
    for key, want in spec.args.items():
        if key == "limit":
            continue
        if key not in full:
            out.append(f"{key}: policy {want!r}, log unset")
        elif full[key] != want:
            out.append(f"{key}: policy {want!r}, log {full[key]!r}")
    defaults = _defaults(spec.task)
    for key, got in passed.items():
        if key != "limit" and key not in spec.args and not (key in defaults and defaults[key] == got):
            out.append(f"{key}: log {got!r}, policy unset")
    limits = [x for x in (full.get("limit", passed.get("limit")), e.config.limit) if isinstance(x, int)]
    log_limit = min(limits) if limits else None
    want_limit = spec.args.get("limit")
    if want_limit is not None and (log_limit is None or log_limit > want_limit):
        out.append(f"limit: policy {want_limit!r}, log {log_limit!r} (more samples than the policy's)")
    return out


def _defaults(task: str) -> dict[str, Any]:
    """A scalegate task's parameter defaults: passing one explicitly is the same eval."""
    import inspect

    from scalegate.evals import _registry
    from scalegate.evals.runner import SCALEGATE_PREFIX

    if not task.startswith(SCALEGATE_PREFIX):
        return {}
    factory = getattr(_registry, task.removeprefix(SCALEGATE_PREFIX), None)
    try:
        params = inspect.signature(factory).parameters.values() if factory is not None else []
    except (TypeError, ValueError):
        return {}
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


def _map(
    sources: list[_Source],
    policy: Policy,
    targets: dict[str, tuple[str, str | None]],
    problems: list[str],
) -> dict[str, tuple[_Source, str, str | None]]:
    """eval id -> (source, its task name, lm-eval metric). Every file must give evidence and
    every eval at most one piece of it."""
    plan: dict[str, tuple[_Source, str, str | None]] = {}
    claimed: set[int] = set()

    def take(eval_id: str, src: _Source, task: str, metric: str | None) -> None:
        if eval_id in plan:
            problems.append(
                f"{src.path}: evidence for '{eval_id}' comes from two files ({plan[eval_id][0].path} and "
                f"{src.path}); import one of them"
            )
            return
        plan[eval_id] = (src, task, metric)

    for eval_id, (task, metric) in targets.items():
        spec = policy.evals[eval_id]
        lm = [s for s in sources if isinstance(s, _LmEval) and task in s.data["results"]]
        named = [s for s in sources if isinstance(s, _Inspect) and task in s.names]
        fitting = [s for s in named if not _arg_differences(spec, s.log)]
        if metric is not None and named and not lm:
            problems.append(
                f"--assign {eval_id}={task}:{metric}: a metric suffix applies to lm-eval tasks only; "
                "Inspect logs are scored by their own scorer"
            )
            continue
        candidates: list[_Source] = [*lm, *(fitting if fitting else named)]
        if not candidates:
            have = sorted({t for s in sources if isinstance(s, _LmEval) for t in s.tasks})
            have_inspect = sorted({n for s in sources if isinstance(s, _Inspect) for n in s.names})
            problems.append(
                f"--assign {eval_id}={task}: no file given has task '{task}' (lm-eval tasks: "
                f"{have or 'none'}; Inspect tasks: {have_inspect or 'none'}); check the task name"
            )
            continue
        if len(candidates) > 1:
            problems.append(
                f"--assign {eval_id}={task}: {len(candidates)} files have task '{task}' "
                f"({', '.join(str(c.path) for c in candidates)}); pass only the one to import"
            )
            continue
        src = candidates[0]
        claimed.add(id(src))
        if isinstance(src, _Inspect):
            diffs = _arg_differences(spec, src.log)
            if diffs:
                problems.append(
                    f"{src.path}: task '{task}' ran with other arguments than policy eval '{eval_id}' "
                    f"({'; '.join(diffs)}); re-run it with the policy's arguments"
                )
                continue
            take(eval_id, src, src.log.eval.task, None)
        else:
            take(eval_id, src, task, metric or "acc")

    for src in sources:
        if id(src) in claimed:
            continue
        if isinstance(src, _LmEval):
            problems.append(
                f"{src.path}: lm-eval results are imported only where --assign maps a policy eval onto "
                f"one of its tasks ({', '.join(src.tasks)}); add e.g. --assign EVAL={src.tasks[0]}"
                if src.tasks
                else f"{src.path}: the lm-eval results file has no task results"
            )
            continue
        task = src.log.eval.task
        same_task = [eid for eid, spec in policy.evals.items() if _task_matches(spec.task, src.names)]
        matching = [eid for eid in same_task if not _arg_differences(policy.evals[eid], src.log)]
        if len(matching) > 1 and len([m for m in matching if m not in targets]) == 1:
            matching = [m for m in matching if m not in targets]  # the others are assigned elsewhere
        if len(matching) == 1:
            take(matching[0], src, task, None)
        elif len(matching) > 1:
            problems.append(
                f"{src.path}: ambiguous: the log (task '{task}', args {src.log.eval.task_args}) matches "
                f"{len(matching)} policy evals ({', '.join(matching)}); choose one with "
                f"--assign {matching[0]}={task}"
            )
        elif same_task:
            detail = "; ".join(
                f"{eid}: {', '.join(_arg_differences(policy.evals[eid], src.log))}" for eid in same_task
            )
            problems.append(
                f"{src.path}: the log's task arguments match no policy eval on task '{task}' ({detail}); "
                "re-run it with a policy eval's arguments"
            )
        else:
            tasks = sorted({spec.task for spec in policy.evals.values()})
            problems.append(
                f"{src.path}: no policy eval runs task '{task}' (policy tasks: {tasks or 'none'}); "
                f"map it with --assign EVAL={task} or check the policy"
            )
    return plan


# ------------------------------------------------------------------------- evidence


def _source(
    src: _Source, fmt: SourceFormat, task: str, counted: CountedFrom, now: str, **extra: Any
) -> ImportSource:
    tool = "inspect_ai" if isinstance(src, _Inspect) else "lm_eval"
    if isinstance(src, _Inspect):
        version = (src.log.eval.packages or {}).get("inspect_ai")
    else:
        version = src.data.get("lm_eval_version")
    return ImportSource(
        format=fmt,
        tool=tool,
        tool_version=str(version) if version is not None else None,
        file=str(src.path.resolve()),
        sha256=src.sha256,
        task=task,
        counted_from=counted,
        imported_at=now,
        imported_by=__version__,
        **extra,
    )


def _inspect_evidence(
    eval_id: str, spec: EvalSpec, src: _Inspect, policy: Policy, now: str, problems: list[str]
) -> ImportedEvidence | None:
    e = src.log.eval
    target = ModelTarget(
        reference=str(e.model), inspect_model=str(e.model), model_args=dict(e.model_args or {})
    )
    try:
        ev = evidence_from_log(
            eval_id, spec, src.log, target, rules=policy.evidence, statistics=policy.statistics
        )
    except Exception as exc:  # a log that reads but lacks what grading needs
        problems.append(
            f"{src.path}: the Inspect log cannot be graded ({type(exc).__name__}: {str(exc)[:200]}); "
            "re-run the eval with a current Inspect"
        )
        return None
    if ev.counts is not None and ev.counts.blocked:
        # a mitigation's blocks are scalegate's own post-mitigation runs' effect; an imported log
        # is never post-mitigation evidence, so a "blocked" answer there is just a wrong one
        unblocked = ev.counts.model_copy(update={"blocked": 0})
        ev = grading.regrade(
            ev.model_copy(update={"counts": unblocked}), spec, policy.statistics, policy.evidence
        )
    base = ev.provenance.model_dump() if ev.provenance else {}
    provenance = ImportedProvenance(
        **{
            **base,
            "task": str(e.task),
            "task_args": dict(e.task_args or {}),
            "packages": dict(e.packages or {}),
            "source": _source(src, src.format, str(e.task), "inspect_samples", now),
        },
    )
    completed = getattr(src.log.stats, "completed_at", None) or ev.completed_at
    return ImportedEvidence.model_validate(
        {**ev.model_dump(), "provenance": provenance, "completed_at": completed or None}
    )


def _lm_eval_evidence(
    eval_id: str,
    spec: EvalSpec,
    src: _LmEval,
    task: str,
    metric: str | None,
    policy: Policy,
    now: str,
    problems: list[str],
) -> ImportedEvidence | None:
    where = f"{src.path} (task '{task}')"
    if spec.metric != "accuracy":
        problems.append(
            f"{where}: policy eval '{eval_id}' gates on metric '{spec.metric}'; an lm-eval task maps "
            "only onto `accuracy` (acc, acc_norm); assign it to an accuracy eval"
        )
        return None
    subtasks = (src.data.get("group_subtasks") or {}).get(task)
    if subtasks:
        problems.append(
            f"{where}: '{task}' is a group of {len(subtasks)} tasks, whose score is an aggregate; "
            "scalegate needs one task's per-doc results: assign one of its tasks"
        )
        return None
    name, _, filt = (metric or "acc").partition(",")
    filt = filt or "none"
    key = f"{name},{filt}"
    results: dict[str, Any] = src.data["results"][task]
    if key not in results:
        have = sorted(k for k in results if "," in k and "_stderr" not in k)
        problems.append(
            f"{where}: no metric '{key}' (metrics: {have or 'none'}); assign it as "
            f"{eval_id}={task}:METRIC with one of {list(LM_EVAL_ACCURACY)}"
        )
        return None
    acc = results[key]
    if not isinstance(acc, int | float) or isinstance(acc, bool) or not 0 <= acc <= 1:
        problems.append(f"{where}: '{key}' is {acc!r}, not a proportion; the file is corrupt or edited")
        return None
    n_samples = (src.data.get("n-samples") or {}).get(task) or {}
    effective = n_samples.get("effective") if isinstance(n_samples, dict) else None
    if effective is not None and (not isinstance(effective, int) or effective < 0):
        problems.append(f"{where}: n-samples.effective is {effective!r}; the file is corrupt or edited")
        return None

    samples = src.samples.get(task) or _find_samples(src, task, problems)
    sample_ids_sha = None
    cluster = spec.cluster or policy.statistics.cluster
    if samples is not None:
        counted = _count(samples, name, filt, where, problems, cluster)
        if counted is None:
            return None
        observations, n_options = counted
        n = len(observations)
        successes = sum(o.value or 0 for o in observations)
        ids = sorted(o.sample_id for o in observations)
        sample_ids_sha = hashlib.sha256(json.dumps(ids).encode()).hexdigest()
        if effective is not None and n != effective:
            problems.append(
                f"{where}: the samples file {samples.path.name} has {n} docs for filter '{filt}', the "
                f"results say {effective}; the files are from different runs, or one is truncated"
            )
            return None
        if abs(successes / n - acc) > CONSISTENCY_TOLERANCE:
            problems.append(
                f"{where}: per-doc '{name}' in {samples.path.name} gives {successes}/{n} = "
                f"{successes / n:.6f}, the results say {acc:.6f}; the files are from different runs, "
                "or were edited"
            )
            return None
        counted_from: CountedFrom = "lm_eval_samples"
        counts = grading.tally(observations, planned=n, n_options=n_options, cluster_field=cluster)
    else:
        if not effective:
            problems.append(
                f"{where}: no sample count (n-samples.effective) and no samples file; re-run lm-eval "
                "with --log_samples and pass the samples_*.jsonl beside the results"
            )
            return None
        n = effective
        successes = round(acc * n)
        if abs(successes / n - acc) > CONSISTENCY_TOLERANCE:
            problems.append(
                f"{where}: '{key}' = {acc!r} is not a whole number of successes out of n = {n} "
                f"(nearest {successes}/{n}); the numbers do not belong together: pass the samples file "
                "from --log_samples"
            )
            return None
        counted_from = "lm_eval_n_samples"
        # no per-doc record: no clusters to measure, so a clustering policy reads it as one
        counts = grading.Counts(planned=n, scored=n, successes=float(successes))
    status, message, metrics = grading.grade(counts, spec, policy.statistics, policy.evidence)
    config: dict[str, Any] = src.data.get("config") or {}
    model_args = config.get("model_args")
    if isinstance(model_args, str):
        model_args = _parse_kv(model_args)
    task_config = (src.data.get("configs") or {}).get(task) or {}
    task_args: dict[str, Any] = {"num_fewshot": (src.data.get("n-shot") or {}).get(task)}
    if config.get("limit") is not None:
        task_args["limit"] = config["limit"]
    for k in ("dataset_path", "dataset_name", "test_split", "output_type"):
        if task_config.get(k) is not None:
            task_args[k] = task_config[k]
    packages = {"lm_eval": str(src.data["lm_eval_version"])} if src.data.get("lm_eval_version") else {}
    if src.data.get("transformers_version"):
        packages["transformers"] = str(src.data["transformers_version"])
    started, completed = _lm_eval_times(src.data)
    provenance = ImportedProvenance(
        model=src.model.shown,
        model_args=model_args if isinstance(model_args, dict) else {},
        task=task,
        task_args=task_args,
        task_version=_version(src.data, task),
        sample_ids_sha256=sample_ids_sha,
        seed=config.get("random_seed") if isinstance(config.get("random_seed"), int) else None,
        packages=packages,
        source=_source(
            src,
            "lm_eval",
            task,
            counted_from,
            now,
            metric=key,
            samples_file=str(samples.path.resolve()) if samples else None,
            samples_sha256=samples.sha256 if samples else None,
            task_hash=(src.data.get("task_hashes") or {}).get(task),
        ),
    )
    return ImportedEvidence(
        eval_id=eval_id,
        status=status,
        message=message,
        metrics=metrics,
        n_planned=effective if effective is not None else n,
        n_scored=n,
        scoring_methods={f"lm_eval:{name}": n},
        log_path=str(src.path.resolve()),
        provenance=provenance,
        started_at=started,
        completed_at=completed,
        counts=counts,
        spec=grading.bind(spec),
    )


def _find_samples(src: _LmEval, task: str, problems: list[str]) -> _Samples | None:
    """lm-eval's own name for a task's samples beside its results file, if it is there."""
    if src.date_id is None:
        return None
    path = src.path.parent / f"samples_{task}_{src.date_id}.jsonl"
    if not path.is_file():
        return None
    s = _read_samples(path, problems)
    if s is None:
        return None
    expected = (src.data.get("task_hashes") or {}).get(task)
    if expected is not None and expected != s.task_hash:
        problems.append(
            f"{path}: does not belong to {src.path.name} (its per-doc hashes do not reproduce the "
            f"task hash of '{task}'); remove it or pass the matching files"
        )
        return None
    src.samples[task] = s
    return s


def _count(
    samples: _Samples, name: str, filt: str, where: str, problems: list[str], cluster: str | None
) -> tuple[list[grading.Observation], int | None] | None:
    """One observation per doc of one metric under one filter, with the option the model chose
    (the highest log-likelihood) and the doc's cluster, and the number of options."""
    rows = [r for r in samples.rows if r.get("filter", "none") == filt]
    if not rows:
        filters = sorted({str(r.get("filter")) for r in samples.rows})
        problems.append(f"{where}: {samples.path.name} has no docs for filter '{filt}' (filters: {filters})")
        return None
    seen: set[Any] = set()
    out: list[grading.Observation] = []
    options: set[int] = set()
    for r in rows:
        doc_id = r["doc_id"]
        if doc_id in seen:
            problems.append(
                f"{where}: doc {doc_id} appears twice in {samples.path.name} (repeats > 1?); scalegate "
                "imports one result per doc"
            )
            return None
        seen.add(doc_id)
        v = r.get(name)
        if isinstance(v, bool) or v not in (0, 1):
            problems.append(
                f"{where}: doc {doc_id} in {samples.path.name} has {name} = {v!r}, not 0 or 1; "
                f"'{name}' is not a per-doc correct/incorrect here"
            )
            return None
        doc = r.get("doc")
        choice = _chosen_option(r.get("filtered_resps"))
        if choice is not None:
            options.add(len(r["filtered_resps"]))
        group = doc.get(cluster) if isinstance(doc, dict) and cluster else None
        out.append(
            grading.Observation(
                sample_id=str(doc["id"]) if isinstance(doc, dict) and "id" in doc else str(doc_id),
                value=int(v),
                choice=None
                if choice is None
                else _LETTERS[choice]
                if choice < len(_LETTERS)
                else str(choice),
                cluster=None if group is None else str(group),
            )
        )
    return out, options.pop() if len(options) == 1 else None


_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _chosen_option(resps: Any) -> int | None:
    """The option a multiple-choice doc's log-likelihoods pick: [[loglik, is_greedy], ...]."""
    if not isinstance(resps, list) or len(resps) < 2:
        return None
    try:
        values = [float(x[0]) for x in resps]
    except (TypeError, ValueError, IndexError, KeyError):
        return None
    if not all(math.isfinite(v) for v in values):
        return None
    return max(range(len(values)), key=lambda i: values[i])


def _version(data: dict[str, Any], task: str) -> str | int | None:
    v = (data.get("versions") or {}).get(task)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v if isinstance(v, str | int) else None


def _lm_eval_times(data: dict[str, Any]) -> tuple[str | None, str | None]:
    start = data.get("date")
    if not isinstance(start, int | float) or not math.isfinite(start):
        return None, None
    began = dt.datetime.fromtimestamp(start, dt.UTC)
    try:
        took = float(data.get("total_evaluation_time_seconds") or "nan")
    except (TypeError, ValueError):
        took = math.nan
    ended = began + dt.timedelta(seconds=took) if math.isfinite(took) else None
    iso = "seconds"
    return began.isoformat(timespec=iso), ended.isoformat(timespec=iso) if ended else None


def _parse_kv(text: str) -> dict[str, Any]:
    """lm-eval's `key=value,key=value` model_args (older results files record the string)."""
    out: dict[str, Any] = {}
    for part in text.split(","):
        k, sep, v = part.partition("=")
        if sep and k.strip():
            out[k.strip()] = v.strip()
    return out


# ------------------------------------------------------------------------- the folder


def write_evidence(evidence: dict[str, EvalEvidence], out_dir: Path) -> Path:
    """Write `out_dir/evidence/<eval_id>.json` and `out_dir/imported.json`, all or nothing.

    Everything is written into a temporary folder beside `out_dir` and renamed into place;
    `out_dir` must not exist yet (or be an empty folder). Returns `out_dir`."""
    out_dir = Path(out_dir)
    if not evidence:
        raise InputError("no evidence to write: nothing was imported")
    for key, ev in evidence.items():
        if key != ev.eval_id:
            raise InputError(f"evidence under '{key}' is for eval '{ev.eval_id}'; keys must be eval ids")
        if not key or key.startswith(".") or "/" in key or "\\" in key or "\0" in key:
            raise InputError(f"eval id {key!r} cannot name an evidence file; rename the eval in the policy")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise InputError(
            f"{out_dir} already exists and is not empty: imported evidence is never written over "
            "other files; choose a new output folder or remove it first"
        )
    parent = out_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".{out_dir.name}.import-{os.getpid()}-{secrets.token_hex(4)}.tmp"
    tmp.mkdir()
    try:
        (tmp / EVIDENCE_DIR).mkdir()
        entries: dict[str, Any] = {}
        sources: dict[str, dict[str, Any]] = {}
        for eval_id, ev in evidence.items():
            try:
                blob = (json.dumps(ev.model_dump(mode="json"), indent=2) + "\n").encode("utf-8")
                EvalEvidence.model_validate_json(blob)  # what is written must load back
            except (ValueError, UnicodeError) as exc:
                raise InputError(
                    f"evidence for '{eval_id}' cannot be stored ({type(exc).__name__}): the file holds "
                    "text that is not valid Unicode; import only the unedited output of Inspect or lm-eval"
                ) from exc
            rel = f"{EVIDENCE_DIR}/{eval_id}.json"
            (tmp / rel).write_bytes(blob)
            src = ev.provenance.source if ev.provenance is not None else None
            entries[eval_id] = {
                "file": rel,
                "sha256": hashlib.sha256(blob).hexdigest(),
                "status": ev.status.value,
                "source": None
                if src is None
                else {"file": src.file, "sha256": src.sha256, "format": src.format},
            }
            if src is not None:
                for file, digest, kind in (
                    (src.file, src.sha256, src.format),
                    (src.samples_file, src.samples_sha256, "lm_eval_samples"),
                ):
                    if file and digest:
                        row = sources.setdefault(
                            file, {"file": file, "sha256": digest, "format": kind, "evals": []}
                        )
                        row["evals"].append(eval_id)
        manifest = {
            "schema": IMPORT_SCHEMA,
            "scalegate_version": __version__,
            "written_at": _now(),
            "evidence": entries,
            "sources": list(sources.values()),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        try:
            os.replace(tmp, out_dir)  # atomic; fails if out_dir meanwhile got content
        except OSError as exc:
            raise InputError(
                f"{out_dir}: cannot move the imported evidence into place ({exc.strerror}); "
                "choose a new output folder"
            ) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def load_evidence_dir(path: Path) -> dict[str, EvalEvidence]:
    """The evidence of a folder written by `write_evidence` (the folder or its evidence/),
    checked against its manifest: a file changed, added or removed since is an error."""
    path = Path(path)
    root = path
    if not (root / MANIFEST).is_file() and path.name == EVIDENCE_DIR and (path.parent / MANIFEST).is_file():
        root = path.parent
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise InputError(
            f"{path}: no {MANIFEST} here: not a folder written by `scalegate evidence import`; "
            "import the files first"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        entries = manifest["evidence"]
        if manifest.get("schema") != IMPORT_SCHEMA or not isinstance(entries, dict):
            raise ValueError(f"schema {manifest.get('schema')!r}")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{manifest_path}: not a scalegate import manifest ({exc}); import again") from exc
    problems: list[str] = []
    out: dict[str, EvalEvidence] = {}
    listed = set()
    for eval_id, entry in entries.items():
        rel = entry.get("file") if isinstance(entry, dict) else None
        if not isinstance(rel, str) or rel != f"{EVIDENCE_DIR}/{eval_id}.json":
            problems.append(f"{manifest_path}: entry '{eval_id}' is malformed; import again")
            continue
        listed.add(rel)
        file = root / rel
        if not file.is_file():
            problems.append(f"{file}: listed in {MANIFEST} but missing; import again")
            continue
        blob = file.read_bytes()
        if hashlib.sha256(blob).hexdigest() != entry.get("sha256"):
            problems.append(
                f"{file}: changed since it was imported (sha256 differs from {MANIFEST}); import again"
            )
            continue
        try:
            ev = ImportedEvidence.model_validate_json(blob)
        except ValidationError as exc:
            problems.append(f"{file}: not scalegate evidence ({exc.error_count()} errors); import again")
            continue
        if ev.eval_id != eval_id:
            problems.append(f"{file}: holds evidence for '{ev.eval_id}', not '{eval_id}'; import again")
            continue
        out[eval_id] = ev
    evidence_dir = root / EVIDENCE_DIR
    extra = sorted(
        f"{EVIDENCE_DIR}/{p.name}" for p in (evidence_dir.iterdir() if evidence_dir.is_dir() else [])
    )
    for rel in extra:
        if rel not in listed:
            problems.append(f"{root / rel}: not listed in {MANIFEST} (added after the import); remove it")
    if problems:
        raise EvidenceImportError(problems, f"{root}: the imported evidence cannot be used")
    return out


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def against_source(ev: EvalEvidence, spec: EvalSpec, policy: Policy) -> EvalEvidence:
    """Imported evidence re-derived from the file it pins, whenever that file is present: the
    record's counts must be the ones the file gives today (an evidence file edited and its
    checksum updated in the manifest is caught here). A pinned file whose bytes changed, or a
    record its file contradicts, is `error`. Evidence for another spec is left to `regrade`."""
    src = ev.provenance.source if ev.provenance is not None else None
    if src is None or ev.spec is None or grading.spec_difference(ev.spec, spec) is not None:
        return ev
    path = Path(src.file)
    if not path.is_file():
        return ev  # the log stayed with whoever imported it: the record's counts stand
    if sha256_file(path) != src.sha256:
        return _broken(ev, f"{path} changed since it was imported (sha256 differs); import it again")
    task = src.task if src.metric is None else f"{src.task}:{src.metric.partition(',')[0]}"
    files = [path] + (
        [Path(src.samples_file)] if src.samples_file and Path(src.samples_file).is_file() else []
    )
    try:
        again = import_evidence(files, policy, assign={ev.eval_id: task}).get(ev.eval_id)
    except InputError as exc:
        return _broken(ev, f"{path} no longer imports for this eval ({str(exc)[:300]})")
    if again is None or again.counts != ev.counts:
        return _broken(
            ev,
            f"the evidence record contradicts the log it pins ({path}): the log gives "
            f"{_counted(again)}, the record says {_counted(ev)}; import it again",
        )
    return ev


def _counted(ev: EvalEvidence | None) -> str:
    c = ev.counts if ev is not None else None
    return (
        "nothing"
        if c is None
        else f"{c.successes:g} of {c.scored} ({c.unparsed} unparsed, {c.errors} errors)"
    )


def _broken(ev: EvalEvidence, why: str) -> EvalEvidence:
    return ev.model_copy(update={"status": EvidenceStatus.error, "message": why, "metrics": {}})


def stale_for(ev: EvalEvidence, model: str, weights_sha256: str | None = None) -> str | None:
    """Why imported evidence does not count for the model being assessed (None if it does):
    a result for another checkpoint is stale and never counts. Where the assessed weights are
    local (`weights_sha256`), the evidence must pin the same weights: a name alone is not enough."""
    recorded_weights = ev.provenance.weights_sha256 if ev.provenance is not None else None
    if weights_sha256 is not None and recorded_weights != weights_sha256:
        if recorded_weights is None:
            return (
                "imported evidence does not pin the model's weights, and the model being assessed has "
                "local weights: import it again with --model naming the weights folder: stale"
            )
        return (
            f"imported evidence is for weights {recorded_weights[:12]}, the model being assessed has "
            f"{weights_sha256[:12]} (new weights under the same name?): stale"
        )
    recorded = ev.provenance.model if ev.provenance is not None else None
    if recorded is None:
        return "imported evidence names no model"
    fmt = ev.provenance.source.format if ev.provenance and ev.provenance.source else "inspect_eval"
    theirs = _model_of(recorded, provider_prefixed=fmt != "lm_eval")
    ours = _model_of(resolve_model(model), provider_prefixed=True)
    if _same_model(theirs, ours):
        return None
    return f"imported evidence is for model '{recorded}', not '{model}': stale"
