"""Resolve what the user named as a model into an Inspect model string and an identity.

Evidence is only as good as the claim "this result belongs to this checkpoint", so local
weights are hashed (and the hash cached by path, size and mtime, since checkpoints are
large and re-assessed often).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from scalegate.errors import InputError
from scalegate.evals.assets import (
    DEFAULT_MODEL,
    data_dir,
    default_model_args,
    resolve_model,
    sha256_file,
)
from scalegate.evals.runner import ModelTarget

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth")
#: Providers whose model name may be a local checkpoint folder, hashed as its identity.
WEIGHTS_PROVIDERS = ("hf", "vllm")


def target_for(model: str, model_args: dict[str, Any] | None = None) -> ModelTarget:
    if "/" not in model:
        raise InputError(
            f"model '{model}' is not an Inspect model string: use provider/name, e.g. "
            f"hf/path/to/checkpoint, openai/gpt-4o-mini, vllm/org/model, or {DEFAULT_MODEL}"
        )
    if model == DEFAULT_MODEL or model.startswith("hf/"):
        _quiet_transformers()
    inspect_model = resolve_model(model)
    _check_provider(model, inspect_model)
    args = dict(model_args or {})
    if model == DEFAULT_MODEL:
        args = {**default_model_args(), **args}
    weights = None
    if inspect_model.startswith("hf/"):
        args.setdefault("do_sample", False)  # Inspect's hf provider samples by default
    provider, _, name = inspect_model.partition("/")
    if provider in WEIGHTS_PROVIDERS:
        weights = _local_weights(model, provider, name)
    if provider == "vllm":
        _check_vllm_reachable(model, args)
    return ModelTarget(reference=model, inspect_model=inspect_model, model_args=args, weights_sha256=weights)


def weights_target(target: ModelTarget) -> ModelTarget:
    """The same weights loaded in this process, for work that needs the weights themselves
    (the sandbagging checks perturb and fine-tune them): a `vllm/<folder>` becomes
    `hf/<folder>`, bound to the digest the served model was assessed under. Any other target
    is itself (without weights here, the checks say so and the gate fails closed)."""
    provider, _, name = target.inspect_model.partition("/")
    if provider != "vllm" or target.weights_sha256 is None:
        return target
    return ModelTarget(
        reference=target.reference,
        inspect_model=f"hf/{name}",
        model_args={"do_sample": False},
        weights_sha256=target.weights_sha256,
    )


def _local_weights(model: str, provider: str, name: str) -> str | None:
    """The digest of a local checkpoint folder (`hf/` loaded here, `vllm/` served from it):
    evidence is keyed by what was assessed, so weights rewritten in place are assessed anew.
    None for a hub id, which offline must already be in the local cache."""
    local = Path(name).expanduser()
    if name.startswith(("/", ".", "~")) and not local.exists():
        raise InputError(f"--model {model}: no such local folder {local}")
    if not local.exists():
        _check_hub_reachable(model, name)
        return None
    if not local.is_dir():
        raise InputError(f"{local}: a {provider}/ model path must be a transformers folder")
    return weights_sha256(local)


def _check_vllm_reachable(model: str, args: dict[str, Any]) -> None:
    """A vllm/ model is a server to reach or one Inspect starts: with neither possible, every
    eval would only error. Refuse before any run, saying which to set up."""
    import importlib.util

    missing = [p for p in ("openai", "vllm") if importlib.util.find_spec(p) is None]
    given = args.get("base_url") or args.get("port") or os.environ.get("VLLM_BASE_URL")
    if "openai" in missing or (not given and missing):
        raise InputError(
            f"--model {model}: "
            + ("no vLLM server given and " if not given else "")
            + f"{' and '.join(missing)} not installed: pip install 'scalegate[vllm]' on a GPU "
            "machine, or reach a running server with VLLM_BASE_URL=http://HOST:8000/v1 (or "
            "-M base_url=...) and pip install openai"
        )


def _check_provider(model: str, inspect_model: str) -> None:
    """An unknown provider is a typo, not evidence that the model errs: refuse before any run."""
    try:
        import inspect_ai.model  # noqa: F401  (registers the built-in providers)
        from inspect_ai._util.registry import registry_find, registry_unqualified_name
    except ImportError:  # a future Inspect moved its registry: Inspect itself will complain
        return
    known = {registry_unqualified_name(i) for i in registry_find(lambda i: i.type == "modelapi")}
    provider = inspect_model.split("/", 1)[0]
    if known and provider not in known:
        raise InputError(
            f"--model {model}: Inspect has no model provider '{provider}' (known: {', '.join(sorted(known))})"
        )


def _check_hub_reachable(model: str, repo_id: str) -> None:
    """Offline, a hub id must already be in the local Hugging Face cache."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() not in ("1", "true", "yes", "on"):
        return
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(repo_id, "config.json")
    except ValueError:  # not a valid repo id either
        cached = None
    if not isinstance(cached, str):
        raise InputError(
            f"--model {model}: no local folder '{repo_id}', and HF_HUB_OFFLINE is set so the hub "
            "is not asked; pass a path (hf/./checkpoints/step-1000) or unset HF_HUB_OFFLINE"
        )


def weights_sha256(folder: Path) -> str | None:
    """One digest over every weight file of a folder (names and contents, sorted)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    if not files:
        return None
    cache_path = data_dir() / "weights-hash-cache.json"
    try:
        cache = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        cache = {}
    import hashlib

    h = hashlib.sha256()
    dirty = False
    for f in files:
        st = f.stat()
        key = f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}"
        digest = cache.get(key)
        if digest is None:
            digest = sha256_file(f)
            cache[key] = digest
            dirty = True
        h.update(f"{f.relative_to(folder)}\0{digest}\n".encode())
    if dirty:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache, indent=0))
        os.replace(tmp, cache_path)
    return h.hexdigest()


def _quiet_transformers() -> None:
    """transformers' own progress bars would tear through scalegate's."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
