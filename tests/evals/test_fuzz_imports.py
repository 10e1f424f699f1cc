"""Fuzzing `scalegate evidence import`: a third party's evaluation results, however mangled,
are either imported as sane evidence or refused with an `InputError`, never anything else,
and no import takes 2 s or more.

Seeds: the committed lm-evaluation-harness run (data/imports/lm_eval/: a results file and its
per-doc samples file, see that folder's README) and a real Inspect log of the reference
policy's cyber_knowledge eval run by Inspect's mock model (built once per session, as in
test_imports.py), as a `.eval` archive and as a `.json` log.

Mutations: JSON values replaced by hostile ones (wrong types, huge and negative numbers,
NaN, infinities, integers past Python's 4,300-digit limit, deeply nested arrays, NUL and
lone surrogates, paths such as "/" and "~"), at a random place or at a place the importer
reads; keys deleted and added; bytes flipped, inserted, deleted, duplicated; truncation;
lines deleted, duplicated and swapped in the samples file; members of a `.eval` archive
removed, added, corrupted or JSON-mangled, and the archive itself corrupted.

Each input is imported in-process as the CLI does (`import_evidence`, then `write_evidence`
into a fresh folder), in a fresh temporary folder, with HOME, the working directory, the data
and Hugging Face caches pointed at empty temporary folders; evidence that imports must be
sane (counts, proportions and intervals in range) and its folder must load back. A model
path in a file makes the importer hash the weights of that folder: scalegate walking any
folder outside the sandbox that is no model folder is reported (`WalkedOutside`) instead of
done, and an import still running after HARD_LIMIT_S is interrupted.

The CI run takes about `SCALEGATE_FUZZ_SECONDS` (default 30) seconds, about 40 inputs a second
on 2 busy cores; a longer run:

    SCALEGATE_FUZZ_SECONDS=600 .venv/bin/pytest -q tests/evals/test_fuzz_imports.py -k fuzz

A failing input is saved under tests/evals/fuzz_corpus_imports/ (the minimal one Hypothesis
shrinks to) as `<kind>--crash-<hash>.<ext>`; give it a descriptive name.
`test_corpus_input_is_refused_cleanly_or_imports` replays every file there for good (the
kinds are described in that folder's README). Crashes not yet fixed in src are listed in
`KNOWN_CRASHES`: their corpus files are strict xfails, and the fuzzer tolerates (and counts)
problems with their signature, so that it keeps looking for new ones. Once a crash is fixed,
its xfail passes and fails the run: remove its entry then.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import glob
import hashlib
import io
import json
import math
import os
import pathlib
import posixpath
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.control import current_build_context

from scalegate.errors import InputError
from scalegate.evals.evidence import EvalEvidence
from scalegate.evals.imports import MANIFEST, import_evidence, load_evidence_dir, write_evidence
from scalegate.policy.base import EvidenceStatus
from scalegate.policy.loader import load_policy
from scalegate.policy.schema import Policy
from tests.fuzzing import BUDGET_S, Tally, corpus_case, run_campaign

if sys.version_info < (3, 14):
    import zipfile_zstd  # noqa: F401  (reads the zstd members Inspect writes, as Inspect itself does)

HERE = Path(__file__).parent
CORPUS = HERE / "fuzz_corpus_imports"
LM_DIR = HERE / "data" / "imports" / "lm_eval"
LM_DATE = "2026-11-23T13-48-45.545609"
LM_TASK = "scalegate_mmlu_cyber"
LM_RESULTS = LM_DIR / f"results_{LM_DATE}.json"
LM_SAMPLES = LM_DIR / f"samples_{LM_TASK}_{LM_DATE}.jsonl"
EVAL_ID = "cyber_knowledge"

CALL_LIMIT_S = 2.0
HARD_LIMIT_S = 6.0  # an import still running then is interrupted (a hang must not stall the run)
BATCH = 25  # examples per Hypothesis run; runs repeat until the budget is spent

#: What a corpus file's name starts with (before "--"): how it is imported.
#: lm-results: a results file, the committed samples file beside it under lm-eval's name;
#: lm-results-alone: a results file alone (successes recovered from n-samples);
#: lm-samples: a samples file beside the committed results file;
#: inspect-eval / inspect-json: an Inspect log alone. lm-eval files are assigned to cyber_knowledge.
KINDS = ("lm-results", "lm-results-alone", "lm-samples", "inspect-eval", "inspect-json")
EXTENSIONS = {
    "lm-results": ".json",
    "lm-results-alone": ".json",
    "lm-samples": ".jsonl",
    "inspect-eval": ".eval",
    "inspect-json": ".json",
}

#: Problems found by this fuzzer and not yet fixed in src: corpus file -> (signature, where,
#: what happens). The signature is the exception type (or `insane`: evidence out of range,
#: `unloadable`: the folder written does not load back, `hang`, `slow`); `where` the innermost
#: scalegate function it escapes from as file:function (or the field that is out of range).
#: Each is a strict xfail in the corpus replay, and the fuzzer tolerates problems of the same
#: signature and place (counting them), so that it keeps looking for new ones.
KNOWN_CRASHES: dict[str, tuple[str, str, str]] = {
    # none today: the 28 crashes, hangs and out-of-range imports this fuzzer found on
    # 2026-12-05 (wrong types, 5,000-digit integers, 5,000-deep nesting, NUL and lone
    # surrogates in names, dates out of range, negative or 10^30 counts, a model path of
    # `/`, `~` or `.` that made the importer hash a whole disk) are fixed and their corpus
    # files replay as regression tests.
}


# --- seeds ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seeds:
    files: dict[str, bytes]  # kind -> the unmangled file
    eval_members: tuple[tuple[str, bytes], ...]  # the .eval archive's members, decompressed


@functools.cache
def _policy() -> Policy:
    return load_policy("reference").policy


def _inspect_log(folder: Path) -> Path:
    """A real Inspect log of cyber_knowledge on 20 questions, answered A, B, C, D in turn by
    Inspect's mock model (as `mock_log` in test_imports.py): it imports as `ok` evidence."""
    from scalegate.evals.mmlu import LETTERS
    from scalegate.evals.runner import ModelTarget, build_task, run_eval
    from tests.builders import mock_outputs

    policy = _policy()
    spec = policy.evals[EVAL_ID]
    outputs = mock_outputs(*(LETTERS[i % 4] for i in range(20)))
    target = ModelTarget("mockllm/model", "mockllm/model", {"custom_outputs": outputs})
    ev = run_eval(
        EVAL_ID,
        spec,
        target,
        log_dir=folder,
        rules=policy.evidence,
        statistics=policy.statistics,
        task=build_task(spec, 20),
        sample_limit=20,
    )
    assert ev.status is EvidenceStatus.ok and ev.log_path is not None
    return Path(ev.log_path)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> Seeds:
    from inspect_ai.log import read_eval_log, write_eval_log

    folder = tmp_path_factory.mktemp("fuzz-import-seeds")
    log = _inspect_log(folder / "logs")
    as_json = folder / "log.json"
    write_eval_log(read_eval_log(str(log)), str(as_json), format="json")
    raw_eval = log.read_bytes()
    with zipfile.ZipFile(io.BytesIO(raw_eval)) as z:
        members = tuple((i.filename, z.read(i.filename)) for i in z.infolist())
    results = LM_RESULTS.read_bytes()
    files = {
        "lm-results": results,
        "lm-results-alone": results,
        "lm-samples": LM_SAMPLES.read_bytes(),
        "inspect-eval": raw_eval,
        "inspect-json": as_json.read_bytes(),
    }
    seeds = Seeds(files=files, eval_members=members)
    _warm_up(seeds, folder / "warm-up")
    return seeds


def _warm_up(seeds: Seeds, folder: Path) -> None:
    """Import each seed once, untimed: the first import loads modules (Inspect's log reader,
    the task registry) that take longer than CALL_LIMIT_S on a busy machine."""
    with contextlib.suppress(ImportError):  # what an hf/ model path in a file loads
        import huggingface_hub  # noqa: F401
        import transformers.utils.logging  # noqa: F401
    with _sandbox(folder):
        for i, (kind, blob) in enumerate(seeds.files.items()):
            _import(kind, blob, folder / "work" / str(i))


# --- mutations --------------------------------------------------------------------------------------

DEEP = 5000  # past the interpreter's recursion limit
#: Hostile JSON values, as raw JSON text (so that NaN, huge integers and deep nesting survive).
HOSTILE_RAW: list[str] = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "-1e999",
    "1e308",
    "-1e308",
    "5e-324",
    "-1",
    "-5",
    "0",
    "1",
    "2",
    "0.5",
    "1.0000001",
    "-0.0",
    "true",
    "false",
    "null",
    '""',
    "[]",
    "{}",
    "9" * 5000,  # more digits than int() takes
    "-" + "9" * 5000,
    "1" + "0" * 30,
    str(2**63),
    str(-(2**63)),
    str(2**64),
    "1e20",
    "-1e20",
    "253402300800",  # year 10000
    "-62135596801",  # before year 1
    '"/"',
    '"~"',
    '"~nobody_here"',
    '"."',
    '".."',
    '"/tmp"',
    '"\\u0000"',
    '"/x\\u0000y"',
    '"x\\u0000y"',
    '"\\ud800"',
    '"/\\udcff"',
    '"hf/x"',
    '"hf//"',
    '"mockllm/other"',
    '"scalegate/mmlu_proxy"',
    '"' + "x" * 5000 + '"',
    '"NaN"',
    '"1"',
    '"0.2"',
    '"-1"',
    "[1]",
    "[[1]]",
    "[null]",
    "[NaN, 1]",
    '[[1e400, "True"], [1, "False"]]',
    "[" + "9" * 400 + "]",
    '{"a": 1}',
    '{"": null}',
    "[" * 50 + "]" * 50,
    "[" * DEEP + "]" * DEEP,
    '{"a":' * DEEP + "1" + "}" * DEEP,
]
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.lists(st.one_of(st.integers(), st.text(max_size=3), st.none()), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
HOSTILE = st.one_of(st.sampled_from(HOSTILE_RAW), JUNK.map(json.dumps))
#: Keys added beside the others: ones the importer (or Inspect) reads.
ADDED_KEYS = [
    "group_subtasks",
    "n-shot",
    "n-samples",
    "task_hashes",
    "date",
    "total_evaluation_time_seconds",
    "model_name",
    "lm_eval_version",
    "configs",
    "config",
    "versions",
    "effective",
    "doc_id",
    "filter",
    "filtered_resps",
    "acc",
    "doc",
    "id",
    "limit",
    "model",
    "task",
    "task_args",
    "metadata",
    "scalegate_weights_sha256",
    "blocked",
    "error",
    "status",
    "x",
]
#: Places the importer reads (a missing step is created; an index is taken modulo the length).
LM_RESULTS_PATHS: list[tuple[Any, ...]] = [
    (),
    ("results",),
    ("results", LM_TASK),
    ("results", LM_TASK, "acc,none"),
    ("results", LM_TASK, "acc_norm,none"),
    ("n-samples",),
    ("n-samples", LM_TASK),
    ("n-samples", LM_TASK, "effective"),
    ("task_hashes",),
    ("task_hashes", LM_TASK),
    ("group_subtasks",),
    ("group_subtasks", LM_TASK),
    ("configs",),
    ("configs", LM_TASK),
    ("configs", LM_TASK, "dataset_path"),
    ("versions",),
    ("versions", LM_TASK),
    ("n-shot",),
    ("n-shot", LM_TASK),
    ("config",),
    ("config", "model_args"),
    ("config", "model_args", "pretrained"),
    ("config", "limit"),
    ("config", "random_seed"),
    ("config", "model"),
    ("model_name",),
    ("date",),
    ("total_evaluation_time_seconds",),
    ("lm_eval_version",),
    ("transformers_version",),
]
LM_SAMPLE_PATHS: list[tuple[Any, ...]] = [
    (),
    ("doc_id",),
    ("acc",),
    ("acc_norm",),
    ("filter",),
    ("filtered_resps",),
    ("filtered_resps", 0),
    ("filtered_resps", 0, 0),
    ("filtered_resps", 1, 0),
    ("doc",),
    ("doc", "id"),
    ("doc_hash",),
    ("prompt_hash",),
    ("target_hash",),
]
INSPECT_HEADER_PATHS: list[tuple[Any, ...]] = [
    (),
    ("status",),
    ("version",),
    ("eval",),
    ("eval", "model"),
    ("eval", "model_args"),
    ("eval", "task"),
    ("eval", "task_registry_name"),
    ("eval", "task_version"),
    ("eval", "task_args"),
    ("eval", "task_args", "limit"),
    ("eval", "task_args", "seed"),
    ("eval", "task_args", "subjects"),
    ("eval", "task_args_passed"),
    ("eval", "task_args_passed", "limit"),
    ("eval", "config"),
    ("eval", "config", "limit"),
    ("eval", "config", "epochs"),
    ("eval", "dataset"),
    ("eval", "dataset", "samples"),
    ("eval", "metadata"),
    ("eval", "metadata", "scalegate_weights_sha256"),
    ("eval", "metadata", "scalegate_provenance"),
    ("eval", "metadata", "scalegate_provenance", "seed"),
    ("eval", "packages"),
    ("eval", "packages", "inspect_ai"),
    ("eval", "run_id"),
    ("eval", "eval_id"),
    ("results",),
    ("results", "total_samples"),
    ("results", "completed_samples"),
    ("stats",),
    ("stats", "completed_at"),
    ("stats", "started_at"),
    ("error",),
]
INSPECT_SAMPLE_PATHS: list[tuple[Any, ...]] = [
    (),
    ("id",),
    ("epoch",),
    ("target",),
    ("choices",),
    ("scores",),
    ("scores", "mc_letter"),
    ("scores", "mc_letter", "value"),
    ("scores", "mc_letter", "answer"),
    ("scores", "mc_letter", "metadata"),
    ("scores", "mc_letter", "metadata", "parsed"),
    ("scores", "mc_letter", "metadata", "method"),
    ("scores", "mc_letter", "metadata", "blocked"),
    ("metadata",),
    ("metadata", "subject"),
    ("error",),
    ("output",),
    ("messages",),
]
HOLE = "__scalegate_fuzz_hole__"
BYTE_SNIPPETS = [
    b"\x00",
    b"\xff",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"\xc3",
    b'"',
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\\",
    b"\n",
    b"NaN",
    b"-",
    b"1e999",
    b"9" * 5000,
    b"\\u0000",
    b"\\ud800",
    b"[" * DEEP,
    b"PK\x03\x04",
]


def _pos(draw: Any, size: int) -> int:
    return draw(st.integers(0, size))


def _mutate_bytes(draw: Any, blob: bytes, steps: list[str]) -> bytes:
    op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate", "lines"]))
    i = _pos(draw, len(blob))
    if op == "flip":
        new = draw(st.one_of(st.binary(min_size=1, max_size=4), st.sampled_from(BYTE_SNIPPETS[:16])))
        out = blob[:i] + new + blob[i + len(new) :]
    elif op == "insert":
        new = draw(st.one_of(st.sampled_from(BYTE_SNIPPETS), st.binary(min_size=1, max_size=8)))
        out = blob[:i] + new + blob[i:]
    elif op == "delete":
        out = blob[:i] + blob[i + draw(st.integers(1, 400)) :]
    elif op == "truncate":
        out = blob[:i]
    elif op == "duplicate":
        piece = blob[i : i + draw(st.integers(1, 3000))]
        j = _pos(draw, len(blob))
        out = blob[:j] + piece * draw(st.integers(1, 5)) + blob[j:]
    else:
        lines = blob.split(b"\n")
        a, b = (draw(st.integers(0, len(lines) - 1)) for _ in range(2))
        how = draw(st.sampled_from(["delete", "duplicate", "swap", "blank", "junk"]))
        if how == "delete":
            del lines[a]
        elif how == "duplicate":
            lines.insert(b, lines[a])
        elif how == "swap":
            lines[a], lines[b] = lines[b], lines[a]
        elif how == "blank":
            lines.insert(a, b"   ")
        else:
            lines.insert(a, draw(HOSTILE).encode("utf-8", "surrogatepass"))
        op = f"lines:{how}"
        out = b"\n".join(lines)
    steps.append(f"bytes {op} at {i}")
    return out


def _walk(draw: Any, node: Any) -> tuple[Any, ...]:
    """A random path into `node`, stopping at a random depth."""
    path: list[Any] = []
    while isinstance(node, dict | list) and node and draw(st.integers(0, 3)):
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = keys[draw(st.integers(0, len(keys) - 1))]
        path.append(key)
        node = node[key]
    return tuple(path)


def _place(tree: Any, path: tuple[Any, ...], op: str, key: str) -> Any:
    """`tree` with the node at `path` replaced by HOLE, deleted, or given a new key `key`
    (holding HOLE). Missing steps are created; list indices are taken modulo the length."""
    if not path:
        if op == "add" and isinstance(tree, dict):
            return {**tree, key: HOLE}
        return HOLE
    head, rest = path[0], path[1:]
    if isinstance(tree, list):
        if not tree:
            return [_place(None, rest, op, key)]
        i = head % len(tree) if isinstance(head, int) else 0
        if op == "delete" and not rest:
            return tree[:i] + tree[i + 1 :]
        return [*tree[:i], _place(tree[i], rest, op, key), *tree[i + 1 :]]
    if not isinstance(tree, dict):
        tree = {}
    head = str(head)
    if op == "delete" and not rest:
        return {k: v for k, v in tree.items() if k != head}
    return {**tree, head: _place(tree.get(head), rest, op, key)}


def _mutate_json(draw: Any, blob: bytes, targets: list[tuple[Any, ...]], steps: list[str]) -> bytes | None:
    """One JSON-level edit of a JSON document (None: it does not parse)."""
    try:
        tree = json.loads(blob)
    except (ValueError, RecursionError):
        return None
    path = draw(st.sampled_from(targets)) if draw(st.booleans()) else _walk(draw, tree)
    op = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add"]))
    key = draw(st.sampled_from(ADDED_KEYS))
    tree = _place(tree, path, op, key)
    text = json.dumps(tree)
    if HOLE in text:
        value = draw(HOSTILE)
        text = text.replace(json.dumps(HOLE), value, 1)
        steps.append(f"json {op} {list(path)}{f' +{key}' if op == 'add' else ''} = {value[:60]}")
    else:
        steps.append(f"json {op} {list(path)}")
    return text.encode("utf-8", "surrogatepass")


def _mutate_jsonl(draw: Any, blob: bytes, steps: list[str]) -> bytes:
    lines = blob.split(b"\n")
    rows = [i for i, line in enumerate(lines) if line.strip()]
    if not rows:
        return _mutate_bytes(draw, blob, steps)
    i = draw(st.sampled_from(rows))
    new = _mutate_json(draw, lines[i], LM_SAMPLE_PATHS, steps)
    if new is None:
        return _mutate_bytes(draw, blob, steps)
    steps[-1] = f"line {i}: {steps[-1]}"
    lines[i] = new
    return b"\n".join(lines)


def _mutate_document(draw: Any, kind: str, blob: bytes, steps: list[str]) -> bytes:
    if draw(st.integers(0, 2)) == 0:
        return _mutate_bytes(draw, blob, steps)
    if kind == "lm-samples":
        return _mutate_jsonl(draw, blob, steps)
    targets = LM_RESULTS_PATHS if kind.startswith("lm-") else _inspect_json_paths()
    new = _mutate_json(draw, blob, targets, steps)
    return _mutate_bytes(draw, blob, steps) if new is None else new


@functools.cache
def _inspect_json_paths() -> list[tuple[Any, ...]]:
    samples = [("samples", i, *p) for i in (0, 7, 19) for p in INSPECT_SAMPLE_PATHS]
    return [*INSPECT_HEADER_PATHS, ("samples",), *samples, ("reductions",), ("reductions", 0, "samples", 0)]


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with (
        warnings.catch_warnings(),  # duplicate member names are one of the mutations
        zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z,
    ):
        warnings.simplefilter("ignore", UserWarning)
        for name, data in members:
            z.writestr(name, data)
    return buf.getvalue()


def _mutate_archive(
    draw: Any, raw: bytes, seed_members: tuple[tuple[str, bytes], ...], steps: list[str]
) -> bytes:
    """Members of a .eval archive removed, added, corrupted or JSON-mangled, then maybe the
    archive's bytes; or the original archive's bytes only."""
    if draw(st.integers(0, 3)) == 0:
        for _ in range(draw(st.integers(1, 2))):
            raw = _mutate_bytes(draw, raw, steps)
        return raw
    members = list(seed_members)
    names = [n for n, _ in members]
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["json", "json", "json", "bytes", "remove", "add"]))
        # header.json and the journal are what Inspect reads first: weight them up
        name = draw(
            st.one_of(
                st.sampled_from(["header.json", "_journal/start.json", "reductions.json", "summaries.json"]),
                st.sampled_from(names),
            )
        )
        at = next((i for i, (n, _) in enumerate(members) if n == name), None)
        if op == "add" or at is None:
            new = draw(st.sampled_from([*names, "samples/zz_epoch_1.json", "header.json", "x"]))
            members.append((new, draw(HOSTILE).encode("utf-8", "surrogatepass")))
            steps.append(f"member add {new}")
            continue
        if op == "remove":
            del members[at]
            steps.append(f"member remove {name}")
            continue
        sub: list[str] = []
        data = members[at][1]
        if op == "json":
            targets = INSPECT_SAMPLE_PATHS if name.startswith("samples/") else INSPECT_HEADER_PATHS
            new_data = _mutate_json(draw, data, targets, sub)
            data = _mutate_bytes(draw, data, sub) if new_data is None else new_data
        else:
            data = _mutate_bytes(draw, data, sub)
        members[at] = (name, data)
        steps.append(f"member {name}: {sub[-1]}")
    out = _zip(members)
    if draw(st.integers(0, 4)) == 0:
        out = _mutate_bytes(draw, out, steps)
    return out


@st.composite
def mangled_inputs(draw: Any, seeds: Seeds) -> tuple[str, bytes, tuple[str, ...]]:
    kind = draw(st.sampled_from(KINDS))
    steps: list[str] = []
    blob = seeds.files[kind]
    if kind == "inspect-eval":
        blob = _mutate_archive(draw, blob, seeds.eval_members, steps)
    else:
        for _ in range(draw(st.integers(1, 3))):
            blob = _mutate_document(draw, kind, blob, steps)
    return kind, blob, tuple(steps)


# --- the property -----------------------------------------------------------------------------------


class _Overtime(BaseException):
    """The import ran past HARD_LIMIT_S and was interrupted (a BaseException: src's
    `except Exception` around Inspect's reader must not turn it into a refusal)."""


class WalkedOutside(BaseException):
    """The import listed a folder outside its sandbox that is no model folder (no config.json
    in it or above it): a path named in the file, walked and hashed (see _no_walks_outside)."""


_SANDBOX: list[Path] = []  # the sandbox root while one is active


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Interrupt the block after `seconds` (main thread, POSIX); elsewhere just run it."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise _Overtime

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@contextlib.contextmanager
def _sandbox(root: Path) -> Iterator[None]:
    """HOME, the working directory and every cache an import may read or write, pointed at
    empty folders under `root`: a mangled model path ("~", ".", "x") finds nothing of the user's."""
    root = root.resolve()
    folders = {name: root / name for name in ("home", "cwd", "data", "hf-hub", "xdg-cache", "work")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(folders["home"]))
        mp.setenv("XDG_CACHE_HOME", str(folders["xdg-cache"]))
        mp.setenv("SCALEGATE_DATA_DIR", str(folders["data"]))
        mp.chdir(folders["cwd"])
        try:
            from huggingface_hub import constants as hub_constants
        except ImportError:  # pragma: no cover
            pass
        else:
            mp.setattr(hub_constants, "HF_HUB_CACHE", str(folders["hf-hub"]))
        _SANDBOX.append(root)
        try:
            yield
        finally:
            _SANDBOX.pop()


_WALKERS = {Path(m.__file__).name for m in (os, pathlib, glob, shutil, fnmatch, posixpath)}  # type: ignore[type-var]


def _called_from_scalegate() -> bool:
    """Whether the nearest caller beyond the standard library's walkers is scalegate's code
    (a library listing its own package, as transformers does on import, is not the import's walk)."""
    frame = sys._getframe(2)
    while frame is not None and Path(frame.f_code.co_filename).name in _WALKERS:
        frame = frame.f_back  # type: ignore[assignment]
    return frame is not None and "scalegate" in Path(frame.f_code.co_filename).parts


def _model_folder(path: Path) -> bool:
    return any((p / "config.json").is_file() for p in (path, *path.parents))


@contextlib.contextmanager
def _no_walks_outside() -> Iterator[None]:
    """A model path in a mangled file ("/", "/tmp", "~", ".") makes the importer walk and hash
    that folder (scalegate.evals.model_ref.weights_sha256); scalegate listing a folder that is
    no model folder (no config.json in it or above it) outside the sandbox's own files, or the
    sandbox's home or working folder, raises WalkedOutside instead: the fuzzer never walks the
    user's disk, and an empty stand-in home is not taken for a quick walk of a real one."""
    if not _SANDBOX:
        yield
        return
    root = _SANDBOX[-1]
    real = os.scandir

    def scandir(path: Any = ".") -> Any:
        if not isinstance(path, int) and _called_from_scalegate():
            where = Path(os.fsdecode(path)).absolute()
            users = (root / "home", root / "cwd")  # stand-ins for the user's home and working folder
            inside = where.is_relative_to(root) and not any(where.is_relative_to(u) for u in users)
            if not inside and not _model_folder(where):
                raise WalkedOutside(str(where))
        return real(path)

    os.scandir = scandir  # type: ignore[assignment]
    try:
        yield
    finally:
        os.scandir = real


def _materialise(kind: str, data: bytes, folder: Path) -> tuple[list[Path], dict[str, str] | None]:
    """The files of one input, as a user has them, and the CLI's --assign for them."""
    folder.mkdir(parents=True)
    if kind.startswith("inspect-"):
        path = folder / f"log{EXTENSIONS[kind]}"
        path.write_bytes(data)
        return [path], None
    results = folder / LM_RESULTS.name
    samples = folder / LM_SAMPLES.name
    results.write_bytes(LM_RESULTS.read_bytes() if kind == "lm-samples" else data)
    if kind == "lm-samples":
        samples.write_bytes(data)
    elif kind == "lm-results":
        samples.write_bytes(LM_SAMPLES.read_bytes())
    return [results], {EVAL_ID: LM_TASK}


def _import(kind: str, data: bytes, work: Path) -> tuple[dict[str, EvalEvidence], Path]:
    """What `scalegate evidence import FILES --out OUT [--assign ...]` does, in-process."""
    paths, assign = _materialise(kind, data, work / "in")
    evidence = import_evidence(paths, _policy(), assign=assign)
    return evidence, write_evidence(evidence, work / "out")


def _insane(evidence: dict[str, EvalEvidence]) -> list[tuple[str, str]]:
    """What is wrong with evidence that imported, as (what, detail); empty: nothing."""
    bad: list[tuple[str, str]] = []
    policy = _policy()
    if not evidence:
        bad.append(("no evidence", "an import that succeeds with no evidence"))

    def need(ok: bool, what: str, detail: str) -> None:
        if not ok:
            bad.append((what, detail))

    def proportion(x: float, n: float) -> bool:
        return isinstance(x, int | float) and math.isfinite(x) and 0 <= x <= n

    for eval_id, ev in evidence.items():
        at = f"{eval_id}: "
        need(
            eval_id in policy.evals and ev.eval_id == eval_id, "eval_id", at + f"evidence for '{ev.eval_id}'"
        )
        need(isinstance(ev.status, EvidenceStatus), "status", at + f"status {ev.status!r}")
        for name in ("n_scored", "n_errors", "n_unparsed"):
            need(getattr(ev, name) >= 0, name, at + f"{name} = {getattr(ev, name)}")
        need(ev.n_planned is None or ev.n_planned >= 0, "n_planned", at + f"n_planned = {ev.n_planned}")
        need(
            all(v >= 0 for v in ev.scoring_methods.values()),
            "scoring_methods",
            at + f"scoring_methods {ev.scoring_methods}",
        )
        c = ev.counts
        if c is not None:
            for name in ("scored", "errors", "unparsed", "non_binary", "blocked"):
                need(getattr(c, name) >= 0, f"counts.{name}", at + f"counts.{name} = {getattr(c, name)}")
            need(c.planned is None or c.planned >= 0, "counts.planned", at + f"counts.planned = {c.planned}")
            need(c.epochs >= 1, "counts.epochs", at + f"counts.epochs = {c.epochs}")
            need(
                proportion(c.successes, c.scored),
                "counts.successes",
                at + f"counts: {c.successes} successes of {c.scored}",
            )
            need(
                all(v >= 0 for v in c.choices.values()), "counts.choices", at + f"counts.choices {c.choices}"
            )
            for group, (s, n) in c.clusters.items():
                need(n >= 0 and proportion(s, n), "counts.clusters", at + f"cluster {group!r}: {s} of {n}")
        for metric, est in ev.metrics.items():
            m = at + f"{metric}: "
            need(est.n >= 0, "estimate.n", m + f"n = {est.n}")
            need(
                proportion(est.successes, est.n),
                "estimate.successes",
                m + f"{est.successes} successes of {est.n}",
            )
            need(0 < est.confidence < 1, "estimate.confidence", m + f"confidence {est.confidence}")
            need(
                all(math.isfinite(x) and 0 <= x <= 1 for x in (est.low, est.value, est.high)),
                "estimate.range",
                m + f"value {est.value} [{est.low}, {est.high}] outside [0, 1]",
            )
            need(est.low <= est.high, "estimate.order", m + f"interval [{est.low}, {est.high}] inverted")
            need(
                est.low <= est.value + 1e-9 and est.value <= est.high + 1e-9,
                "estimate.interval",
                m + f"value {est.value} not in its interval [{est.low}, {est.high}]",
            )
        if ev.status is EvidenceStatus.ok:
            need(bool(ev.metrics), "ok", at + "ok without metrics")
            need(all(est.n > 0 for est in ev.metrics.values()), "ok", at + "ok on no samples")
    return bad


def _signature(exc: BaseException) -> tuple[str, str, str]:
    """(exception type, innermost scalegate function it came through as file:function, and
    that frame as file:line)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "scalegate" in Path(f.filename).parts]
    if not frames:
        return type(exc).__name__, "?", "?"
    f = frames[-1]
    return type(exc).__name__, f"{Path(f.filename).name}:{f.name}", f"{Path(f.filename).name}:{f.lineno}"


KNOWN_SIGNATURES = {(kind, where): name for name, (kind, where, _why) in KNOWN_CRASHES.items()}
STATS = Tally()


def _save(kind: str, data: bytes) -> Path:
    CORPUS.mkdir(exist_ok=True)
    path = CORPUS / f"{kind}--crash-{hashlib.sha256(data).hexdigest()[:12]}{EXTENSIONS[kind]}"
    path.write_bytes(data)
    return path


def _run(kind: str, data: bytes, tmp: Path) -> tuple[str, tuple[str, str] | None, str]:
    """Import one input: (outcome, the problem's signature or None, the problem)."""
    start = time.perf_counter()
    evidence = out = None
    try:
        with _deadline(HARD_LIMIT_S), _no_walks_outside():
            evidence, out = _import(kind, data, tmp)
    except InputError as exc:
        if not str(exc).strip():
            return "refused", ("InputError", "no message"), "an InputError without a message"
    except _Overtime:
        return "hang", ("hang", "?"), f"the import did not finish within {HARD_LIMIT_S} s (interrupted)"
    except (Exception, WalkedOutside) as exc:
        exc_type, where, line = _signature(exc)
        return "crash", (exc_type, where), f"the import raised {exc_type} ({line}):\n{traceback.format_exc()}"
    elapsed = time.perf_counter() - start
    STATS.timed("import", elapsed)
    if elapsed >= CALL_LIMIT_S:
        return "slow", ("slow", "?"), f"the import took {elapsed:.2f} s"
    if evidence is None or out is None:
        return "refused", None, ""
    bad = _insane(evidence)
    if bad:
        return (
            "insane",
            ("insane", bad[0][0]),
            "imported evidence is not sane: " + "; ".join(d for _, d in bad),
        )
    try:
        with _no_walks_outside():
            loaded = load_evidence_dir(out)
    except (Exception, WalkedOutside) as exc:
        why = f"the folder just written does not load back:\n{traceback.format_exc()}"
        return "unloadable", ("unloadable", type(exc).__name__), why
    if sorted(loaded) != sorted(evidence) or not (out / MANIFEST).is_file():
        return (
            "unloadable",
            ("unloadable", "other"),
            f"the folder loads as {sorted(loaded)}, not {sorted(evidence)}",
        )
    return "imported", None, ""


def check(
    kind: str, data: bytes, *, steps: tuple[str, ...] = (), save: bool = False, tolerate_known: bool = False
) -> str:
    """Import one input: it imports as sane evidence whose folder loads back, or is refused with
    an InputError that says something, within CALL_LIMIT_S. Returns what happened. With
    `tolerate_known`, a problem with the signature of one in KNOWN_CRASHES is counted, not failed."""
    root = _SANDBOX[-1] / "work" if _SANDBOX else None
    with tempfile.TemporaryDirectory(prefix="fuzz-import-", dir=root) as tmp:
        outcome, sig, problem = _run(kind, data, Path(tmp))
    if sig is not None and tolerate_known and sig in KNOWN_SIGNATURES:
        outcome = f"known: {KNOWN_SIGNATURES[sig]}"
        problem = ""
    STATS[outcome] += 1
    if problem:
        made = "\nmutations: " + "; ".join(steps) if steps else ""
        where = f"\ninput saved as {_save(kind, data)}" if save else ""
        pytest.fail(f"{kind}: {problem}{made}{where}")
    return outcome


def test_the_seeds_import_cleanly(seeds: Seeds, tmp_path: Path) -> None:
    # unmangled, every seed imports (this also warms Inspect's imports before the clock runs)
    with _sandbox(tmp_path):
        for kind, blob in seeds.files.items():
            assert check(kind, blob) == "imported", kind


def test_fuzz_import_of_mangled_evaluation_results(seeds: Seeds, tmp_path: Path) -> None:
    @given(case=mangled_inputs(seeds))
    @settings(
        max_examples=BATCH,
        deadline=None,  # `check` holds each import to CALL_LIMIT_S itself
        database=None,  # failing inputs go to the corpus instead
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    def batch(case: tuple[str, bytes, tuple[str, ...]]) -> None:
        kind, data, steps = case
        final = getattr(current_build_context(), "is_final", True)
        check(kind, data, steps=steps, save=final, tolerate_known=True)

    with _sandbox(tmp_path):
        run_campaign("imports", batch, STATS, corpus=f"{len(CORPUS_FILES)} files", budget_s=BUDGET_S)


# --- the corpus -------------------------------------------------------------------------------------

CORPUS_FILES = sorted(p for p in CORPUS.glob("*--*") if p.is_file())


def test_the_corpus_names_its_kinds() -> None:
    for path in CORPUS_FILES:
        kind = path.name.split("--", 1)[0]
        assert kind in KINDS and path.suffix == EXTENSIONS[kind], path.name
    assert set(KNOWN_CRASHES) <= {p.name for p in CORPUS_FILES}


@pytest.mark.parametrize("path", [corpus_case(p, KNOWN_CRASHES) for p in CORPUS_FILES])
def test_corpus_input_is_refused_cleanly_or_imports(path: Path, tmp_path: Path) -> None:
    with _sandbox(tmp_path):
        check(path.name.split("--", 1)[0], path.read_bytes())


def test_check_catches_what_it_is_for(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # the property can fail: an importer that raises something else, hangs, or returns nonsense
    me = sys.modules[__name__]
    results = LM_RESULTS.read_bytes()

    def broken(*args: Any, **kwargs: Any) -> None:
        raise TypeError("unhashable type: 'list'")

    with _sandbox(tmp_path):
        monkeypatch.setattr(me, "import_evidence", broken)
        with pytest.raises(pytest.fail.Exception, match="raised TypeError"):
            check("lm-results", results)

        def walks(*args: Any, **kwargs: Any) -> None:
            from scalegate.evals.model_ref import weights_sha256

            weights_sha256(Path("/"))  # scalegate's own walk of a folder outside the sandbox

        monkeypatch.setattr(me, "import_evidence", walks)
        with pytest.raises(pytest.fail.Exception, match="raised WalkedOutside"):
            check("lm-results", results)

        def slow(*args: Any, **kwargs: Any) -> None:
            time.sleep(0.3)
            raise InputError("slow")

        monkeypatch.setattr(me, "import_evidence", slow)
        monkeypatch.setattr(me, "CALL_LIMIT_S", 0.1)
        with pytest.raises(pytest.fail.Exception, match="took"):
            check("lm-results", results)

        def hangs(*args: Any, **kwargs: Any) -> None:
            time.sleep(5)

        monkeypatch.setattr(me, "HARD_LIMIT_S", 0.2)
        monkeypatch.setattr(me, "import_evidence", hangs)
        with pytest.raises(pytest.fail.Exception, match="did not finish"):
            check("lm-results", results)

        monkeypatch.undo()
        real = import_evidence([LM_RESULTS], _policy(), assign={EVAL_ID: LM_TASK})[EVAL_ID]
        est = real.metrics["accuracy"]
        nonsense = real.model_copy(
            update={"metrics": {"accuracy": est.model_copy(update={"successes": 9, "high": math.nan})}}
        )
        found = "; ".join(detail for _, detail in _insane({EVAL_ID: nonsense}))
        assert "9 successes of 5" in found and "outside [0, 1]" in found
