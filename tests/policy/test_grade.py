"""Grading: the rubric gives the compliant policy top marks, costs a degraded one exactly the
criteria it breaks, is deterministic, and traces every grade to fields or findings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from scalegate.report.policy_review import render_grades
from scalegate.review.grade import (
    RUBRIC,
    Grades,
    grade_policy,
    grades_json,
    letter,
)
from scalegate.review.lint import RULES, lint_policy
from tests.builders import policy_from, reference_policy
from tests.policy.test_lint import COMPLIANT, del_, mutated, set_

DOCS = Path(__file__).resolve().parents[2] / "docs" / "lint.md"
# commitments, change process, board reversal and elicitation removed
DEGRADED = (del_("commitments", "governance.changes", "governance.reverse", "elicitation"),)


def _letters(grades: Grades) -> dict[str, str]:
    return {c.key: c.letter for c in grades.components}


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        (4.0, "A"),
        (3.5, "A"),
        (3.4, "B"),
        (2.5, "B"),
        (2.4, "C"),
        (1.5, "C"),
        (1.4, "D"),
        (0.5, "D"),
        (0.4, "F"),
        (0.0, "F"),
    ],
)
def test_points_map_to_letters_at_fixed_floors(points: float, expected: str) -> None:
    assert letter(points) == expected


def test_rubric_covers_five_metr_components_and_eight_seoul_commitments() -> None:
    assert [c.key for c in RUBRIC if c.framework == "METR"] == [
        "limits",
        "protections",
        "evaluation",
        "response",
        "accountability",
    ]
    assert [c.key for c in RUBRIC if c.framework == "Seoul"] == [
        f"seoul.{n}" for n in ("I", "II", "III", "IV", "V", "VI", "VII", "VIII")
    ]
    for comp in RUBRIC:
        assert comp.criteria
        for crit in comp.criteria:
            assert crit.rules or crit.evidence is not None, crit.id  # every criterion checks something
            assert set(crit.rules) <= set(RULES)
            assert crit.evidence is None or crit.reads, crit.id


def test_compliant_policy_gets_top_grades_everywhere() -> None:
    grades = grade_policy(policy_from(COMPLIANT))
    for comp in grades.components:
        assert (comp.letter, comp.points, comp.met) == ("A", 4.0, comp.total), comp.key
        assert all(r.met and r.evidence for r in comp.criteria)
    assert (grades.overall_letter, grades.overall_points) == ("A", 4.0)


def test_degraded_policy_loses_exactly_the_criteria_it_breaks() -> None:
    grades = grade_policy(mutated(*DEGRADED))
    assert grades.rows() == [
        ("METR", "Limits", "B", "2.9", "5/7"),
        ("METR", "Protections", "A", "4.0", "6/6"),
        ("METR", "Evaluation", "B", "3.2", "4/5"),
        ("METR", "Response", "C", "2.0", "3/6"),
        ("METR", "Accountability", "D", "0.9", "2/9"),  # no binding commitment is left
        ("Seoul", "I risk assessment", "B", "2.7", "4/6"),
        ("Seoul", "II thresholds", "B", "3.4", "6/7"),
        ("Seoul", "III mitigations", "A", "4.0", "5/5"),
        ("Seoul", "IV processes", "C", "2.0", "3/6"),
        ("Seoul", "V continual improvement", "F", "0.0", "0/4"),
        ("Seoul", "VI accountability", "D", "1.3", "2/6"),
        ("Seoul", "VII transparency", "D", "1.0", "1/4"),
        ("Seoul", "VIII external actors", "F", "0.0", "0/3"),
    ]
    assert (grades.overall_letter, grades.overall_points) == ("B", 2.6)
    response = {r.id: r for r in grades.by_key("response").criteria}
    assert response["pause_enforced"].met
    assert response["pause_enforced"].evidence == ["responses[3] (pause) blocks continue_training"]
    assert not response["pause_committed"].met
    assert response["pause_committed"].evidence == ["not found: commitments.pause with binding: true"]
    assert not response["interim"].met
    assert response["interim"].evidence[0].startswith("L24 commitments: no interim_measures")


def test_removing_the_pause_costs_the_response_component() -> None:
    grades = grade_policy(
        mutated(set_("responses.3.block", ["external_deployment"]), del_("commitments.pause"))
    )
    response = {r.id: r.met for r in grades.by_key("response").criteria}
    assert response == {
        "pause_enforced": False,
        "pause_committed": False,
        "deploy_gate": True,
        "interim": True,
        "residual": True,
        "no_escape_hatch": True,
    }
    assert (grades.by_key("response").letter, grades.by_key("response").points) == ("B", 2.7)  # 4/6
    assert grades.by_key("seoul.IV").letter == "B"


def test_info_findings_never_cost_a_grade() -> None:
    policy = mutated(del_("responses.1.id"), del_("commitments.anti_retaliation"))
    assert {f.severity for f in lint_policy(policy)} == {"info"}
    assert set(_letters(grade_policy(policy)).values()) == {"A"}


def test_grades_use_the_findings_given() -> None:
    policy = mutated(*DEGRADED)
    findings = lint_policy(policy)
    assert grade_policy(policy, findings) == grade_policy(policy)
    # without the findings, only the field criteria can fail (here: no binding commitment)
    assert grade_policy(policy, []).by_key("accountability").met == 8


def test_grading_is_deterministic() -> None:
    policy = mutated(*DEGRADED)
    first, second = grade_policy(policy), grade_policy(policy)
    assert first == second
    assert json.dumps(grades_json(first)) == json.dumps(grades_json(second))


def test_reference_preset_grades() -> None:
    grades = grade_policy(reference_policy())
    assert set(_letters(grades).values()) == {"A"}
    protections = {r.id: r for r in grades.by_key("protections").criteria}
    assert protections["security"].evidence == [
        "protections.sl2: RAND SL2",
        "protections.sl3: RAND SL3",
        "protections.sl4: RAND SL4",
    ]
    assert protections["alignment"].evidence == [
        "responses[7] (alignment-at-critical-ai-rnd) requires alignment_control"
    ]


def test_grades_json_and_rendering() -> None:
    grades = grade_policy(mutated(*DEGRADED))
    data = grades_json(grades)
    assert data["overall"] == {"points": 2.6, "letter": "B"}
    assert [c["key"] for c in data["components"]][:2] == ["limits", "protections"]
    console = Console(record=True, width=220)
    console.print(render_grades(grades, details=True))
    text = console.export_text()
    assert "Accountability" in text and "VIII external actors" in text
    assert "not found: commitments.pause with binding: true" in text
    assert "overall (mean of METR components): B" in text


def test_rubric_is_documented() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    for comp in RUBRIC:
        assert comp.title in docs, comp.title
        for crit in comp.criteria:
            assert f"`{crit.id}`" in docs, crit.id


def test_eval_criteria_are_not_met_by_a_policy_without_any_eval_condition() -> None:
    """No rule about alerts, elicitation or inconclusive results can fire on a policy with no
    eval condition at all; that must not read as "Evaluation A" beside the L02 error."""
    from scalegate.policy.loader import load_policy

    prose = load_policy("amazon-fmsf").policy
    assert all(t.when is None for d in prose.domains.values() for t in d.thresholds.values())
    assert any(f.rule == "L02" and f.severity == "error" for f in lint_policy(prose))
    evaluation = {c.id: c for c in _component(grade_policy(prose), "evaluation").criteria}
    for cid in ("elicitation", "buffer", "cannot_rule_out"):
        assert not evaluation[cid].met, cid
        assert any("no threshold has an eval condition" in e for e in evaluation[cid].evidence)
    # the same criteria are met by a policy whose thresholds have eval conditions
    full = {c.id: c for c in _component(grade_policy(reference_policy()), "evaluation").criteria}
    assert all(full[cid].met for cid in ("elicitation", "buffer", "cannot_rule_out"))


def _component(grades: Grades, key: str):  # type: ignore[no-untyped-def]
    return next(c for c in grades.components if c.key == key)
