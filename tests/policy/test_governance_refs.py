"""Governance names what the ledger reads: every key of `signoff` and `inform_before` is an
action of the policy (or, for `signoff`, `override`), and every role named is declared. A
misspelt name would be a rule nobody enforces, so it is refused with the nearest valid one."""

from __future__ import annotations

import textwrap

import pytest

from scalegate.errors import PolicyError
from scalegate.policy.loader import parse_policy, preset_names, preset_text
from scalegate.policy.schema import DEFAULT_ACTIONS, SIGNOFF_SPECIAL_KEYS
from scalegate.review.lint import lint_policy

BASE = textwrap.dedent(
    """\
    scalegate: 1
    policy: {name: governance test, version: "1"}
    levels: [low, high]
    evals:
      e: {task: scalegate/mmlu_proxy}
    domains:
      d:
        title: D
        thresholds:
          high: {description: d, when: {eval: e, at_least: 0.5}}
    responses:
      - id: stop
        if: {pre_mitigation_at_least: high}
        block: [continue_training, external_deployment]
    governance:
      roles:
        rso: Responsible Scaling Officer
        board: Board of Directors
        ltbt: Long-Term Benefit Trust
      signoff:
        external_deployment: [rso]
        override: [board]
      inform_before:
        external_deployment: [board, ltbt]
      reverse: [board]
      changes: {approve: [board], consult: [ltbt]}
    """
)


def _line(number: int) -> str:
    return BASE.splitlines()[number - 1].strip()


def _problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "gov.yaml")
    return info.value.problems


def _only(old: str, new: str) -> str:
    assert BASE.count(old) == 1, old
    problems = _problems(BASE.replace(old, new))
    assert len(problems) == 1, problems
    return problems[0]


def test_the_base_policy_is_valid() -> None:
    assert parse_policy(BASE).policy.governance is not None


def test_the_ledger_reads_override_and_nothing_else_beside_actions() -> None:
    # scalegate.ledger.workflow.override and ledger verify read signoff["override"]; gates.py reads
    # signoff[action] and inform_before[action] for the policy's actions; nothing reads another key
    assert SIGNOFF_SPECIAL_KEYS == ("override",)


def test_misspelt_signoff_action_names_the_nearest_action() -> None:
    assert _line(21) == "external_deployment: [rso]"
    assert _only("    external_deployment: [rso]", "    external_deploymnet: [rso]") == (
        "line 21: field governance.signoff.external_deploymnet: unknown action 'external_deploymnet' "
        "(did you mean 'external_deployment'?)"
    )


def test_misspelt_override_names_override() -> None:
    assert _line(22) == "override: [board]"
    assert _only("    override: [board]", "    overide: [board]") == (
        "line 22: field governance.signoff.overide: unknown action 'overide' (did you mean 'override'?)"
    )


def test_flow_style_overide_is_refused_too() -> None:
    text = BASE.replace(
        "  signoff:\n    external_deployment: [rso]\n    override: [board]\n",
        "  signoff: {overide: [board]}\n",
    )
    [problem] = _problems(text)
    assert (
        problem
        == "line 20: field governance.signoff.overide: unknown action 'overide' (did you mean 'override'?)"
    )


def test_signoff_key_with_no_near_name_lists_the_valid_keys() -> None:
    keys = ", ".join(f"'{k}'" for k in (*DEFAULT_ACTIONS, "override"))
    assert _only("    override: [board]", "    launch: [board]") == (
        "line 22: field governance.signoff.launch: unknown action 'launch': "
        f"the keys of governance.signoff are {keys}"
    )


def test_policy_change_points_to_the_change_process() -> None:
    assert _only("    override: [board]", "    policy_change: [board]") == (
        "line 22: field governance.signoff.policy_change: 'policy_change' is not a sign-off key: "
        "who approves a new version of the policy is `governance.changes.approve`"
    )


def test_inform_before_keys_are_actions_only() -> None:
    assert _line(24) == "external_deployment: [board, ltbt]"
    assert _only("    external_deployment: [board, ltbt]", "    open_weight: [board, ltbt]") == (
        "line 24: field governance.inform_before.open_weight: unknown action 'open_weight' "
        "(did you mean 'open_weights'?)"
    )
    # `override` means something under signoff only: nothing reads it under inform_before
    problem = _only("    external_deployment: [board, ltbt]", "    override: [board, ltbt]")
    assert problem.startswith("line 24: field governance.inform_before.override: unknown action 'override': ")
    assert "'override'" not in problem.split("are ", 1)[1]


def test_signoff_keys_follow_the_policys_own_actions() -> None:
    custom = BASE.replace("levels: [low, high]\n", "levels: [low, high]\nactions: [train, ship]\n")
    custom = custom.replace("block: [continue_training, external_deployment]", "block: [train, ship]")
    shipping = custom.replace("    external_deployment: [rso]", "    ship: [rso]").replace(
        "    external_deployment: [board, ltbt]", "    ship: [board, ltbt]"
    )
    assert parse_policy(shipping).policy.governance.signoff["ship"] == ["rso"]  # type: ignore[union-attr]
    problems = _problems(custom)  # external_deployment is not an action of this policy
    assert problems == [
        "line 22: field governance.signoff.external_deployment: unknown action 'external_deployment': "
        "the keys of governance.signoff are 'train', 'ship', 'override'",
        "line 25: field governance.inform_before.external_deployment: unknown action 'external_deployment': "
        "the keys of governance.inform_before are 'train', 'ship'",
    ]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "external_deployment: [rso]",
            "external_deployment: [rsp]",
            "line 21: field governance.signoff.external_deployment: unknown role 'rsp' (did you mean 'rso'?)",
        ),
        (
            "external_deployment: [board, ltbt]",
            "external_deployment: [board, ltbtt]",
            "line 24: field governance.inform_before.external_deployment: unknown role 'ltbtt' "
            "(did you mean 'ltbt'?)",
        ),
        (
            "reverse: [board]",
            "reverse: [boards]",
            "line 25: field governance.reverse: unknown role 'boards' (did you mean 'board'?)",
        ),
        (
            "approve: [board]",
            "approve: [bord]",
            "line 26: field governance.changes.approve: unknown role 'bord' (did you mean 'board'?)",
        ),
        (
            "consult: [ltbt]",
            "consult: [staff]",
            "line 26: field governance.changes.consult: unknown role 'staff' "
            "(roles: ['board', 'ltbt', 'rso'])",
        ),
    ],
    ids=["signoff", "inform_before", "reverse", "approve", "consult"],
)
def test_undeclared_roles_are_refused_with_the_nearest_role(old: str, new: str, expected: str) -> None:
    assert _only(old, new) == expected


def test_roles_must_be_declared_when_governance_names_any() -> None:
    text = BASE.replace(
        "  roles:\n    rso: Responsible Scaling Officer\n    board: Board of Directors\n"
        "    ltbt: Long-Term Benefit Trust\n",
        "",
    )
    problems = _problems(text)
    assert (
        "line 17: field governance.signoff.external_deployment: unknown role 'rso': "
        "no roles are declared; add it under `governance.roles`"
    ) in problems
    assert len(problems) == 7  # rso, board (signoff); board, ltbt (inform_before); reverse; approve; consult


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_still_validates_and_lints(name: str) -> None:
    policy = parse_policy(preset_text(name), f"preset:{name}").policy
    lint_policy(policy)
