"""scalegate: make a responsible scaling policy executable and auditable.

The pipeline flows one way: policy -> plan -> evidence -> scorecard -> decision -> report.
`import scalegate` stays light: the documented entry points below load on first use, so
torch, transformers and Inspect load only where used.

    from scalegate import Gatekeeper, load_policy, run_assessment, build_scorecard, decide
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("scalegate")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

#: name -> module that defines it (loaded on first attribute access)
_LAZY = {
    "Assessment": "scalegate.assessment",
    "run_assessment": "scalegate.assessment",
    "recompute": "scalegate.assessment",
    "Checkpoint": "scalegate.plan",
    "make_plan": "scalegate.plan",
    "Decision": "scalegate.gates",
    "decide": "scalegate.gates",
    "Gatekeeper": "scalegate.gatekeeper",
    "GateResult": "scalegate.gatekeeper",
    "TrainingBlocked": "scalegate.gatekeeper",
    "Ledger": "scalegate.ledger.store",
    "LoadedPolicy": "scalegate.policy.loader",
    "load_policy": "scalegate.policy.loader",
    "parse_policy": "scalegate.policy.loader",
    "Policy": "scalegate.policy.schema",
    "Scorecard": "scalegate.scoring",
    "build_scorecard": "scalegate.scoring",
    "target_for": "scalegate.evals.model_ref",
    "ScalegateError": "scalegate.errors",
    "InputError": "scalegate.errors",
    "PolicyError": "scalegate.errors",
}

__all__ = [
    "Assessment",
    "Checkpoint",
    "Decision",
    "GateResult",
    "Gatekeeper",
    "InputError",
    "Ledger",
    "LoadedPolicy",
    "Policy",
    "PolicyError",
    "ScalegateError",
    "Scorecard",
    "TrainingBlocked",
    "__version__",
    "build_scorecard",
    "decide",
    "load_policy",
    "make_plan",
    "parse_policy",
    "recompute",
    "run_assessment",
    "target_for",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'scalegate' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip this hook
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # for type checkers and editors; never executed
    from scalegate.assessment import Assessment, recompute, run_assessment
    from scalegate.errors import InputError, PolicyError, ScalegateError
    from scalegate.evals.model_ref import target_for
    from scalegate.gatekeeper import Gatekeeper, GateResult, TrainingBlocked
    from scalegate.gates import Decision, decide
    from scalegate.ledger.store import Ledger
    from scalegate.plan import Checkpoint, make_plan
    from scalegate.policy.loader import LoadedPolicy, load_policy, parse_policy
    from scalegate.policy.schema import Policy
    from scalegate.scoring import Scorecard, build_scorecard
