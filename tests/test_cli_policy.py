"""The policy commands a policy author or watchdog uses: list, init, compare, diff."""

from __future__ import annotations

import subprocess
from pathlib import Path

from scalegate.policy import load_policy, preset_names
from tests.conftest import run_cli

FRAMEWORKS = {
    "openai-pf-beta",
    "openai-pf-v2",
    "anthropic-rsp-v1",
    "anthropic-rsp-v2.2",
    "deepmind-fsf-v1",
    "deepmind-fsf-v2",
    "xai-rmf-draft",
    "xai-rmf",
    "meta-faf",
    "microsoft-fgf",
    "amazon-fmsf",
}


def test_every_framework_has_a_preset_that_validates() -> None:
    assert FRAMEWORKS | {"reference"} == set(preset_names())
    for name in preset_names():
        assert load_policy(name).policy.responses, name


def test_policy_list_and_init(tmp_path: Path) -> None:
    listed = run_cli("policy", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    for name in FRAMEWORKS:
        assert name in listed.stdout
    out = tmp_path / "mine.yaml"
    init = run_cli("policy", "init", "--preset", "xai-rmf-draft", "--out", str(out), cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    assert out.read_text() == load_policy("xai-rmf-draft").text
    again = run_cli("policy", "init", "--preset", "reference", "--out", str(out), cwd=tmp_path)
    assert again.returncode == 2 and "exists" in again.stderr
    assert out.read_text() == load_policy("xai-rmf-draft").text  # never overwritten
    valid = run_cli("policy", "validate", str(out), cwd=tmp_path)
    assert valid.returncode == 0, valid.stderr


def test_compare_all_presets_as_markdown_and_html(tmp_path: Path) -> None:
    md = run_cli("policy", "compare", "--format", "markdown", cwd=tmp_path)
    assert md.returncode == 0, md.stderr
    table = [line for line in md.stdout.splitlines() if line.startswith("|")]
    header = table[0]
    for name in FRAMEWORKS:
        assert name in header
    pipes = {line.replace("\\|", "").count("|") for line in table}
    assert len(pipes) == 1  # a well-formed table: every row has every column
    html = tmp_path / "cmp.html"
    done = run_cli(
        "policy", "compare", "reference", "openai-pf-beta", "-f", "html", "-o", str(html), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    text = html.read_text()
    assert text.startswith("<!DOCTYPE html>") or text.lstrip().startswith("<")
    assert "openai-pf-beta" in text and "reference" in text


def test_diff_reports_the_direction_of_a_change(tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    new = tmp_path / "new.yaml"
    text = load_policy("reference").text
    old.write_text(text)
    new.write_text(
        text.replace(
            "when: {eval: cyber_knowledge, at_least: 0.70}", "when: {eval: cyber_knowledge, at_least: 0.80}"
        )
    )
    done = run_cli("policy", "diff", str(old), str(new), "--format", "markdown", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "**1 weaker, 0 stronger, 0 unclear, 0 neutral**" in done.stdout
    assert "`domains.cyber.thresholds.high.when`" in done.stdout
    same = run_cli("policy", "diff", str(old), str(old), "--format", "markdown", cwd=tmp_path)
    assert "no changes" in same.stdout
    rsp = run_cli("policy", "diff", "anthropic-rsp-v1", "anthropic-rsp-v2.2", cwd=tmp_path)
    assert rsp.returncode == 0 and "weaker" in rsp.stdout and "stronger" in rsp.stdout


def test_docs_presets_md_is_generated_from_the_current_presets() -> None:
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, str(repo / "scripts" / "gen_presets_doc.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr


def test_lint_exits_3_on_errors_and_0_on_the_reference(tmp_path: Path) -> None:
    import json

    ref = run_cli("policy", "lint", "reference", cwd=tmp_path)
    assert ref.returncode == 0, ref.stdout + ref.stderr
    # its one finding is by design: it leaves the sandbagging checks to the operator (L40,
    # docs/design/sandbagging.md); warnings do not change the exit status
    assert "L40" in ref.stdout
    ref_json = json.loads(run_cli("policy", "lint", "reference", "--json", cwd=tmp_path).stdout)
    assert [f["rule"] for f in ref_json["reference"]["findings"]] == ["L40"]
    beta = run_cli("policy", "lint", "openai-pf-beta", "--json", cwd=tmp_path)
    assert beta.returncode == 3
    report = json.loads(beta.stdout)["openai-pf-beta"]
    assert any(f["rule"] == "L02" and f["severity"] == "error" for f in report["findings"])
    assert report["grades"]["overall"]["letter"] in "ABCDF"
    ignored = run_cli("policy", "lint", "openai-pf-beta", "--ignore", "L02", "--no-grades", cwd=tmp_path)
    assert ignored.returncode == 0 and "L02" not in ignored.stdout
    bad = run_cli("policy", "lint", "reference", "--ignore", "L99", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown rule" in bad.stderr


def _piped(*args: str, cwd: Path, columns: int = 80) -> subprocess.CompletedProcess[str]:
    import os
    import subprocess
    import sys

    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run(
        [sys.executable, "-m", "scalegate", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def test_lint_shows_a_summary_by_default_and_everything_with_details(tmp_path: Path) -> None:
    from scalegate.review.lint import RULES, lint_policy

    findings = lint_policy(load_policy("xai-rmf-draft").policy)
    infos = [f for f in findings if f.severity == "info"]
    assert infos and any(f.severity == "warning" for f in findings)
    short = _piped("policy", "lint", "xai-rmf-draft", "--no-grades", cwd=tmp_path)
    assert short.returncode == 3
    # at 80 columns and piped: every rule id and name whole, on one line with its clause
    for f in findings:
        if f.severity != "info":
            assert f"{f.severity} {f.rule} {f.name}  {f.clause}" in short.stdout
    assert f"{len(infos)} info note(s) not shown" in short.stdout and "--details" in short.stdout
    assert "why:" not in short.stdout
    full = _piped("policy", "lint", "xai-rmf-draft", "--no-grades", "--details", cwd=tmp_path)
    assert full.returncode == 3
    for f in infos:
        assert f"info {f.rule} {RULES[f.rule].name}" in full.stdout
    assert full.stdout.count("why:") == len(findings) and "not shown" not in full.stdout
    assert len(short.stdout.splitlines()) < len(full.stdout.splitlines()) / 2


def test_diff_summary_counts_the_neutral_changes_it_does_not_list(tmp_path: Path) -> None:
    import re

    def counts(text: str) -> tuple[str, ...]:
        found = re.search(r"(\d+) weaker, (\d+) stronger, (\d+) unclear, (\d+) neutral", text)
        assert found, text
        return found.groups()

    hidden = _piped("policy", "diff", "reference", "anthropic-rsp-v2.2", "--format", "markdown", cwd=tmp_path)
    listed = _piped(
        "policy", "diff", "reference", "anthropic-rsp-v2.2", "--format", "markdown", "--neutral", cwd=tmp_path
    )
    assert counts(hidden.stdout) == counts(listed.stdout) and int(counts(hidden.stdout)[3]) > 0
    assert "(not listed; --neutral lists them)" in hidden.stdout
    assert "| neutral |" not in hidden.stdout and "| neutral |" in listed.stdout
