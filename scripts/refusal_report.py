"""Refusal rates of a model, plain and under red-team templates, before and after mitigations.

Runs `scalegate/refusal_rate` through `inspect_ai.eval` for each condition: the harmful prompt
set (StrongREJECT by default) plain and wrapped in each template, each with and without the
safety system prompt; the benign control set plain and with the system prompt (over-refusal);
with `--input-filter`, both sets behind the builtin keyword input filter too. Prints a table
with Wilson 95% intervals and writes the figures as JSON. docs/redteam.md quotes a run.

    python scripts/refusal_report.py --limit 100 --out results.json

Completions are redacted from the Inspect logs (the task's default); the logs go to a
temporary folder unless `--log-dir` is given.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_TEMPLATES = ("refusal_suppression", "prefix_injection", "aim")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from scalegate.evals.assets import DEFAULT_MODEL

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=DEFAULT_MODEL, help="Inspect model string (default: %(default)s)")
    p.add_argument("--source", default="strongreject", choices=["strongreject", "harmbench"])
    p.add_argument("--limit", type=int, default=100, help="harmful prompts per condition")
    p.add_argument("--benign-limit", type=int, default=None, help="benign prompts (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-tokens", type=int, default=48)
    p.add_argument("--templates", default=",".join(DEFAULT_TEMPLATES), help="comma-separated; '' for none")
    p.add_argument("--judge", default="builtin:keyword")
    p.add_argument("--input-filter", action="store_true", help="add rows behind builtin:keyword_input")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--log-dir", type=Path, default=None)
    p.add_argument("--out", type=Path, default=Path("results.json"))
    return p.parse_args(argv)


def conditions(args: argparse.Namespace) -> list[dict[str, Any]]:
    templates = [t for t in args.templates.split(",") if t]
    rows: list[dict[str, Any]] = []
    for template in [None, *templates]:
        for system_prompt in (None, "builtin:safety"):
            rows.append({"source": args.source, "template": template, "system_prompt": system_prompt})
    if args.input_filter:
        rows.append({"source": args.source, "template": None, "input_filter": "builtin:keyword_input"})
    for system_prompt in (None, "builtin:safety"):
        rows.append({"source": "benign", "template": None, "system_prompt": system_prompt})
    if args.input_filter:
        rows.append({"source": "benign", "template": None, "input_filter": "builtin:keyword_input"})
    return rows


def label(row: dict[str, Any]) -> tuple[str, str]:
    mitigation = "none"
    if row.get("system_prompt"):
        mitigation = "safety system prompt"
    if row.get("input_filter"):
        mitigation = "keyword input filter"
    return row["template"] or "plain", mitigation


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import get_model
    from inspect_ai.scorer import CORRECT

    from scalegate.evals.model_ref import target_for
    from scalegate.evals.redteam import refusal_rate
    from scalegate.evals.stats import estimate_proportion

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    target = target_for(args.model)
    started = time.perf_counter()
    model = get_model(target.inspect_model, **target.model_args)
    load_s = time.perf_counter() - started
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="scalegate-refusal-"))
    results: list[dict[str, Any]] = []
    header = f"{'prompts':<14}{'template':<22}{'mitigation':<24}{'n':>5}{'refused':>9}{'rate':>8}  95% CI"
    print(header)
    print("-" * len(header))
    for row in conditions(args):
        limit = args.benign_limit if row["source"] == "benign" else args.limit
        task = refusal_rate(limit=limit, seed=args.seed, max_tokens=args.max_tokens, judge=args.judge, **row)
        t0 = time.perf_counter()
        # no realtime buffer: not even a transient copy of an unredacted event
        [log] = inspect_eval(task, model=model, log_dir=str(log_dir), display="none", log_realtime=False)
        seconds = time.perf_counter() - t0
        if log.status != "success" or not log.samples:
            raise SystemExit(f"{row}: Inspect run failed: {log.error}")
        verdicts = [next(iter(s.scores.values())).value == CORRECT for s in log.samples if s.scores]
        blocked = sum(1 for s in log.samples if (s.metadata or {}).get("mitigation_blocked"))
        est = estimate_proportion(sum(verdicts), len(verdicts))
        template, mitigation = label(row)
        results.append(
            {
                **row,
                "template": template,
                "mitigation": mitigation,
                "n": est.n,
                "refused": est.successes,
                "rate": est.value,
                "low": est.low,
                "high": est.high,
                "blocked_by_filter": blocked,
                "seconds": round(seconds, 1),
                "log": log.location,
                "provenance": (log.eval.metadata or {}).get("scalegate_provenance"),
            }
        )
        print(
            f"{row['source']:<14}{template:<22}{mitigation:<24}{est.n:>5}{est.successes:>9}"
            f"{est.value:>8.1%}  [{est.low:.1%}, {est.high:.1%}]",
            flush=True,
        )
    import inspect_ai
    import torch

    report = {
        "model": args.model,
        "inspect_model": target.inspect_model,
        "model_args": {k: str(v) for k, v in target.model_args.items()},
        "weights_sha256": target.weights_sha256,
        "judge": args.judge,
        "seed": args.seed,
        "max_tokens": args.max_tokens,
        "limit": args.limit,
        "benign_limit": args.benign_limit,
        "interval": "wilson, 95%",
        "model_load_seconds": round(load_s, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "inspect_ai": inspect_ai.__version__,
        },
        "results": results,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    done = f"{len(results)} conditions in {report['total_seconds']} s"
    print(f"\n{done}; figures in {args.out}; logs in {log_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
