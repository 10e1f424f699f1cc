"""`scalegate compare-models` on real assessments of a tiny Llama: paired where the runs
scored the same questions, unpaired (and said so) where they did not, and unsupported where
the reference's evidence is gone or measured something else."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import run_cli, write_policy

pytestmark = pytest.mark.slow

POLICY = """
scalegate: 1
policy: {name: relative test, version: "1"}
levels: [low, high]
evidence: {min_samples: 10}
evals:
  geo:
    task: scalegate/mmlu_proxy
    args: {subjects: [high school geography, marketing], limit: 120, seed: 7}
domains:
  cyber:
    title: Cyber
    thresholds:
      high: {description: test threshold, when: {eval: geo, at_least: 0.9}}
responses:
  - id: fail-closed
    if: {evidence: [missing, error, cancelled, partial, unreliable, insufficient, stale, mismatch]}
    block: [continue_training, internal_deployment, external_deployment, open_weights]
"""


@pytest.fixture(scope="module")
def assessed(tiny_llama: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """The same checkpoint assessed twice (two runs, the same answers) and once on fewer samples."""
    root = tmp_path_factory.mktemp("relative")
    policy = write_policy(root / "policy.yaml", POLICY)
    folders = []
    for name, extra in (("a", []), ("b", []), ("short", ["--limit", "60"])):
        res = run_cli(
            "assess",
            "--policy",
            str(policy),
            "--model",
            f"hf/{tiny_llama}",
            "--no-cache",
            "--no-ledger",
            "--out",
            str(root / name),
            *extra,
            cwd=root,
            env={"HF_HUB_OFFLINE": "1"},
        )
        assert res.returncode == 0, res.stderr[-3000:]
        folders.append(root / name)
    return folders[0], folders[1], folders[2]


def _compare(a: Path, b: Path, *args: str) -> dict:
    res = run_cli("compare-models", str(a), str(b), *args, "--json", cwd=a.parent)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout)


def test_the_same_answers_are_paired_and_not_higher(assessed: tuple[Path, Path, Path]) -> None:
    a, b, _ = assessed
    result = _compare(a, b, "--margin", "0.05")
    (geo,) = result["evals"]
    d = geo["difference"]
    assert d["paired"] and d["method"] == "tango" and d["n"] == 120 and d["value"] == 0
    assert d["low"] < 0 < d["high"] < 0.05 and geo["relation"] == "not_higher" and result["holds"]
    # the same data cannot show "not higher at all": the upper bound is above 0
    assert not _compare(a, b, "--margin", "0")["holds"]
    # nor survive a margin 30 points below the reference: it reads `higher`
    low = _compare(a, b, "--margin", "-0.3")
    assert low["evals"][0]["relation"] == "higher" and not low["holds"]


def test_without_per_sample_logs_it_falls_back_to_unpaired_and_says_so(
    assessed: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    a, b, short = assessed
    moved = tmp_path / "moved"
    shutil.copytree(b, moved)
    record = json.loads((moved / "evidence" / "geo.json").read_text())
    record["log_path"] = str(tmp_path / "gone.eval")  # the log was moved away
    (moved / "evidence" / "geo.json").write_text(json.dumps(record))
    # the recorded per-sample scores pair the runs without their logs
    (geo,) = _compare(a, moved, "--margin", "0.05")["evals"]
    assert geo["difference"]["paired"] is True and geo["relation"] == "not_higher"
    whole = json.loads((moved / "assessment.json").read_text())
    assert (
        whole["relative"]["scores"]["geo"]["scores"].count("1") == record["metrics"]["accuracy"]["successes"]
    )
    del whole["relative"]  # recorded before scores were: the logs are read, and this one is gone
    (moved / "assessment.json").write_text(json.dumps(whole))
    (geo,) = _compare(a, moved, "--margin", "0.05")["evals"]
    assert geo["difference"]["paired"] is False and geo["difference"]["method"] == "wilson_union"
    assert geo["reason"].startswith("unpaired: the reference: no per-sample log")
    paired = _compare(a, short, "--margin", "0.05")["evals"][0]
    # a run on fewer samples has another dataset hash: another instrument, not a sample of it
    assert paired["relation"] == "inconclusive" and "dataset_sha256 differs" in paired["reason"]
    both = _compare(a, b, "--margin", "0.05")["evals"][0]["difference"]
    assert geo["difference"]["high"] - geo["difference"]["low"] > both["high"] - both["low"]


def test_a_missing_or_foreign_reference_leaves_the_claim_unsupported(
    assessed: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    a, b, _ = assessed
    gone = tmp_path / "gone"
    shutil.copytree(b, gone)
    (gone / "evidence" / "geo.json").unlink()
    result = _compare(a, gone, "--margin", "0.5", "--eval", "geo")
    assert not result["holds"] and "has no evidence" in result["evals"][0]["reason"]
    foreign = tmp_path / "foreign"
    shutil.copytree(b, foreign)
    record = json.loads((foreign / "evidence" / "geo.json").read_text())
    record["provenance"]["dataset_sha256"] = "0" * 64
    (foreign / "evidence" / "geo.json").write_text(json.dumps(record))
    result = _compare(a, foreign, "--margin", "0.5")
    assert not result["holds"] and "dataset_sha256 differs" in result["evals"][0]["reason"]
    table = run_cli("compare-models", str(a), str(b), "--margin", "0.05", cwd=tmp_path)
    assert table.returncode == 0 and "holds" in table.stdout and "paired, n=120" in table.stdout
    garbage = tmp_path / "garbage"
    shutil.copytree(b, garbage)
    (garbage / "evidence" / "geo.json").write_text('{"eval_id": 3, "status": "ok"')
    broken = run_cli("compare-models", str(a), str(garbage), "--margin", "0.05", cwd=tmp_path)
    assert broken.returncode == 2 and "geo.json: not a scalegate evidence record" in broken.stderr
    assert "Traceback" not in broken.stderr
    bad = run_cli("compare-models", str(a), str(tmp_path), "--margin", "0.05", cwd=tmp_path)
    assert bad.returncode == 2 and "not an assessment folder" in bad.stderr
    wide = run_cli("compare-models", str(a), str(b), "--margin", "2", cwd=tmp_path)
    assert wide.returncode == 2 and "--margin" in wide.stderr


def test_relative_n_tells_a_policy_author_what_a_margin_costs(tmp_path: Path) -> None:
    from scalegate.evals.paired import planned_pairs, planned_unpaired

    res = run_cli("relative-n", "--margin", "0.03", "--accuracy", "0.6", "--correlation", "0.5", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert f"{planned_pairs(0.6, 0.6, 0.5, 0.03, 0.025):,} questions" in res.stdout
    assert f"{planned_unpaired(0.6, 0.6, 0.03, 0.025):,} questions per model" in res.stdout
    assert "pairing needs 50% fewer" in res.stdout
    beyond = run_cli(
        "relative-n", "--margin", "0.03", "--accuracy", "0.7", "--reference-accuracy", "0.6", cwd=tmp_path
    )
    assert beyond.returncode == 2 and "not below the margin" in beyond.stderr


def test_recorded_decisions_are_compared_from_the_ledger(tiny_llama: Path, tmp_path: Path) -> None:
    """Both sides named by their decision ids: the evidence comes from the ledger's assessment
    entries, and a reference superseded for the same model is flagged."""
    policy = write_policy(tmp_path / "policy.yaml", POLICY)
    for name in ("first", "second"):
        res = run_cli(
            "assess",
            "--policy",
            str(policy),
            "--model",
            f"hf/{tiny_llama}",
            "--limit",
            "40",
            "--no-cache",
            "--out",
            str(tmp_path / name),
            cwd=tmp_path,
            env={"HF_HUB_OFFLINE": "1"},
        )
        assert res.returncode == 0, res.stderr[-3000:]
    shown = run_cli("ledger", "show", "--json", cwd=tmp_path)
    decisions = [e["entry_id"] for e in json.loads(shown.stdout) if e["kind"] == "decision"]
    assert len(decisions) == 2
    res = run_cli(
        "compare-models", decisions[1][:12], decisions[0][:12], "--margin", "0.1", "--json", cwd=tmp_path
    )
    assert res.returncode == 0, res.stderr[-2000:]
    result = json.loads(res.stdout)
    (geo,) = result["evals"]
    assert geo["difference"]["paired"] and geo["difference"]["n"] == 40 and geo["difference"]["value"] == 0
    assert "superseded by decision" in res.stderr  # the first decision is no longer the model's newest
    from_folders = _compare(tmp_path / "second", tmp_path / "first", "--margin", "0.1")
    assert from_folders["evals"][0]["difference"] == geo["difference"]
    wrong = run_cli("compare-models", decisions[1][:12], "nosuchid", "--margin", "0.1", cwd=tmp_path)
    assert wrong.returncode == 2 and "no ledger entry" in wrong.stderr


def _assessor(policy: Path, root: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`scalegate assess` of a local model under `policy`, recorded in `root`'s ledger."""

    def assess(model: Path, out: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return run_cli(
            "assess", "--policy", str(policy), "--model", f"hf/{model}", "--no-cache", "--out",
            str(root / out), *extra, cwd=root, env={"HF_HUB_OFFLINE": "1"},
        )  # fmt: skip

    return assess


RELATIVE_POLICY = POLICY.replace(
    "high: {description: test threshold, when: {eval: geo, at_least: 0.9}}",
    """high:
        description: escaped by a reference no less capable
        when:
          all:
            - {eval: geo, at_least: 0.45}
            - relative: {to: reference, evals: [geo], margin: 0.3}""",
).replace(
    "responses:\n",
    "responses:\n  - {id: gate, if: {pre_mitigation_at_least: high}, block: [external_deployment]}\n",
)


def test_assess_relative_to_a_recorded_decision_end_to_end(
    tiny_llama: Path, smollm2_dir: Path, tmp_path: Path
) -> None:
    """Two real checkpoints (tiny Llamas with different weights) on the same 120 questions:
    the later one is read against the earlier one's decision, recorded with its reference,
    and `ledger verify` resolves the reference again and recomputes the decision."""
    from tests.conftest import build_tiny_llama

    later = build_tiny_llama(tmp_path / "later", smollm2_dir, initializer_range=0.05)
    policy = write_policy(tmp_path / "policy.yaml", RELATIVE_POLICY)

    assess = _assessor(policy, tmp_path)

    first = assess(tiny_llama, "earlier")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "rules nothing out" in first.stderr  # no reference named: the claim reads unknown
    shown = run_cli("ledger", "show", "--json", cwd=tmp_path)
    (reference,) = [e["entry_id"] for e in json.loads(shown.stdout) if e["kind"] == "decision"]
    earlier = json.loads((tmp_path / "earlier" / "assessment.json").read_text())
    (t,) = earlier["scorecard"]["pre_mitigation"]["domains"]["cyber"]["thresholds"]
    assert t["ruled_out"], t  # a random Llama is far below 0.45 on 120 four-way questions

    res = assess(later, "later", "--relative-to", reference[:12])
    assert res.returncode == 0, res.stderr[-3000:]
    record = json.loads((tmp_path / "later" / "assessment.json").read_text())
    ref = record["relative"]["references"]["reference"]
    assert ref["decision_id"] == reference and ref["problem"] is None and "cyber/high" in ref["ruled_out"]
    (t,) = record["scorecard"]["pre_mitigation"]["domains"]["cyber"]["thresholds"]
    rel = t["when"]["comparisons"][1]
    assert rel["op"] == "relative" and rel["n"] == 120 and rel["state"] == "below", rel
    verify = run_cli("ledger", "verify", cwd=tmp_path)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # the same comparison from the CLI, read from the two decisions in the ledger
    shown = run_cli("ledger", "show", "--json", cwd=tmp_path)
    newest = [e["entry_id"] for e in json.loads(shown.stdout) if e["kind"] == "decision"][-1]
    table = _compare_ids(tmp_path, newest, reference)
    assert table["evals"][0]["difference"]["value"] == pytest.approx(rel["value"])

    wrong = assess(later, "wrong", "--relative-to", "feedface")
    assert wrong.returncode == 2 and "--relative-to feedface: no decision 'feedface'" in wrong.stderr
    plain = write_policy(tmp_path / "plain.yaml", POLICY)
    unused = run_cli(
        "assess", "--policy", str(plain), "--model", f"hf/{later}", "--relative-to", reference[:12],
        "--no-ledger", cwd=tmp_path, env={"HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert unused.returncode == 2 and "no `relative: {to: reference}` claim" in unused.stderr
    assert "Traceback" not in wrong.stderr + unused.stderr


def _compare_ids(cwd: Path, model: str, reference: str) -> dict:
    res = run_cli("compare-models", model[:12], reference[:12], "--margin", "0.3", "--json", cwd=cwd)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout)


def test_assess_preliminary_decides_whether_a_comprehensive_assessment_is_due(
    tiny_llama: Path, smollm2_dir: Path, tmp_path: Path
) -> None:
    """`assess --preliminary` on a real checkpoint: only the claim's evals run, compared with
    the last comprehensive decision; the verdict is printed, written and recorded, and verify
    recomputes it."""
    from tests.conftest import build_tiny_llama

    later = build_tiny_llama(tmp_path / "later", smollm2_dir, initializer_range=0.05)
    text = POLICY.replace(
        "responses:\n",
        "cadence:\n  preliminary:\n    relative: {to: last_comprehensive, evals: [geo], margin: 0.3}\n"
        "responses:\n",
    )
    policy = write_policy(tmp_path / "policy.yaml", text)

    assess = _assessor(policy, tmp_path)

    first = assess(tiny_llama, "comprehensive")
    assert first.returncode == 0, first.stderr[-3000:]
    res = assess(later, "preliminary", "--preliminary")
    assert res.returncode == 0, res.stderr[-3000:]
    verdict = json.loads((tmp_path / "preliminary" / "preliminary.json").read_text())
    # two random Llamas on 120 four-way questions: well within 0.3 of each other
    assert verdict["due"] is False and "comprehensive assessment not due" in res.stdout, res.stdout
    assert verdict["comparison"]["evals"][0]["difference"]["paired"] is True
    shown = json.loads(run_cli("ledger", "show", "--json", "--details", cwd=tmp_path).stdout)
    assert [e["kind"] for e in shown].count("preliminary") == 1
    verify = run_cli("ledger", "verify", cwd=tmp_path)
    assert verify.returncode == 0, verify.stdout + verify.stderr
