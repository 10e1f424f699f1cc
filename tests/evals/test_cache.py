"""The evidence cache: keys, atomic entries, staleness, and resume through real Inspect runs.

The in-process runs use the `simulated` model of known accuracy on scalegate's modular
arithmetic task (tests/evals/simulated_provider.py), and a `flaky` variant of it whose chosen
samples raise, to stand for an eval cut short: the whole Inspect path runs, in a second or two.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from inspect_ai.model import ChatMessage, GenerateConfig, ModelAPI, ModelOutput, modelapi
from inspect_ai.tool import ToolChoice, ToolInfo

from scalegate import assessment
from scalegate.errors import InputError
from scalegate.evals import acquire
from scalegate.evals import cache as cache_mod
from scalegate.evals.cache import EvidenceCache, eval_key, is_complete, too_old
from scalegate.evals.evidence import EvalEvidence, Provenance
from scalegate.evals.runner import ModelTarget, build_task
from scalegate.plan import Checkpoint, make_plan
from scalegate.policy import load_policy
from scalegate.policy.base import EvidenceStatus
from scalegate.policy.schema import EvalSpec, EvidenceRules, Statistics
from tests.conftest import write_policy
from tests.evals import simulated_provider  # registers the `simulated` model API

SPEC = EvalSpec(task="scalegate/modular_arithmetic", args={"modulus": 10, "limit": 40, "seed": 1})
STATS = Statistics()
RULES = EvidenceRules(min_samples=10)

#: sample ids the `flaky` model fails on while they are in here
FAIL: set[str] = set()


@modelapi(name="flaky")
class FlakyAPI(ModelAPI):
    """`simulated`, except that it raises on the sample ids in FAIL: an eval cut short."""

    def __init__(self, model_name: str, base_url: str | None = None, api_key: str | None = None,
                 config: GenerateConfig = GenerateConfig(), **model_args: Any) -> None:  # fmt: skip
        super().__init__(model_name, base_url, api_key, [], config)
        self.inner = simulated_provider.SimulatedAPI(model_name)

    async def generate(
        self, input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice, config: GenerateConfig
    ) -> ModelOutput:
        q = simulated_provider._QUESTION.search(input[-1].text)
        if q is not None:
            a, b, modulus = (int(g) for g in q.groups())
            if f"mod{modulus}-{a}-{b}" in FAIL:
                raise RuntimeError("the model went away")
        out: ModelOutput = await self.inner.generate(input, tools, tool_choice, config)
        return out


@pytest.fixture(autouse=True)
def _own_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCALEGATE_DATA_DIR", str(tmp_path / "data"))  # the weights-hash cache
    FAIL.clear()


def _model_dir(root: Path, weights: bytes = b"weights", config: str = "{}") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "model.safetensors").write_bytes(weights)
    (root / "config.json").write_text(config)
    return root


def _local(folder: Path, **args: Any) -> ModelTarget:
    from scalegate.evals.model_ref import weights_sha256

    return ModelTarget(
        reference=f"hf/{folder}",
        inspect_model=f"hf/{folder}",
        model_args={"do_sample": False, **args},
        weights_sha256=weights_sha256(folder),
    )


def _key(
    spec: EvalSpec = SPEC, target: ModelTarget | None = None, limit: int | None = None, **kw: Any
) -> str:
    target = target or ModelTarget("simulated/p=0.6", "simulated/p=0.6")
    key = eval_key(
        spec,
        build_task(spec, limit),
        target,
        statistics=kw.get("statistics", STATS),
        rules=kw.get("rules", RULES),
        stop_at=kw.get("stop_at"),
    )
    assert key is not None
    return key.digest


# --- keys -----------------------------------------------------------------------------------------


def test_same_inputs_same_key_and_every_component_changes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _model_dir(tmp_path / "m")
    base = _key(target=_local(folder))
    assert base == _key(target=_local(folder))  # stable, and independent of the build
    changed = {
        # a copy elsewhere: Inspect's log would name another model, which evidence rules call stale
        "folder": _key(target=_local(_model_dir(tmp_path / "copy"))),
        "weights": _key(target=_local(_model_dir(tmp_path / "w", weights=b"weightz"))),
        "config/tokenizer files": _key(target=_local(_model_dir(tmp_path / "c", config='{"a": 1}'))),
        "model args": _key(target=_local(folder, dtype="bfloat16")),
        "task seed": _key(replace_args(seed=2), target=_local(folder)),
        "task args": _key(replace_args(modulus=11), target=_local(folder)),
        "answer method": _key(replace_args(answer_method="generate_parse"), target=_local(folder)),
        "sample limit": _key(target=_local(folder), limit=20),
        "endpoint": _key(target=ModelTarget("openai/gpt-4o-mini", "openai/gpt-4o-mini")),
    }
    seq = Statistics(interval="confidence_sequence", sequential=True)
    changed["sequential"] = _key(target=_local(folder), statistics=seq, stop_at=[("at_least", 0.5)])
    changed["sequential threshold"] = _key(target=_local(folder), statistics=seq, stop_at=[("at_least", 0.6)])
    changed["sequential seed"] = _key(
        target=_local(folder),
        statistics=seq.model_copy(update={"sequential_seed": 3}),
        stop_at=[("at_least", 0.6)],
    )
    monkeypatch.setattr(cache_mod, "package_versions", lambda: {"inspect_ai": "0.0.0"})
    changed["package versions"] = _key(target=_local(folder))
    monkeypatch.undo()
    assert len(set(changed.values()) | {base}) == len(changed) + 1, changed
    # what the key must NOT depend on: grading rules are applied to the cached log afterwards
    assert _key(target=_local(folder), statistics=Statistics(confidence=0.9)) == base
    assert _key(target=_local(folder), rules=EvidenceRules(min_samples=99)) == base
    assert _key(target=_local(folder), stop_at=[("at_least", 0.5)]) == base  # sequential off


def replace_args(**args: Any) -> EvalSpec:
    return SPEC.model_copy(update={"args": {**SPEC.args, **args}})


def test_key_components_name_the_model_task_and_placeholders(tmp_path: Path) -> None:
    spec = SPEC
    key = eval_key(spec, build_task(spec), _local(_model_dir(tmp_path / "m")), statistics=STATS, rules=RULES)
    assert key is not None
    c = key.components
    assert c["model"]["kind"] == "weights" and len(c["model"]["weights_sha256"]) == 64
    assert c["task"]["name"] == "scalegate/modular_arithmetic" and c["task"]["n_samples"] == 40
    assert c["seed"] == 1 and c["generate"] == {"temperature": 0.0}
    assert c["elicitation"] is None and c["mitigation"] is None  # future fields, in the key already
    assert set(c["packages"]) >= {"scalegate", "inspect_ai"}
    api = ModelTarget("openai/x", "openai/x")
    endpoint = eval_key(spec, build_task(spec), api, statistics=STATS, rules=RULES)
    assert endpoint is not None and endpoint.components["model"] == {
        "kind": "endpoint",
        "model": "openai/x",
        "model_args": {},
    }


def test_a_task_inspect_resolves_by_name_has_no_key() -> None:
    spec = EvalSpec(task="inspect_evals/gpqa_diamond")
    assert eval_key(spec, build_task(spec), ModelTarget("m/x", "m/x"), statistics=STATS, rules=RULES) is None


# --- the store --------------------------------------------------------------------------------------


def _fake_log(path: Path, completed: str = "2026-01-01T00:00:00+00:00") -> Any:
    path.write_bytes(b"PK fake inspect log")
    return SimpleNamespace(
        status="success",
        eval=SimpleNamespace(run_id="r", eval_id="e", created=completed),
        stats=SimpleNamespace(started_at=completed, completed_at=completed),
    )


def _any_key(tmp_path: Path) -> cache_mod.CacheKey:
    key = eval_key(SPEC, build_task(SPEC), _local(_model_dir(tmp_path / "m")), statistics=STATS, rules=RULES)
    assert key is not None
    return key


def test_put_then_lookup_and_what_makes_an_entry_miss(tmp_path: Path) -> None:
    store = EvidenceCache(tmp_path / "cache")
    key = _any_key(tmp_path)
    assert store.lookup(key).reason == "absent"
    now = dt.datetime(2026, 1, 11, tzinfo=dt.UTC)
    folder = store.put(key, tmp_path / "run.eval", "e", _fake_log(tmp_path / "run.eval"))
    assert folder == tmp_path / "cache" / "v1" / key.digest[:2] / key.digest
    assert sorted(p.name for p in folder.iterdir()) == ["entry.json", "log.eval"]
    assert [p.name for p in folder.parent.iterdir()] == [key.digest]  # no temporary folder left
    hit = store.lookup(key, max_days=30, now=now)
    assert hit.reason == "hit" and hit.entry is not None
    assert hit.entry.ran_at == "2026-01-01T00:00:00+00:00"
    assert hit.entry.meta["components"] == json.loads(json.dumps(key.components, default=str))
    # older than the cadence allows: stale, not used
    stale = store.lookup(key, max_days=5, now=now)
    assert stale.entry is None and stale.reason.startswith("stale: ran 10 days ago")
    # a log altered after it was cached is not trusted
    (folder / "log.eval").write_bytes(b"PK something else")
    assert store.lookup(key, now=now).reason == "log missing or altered since it was cached"
    # an entry stored again replaces the old one (e.g. after a stale miss)
    later = _fake_log(tmp_path / "run2.eval", "2026-01-10T00:00:00+00:00")
    store.put(key, tmp_path / "run2.eval", "e", later)
    again = store.lookup(key, max_days=5, now=now)
    assert again.entry is not None and again.entry.ran_at == "2026-01-10T00:00:00+00:00"
    assert [p.name for p in folder.parent.iterdir()] == [key.digest]


def test_an_interrupted_write_leaves_no_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = EvidenceCache(tmp_path / "cache")
    key = _any_key(tmp_path)
    log = _fake_log(tmp_path / "run.eval")

    def dies(*_: Any, **__: Any) -> None:
        raise KeyboardInterrupt  # e.g. Ctrl-C between copying the log and renaming the entry

    monkeypatch.setattr(cache_mod, "_write_synced", dies)
    with pytest.raises(KeyboardInterrupt):
        store.put(key, tmp_path / "run.eval", "e", log)
    assert store.lookup(key).reason == "absent"
    assert list(store.folder(key.digest).parent.iterdir()) == []


def test_an_entry_whose_components_do_not_hash_to_its_key_is_refused(tmp_path: Path) -> None:
    store = EvidenceCache(tmp_path / "cache")
    key = _any_key(tmp_path)
    folder = store.put(key, tmp_path / "run.eval", "e", _fake_log(tmp_path / "run.eval"))
    meta = json.loads((folder / "entry.json").read_text())
    meta["components"]["seed"] = 99
    (folder / "entry.json").write_text(json.dumps(meta))
    assert store.lookup(key).entry is None


def test_too_old_fails_closed() -> None:
    now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    assert too_old("2026-02-20T00:00:00+00:00", 30, now) is None
    assert too_old("2026-02-20T00:00:00+00:00", None, now) is None
    assert "cadence.max_days of 5" in (too_old("2026-02-20T00:00:00+00:00", 5, now) or "")
    assert "no readable run time" in (too_old(None, 5, now) or "")
    assert "no readable run time" in (too_old("yesterday", 5, now) or "")


@pytest.mark.parametrize(
    ("status", "log_status", "errors", "complete"),
    [
        (EvidenceStatus.ok, "success", 0, True),
        (EvidenceStatus.insufficient, "success", 0, True),  # complete, graded by today's rules
        (EvidenceStatus.unreliable, "success", 0, True),
        (EvidenceStatus.partial, "success", 2, False),  # Inspect said success; two samples errored
        (EvidenceStatus.partial, "success", 0, False),  # fewer samples than planned
        (EvidenceStatus.error, "error", 0, False),
        (EvidenceStatus.cancelled, "cancelled", 0, False),
        (EvidenceStatus.error, "started", 0, False),  # an interrupted log
    ],
)
def test_only_complete_logs_count_as_complete(
    status: EvidenceStatus, log_status: str, errors: int, complete: bool
) -> None:
    ev = EvalEvidence(eval_id="e", status=status, n_errors=errors)
    assert is_complete(SimpleNamespace(status=log_status), ev) is complete


# --- through real Inspect runs -----------------------------------------------------------------------

POLICY = """
scalegate: 1
policy: {{name: cache test, version: "1"}}
levels: [low, high]
evidence: {{min_samples: 10}}
{statistics}
cadence: {{max_days: 30}}
evals:
  arith:
    task: scalegate/modular_arithmetic
    args: {{modulus: 10, limit: 60, seed: 1}}
domains:
  d:
    title: D
    thresholds:
      high:
        description: test threshold
        when: {{eval: arith, at_least: 0.5}}
responses:
  - id: fail-closed
    if: {{evidence: [missing, error, cancelled, partial, unreliable, insufficient, stale]}}
    block: [continue_training, internal_deployment, external_deployment, open_weights]
  - id: gate
    if: {{post_mitigation_at_least: high}}
    block: [external_deployment]
"""
SEQUENTIAL = "statistics: {interval: confidence_sequence, sequential: true, sequential_seed: 5}"


class _Runs:
    """run_assessment in-process, counting model loads."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, statistics: str = "") -> None:
        self.tmp = tmp_path
        self.loads = 0
        self.policy = load_policy(
            write_policy(tmp_path / "policy.yaml", POLICY.format(statistics=statistics))
        )
        real = acquire.load_model

        def counting(target: ModelTarget) -> Any:
            self.loads += 1
            return real(target)

        monkeypatch.setattr(acquire, "load_model", counting)

    def run(
        self, out: str, model: str = "flaky/p=0.6", cache: EvidenceCache | None = None, resume: bool = False
    ) -> assessment.Assessment:
        plan = make_plan(self.policy.policy, Checkpoint(model=model))
        target = ModelTarget(model, model)
        return assessment.run_assessment(
            self.policy, plan, target, self.tmp / out, cache=cache, resume=resume
        )


def _counts(a: assessment.Assessment) -> tuple[str, int, int]:
    ev = a.evidence["arith"]
    est = ev.metrics["accuracy"]
    return ev.status.value, est.successes, est.n


def _planned_ids(n: int, sequential_seed: int | None = None) -> list[str]:
    """The first n sample ids of the policy's eval, in the order they run."""
    from scalegate.evals.sequential import seeded_order

    ids = [str(s.id) for s in build_task(replace_args(limit=60)).dataset]
    if sequential_seed is not None:
        ids = [ids[i] for i in seeded_order(ids, sequential_seed)]
    return ids[:n]


def _sample_ids(log_path: str | None) -> list[str]:
    from inspect_ai.log import read_eval_log

    assert log_path is not None
    return [str(s.id) for s in read_eval_log(log_path).samples or []]


def test_second_assessment_is_a_cache_hit_that_loads_no_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = _Runs(tmp_path, monkeypatch)
    store = EvidenceCache(tmp_path / "cache")
    first = runs.run("a", cache=store)
    assert runs.loads == 1 and first.evidence["arith"].status is EvidenceStatus.ok
    second = runs.run("b", cache=store)
    assert runs.loads == 1  # no model was loaded, so none was called
    ev = second.evidence["arith"]
    assert _counts(second) == _counts(first) and second.decision == first.decision
    assert ev.provenance is not None and ev.provenance.reused is not None
    assert ev.provenance.reused.kind == "cache"
    assert ev.provenance.cache_key == first.evidence["arith"].provenance.cache_key  # type: ignore[union-attr]
    assert ev.provenance.reused.ran_at == ev.completed_at  # when the model actually ran
    assert ev.log_path is not None and Path(ev.log_path).parent == tmp_path / "b" / "logs" / "arith"
    # another checkpoint (here: an endpoint of another name) misses
    runs.run("c", model="flaky/p=0.7", cache=store)
    assert runs.loads == 2
    # without a cache every assessment runs
    runs.run("d")
    assert runs.loads == 3


def test_a_cache_entry_older_than_the_cadence_is_run_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = _Runs(tmp_path, monkeypatch)
    store = EvidenceCache(tmp_path / "cache")
    first = runs.run("a", cache=store)
    key = first.evidence["arith"].provenance.cache_key  # type: ignore[union-attr]
    assert key is not None
    entry = store.folder(key) / "entry.json"
    meta = json.loads(entry.read_text())
    meta["ran_at"] = "2020-01-01T00:00:00+00:00"  # older than cadence.max_days (30)
    entry.write_text(json.dumps(meta))
    again = runs.run("b", cache=store)
    assert runs.loads == 2 and again.evidence["arith"].provenance.reused is None  # type: ignore[union-attr]
    assert _counts(again) == _counts(first)
    assert json.loads(entry.read_text())["ran_at"] != "2020-01-01T00:00:00+00:00"  # replaced


def test_partial_eval_is_not_cached_and_resume_reruns_only_what_did_not_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = _Runs(tmp_path, monkeypatch)
    reference = runs.run("uninterrupted")
    store = EvidenceCache(tmp_path / "cache")
    FAIL.update(_planned_ids(5))
    cut = runs.run("out", cache=store)
    ev = cut.evidence["arith"]
    assert ev.status is EvidenceStatus.partial and ev.n_errors > 0
    assert not (tmp_path / "cache" / "v1").exists()  # a partial eval never enters the cache
    FAIL.clear()
    resumed = runs.run("out", cache=store, resume=True)
    ev = resumed.evidence["arith"]
    assert ev.status is EvidenceStatus.ok and _counts(resumed) == _counts(reference)
    assert resumed.decision == reference.decision
    assert ev.provenance is not None and ev.provenance.reused is not None
    assert ev.provenance.reused.kind == "resumed_samples"
    assert ev.provenance.reused.samples_reused == 60 - cut.evidence["arith"].n_errors
    ids = _sample_ids(ev.log_path)
    assert len(ids) == len(set(ids)) == ev.n_planned == 60
    assert (store.folder(ev.provenance.cache_key or "") / "log.eval").is_file()  # complete now: cached
    # resuming again finds the eval complete in its folder: nothing runs
    loads = runs.loads
    again = runs.run("out", resume=True)
    assert runs.loads == loads and _counts(again) == _counts(reference)
    assert again.evidence["arith"].provenance.reused.kind == "resumed_eval"  # type: ignore[union-attr]


def test_sequential_eval_resumed_stops_where_an_uninterrupted_one_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = _Runs(tmp_path, monkeypatch, statistics=SEQUENTIAL)
    reference = runs.run("uninterrupted", model="flaky/p=0.95")
    FAIL.update(_planned_ids(2, sequential_seed=5))
    runs.run("out", model="flaky/p=0.95")
    FAIL.clear()
    resumed = runs.run("out", model="flaky/p=0.95", resume=True)
    a, b = reference.evidence["arith"], resumed.evidence["arith"]
    assert a.status is b.status is EvidenceStatus.ok
    assert a.metrics["accuracy"].n < 60  # it did stop early
    assert a.metrics == b.metrics and resumed.decision == reference.decision
    assert b.provenance is not None and b.provenance.reused is not None
    assert b.provenance.reused.kind == "resumed_samples" and b.provenance.reused.samples_reused > 0


def test_resume_refuses_another_assessment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = _Runs(tmp_path, monkeypatch)
    with pytest.raises(InputError, match=r"no readable run\.json"):
        runs.run("nothing", resume=True)
    runs.run("out")
    with pytest.raises(InputError, match=r"not the same assessment.*model"):
        runs.run("out", model="flaky/p=0.7", resume=True)


def test_imported_evidence_older_than_the_cadence_is_stale(tmp_path: Path) -> None:
    policy = load_policy(write_policy(tmp_path / "p.yaml", POLICY.format(statistics=""))).policy
    plan = make_plan(policy, Checkpoint(model="m/x"))
    prov = Provenance(model="m/x", task="t")
    old = EvalEvidence(eval_id="arith", status=EvidenceStatus.ok, provenance=prov, completed_at="2020-01-01")
    fresh = old.model_copy(update={"completed_at": dt.datetime.now(dt.UTC).isoformat()})
    target = ModelTarget("m/x", "m/x")
    got = assessment._imported_for(plan, target, {"arith": old}, policy)["arith"]
    assert got.status is EvidenceStatus.stale and "cadence.max_days of 30" in (got.message or "")
    kept = assessment._imported_for(plan, target, {"arith": fresh}, policy)["arith"]
    assert kept.status is EvidenceStatus.ok


def test_store_survives_a_cache_folder_that_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = _Runs(tmp_path, monkeypatch)
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    result = runs.run("a", cache=EvidenceCache(blocked))
    # a cache that cannot be written costs a re-run later, never a result
    assert result.evidence["arith"].status is EvidenceStatus.ok
    shutil.rmtree(tmp_path / "a")


def test_a_log_holding_samples_older_than_the_cadence_is_not_resumed_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = dt.datetime.now(dt.UTC).isoformat()

    def sample(started: str) -> Any:
        return SimpleNamespace(error=None, invalidation=None, scores={"s": 1}, started_at=started)

    # a resumed log started now can carry samples its predecessor ran long ago
    log = SimpleNamespace(samples=[sample(now), sample("2020-01-01T00:00:00+00:00")])
    monkeypatch.setattr(cache_mod, "resumable_log", lambda path, scratch: log)
    found = [cache_mod.FoundLog(tmp_path / "x.eval", "started", now)]
    assert cache_mod.best_previous(found, tmp_path, max_days=30) is None
    assert cache_mod.best_previous(found, tmp_path) == (log, found[0])
    log.samples = [sample(now), sample(now)]
    assert cache_mod.best_previous(found, tmp_path, max_days=30) == (log, found[0])
