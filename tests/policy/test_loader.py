"""Policy loading: the reference preset loads, and every bad policy is refused with a problem line
that names the line number, the field path and what was expected."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pytest

from scalegate.errors import InputError, PolicyError
from scalegate.policy.loader import LoadedPolicy, load_policy, parse_policy, preset_names
from scalegate.policy.schema import DEFAULT_ACTIONS, Policy

# A valid policy. The line numbers below are part of the tests: `_line` checks them.
VALID = textwrap.dedent(
    """\
    scalegate: 1
    policy:
      name: loader test
      version: "1"
    levels: [low, medium, high]
    evals:
      cyber_eval:
        task: scalegate/mmlu_proxy
      bio_eval: {task: scalegate/mmlu_proxy}
    domains:
      cyber:
        title: Cyber
        thresholds:
          medium:
            description: medium line
            when: {eval: cyber_eval, at_least: 0.5}
            alert: {eval: cyber_eval, at_least: 0.3}
          high: {description: high line, when: {eval: cyber_eval, at_least: 0.8}}
    protections:
      sl2: weight security
    responses:
      - id: gate-medium
        if: {pre_mitigation_at_least: medium}
        block: [open_weights]
      - id: secure-medium
        if: {pre_mitigation_at_least: medium}
        require: {protections: [sl2], before: [continue_training]}
    governance:
      roles:
        rso: Responsible Scaling Officer
      signoff:
        external_deployment: [rso]
    """
)


def _line(text: str, number: int) -> str:
    """The stripped text of a 1-based line: guards the hand-counted line numbers in these tests."""
    return text.splitlines()[number - 1].strip()


def _mutate(old: str, new: str) -> str:
    assert VALID.count(old) == 1, f"mutation target not unique: {old!r}"
    return VALID.replace(old, new)


def _mutate_first_if(condition: str) -> str:
    """Replace the condition of the first response (line 23)."""
    return _mutate("if: {pre_mitigation_at_least: medium}\n    block", f"if: {{{condition}}}\n    block")


def _problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "test.yaml")
    assert info.value.source == "test.yaml"
    assert info.value.problems, "a PolicyError must carry at least one problem line"
    return info.value.problems


def _only_problem(text: str) -> str:
    problems = _problems(text)
    assert len(problems) == 1, problems
    return problems[0]


# --- the happy path ---------------------------------------------------------------------------


def test_valid_policy_parses_with_defaults_filled_in() -> None:
    loaded = parse_policy(VALID, "test.yaml")
    policy = loaded.policy
    assert policy.levels == ["low", "medium", "high"]
    assert policy.actions == list(DEFAULT_ACTIONS)
    assert policy.statistics.confidence == 0.95
    assert policy.statistics.interval == "clopper_pearson"  # exact by default (issue 11)
    assert policy.statistics.inconclusive_as == "crossed"
    assert policy.evidence.min_samples == 20
    assert policy.domains["cyber"].thresholds["high"].when is not None
    assert policy.responses[1].require is not None
    assert policy.responses[1].require.before == ["continue_training"]
    assert loaded.sha256 == hashlib.sha256(VALID.encode("utf-8")).hexdigest()
    assert loaded.text == VALID


def test_reference_preset_loads_by_name() -> None:
    loaded = load_policy("reference")
    assert isinstance(loaded, LoadedPolicy)
    assert loaded.source == "preset:reference"
    assert loaded.sha256 == hashlib.sha256(loaded.text.encode("utf-8")).hexdigest()
    policy = loaded.policy
    assert policy.levels == ["low", "medium", "high", "critical"]
    assert set(policy.evals) == {
        "cyber_knowledge",
        "bio_knowledge",
        "chem_knowledge",
        "ml_knowledge",
        "general_control",
    }
    assert set(policy.domains) == {"cyber", "bio", "chem", "ai_rnd"}
    assert policy.actions == list(DEFAULT_ACTIONS)
    assert policy.statistics.inconclusive_as == "crossed"
    assert policy.responses[0].id == "fail-closed"
    assert "pause-at-critical" in {r.id for r in policy.responses}
    # every threshold is operationalized and has an alert below it
    for domain in policy.domains.values():
        for thr in domain.thresholds.values():
            assert thr.when is not None and thr.alert is not None
            assert thr.alert.at_least is not None and thr.when.at_least is not None
            assert thr.alert.at_least < thr.when.at_least


def test_reference_preset_is_listed_and_loads_from_a_file_copy(tmp_path: Path) -> None:
    assert "reference" in preset_names()
    text = load_policy("reference").text
    copy = tmp_path / "copy.yaml"
    copy.write_text(text, encoding="utf-8")
    loaded = load_policy(copy)
    assert loaded.source == str(copy)
    assert loaded.sha256 == load_policy("reference").sha256
    assert loaded.policy == load_policy("reference").policy


def test_policy_error_is_an_input_error_with_exit_code_2_and_lists_problems() -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(_mutate("block: [open_weights]", "block: [open_weight]"), "mine.yaml")
    err = info.value
    assert isinstance(err, InputError)
    assert err.exit_code == 2
    assert str(err).startswith("mine.yaml: invalid policy\n")
    assert err.problems[0] in str(err)


# --- schema problems: line, field path, what is expected -------------------------------------


def test_misspelled_field_names_its_line_and_path_as_unknown_field() -> None:
    assert _line(VALID, 12) == "title: Cyber"
    problems = _problems(_mutate("    title: Cyber", "    titel: Cyber"))
    unknown = [p for p in problems if "titel" in p]
    assert unknown == [
        "line 12: field domains.cyber.titel: unknown field (check the spelling; "
        "see `scalegate policy schema`)"
    ]
    # the correctly spelled field is now missing, which is reported too
    assert any(
        p.startswith("line ") and "domains.cyber.title: required field is missing" in p for p in problems
    )


def test_misspelled_top_level_field_is_unknown() -> None:
    assert _line(VALID, 5).startswith("levels:")
    problems = _problems(_mutate("levels: [low, medium, high]", "levles: [low, medium, high]"))
    assert (
        "line 5: field levles: unknown field (check the spelling; see `scalegate policy schema`)" in problems
    )
    assert "line 1: field levels: required field is missing" in problems


def test_missing_required_field_names_the_mapping_it_belongs_to() -> None:
    assert _line(VALID, 9) == "bio_eval: {task: scalegate/mmlu_proxy}"
    problem = _only_problem(_mutate("bio_eval: {task: scalegate/mmlu_proxy}", "bio_eval: {metric: accuracy}"))
    assert problem == "line 9: field evals.bio_eval.task: required field is missing"


def test_wrong_schema_version_says_what_was_expected_and_what_was_given() -> None:
    problem = _only_problem(_mutate("scalegate: 1", "scalegate: 2"))
    assert problem == "line 1: field scalegate: Input should be 1 (got 2)"


def test_non_number_threshold_value_reports_the_bad_input() -> None:
    assert _line(VALID, 16).startswith("when:")
    problem = _only_problem(
        _mutate("{eval: cyber_eval, at_least: 0.5}", "{eval: cyber_eval, at_least: high}")
    )
    assert problem.startswith("line 16: field domains.cyber.thresholds.medium.when.at_least: ")
    assert "valid number" in problem
    assert "(got 'high')" in problem


def test_comparison_with_both_at_least_and_at_most_is_refused() -> None:
    problem = _only_problem(
        _mutate("{eval: cyber_eval, at_least: 0.5}", "{eval: cyber_eval, at_least: 0.5, at_most: 0.9}")
    )
    assert problem == (
        "line 16: field domains.cyber.thresholds.medium.when: "
        "comparison on eval 'cyber_eval' needs exactly one of at_least, at_most"
    )


def test_comparison_with_neither_at_least_nor_at_most_is_refused() -> None:
    problem = _only_problem(_mutate("{eval: cyber_eval, at_least: 0.5}", "{eval: cyber_eval}"))
    assert problem.startswith("line 16: field domains.cyber.thresholds.medium.when: ")
    assert "needs exactly one of at_least, at_most" in problem


def test_condition_mixing_eval_and_all_is_refused_with_the_expected_forms() -> None:
    problem = _only_problem(
        _mutate(
            "{eval: cyber_eval, at_least: 0.5}",
            "{eval: cyber_eval, at_least: 0.5, all: [{eval: bio_eval, at_least: 0.5}]}",
        )
    )
    assert problem.startswith("line 16: field domains.cyber.thresholds.medium.when: expected exactly one of")


def test_response_without_block_or_require_is_refused() -> None:
    assert _line(VALID, 22) == "- id: gate-medium"
    problem = _only_problem(_mutate("    block: [open_weights]\n", ""))
    assert problem.startswith("line 22: field responses[0]: ")
    assert "a response needs `block: [actions]`, `require: {...}`, `notify`, or `obligations`" in problem


def test_response_condition_with_two_facts_is_refused() -> None:
    assert _line(VALID, 23).startswith("if:")
    text = _mutate_first_if("pre_mitigation_at_least: medium, alert: true")
    problem = _only_problem(text)
    assert problem.startswith("line 23: field responses[0].if: expected exactly one of")


# --- cross-reference problems -------------------------------------------------------------------


def test_threshold_naming_unknown_eval_names_the_line_of_that_threshold_condition() -> None:
    problem = _only_problem(_mutate("{eval: cyber_eval, at_least: 0.5}", "{eval: cyber_evl, at_least: 0.5}"))
    assert problem == (
        "line 16: field domains.cyber.thresholds.medium.when: "
        "unknown eval 'cyber_evl' (evals: ['bio_eval', 'cyber_eval'])"
    )


def test_alert_naming_unknown_eval_names_the_alert_line() -> None:
    assert _line(VALID, 17).startswith("alert:")
    problem = _only_problem(_mutate("{eval: cyber_eval, at_least: 0.3}", "{eval: chem_eval, at_least: 0.3}"))
    assert problem.startswith(
        "line 17: field domains.cyber.thresholds.medium.alert: unknown eval 'chem_eval'"
    )


def test_unknown_eval_nested_in_any_is_found() -> None:
    assert _line(VALID, 18).startswith("high:")
    problem = _only_problem(
        _mutate(
            "when: {eval: cyber_eval, at_least: 0.8}",
            "when: {any: [{eval: cyber_eval, at_least: 0.8}, {not: {eval: ghost, at_most: 0.1}}]}",
        )
    )
    assert problem.startswith("line 18: field domains.cyber.thresholds.high.when: unknown eval 'ghost'")


def test_threshold_under_unknown_level_is_refused() -> None:
    problem = _only_problem(_mutate("      high: {description", "      extreme: {description"))
    assert problem == (
        "line 18: field domains.cyber.thresholds.extreme: "
        "unknown level 'extreme' (levels: ['low', 'medium', 'high'])"
    )


def test_threshold_on_the_baseline_level_is_refused() -> None:
    problem = _only_problem(_mutate("      high: {description", "      low: {description"))
    assert problem == (
        "line 18: field domains.cyber.thresholds.low: 'low' is the baseline level and takes no threshold"
    )


def test_unknown_level_key_with_block_value_names_the_key_line() -> None:
    assert _line(VALID, 14) == "medium:"
    text = _mutate("      medium:\n        description: medium line", "      medum:\n        description: m")
    problem = _only_problem(text)
    assert problem.startswith("line 14: field domains.cyber.thresholds.medum: unknown level 'medum'")


def test_response_blocking_unknown_action_names_the_block_line() -> None:
    assert _line(VALID, 24) == "block: [open_weights]"
    problem = _only_problem(_mutate("block: [open_weights]", "block: [open_weight]"))
    assert problem == (
        "line 24: field responses[0].block: unknown action 'open_weight' "
        "(actions: ['continue_training', 'internal_deployment', 'external_deployment', 'open_weights'])"
    )


def test_require_of_undeclared_protection_names_the_require_line() -> None:
    assert _line(VALID, 27).startswith("require:")
    problem = _only_problem(_mutate("protections: [sl2]", "protections: [sl3]"))
    assert problem == (
        "line 27: field responses[1].require.protections: "
        "protection 'sl3' is not declared under `protections:`"
    )


def test_require_before_unknown_action_is_refused() -> None:
    problem = _only_problem(_mutate("before: [continue_training]", "before: [ship_it]"))
    assert problem.startswith("line 27: field responses[1].require.before: unknown action 'ship_it'")


def test_response_condition_naming_unknown_level_is_refused() -> None:
    text = _mutate_first_if("all: [{alert: true}, {post_mitigation_at_least: huge}]")
    problem = _only_problem(text)
    assert (
        problem == "line 23: field responses[0].if: unknown level 'huge' (levels: ['low', 'medium', 'high'])"
    )


def test_response_condition_naming_unknown_domain_is_refused() -> None:
    text = _mutate_first_if("pre_mitigation_at_least: medium, domains: [bio]")
    problem = _only_problem(text)
    assert problem == "line 23: field responses[0].if: unknown domain 'bio' (domains: ['cyber'])"


def test_unknown_role_in_governance_signoff_names_the_signoff_line() -> None:
    assert _line(VALID, 32) == "external_deployment: [rso]"
    problem = _only_problem(_mutate("external_deployment: [rso]", "external_deployment: [rso, ceo]"))
    assert (
        problem
        == "line 32: field governance.signoff.external_deployment: unknown role 'ceo' (roles: ['rso'])"
    )


def test_duplicate_response_ids_are_refused() -> None:
    problem = _only_problem(_mutate("- id: secure-medium", "- id: gate-medium"))
    assert problem.endswith("field responses: response ids must be unique")


def test_duplicate_level_names_are_refused() -> None:
    problems = _problems(_mutate("levels: [low, medium, high]", "levels: [low, medium, medium, high]"))
    assert "line 5: field levels: level names must be unique" in problems


def test_every_cross_reference_problem_is_reported_at_once() -> None:
    text = _mutate("block: [open_weights]", "block: [open_weight]")
    text = text.replace("{eval: cyber_eval, at_least: 0.5}", "{eval: cyber_evl, at_least: 0.5}")
    text = text.replace("external_deployment: [rso]", "external_deployment: [ceo]")
    problems = _problems(text)
    assert [p.split(":")[0] for p in problems] == ["line 16", "line 24", "line 32"]


# --- YAML-level problems --------------------------------------------------------------------------


def test_duplicate_yaml_key_is_refused_at_the_second_occurrence() -> None:
    text = _mutate("    title: Cyber\n", "    title: Cyber\n    title: Cyber again\n")
    assert _line(text, 13) == "title: Cyber again"
    problem = _only_problem(text)
    assert problem == (
        "line 13: field domains.cyber.title: duplicate key (YAML would silently keep only the last one)"
    )


def test_duplicate_top_level_key_is_refused() -> None:
    text = VALID + "levels: [low, high]\n"
    problem = _only_problem(text)
    assert problem.startswith("line 33: field levels: duplicate key")


def test_yaml_syntax_error_names_line_and_column() -> None:
    assert _line(VALID, 3) == "name: loader test"
    problem = _only_problem(_mutate("  name: loader test", "  name: loader: test"))
    assert problem.startswith("line 3, column ")
    assert "YAML syntax error: mapping values are not allowed" in problem  # libyaml or PyYAML wording


def test_tab_indentation_is_a_syntax_error_on_its_line() -> None:
    problem = _only_problem(_mutate("  sl2: weight security", "\tsl2: weight security"))
    assert problem.startswith("line 20, column 1: YAML syntax error:")


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"], ids=["empty", "blank", "comment"])
def test_empty_file_is_refused_with_the_expected_start(text: str) -> None:
    assert _only_problem(text) == "line 1: the file is empty; a policy starts with `scalegate: 1`"


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"], ids=["list", "string", "int"])
def test_non_mapping_document_is_refused(text: str) -> None:
    assert _only_problem(text) == "line 1: a policy is a mapping that starts with `scalegate: 1`"


# --- load_policy ---------------------------------------------------------------------------------


def test_load_policy_of_missing_yaml_file_says_file_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(PolicyError) as info:
        load_policy(missing)
    assert info.value.source == str(missing)
    assert info.value.problems == ["file not found: pass a policy YAML file or a preset name"]


def test_load_policy_of_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(tmp_path)
    assert "file not found" in info.value.problems[0]


def test_load_policy_of_unknown_preset_lists_the_presets() -> None:
    with pytest.raises(PolicyError) as info:
        load_policy("no_such_preset")
    assert info.value.source == "no_such_preset"
    [problem] = info.value.problems
    assert problem.startswith("no preset named 'no_such_preset' (presets: ")
    assert "reference" in problem


def test_load_policy_of_a_file_reports_problems_with_the_file_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(_mutate("block: [open_weights]", "block: [open_weight]"), encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert info.value.source == str(path)
    assert info.value.problems[0].startswith("line 24: field responses[0].block: unknown action")


def test_load_policy_of_valid_file_returns_validated_policy(tmp_path: Path) -> None:
    path = tmp_path / "good.yml"
    path.write_text(VALID, encoding="utf-8")
    loaded = load_policy(str(path))
    assert isinstance(loaded.policy, Policy)
    assert loaded.policy.policy.name == "loader test"
    assert loaded.sha256 == hashlib.sha256(VALID.encode("utf-8")).hexdigest()
