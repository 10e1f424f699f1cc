"""Run a preset on evals you have: a mapping file swaps the framework's named evals for others
(e.g. the bundled proxies) and may operationalize a prose-only threshold with your own test.

The mapped policy is a new policy text (and sha256): the assessment and the ledger record
exactly what ran, and every mapped clause says it came from the mapping, not the framework.

    # map.yaml
    description: Bundled benign proxies for the xAI draft's benchmarks
    evals:                       # replace (or add) eval specs by id
      wmdp_bio: {task: scalegate/mmlu_proxy, args: {subjects: [virology], limit: 50}}
    thresholds:                  # operationalize prose-only thresholds: domain.level -> condition
      cyber.high:
        when: {eval: wmdp_cyber, at_least: 0.7}
        alert: {eval: wmdp_cyber, at_least: 0.6}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field

from scalegate.errors import InputError
from scalegate.policy.base import Strict
from scalegate.policy.conditions import ThresholdCondition
from scalegate.policy.loader import LoadedPolicy, load_yaml_model, parse_policy
from scalegate.policy.schema import EvalSpec


class ThresholdMapping(Strict):
    when: ThresholdCondition
    alert: ThresholdCondition | None = None


class Mapping(Strict):
    description: str | None = None
    evals: dict[str, EvalSpec] = Field(default_factory=dict)
    thresholds: dict[str, ThresholdMapping] = Field(default_factory=dict)


def load_mapping(path: Path) -> Mapping:
    return load_yaml_model(path, Mapping, "mapping (--map)")


def apply_mapping(loaded: LoadedPolicy, mapping: Mapping, name: str) -> LoadedPolicy:
    """The policy with the mapping applied, re-validated as a whole (a mapped threshold that
    names an unknown eval is an error here, not an `unknown` at gate time)."""
    data: dict[str, Any] = yaml.safe_load(loaded.text)
    note = f"mapped by {name}"
    evals = data.setdefault("evals", {})
    for eval_id, spec in mapping.evals.items():
        mapped = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
        mapped.setdefault("source", note)
        was = evals.get(eval_id)
        if was is not None:  # the task is no longer the framework's; keep its citation beside
            mapped["description"] = f"{spec.description or ''} (in place of {was.get('task')})".strip()
            if was.get("source"):
                mapped["source"] = f"{mapped['source']}; framework: {was['source']}"
            mapped.pop("tag", None)
        evals[eval_id] = mapped
    for key, thr in mapping.thresholds.items():
        domain, _, level = key.partition(".")
        target = data.get("domains", {}).get(domain, {}).get("thresholds", {}).get(level)
        if target is None:
            raise InputError(f"--map {name}: thresholds.{key}: the policy has no threshold {domain}.{level}")
        if target.get("when") is not None:
            raise InputError(
                f"--map {name}: thresholds.{key}: the framework already operationalizes this threshold; "
                "map its evals under `evals:` instead"
            )
        target["when"] = thr.when.model_dump(mode="json", by_alias=True, exclude_none=True)
        if thr.alert is not None:
            target["alert"] = thr.alert.model_dump(mode="json", by_alias=True, exclude_none=True)
        target.pop("not_operationalized", None)
        target["description"] = f"{target.get('description', '')} [operationalized {note}]".strip()
    text = f"# {loaded.source} {note}\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return parse_policy(text, f"{loaded.source}+{name}")
