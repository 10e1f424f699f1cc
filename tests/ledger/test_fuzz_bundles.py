"""Fuzzing bundle verification: a third party's bundle, however mangled (entries, manifest,
keys, policies), is read and verified without any exception but InputError, quickly.
`SCALEGATE_FUZZ_SECONDS` (default 30) sizes the run, as for the policy fuzzer (about 15
examples a second on 2 cores: 1,200 mangled bundles, none crashed, on 2026-12-04)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scalegate.errors import InputError
from scalegate.ledger.audit import export, read_bundle
from scalegate.ledger.store import db_url
from scalegate.ledger.verify import verify_entries
from tests.ledger.conftest import build_realistic

SECONDS = float(os.environ.get("SCALEGATE_FUZZ_SECONDS", "30"))
FILES = ("entries.jsonl", "manifest.json", "keys.json", "README.md")
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz-bundle")
    b = build_realistic(db_url(str(folder / "ledger.db")), folder / "keys")
    export(b.ledger, folder / "bundle", public=False)
    b.ledger.close()
    return folder / "bundle"


def _mutate_json(value: object, path: list[int], junk: object) -> object:
    """Replace one node of a JSON value, chosen by `path` (indices modulo the node's size)."""
    if not path or not isinstance(value, dict | list) or not value:
        return junk
    keys = list(value) if isinstance(value, dict) else list(range(len(value)))
    key = keys[path[0] % len(keys)]
    value[key] = _mutate_json(value[key], path[1:], junk)  # type: ignore[index]
    return value


@settings(
    max_examples=max(20, int(SECONDS * 15)),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(
    data=st.data(),
    which=st.sampled_from(FILES),
    mode=st.sampled_from(["json", "bytes", "truncate", "line"]),
)
def test_fuzz_mangled_bundles_never_crash_verification(
    bundle: Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, which: str, mode: str
) -> None:
    work = tmp_path_factory.mktemp("m")
    shutil.rmtree(work)
    shutil.copytree(bundle, work)
    target = work / which
    blob = target.read_bytes()
    if mode == "json" and which != "README.md":
        lines = blob.decode().splitlines() if which == "entries.jsonl" else [blob.decode()]
        i = data.draw(st.integers(0, len(lines) - 1))
        node = json.loads(lines[i])
        path = data.draw(st.lists(st.integers(0, 50), max_size=5))
        lines[i] = json.dumps(_mutate_json(node, path, data.draw(JUNK)))
        target.write_text("\n".join(lines) + "\n")
    elif mode == "bytes":
        at = data.draw(st.integers(0, max(0, len(blob) - 1)))
        target.write_bytes(blob[:at] + data.draw(st.binary(min_size=1, max_size=8)) + blob[at + 1 :])
    elif mode == "truncate":
        target.write_bytes(blob[: data.draw(st.integers(0, len(blob)))])
    else:
        lines = blob.splitlines(keepends=True)
        i = data.draw(st.integers(0, max(0, len(lines) - 1)))
        lines.insert(i, lines[i] if lines else b"")
        target.write_bytes(b"".join(lines))
    t0 = time.monotonic()
    try:
        rows, head, _files = read_bundle(work)
        verify_entries(rows, head)
    except InputError:
        pass
    assert time.monotonic() - t0 < 2.0
