"""A Kubernetes Indexed Job for a plan: one completion index per unit, retried per index.

`completionMode: Indexed` gives each pod its index in `JOB_COMPLETION_INDEX`, which is the
unit's index in the plan; `backoffLimitPerIndex` retries a failed unit without failing its
siblings (a retry resumes the unit's interrupted log), and `maxFailedIndexes` is left unset
so every unit gets its own budget. The plan, the store and the evidence cache must be at the
same paths in every pod: one PersistentVolumeClaim mounted at `mount_path`, under which they
all lie. The coordinator merges and assesses afterwards (`scalegate sweep` does this for the
local, Ray and Slurm executors; for Kubernetes, apply the manifest, then run the sweep again:
every finished unit is found in the store and nothing runs twice).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scalegate.errors import InputError
from scalegate.scale.store import is_url
from scalegate.scale.units import UnitPlan

INDEX_ENV = "JOB_COMPLETION_INDEX"


def job_manifest(
    plan: UnitPlan,
    plan_path: Path,
    *,
    image: str,
    claim: str,
    mount_path: Path,
    retries: int = 2,
    parallelism: int | None = None,
    name: str = "scalegate-units",
    namespace: str | None = None,
    env_secret: str | None = None,
) -> dict[str, Any]:
    """`env_secret`: a Secret whose keys become each pod's environment (an object store's
    endpoint and keys, e.g. AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY); a
    plan whose store is a URL needs one, since pods do not share the coordinator's."""
    if not plan.units:
        raise InputError("the plan has no units: everything is in the evidence cache already")
    if is_url(plan.store) and not env_secret:
        raise InputError(
            f"the plan's store is {plan.store}: pods need its endpoint and keys; name a Secret holding "
            "them with --env-secret (kubectl create secret generic store-keys --from-env-file=...)"
        )
    shared = [("plan", plan_path), ("cache", Path(plan.cache_dir))]
    if not is_url(plan.store):  # an object store is reached by URL, not through the volume
        shared.append(("store", Path(plan.store)))
    for what, path in shared:
        if not Path(path).resolve().is_relative_to(mount_path):
            raise InputError(
                f"the {what} ({path}) is not under --mount-path {mount_path}: pods would not find it; "
                "plan with --store and --cache-dir on the shared volume"
            )
    cpus = max(u.resources.get("cpus", 1.0) for u in plan.units)
    gpus = max(u.resources.get("gpus", 0.0) for u in plan.units)
    memory = max(u.resources.get("memory_gb", 2.0) for u in plan.units)
    requests: dict[str, str] = {"cpu": f"{cpus:g}", "memory": f"{memory:g}Gi"}
    limits: dict[str, str] = {}
    if gpus:
        limits["nvidia.com/gpu"] = f"{int(gpus)}"
    container: dict[str, Any] = {
        "name": "unit",
        "image": image,
        "command": ["scalegate", "unit", "run", str(plan_path), f"$({INDEX_ENV})"],
        "env": [{"name": "HF_HUB_OFFLINE", "value": "1"}],
        "resources": {"requests": requests, **({"limits": limits} if limits else {})},
        "volumeMounts": [{"name": "shared", "mountPath": str(mount_path)}],
    }
    if env_secret:
        container["envFrom"] = [{"secretRef": {"name": env_secret}}]
    n = len(plan.units)
    metadata: dict[str, Any] = {"name": name, "labels": {"app.kubernetes.io/name": "scalegate-unit"}}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "completionMode": "Indexed",
            "completions": n,
            "parallelism": min(parallelism or n, n),
            "backoffLimitPerIndex": retries,
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "scalegate-unit"}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [container],
                    "volumes": [{"name": "shared", "persistentVolumeClaim": {"claimName": claim}}],
                },
            },
        },
    }


def index_commands(manifest: dict[str, Any]) -> list[list[str]]:
    """The command each completion index's pod runs, as Kubernetes expands `$(VAR)` for it."""
    spec = manifest["spec"]
    (container,) = spec["template"]["spec"]["containers"]
    return [
        [part.replace(f"$({INDEX_ENV})", str(i)) for part in container["command"]]
        for i in range(int(spec["completions"]))
    ]


def validate(manifest: dict[str, Any]) -> None:
    """Check the manifest against the Kubernetes API's own models (the official client): it
    must deserialize as a `V1Job` (types and required fields checked) and serialize back to
    exactly itself, so no field is unknown, misspelt or of the wrong type."""
    import json

    try:
        from kubernetes import client
    except ImportError as exc:
        raise InputError(
            "validating a Job manifest needs the Kubernetes client: pip install kubernetes"
        ) from exc

    text = json.dumps(manifest)

    class _Response:  # what clients before 33 took instead of the text
        data = text

    api = client.ApiClient()
    try:
        try:
            job = api.deserialize(text, "V1Job", "application/json")
        except (TypeError, AttributeError):
            job = api.deserialize(_Response(), "V1Job")  # type: ignore[call-arg, arg-type]
    except (ValueError, TypeError) as exc:
        raise InputError(f"not a valid Kubernetes Job: {exc}") from exc
    back = api.sanitize_for_serialization(job)  # type: ignore[no-untyped-call]
    if back != manifest:
        lost = sorted(_differences(manifest, back))
        raise InputError(
            f"not a valid Kubernetes Job: fields the API does not know or read otherwise: {lost}"
        )


def _differences(a: Any, b: Any, where: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in set(a) | set(b):
            out += _differences(a.get(k), b.get(k), f"{where}.{k}" if where else str(k))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _differences(x, y, f"{where}[{i}]")
        ]
    return [] if a == b else [where]
