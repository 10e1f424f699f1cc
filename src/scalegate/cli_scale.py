"""`scalegate plan`, `scalegate unit run`, `scalegate sweep`: assessments scaled out in units."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, NamedTuple

import typer
from rich.console import Console
from rich.markup import escape

from scalegate.cli_ledger import DbOpt, open_ledger
from scalegate.errors import InputError

err = Console(stderr=True)
unit_app = typer.Typer(help="One unit of a scaled-out plan (what each worker runs).", no_args_is_help=True)

PolicyOpt = Annotated[str, typer.Option("--policy", "-p", help="Policy YAML file, or a preset name.")]
CheckpointsOpt = Annotated[
    str,
    typer.Option(
        "--checkpoints",
        help="A glob of checkpoint folders, e.g. 'runs/42/checkpoint-*' (quote it); assessed in step order.",
    ),
]
ShardsOpt = Annotated[
    int, typer.Option("--shards", min=1, max=1024, help="Sample shards per eval run (units per run).")
]
StoreOpt = Annotated[
    str,
    typer.Option(
        "--store",
        help="The log store every worker writes to: a shared folder, or an object store URL such as "
        "s3://bucket/prefix (pip install 'scalegate[s3]'; endpoint and keys from the environment, "
        "e.g. AWS_ENDPOINT_URL).",
    ),
]
CacheOpt = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir", help="The evidence cache (default: $SCALEGATE_CACHE_DIR or scalegate's own)."
    ),
]
FlopOpt = Annotated[
    float | None,
    typer.Option(
        "--flop-per-step",
        help="Training FLOP per optimizer step: a checkpoint's effective compute is this x its step "
        "(the number ending its folder name) x --algorithmic-multiplier.",
    ),
]
MultiplierOpt = Annotated[
    float, typer.Option("--algorithmic-multiplier", help="Effective-compute multiplier over raw FLOP.")
]
GpusOpt = Annotated[
    float | None,
    typer.Option(
        "--gpus-per-unit",
        min=0,
        help="GPUs each unit asks its executor for (default: 1 for a local or served open-weights "
        "model, 0 for an API model); 0 runs open weights on CPU workers.",
    ),
]
ProviderOpt = Annotated[
    str,
    typer.Option(
        "--provider",
        help="How each checkpoint is run: hf (each worker loads it with transformers) or vllm "
        "(Inspect starts a vLLM server per checkpoint in each worker, or uses VLLM_BASE_URL; "
        "multiple choice is read from the server's prompt log-probabilities; pip install "
        "'scalegate[vllm]').",
    ),
]
EvalOpt = Annotated[list[str] | None, typer.Option("--eval", help="Only this eval (repeatable).")]
LimitOpt = Annotated[
    int | None, typer.Option("--limit", min=1, help="At most N samples per eval (smoke runs).")
]


class _Checkpoints(NamedTuple):
    """The options that find the checkpoints (`scale.sweep.find_checkpoints`)."""

    pattern: str
    flop_per_step: float | None
    multiplier: float
    provider: str


def _plan(
    policy: str,
    found: _Checkpoints,
    shards: int,
    store: str,
    cache_dir: Path | None,
    plan_path: Path,
    evals: list[str] | None,
    limit: int | None,
    gpus: float | None,
) -> Any:
    """Plan the units of the checkpoints `found` names and write the plan: the policy and the
    store are checked first, so a store no worker could use is named before anything else."""
    from scalegate.evals.cache import default_cache_dir
    from scalegate.policy import load_policy
    from scalegate.scale.store import Store, is_url
    from scalegate.scale.sweep import find_checkpoints
    from scalegate.scale.units import make_unit_plan

    loaded = load_policy(policy)
    Store(store if is_url(store) else str(Path(store).expanduser())).check()
    policy_ref = str(Path(policy).resolve()) if Path(policy).is_file() else policy
    specs = find_checkpoints(*found)
    with err.status(f"Planning {len(specs)} checkpoint(s)..."):
        plan = make_unit_plan(
            loaded,
            policy_ref,
            specs,
            shards=shards,
            store=store if is_url(store) else str(Path(store).expanduser().resolve()),
            cache_dir=(cache_dir or default_cache_dir()).expanduser().resolve(),
            plan_path=plan_path.resolve(),
            eval_ids=evals or None,
            sample_limit=limit,
            gpus=gpus,
        )
    plan_path.parent.mkdir(parents=True, exist_ok=True)
    plan_path.write_text(plan.model_dump_json(indent=2) + "\n", encoding="utf-8")
    err.print(
        f"[green]planned[/] {len(plan.units)} unit(s) over {len(specs)} checkpoint(s), "
        f"{len(plan.kept)} run(s) kept out ({', '.join(sorted({k.why for k in plan.kept})) or 'none'}): "
        f"{escape(str(plan_path))}"
    )
    return loaded, plan


def plan_cmd(
    policy: PolicyOpt = "reference",
    checkpoints: CheckpointsOpt = "checkpoint-*",
    shards: ShardsOpt = 1,
    store: StoreOpt = "scalegate-store",
    cache_dir: CacheOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where the plan is written.")] = Path("plan.json"),
    flop_per_step: FlopOpt = None,
    multiplier: MultiplierOpt = 1.0,
    evals: EvalOpt = None,
    limit: LimitOpt = None,
    gpus: GpusOpt = None,
    provider: ProviderOpt = "hf",
) -> None:
    """Plan units: one per (checkpoint, eval run, shard of samples), each with its evidence
    cache key, the resources it needs and the command that runs it (`scalegate unit run PLAN
    INDEX`). Runs already in the evidence cache get no unit. Shards are a seeded split of the
    task's samples, so their union is exactly what one process would run.

    Example:

      scalegate plan --policy policy.yaml --checkpoints 'runs/42/checkpoint-*' --shards 4 -o plan.json
    """
    found = _Checkpoints(checkpoints, flop_per_step, multiplier, provider)
    _plan(policy, found, shards, store, cache_dir, out, evals, limit, gpus)


@unit_app.command("run")
def unit_run(
    plan: Annotated[Path, typer.Argument(help="The plan (`scalegate plan -o`).", show_default=False)],
    index: Annotated[int, typer.Argument(help="The unit's index in the plan.", show_default=False)],
    attempt: Annotated[int, typer.Option(min=1, help="Which attempt this is (recorded in the log).")] = 1,
) -> None:
    """Run one unit: write its Inspect log into the store (nothing else). An interrupted log of
    the unit is resumed; a finished one means there is nothing to do."""
    from scalegate.scale.units import read_plan
    from scalegate.scale.worker import run_unit

    path = run_unit(read_plan(plan), index, attempt)
    err.print(f"[green]unit {index}[/]: {escape(str(path))}")


@unit_app.command("manifest")
def unit_manifest(
    plan: Annotated[Path, typer.Argument(help="The plan (`scalegate plan -o`).", show_default=False)],
    image: Annotated[str, typer.Option(help="A container image with scalegate installed.")],
    claim: Annotated[
        str, typer.Option(help="The PersistentVolumeClaim holding the plan, the store and the cache.")
    ],
    mount_path: Annotated[Path, typer.Option("--mount-path", help="Where the claim is mounted in each pod.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The manifest to write (YAML).")] = Path(
        "job.yaml"
    ),
    retries: Annotated[int, typer.Option(min=0, max=20, help="backoffLimitPerIndex: retries per unit.")] = 2,
    parallelism: Annotated[
        int | None, typer.Option(min=1, help="Pods at once (default: every unit).")
    ] = None,
    namespace: Annotated[str | None, typer.Option(help="The Job's namespace.")] = None,
    env_secret: Annotated[
        str | None,
        typer.Option(
            "--env-secret",
            help="A Secret whose keys become each pod's environment: an object store's endpoint and "
            "keys (needed when the plan's --store is a URL such as s3://...).",
        ),
    ] = None,
) -> None:
    """Write a Kubernetes Indexed Job for the plan: one completion index per unit
    (`completionMode: Indexed`, the index in JOB_COMPLETION_INDEX), `backoffLimitPerIndex`
    retries, the units' CPU, memory and GPU requests, and the shared volume. Checked against the
    Kubernetes API's models when the `kubernetes` client is installed. Apply it with `kubectl
    apply -f`, then run `scalegate sweep` with the same options to merge and assess: finished
    units are found in the store and nothing runs twice.

    Example:

      scalegate unit manifest /data/plan.json --image ghcr.io/lab/scalegate:1 --claim evals --mount-path /data
    """
    import yaml

    from scalegate.scale.k8s import job_manifest, validate
    from scalegate.scale.units import read_plan

    manifest = job_manifest(
        read_plan(plan),
        plan.resolve(),
        image=image,
        claim=claim,
        mount_path=mount_path,
        retries=retries,
        parallelism=parallelism,
        namespace=namespace,
        env_secret=env_secret,
    )
    try:
        validate(manifest)
        checked = "checked against the Kubernetes API's models"
    except InputError as exc:
        if "needs the Kubernetes client" not in str(exc):
            raise
        checked = "not checked: pip install kubernetes to check it"
    out.write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    n = manifest["spec"]["completions"]
    err.print(f"[green]wrote[/] {escape(str(out))}: an Indexed Job of {n} unit(s) ({checked})")


def sweep_cmd(
    policy: PolicyOpt = "reference",
    checkpoints: CheckpointsOpt = "checkpoint-*",
    shards: ShardsOpt = 1,
    workers: Annotated[int, typer.Option(min=1, max=256, help="Units run at once.")] = 2,
    retries: Annotated[int, typer.Option(min=0, max=20, help="Retries per failed unit.")] = 2,
    executor: Annotated[
        str,
        typer.Option(
            help="Where units run: local (processes on this machine), ray (--ray-address) or slurm "
            "(array jobs via sbatch; the store, plan and cache on a shared filesystem)."
        ),
    ] = "local",
    ray_address: Annotated[
        str | None, typer.Option("--ray-address", help="The Ray cluster (e.g. 10.0.0.5:6379, or auto).")
    ] = None,
    partition: Annotated[
        str | None, typer.Option("--partition", help="slurm: the partition to submit to.")
    ] = None,
    gpus: GpusOpt = None,
    store: StoreOpt = "scalegate-store",
    cache_dir: CacheOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Results: one folder per checkpoint.")] = Path(
        "scalegate-sweep"
    ),
    flop_per_step: FlopOpt = None,
    multiplier: MultiplierOpt = 1.0,
    evals: EvalOpt = None,
    limit: LimitOpt = None,
    db: DbOpt = None,
    key: Annotated[Path | None, typer.Option(help="Your Ed25519 private key (as for assess).")] = None,
    no_ledger: Annotated[bool, typer.Option("--no-ledger", help="Do not append to the ledger.")] = False,
    provider: ProviderOpt = "hf",
) -> None:
    """Assess every checkpoint of a training run through an executor: plan units, run them,
    merge each run's shards exactly (no sample counted twice or assumed), assess and record each
    checkpoint in step order. A unit that fails past its retries leaves its eval incomplete, so
    the gate fails closed. Feeds `scalegate forecast` and the history report like any assessment.

    Example:

      scalegate sweep --policy policy.yaml --checkpoints 'runs/42/checkpoint-*' --shards 2 --workers 4
    """
    import functools

    from scalegate.scale.executors import run_local, run_ray, run_slurm
    from scalegate.scale.sweep import run_sweep

    if executor == "local":
        execute = functools.partial(run_local, workers=workers, retries=retries)
    elif executor == "ray":
        if not ray_address:
            raise InputError("--executor ray needs --ray-address (the head's host:port, or auto)")
        execute = functools.partial(run_ray, address=ray_address, retries=retries)
    elif executor == "slurm":
        execute = functools.partial(run_slurm, retries=retries, partition=partition)
    else:
        raise InputError(f"--executor {executor}: choose local, ray or slurm (k8s: not built yet)")
    recorder = None if no_ledger else _recorder(db, key)
    plan_path = out / "plan.json"
    found = _Checkpoints(checkpoints, flop_per_step, multiplier, provider)
    loaded, plan = _plan(policy, found, shards, store, cache_dir, plan_path, evals, limit, gpus)
    references = None
    if recorder is not None:
        recorder = recorder(loaded)
        references = _referencer(db, loaded) if recorder is not None else None

    def said(a: Any) -> None:
        state = "ok" if a.returncode == 0 else f"failed ({escape((a.error or '')[-200:])})"
        err.print(f"  unit {a.unit} attempt {a.attempt} on {escape(a.node)}: {state} in {a.seconds:.1f} s")

    results = run_sweep(
        loaded, plan, plan_path, out, execute=execute, record=recorder, on_attempt=said, references=references
    )
    for r in results:
        actions = ", ".join(f"{a}={d.status}" for a, d in r.assessment.decision.actions.items())
        entry = f" (decision {r.decision_entry[:12]})" if r.decision_entry else ""
        err.print(f"[bold]{escape(r.checkpoint.label)}[/]: {escape(actions)}{entry}")


def _referencer(db: str | None, loaded: Any) -> Any:
    """A checkpoint's relative-claim references, from the ledger the sweep records into."""
    from scalegate.ledger.references import claims_of
    from scalegate.ledger.workflow import references_for

    if not claims_of(loaded.policy):
        return None

    def references(target: Any) -> dict[str, Any]:
        ledger = open_ledger(db, read_only=True)
        try:
            model = {"reference": target.reference, "weights_sha256": target.weights_sha256}
            return references_for(ledger, loaded.policy, model)
        finally:
            ledger.close()

    return references


def _recorder(db: str | None, key: Path | None) -> Any:
    """The ledger writer for each checkpoint's result, opened before any unit runs (a bad key
    must not cost a sweep)."""
    from scalegate.ledger.workflow import not_in_force, operator_key, record_assessment

    ledger = open_ledger(db, create=True)

    def bind(loaded: Any) -> Any:
        why = not_in_force(ledger, loaded)
        if why is not None:
            err.print(f"[yellow]not recorded[/]: {escape(why)}")
            return None
        signer = operator_key(ledger, key)

        def record(result: Any) -> str:
            _, decision = record_assessment(ledger, loaded, result, signer)
            return str(decision.entry_id)

        return record

    return bind
