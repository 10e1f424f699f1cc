"""A new user's first hour: exploratory runs beside the official ledger, next steps on
screen, output that keeps every identifier whole at 80 columns and in a pipe, `--version`,
and a light package root with the documented entry points."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scalegate.ledger.store import db_url
from tests.conftest import run_cli
from tests.ledger.conftest import Built, build_realistic, make_assessment


@pytest.fixture(scope="module")
def official(tmp_path_factory: pytest.TempPathFactory) -> tuple[Built, Path]:
    """A ledger with the reference policy in force, in a folder a user works in."""
    folder = tmp_path_factory.mktemp("first-hour")
    b = build_realistic(db_url(str(folder / "scalegate-ledger.db")), folder / "keys")
    return b, folder


def test_another_policy_runs_as_exploratory_and_records_nothing(official: tuple[Built, Path]) -> None:
    """After the demo made the reference policy binding, assessing a preset is still possible:
    it is exploratory, nothing enters the ledger, and the results say it authorises nothing."""
    b, folder = official
    before = b.ledger.head()
    out = folder / "xai"
    res = run_cli("assess", "--preset", "xai-rmf-draft", "--out", str(out), cwd=folder)
    assert res.returncode == 0, res.stderr
    text = " ".join(res.stdout.split())
    assert "Exploratory run, not recorded" in text
    assert "scalegate policy propose preset:xai-rmf-draft" in text  # the exact command, and it works:
    assert run_cli("policy", "validate", "preset:xai-rmf-draft", cwd=folder).returncode == 0
    assert "authorises nothing" in (out / "EXPLORATORY.txt").read_text()
    assert b.ledger.head() == before


def test_an_exploratory_run_cannot_pass_a_require_gate(official: tuple[Built, Path]) -> None:
    b, folder = official
    before = b.ledger.head()
    res = run_cli(
        "assess", "--preset", "xai-rmf-draft", "--require", "continue_training", "--out", "x2", cwd=folder
    )
    assert res.returncode == 2, res.stdout + res.stderr
    assert "exploratory" in " ".join(res.stderr.split())
    assert not (folder / "x2").exists()
    assert b.ledger.head() == before


def test_next_steps_name_the_exact_commands(official: tuple[Built, Path], tmp_path: Path) -> None:
    """For each action that is not yet allowed: who signs and with which command; missing
    evidence is fixed with evidence, never with an override; what is allowed gets recorded."""
    from scalegate.report.terminal import next_steps

    b, _ = official
    loaded = b.loaded
    a = make_assessment(loaded)  # type: ignore[arg-type]
    steps = "\n".join(next_steps(a, loaded.policy, "0123456789abcdef", None, ["assess"]))  # type: ignore[attr-defined]
    assert "scalegate signoff 0123456789ab --role rso --key .scalegate/keys/rso.key" in steps
    assert "scalegate signoff 0123456789ab --role ceo" in steps
    assert "scalegate ledger record-action 0123456789ab ACTION" in steps
    assert "override" not in steps  # nothing is blocked by the policy here
    unrecorded = "\n".join(next_steps(a, loaded.policy, None, "--no-ledger", ["assess"]))  # type: ignore[attr-defined]
    assert "Exploratory run" in unrecorded and "signoff" not in unrecorded


def test_piped_tables_keep_every_identifier_whole(official: tuple[Built, Path]) -> None:
    from scalegate.policy import preset_names

    b, folder = official
    listed = run_cli("policy", "list", cwd=folder)
    assert listed.returncode == 0
    assert [n for n in preset_names() if n not in listed.stdout] == []
    shown = run_cli("ledger", "show", "--details", cwd=folder)
    assert {e.kind for e in b.entries()} <= set(shown.stdout.replace(":", " ").split())
    assert all(e.entry_id[:12] in shown.stdout for e in b.entries())
    # the default is a summary: counts per kind and the newest entries, each whole
    summary = run_cli("ledger", "show", "--last", "5", cwd=folder)
    entries = b.entries()
    assert f"{len(entries)} entries (" in summary.stdout and "--details lists every one" in summary.stdout
    assert all(e.entry_id[:12] in summary.stdout for e in entries[-5:])
    listed = {int(line.split(":")[1]) for line in summary.stdout.splitlines() if line.startswith("- seq:")}
    assert listed == {e.seq for e in entries[-5:]}
    decision = next(e for e in b.entries() if e.kind == "decision")
    status = run_cli("ledger", "status", decision.entry_id, cwd=folder)
    assert status.returncode == 0, status.stderr
    for action, d in decision.payload["decision"]["actions"].items():
        assert f"action: {action}" in status.stdout and f"decision: {d['status']}" in status.stdout
    newest = [e for e in b.entries() if e.kind == "decision"][-1]
    plain = run_cli("ledger", "status", cwd=folder)  # no id: the newest decision
    assert plain.returncode == 0 and newest.entry_id in plain.stdout, plain.stderr


def test_run_cli_pipes_at_80_columns() -> None:
    """The assertion above is about a pipe: the CLI never sees a terminal in run_cli."""
    res = subprocess.run(
        [sys.executable, "-c", "from rich.console import Console; print(Console().is_terminal)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert res.stdout.strip() == "False"


def test_version() -> None:
    from scalegate import __version__

    res = run_cli("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"scalegate {__version__}"


def test_the_package_root_is_light_and_exports_the_entry_points() -> None:
    code = (
        "import sys, scalegate, json;"
        "heavy = ('torch', 'transformers', 'inspect_ai', 'rich', 'sqlalchemy');"
        "light = [m for m in heavy if m in sys.modules];"
        "from scalegate import Gatekeeper, load_policy, build_scorecard, decide, run_assessment, Ledger;"
        "print(json.dumps([light, Gatekeeper.__name__, load_policy('reference').policy.policy.name]))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    light, name, policy = json.loads(res.stdout)
    assert light == [] and name == "Gatekeeper" and policy == "scalegate reference policy"
    import scalegate

    with pytest.raises(AttributeError):
        scalegate.no_such_thing  # noqa: B018


def test_the_reviews_compute_and_load_no_renderer() -> None:
    """Rendering lives in report/ (issue 14): linting, grading, comparing and diffing a policy
    load no rich, so a service can review policies without a terminal library."""
    code = (
        "import sys, json;"
        "from scalegate.policy import load_policy;"
        "from scalegate.review import compare, diff, grade, lint;"
        "p = load_policy('reference').policy;"
        "f = lint.lint_policy(p); grade.grade_policy(p, f); diff.assess_changes(p, p);"
        "compare.compare_policies([('r', p)]);"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'rich' or m.startswith('rich.'))))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(res.stdout) == []
