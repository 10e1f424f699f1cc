"""Side-by-side comparison: the rows a reader scans, absent clauses, and safe rendering."""

from __future__ import annotations

import re

import pytest
from rich.console import Console

from scalegate.policy.schema import Policy, Protection
from scalegate.report.policy_review import to_html, to_markdown, to_rich_table
from scalegate.review.compare import (
    ABSENT,
    PolicyComparison,
    compare_policies,
    security_level,
)
from tests.builders import policy_from, reference_policy

FULL = """
scalegate: 1
policy: {name: full, version: "2", effective: 2025-01-01}
levels: [low, high, critical]
elicitation: {without_safety_training: true, attempts_per_task: 10, max_post_training_compute_fraction: 0.01}
evals:
  bio_eval: {task: scalegate/mmlu_proxy}
domains:
  bio:
    title: Biological
    category: bio
    thresholds:
      high:
        description: Uplift to novices.
        label: Bio-1
        when: {eval: bio_eval, at_least: 0.7}
        alert: {eval: bio_eval, at_least: 0.6}
      critical:
        description: Uplift to experts.
        applies_to: post
        not_operationalized: expert judgement
  persuasion:
    title: Persuasion
    category: persuasion
    status: research
protections:
  vault: {description: Weight security, kind: security, rand_sl: 3}
  classifiers: {description: Misuse classifiers, kind: deployment}
safety_cases:
  control: {description: Monitoring catches sabotage.}
responses:
  - id: deploy-gate
    if: {post_mitigation_at_least: high}
    block: [external_deployment]
  - id: pause
    if: {post_mitigation_at_least: critical}
    block: [continue_training, external_deployment]
  - id: security
    if: {pre_mitigation_at_least: high}
    require: {protections: [vault]}
  - id: safeguards
    if: {post_mitigation_at_least: high}
    require: {protections: [classifiers], before: [external_deployment]}
  - id: case
    if: {pre_mitigation_at_least: critical}
    require: {safety_case: control, before: [internal_deployment]}
    notify: [board]
cadence:
  every_effective_compute_multiple: 4
  max_days: 90
  events: [covered_deployment]
  buffer: {effective_compute_multiple: 6, months: 3}
governance:
  roles: {rso: Officer, board: Board}
  changes: {approve: [board], consult: [rso], notice_days: 14, public_changelog: true}
  signoff: {external_deployment: [rso, board]}
  inform_before: {open_weights: [board]}
  reverse: [board]
commitments:
  pause: {text: We will pause.}
  government_notice: {text: We may notify the government., binding: false}
marginal_risk:
  text: We may lower safeguards if a competitor goes ahead.
  conditions: [rigorous_confirmation, government_notice]
"""

# Hostile text where a renderer could break: markup, HTML, a pipe.
BARE = """
scalegate: 1
policy: {name: "<script>alert(1)</script>", version: "0"}
levels: [none, severe]
domains:
  cyber:
    title: Cyber
    category: cyber
    thresholds:
      severe:
        description: Anything | goes
        label: "[b]X|Y[/b]"
responses:
  - if: {post_mitigation_at_least: severe}
    block: [open_weights]
"""


@pytest.fixture(scope="module")
def policies() -> list[tuple[str, Policy]]:
    return [("reference", reference_policy()), ("full", policy_from(FULL)), ("bare<b>", policy_from(BARE))]


def cells(cmp: PolicyComparison, section: str, label: str) -> tuple[str, ...]:
    return cmp.row(section, label).cells


def test_sections_and_shape(policies: list[tuple[str, Policy]]) -> None:
    cmp = compare_policies(policies)
    assert cmp.names == ("reference", "full", "bare<b>")
    assert [s.title for s in cmp.sections] == [
        "Policy",
        "Domains",
        "Thresholds",
        "Triggers",
        "Buffers",
        "Elicitation",
        "Decision rules",
        "Protections",
        "Governance",
        "Commitments",
        "Marginal risk",
    ]
    for section in cmp.sections:
        assert section.rows, section.title
        for row in section.rows:
            assert len(row.cells) == 3 and all(row.cells), (section.title, row)


def test_rows_read_each_clause(policies: list[tuple[str, Policy]]) -> None:
    cmp = compare_policies(policies)
    full, bare = 1, 2
    assert cells(cmp, "Domains", "Biological")[full] == "Bio-1, critical (prose)"
    assert cells(cmp, "Domains", "Persuasion")[full] == "research"
    assert cells(cmp, "Domains", "Cyber")[bare] == "[b]X|Y[/b] (prose)"
    assert cells(cmp, "Thresholds", "Operationalized")[full] == "1/2"
    assert cells(cmp, "Thresholds", "With alert")[full] == "1/2"
    assert cells(cmp, "Thresholds", "Applies to")[full] == "both 1, post 1"
    assert cells(cmp, "Triggers", "Compute / time")[full] == "4x / 90d"
    assert cells(cmp, "Triggers", "Events")[full] == "covered_deployment"
    assert cells(cmp, "Buffers", "Safety buffer")[full] == "6x / 3 mo"
    assert cells(cmp, "Elicitation", "Without safety training")[full] == "yes"
    assert cells(cmp, "Elicitation", "Post-training headroom")[full] == "1%"
    assert cells(cmp, "Decision rules", "Blocks external_deployment")[full] == "post ≥ high"
    assert cells(cmp, "Decision rules", "Pause (blocks continue_training)")[full] == "post ≥ critical"
    assert cells(cmp, "Decision rules", "Safety cases required")[full] == "control at pre ≥ critical"
    assert cells(cmp, "Protections", "Weight security (RAND)")[full] == "high SL3"
    assert cells(cmp, "Protections", "Deployment")[full] == "1, from post ≥ high"
    assert cells(cmp, "Governance", "Sign-off: external_deployment")[full] == "rso+board"
    assert cells(cmp, "Governance", "Inform before: open_weights")[full] == "board"
    assert cells(cmp, "Governance", "Change: notice")[full] == "14d"
    assert cells(cmp, "Governance", "Public changelog")[full] == "yes"
    assert cells(cmp, "Commitments", "pause")[full] == "binding"
    assert cells(cmp, "Commitments", "government_notice")[full] == "hedged"
    assert cells(cmp, "Marginal risk", "Clause")[full] == "yes (2/5 conditions)"
    assert cells(cmp, "Marginal risk", "Government notice")[full] == "yes"
    assert cells(cmp, "Marginal risk", "Remain more protective")[full] == "no"
    # the reference policy fails closed and maps levels to weight security
    assert cells(cmp, "Decision rules", "Fail closed")[0].startswith("all actions")
    assert "SL" in cells(cmp, "Protections", "Weight security (RAND)")[0]


def test_absent_clauses_show_a_dash(policies: list[tuple[str, Policy]]) -> None:
    cmp = compare_policies(policies)
    bare = 2
    for section in ("Triggers", "Governance", "Commitments"):
        for row in cmp.section(section).rows:
            assert row.cells[bare] == ABSENT, (section, row)
    assert cells(cmp, "Marginal risk", "Clause")[bare] == ABSENT
    assert cells(cmp, "Decision rules", "Blocks external_deployment")[bare] == ABSENT
    assert cells(cmp, "Decision rules", "Blocks open_weights")[bare] == "post ≥ severe"
    assert cells(cmp, "Domains", "Biological")[bare] == ABSENT


def test_grades_come_from_the_caller(policies: list[tuple[str, Policy]]) -> None:
    cmp = compare_policies(
        policies, grades={"full": {"overall": "B", "governance": "A"}, "reference": {"overall": "A"}}
    )
    assert cmp.sections[-1].title == "Grades"
    assert cells(cmp, "Grades", "overall") == ("A", "B", ABSENT)
    assert cells(cmp, "Grades", "governance") == (ABSENT, "A", ABSENT)
    with pytest.raises(ValueError, match="unknown policies"):
        compare_policies(policies, grades={"nope": {"overall": "F"}})
    with pytest.raises(ValueError, match="distinct"):
        compare_policies([policies[0], policies[0]])


def test_markdown_rows_line_up(policies: list[tuple[str, Policy]]) -> None:
    md = to_markdown(compare_policies(policies, grades={"full": {"overall": "B"}}))
    lines = md.strip().splitlines()
    unescaped = {len(re.findall(r"(?<!\\)\|", line)) for line in lines}
    assert unescaped == {5}, unescaped  # 4 columns: 5 pipes on every line
    assert all(line.startswith("|") and line.endswith("|") for line in lines)
    assert re.fullmatch(r"\|(---\|){4}", lines[1])
    assert "| **Domains** |" in md
    assert "X\\|Y" in md  # a pipe inside a cell is escaped


def test_html_is_escaped_and_self_contained(policies: list[tuple[str, Policy]]) -> None:
    page = to_html(compare_policies(policies))
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page and page.rstrip().endswith("</html>")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "bare&lt;b&gt;" in page and "<b>" not in page
    assert "http://" not in page and "https://" not in page  # no external resources
    assert "Content-Security-Policy" in page  # and the browser is told to fetch none
    assert page.count("<tr") == sum(len(s.rows) + 1 for s in compare_policies(policies).sections) + 1


def test_rich_table_renders_text_literally(policies: list[tuple[str, Policy]]) -> None:
    console = Console(record=True, width=250)
    console.print(to_rich_table(compare_policies(policies)))
    out = console.export_text()
    assert "Decision rules" in out and "bare<b>" in out
    assert "[b]X|Y[/b]" in out  # not read as markup
    assert "4x / 90d" in out


def test_security_level_reads_declared_then_prose() -> None:
    assert security_level("vault", Protection(description="x", rand_sl=4)) == 4
    assert security_level("sl3", Protection(description="Weight security")) == 3
    assert security_level("weights", Protection(description="RAND SL2 against opportunists")) == 2
    assert security_level("sla", Protection(description="SLA uptime")) is None
