"""Benchmark: paired non-inferiority against a margin (scalegate.evals.paired), by seeded
simulation.

  false claim   at a true difference equal to the margin, the share of runs that claim
                `not_higher` (should be <= the one-sided level, 0.025 at confidence 0.95):
                paired (Tango), unpaired (Newcombe), clustered paired, and the anytime-valid
                betting test read after every pair;
  samples       at per-question correlation rho, both models at p = 0.6, margin 0.03 (a
                3-point difference between truth and margin): the smallest n at which each
                test reaches 80% power (simulated, bisection over n), paired pairs against
                unpaired samples per model, with the planned-n formula beside it.

Results: a markdown table on stdout and benchmarks/results/relative.json.

    python benchmarks/bench_relative.py [--runs 4000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import math
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from scalegate import __version__
from scalegate.evals.paired import (
    Relation,
    newcombe_interval,
    paired_difference,
    planned_pairs,
    planned_unpaired,
    relation,
    sequential_relation,
    tango_interval,
)

OUT = Path(__file__).parent / "results" / "relative.json"
CONFIDENCE = 0.95
ALPHA = (1 - CONFIDENCE) / 2


def cells(pa: float, pb: float, rho: float) -> list[float]:
    sa, sb = pa * (1 - pa), pb * (1 - pb)
    p11 = pa * pb + rho * math.sqrt(sa * sb)
    return [p11, pa - p11, pb - p11, 1 - pa - pb + p11]


@functools.cache
def tango_claims(n10: int, n01: int, n: int, margin: float) -> bool:
    return relation(*tango_interval(n10, n01, n, CONFIDENCE), margin) is Relation.not_higher


@functools.cache
def newcombe_claims(a: int, b: int, n: int, margin: float) -> bool:
    return relation(*newcombe_interval(a, n, b, n, CONFIDENCE), margin) is Relation.not_higher


def paired_rate(
    rng: np.random.Generator, n: int, pa: float, pb: float, rho: float, margin: float, runs: int
) -> float:
    counts = rng.multinomial(n, cells(pa, pb, rho), size=runs)
    return float(np.mean([tango_claims(int(c[1]), int(c[2]), n, margin) for c in counts]))


def unpaired_rate(rng: np.random.Generator, n: int, pa: float, pb: float, margin: float, runs: int) -> float:
    sa, sb = rng.binomial(n, pa, runs), rng.binomial(n, pb, runs)
    return float(np.mean([newcombe_claims(int(a), int(b), n, margin) for a, b in zip(sa, sb, strict=True)]))


def clustered_rate(rng: np.random.Generator, clusters: int, size: int, runs: int) -> tuple[float, float]:
    pa, pb = 0.6, 0.55
    wrong = naive = 0
    for _ in range(runs):
        model, reference, labels = [], [], []
        for c in range(clusters):
            shift = 0.15 if rng.random() < 0.5 else -0.15
            draws = rng.choice(4, p=cells(pa + shift, pb, 0.4), size=size)
            model += [int(x in (0, 1)) for x in draws]
            reference += [int(x in (0, 2)) for x in draws]
            labels += [f"c{c}"] * size
        wrong += (
            paired_difference(model, reference, CONFIDENCE, labels).relation(pa - pb) is Relation.not_higher
        )
        naive += paired_difference(model, reference, CONFIDENCE).relation(pa - pb) is Relation.not_higher
    return wrong / runs, naive / runs


def sequential_rate(rng: np.random.Generator, n: int, runs: int) -> float:
    pa, pb = 0.6, 0.55
    draws = rng.choice(4, p=cells(pa, pb, 0.5), size=(runs, n))
    diffs = np.where(draws == 1, 1, np.where(draws == 2, -1, 0))
    return float(
        np.mean([sequential_relation(list(d), pa - pb, ALPHA).relation is Relation.not_higher for d in diffs])
    )


def n_for_power(power_at: Any, lo: int, hi: int, target: float = 0.8) -> int:
    """The smallest n in [lo, hi] whose simulated power reaches `target` (power rises with n)."""
    while power_at(hi) < target:
        lo, hi = hi, hi * 2
    while hi - lo > max(5, lo // 100):
        mid = (lo + hi) // 2
        if power_at(mid) >= target:
            hi = mid
        else:
            lo = mid
    return hi


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=20261206)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    runs = args.runs
    mcse = math.sqrt(ALPHA * (1 - ALPHA) / runs)
    started = time.perf_counter()
    false_claims = []
    for n in (50, 200, 1000):
        for rho in (0.0, 0.3, 0.5, 0.7):
            rate = paired_rate(rng, n, 0.6, 0.55, rho, 0.05, runs)
            false_claims.append({"test": "paired (Tango)", "n": n, "rho": rho, "rate": rate})
    for n in (50, 200, 1000):
        false_claims.append(
            {
                "test": "unpaired (Newcombe)",
                "n": n,
                "rho": None,
                "rate": unpaired_rate(rng, n, 0.6, 0.55, 0.05, runs),
            }
        )
    for clusters, size in ((12, 10), (40, 5)):
        rate, naive = clustered_rate(rng, clusters, size, runs // 2)
        false_claims.append(
            {
                "test": f"clustered paired ({clusters} x {size})",
                "n": clusters * size,
                "rho": 0.4,
                "rate": rate,
                "ignoring clusters": naive,
            }
        )
    false_claims.append(
        {
            "test": "sequential (betting, every pair)",
            "n": 400,
            "rho": 0.5,
            "rate": sequential_rate(rng, 400, runs // 2),
        }
    )
    for row in false_claims:
        r = runs // 2 if row["test"].startswith(("clustered", "sequential")) else runs
        row["limit"] = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / r)
        row["ok"] = row["rate"] <= row["limit"]

    samples = []
    margin, p = 0.03, 0.6
    power_runs = 2000
    for rho in (0.3, 0.5, 0.7):

        def paired_power(n: int, rho: float = rho) -> float:
            return paired_rate(rng, n, p, p, rho, margin, power_runs)

        def unpaired_power(n: int) -> float:
            return unpaired_rate(rng, n, p, p, margin, power_runs)

        n_paired = n_for_power(paired_power, 100, 2000)
        n_unpaired = n_for_power(unpaired_power, 100, 4000)
        samples.append(
            {
                "rho": rho,
                "paired_pairs": n_paired,
                "unpaired_per_model": n_unpaired,
                "fewer": 1 - n_paired / n_unpaired,
                "planned_paired": planned_pairs(p, p, rho, margin, ALPHA),
                "planned_unpaired": planned_unpaired(p, p, margin, ALPHA),
            }
        )
    result = {
        "benchmark": "relative",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "scalegate": __version__,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "confidence": CONFIDENCE,
        "one_sided_level": ALPHA,
        "runs": runs,
        "seed": args.seed,
        "false_claims": false_claims,
        "samples_for_80_percent_power": samples,
        "seconds": round(time.perf_counter() - started, 1),
    }
    OUT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        f"false `not_higher` at a true difference equal to the margin (level {ALPHA}, MC s.e. {mcse:.4f})\n"
    )
    print("| test | n | rho | rate | limit | ok |\n|---|---|---|---|---|---|")
    for r in false_claims:
        print(
            f"| {r['test']} | {r['n']} | {r['rho']} | {r['rate']:.4f} | {r['limit']:.4f} | "
            f"{'yes' if r['ok'] else 'NO'} |"
        )
    print("\nsamples for 80% power (p = 0.6 both, margin 0.03)\n")
    print(
        "| rho | paired pairs | unpaired per model | fewer | planned paired | planned unpaired |\n"
        "|---|---|---|---|---|---|"
    )
    for s in samples:
        print(
            f"| {s['rho']} | {s['paired_pairs']} | {s['unpaired_per_model']} | {s['fewer']:.0%} | "
            f"{s['planned_paired']} | {s['planned_unpaired']} |"
        )


if __name__ == "__main__":
    main()
