"""Inspect entry point: makes `scalegate/<task>` resolvable by `inspect eval` and `eval()`."""

from scalegate.evals.organisms import modular_suite
from scalegate.evals.proxy_tasks import mmlu_proxy, modular_arithmetic
from scalegate.evals.redteam import refusal_rate

__all__ = ["mmlu_proxy", "modular_arithmetic", "modular_suite", "refusal_rate"]
