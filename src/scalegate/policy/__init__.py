"""Policy as code: schema, loader and bundled presets."""

from scalegate.policy.base import EvidenceStatus
from scalegate.policy.loader import LoadedPolicy, load_policy, parse_policy, preset_names
from scalegate.policy.schema import DEFAULT_ACTIONS, Policy

__all__ = [
    "DEFAULT_ACTIONS",
    "EvidenceStatus",
    "LoadedPolicy",
    "Policy",
    "load_policy",
    "parse_policy",
    "preset_names",
]
