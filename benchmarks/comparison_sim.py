"""The comparisons' full seeded figures (README, "Comparing inside a run" and "Comparing
runs"), through the suite's own code: tests/support/comparison_sim.py builds frames like
the store's and calls results.paired.compare_by and results.compare.compare_runs.

    python benchmarks/comparison_sim.py            # about 15 min on an idle 2-core host
    python benchmarks/comparison_sim.py --runs 10 --aa-runs 50  # rougher, faster

The share of A/A runs that exit 1 is a rare event (about 3% of runs), so the A/A figures
get their own, larger number of runs (--aa-runs).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.comparison_sim import CASES, SCENARIOS, paired_calls, separate_calls
from vocab.comparison import PAIRED_THRESHOLD


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="simulated runs per figure")
    parser.add_argument("--aa-runs", type=int, default=200, help="simulated A/A runs per figure")
    parser.add_argument(
        "--thresholds", default=f"{PAIRED_THRESHOLD},0.005,0.01", help="paired thresholds"
    )
    args = parser.parse_args()
    n = args.runs
    m = len(CASES)
    print(
        f"paired A/B inside one run: {n} runs of {m} cases per figure ({args.aa_runs} for "
        "A/A), default replication"
    )
    for threshold in [float(t) for t in args.thresholds.split(",")]:
        for scenario in SCENARIOS:
            aa = paired_calls(args.aa_runs, 0.0, scenario, threshold, seed=101)
            five = paired_calls(n, 0.05, scenario, threshold, seed=102)
            ten = paired_calls(n, 0.10, scenario, threshold, seed=103)
            lone = paired_calls(n, 0.05, scenario, threshold, seed=104, changed=1)
            print(
                f"  threshold {threshold:.1%} {scenario:6s}: A/A called {aa.called_share:.1%} "
                f"of cases, {aa.exit_share:.1%} of runs exit 1, CI coverage {aa.coverage:.1%}; "
                f"true 5% found {five.called_share:.1%}, 10% {ten.called_share:.1%}; "
                f"5% in 1 case of {m}: {lone.called / lone.runs:.1%}"
            )
    print(f"run vs run, uniform 1-3% machine shifts between runs: {n // 4} pairs of runs")
    for scenario in ("normal", "t3"):
        for k in (5, 10):
            cal = separate_calls(n // 4, k, 0.0, scenario, 0.05, seed=201)
            five = separate_calls(n // 4, k, 0.05, scenario, 0.05, seed=202)
            print(
                f"  {scenario:6s} calibrated from {k:2d} A/A runs: ratio-CI coverage "
                f"{cal.coverage:.1%}, A/A {cal.exit_share:.1%} of run pairs exit 1; "
                f"true 5% found {five.called_share:.1%} (threshold 5%: CI beyond 5%)"
            )
        blind = separate_calls(n // 4, 5, 0.0, scenario, 0.05, seed=201, calibrated=False)
        print(
            f"  {scenario:6s} without calibration: ratio-CI coverage {blind.coverage:.1%}, "
            f"A/A {blind.exit_share:.1%} of run pairs exit 1"
        )


if __name__ == "__main__":
    main()
