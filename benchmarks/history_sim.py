"""The nightly gate (`history --check`) on seeded simulated series: detection and false
alerts, with more nights and cases than the tests use (tests/support/history_sim.py has the
noise model: day offset sd 1.5%, between-process sd 2-5% per case, 5 processes a run).

    python benchmarks/history_sim.py                 # the figures quoted in the README
    python benchmarks/history_sim.py --libraries DIR # also E-divisive means and Apache Otava

--libraries compares the change-point libraries the issue names on the same series, each
with its own significance test: DIR is a folder with signal-processing-algorithms and
apache-otava installed (`pip install --target DIR --no-deps signal-processing-algorithms
apache-otava structlog more-itertools`: Otava pins numpy 2.2 and brings BigQuery, Slack
and Graphite clients, so it is not installed beside the suite).
"""

from __future__ import annotations

import argparse
import site
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from results.changepoints import STEP_ALPHA, Step, find_steps
from results.history import DEFAULT_CHECK_RUNS, DEFAULT_THRESHOLD
from tests.support.history_sim import (
    DAY_SD,
    PROCESS_SD,
    PROCESSES,
    GateResult,
    merged,
    run_gate,
    simulate,
)

HISTORY = 20  # nights before the change (the gate is judged from night 10 on)
AFTER = 8  # nights simulated after it
CASES = 16


def scenario(
    sets: int, effect: float, seed: int, detector: Callable[..., list[Step]] = find_steps,
    revert_after: int | None = None,
) -> GateResult:  # fmt: skip
    out = []
    for s in range(sets):
        rng = np.random.default_rng(seed * 100_000 + s)
        change = None if effect == 0 else HISTORY
        data = simulate(rng, HISTORY + AFTER, CASES, change, effect, revert_after)
        out.append(run_gate(data, 10, change_at=change, detector=detector))
    return merged(out)


def describe(name: str, r: GateResult) -> str:
    delays = np.bincount(r.delays, minlength=DEFAULT_CHECK_RUNS + 1)[1:]
    median = float(np.median(r.delays)) if r.delays else float("nan")
    text = f"{name:34s} false alerts {r.alerts}/{r.case_nights} case-nights ({r.alert_rate:.3%})"
    if r.changed_cases:
        text += (
            f"; caught within {DEFAULT_CHECK_RUNS} runs {r.detected}/{r.changed_cases} "
            f"({r.detection_rate:.1%}), median delay {median:g} run(s), by run 1..5: "
            f"{', '.join(map(str, delays))}"
        )
    return text


# ------------------------------------------------------------ other libraries


def _segments_ratio(y: np.ndarray, cps: list[int], k: int) -> float:
    bounds = [0, *sorted(cps), len(y)]
    i = bounds.index(k)
    return float(np.exp(y[k : bounds[i + 1]].mean() - y[bounds[i - 1] : k].mean()))


def _as_steps(y: np.ndarray, cps: list[int]) -> list[Step]:
    """Library change points as Steps (their own significance already applied)."""
    out = []
    for k in sorted(cps):
        if 0 < k < len(y):
            r = _segments_ratio(y, cps, k)
            out.append(Step(k, 0.0, float(np.log(r)), 0.0, 1.0, 0.0, k, len(y) - k))
    return out


def edivisive(y: np.ndarray, se: np.ndarray) -> list[Step]:
    from signal_processing_algorithms.energy_statistics import energy_statistics

    return _as_steps(y, list(energy_statistics.e_divisive(y, pvalue=0.05, permutations=100)))


def otava(y: np.ndarray, se: np.ndarray) -> list[Step]:
    from otava.analysis import compute_change_points

    cps, _weak = compute_change_points(list(y), window_len=50, max_pvalue=0.001)
    return _as_steps(y, [c.index for c in cps])


def ruptures_alone(y: np.ndarray, se: np.ndarray) -> list[Step]:
    """ruptures' PELT with a BIC-like penalty and nothing else (no CI-aware test)."""
    from results.changepoints import locate

    return _as_steps(y, locate(y, 2.0))


def timed(detector: Callable[..., list[Step]], n: int = 30, calls: int = 200) -> float:
    rng = np.random.default_rng(1)
    data = simulate(rng, n, 1)
    y, se = data.case(0, n)
    t0 = time.perf_counter()
    for _ in range(calls):
        detector(y, se)
    return (time.perf_counter() - t0) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=60, help="16-case night sets per scenario")
    parser.add_argument("--null-sets", type=int, default=120, help="sets without a change")
    parser.add_argument("--libraries", metavar="DIR", help="compare E-divisive and Otava too")
    args = parser.parse_args()
    print(
        f"noise: day offset sd {DAY_SD:.1%} (every case of a night), between-process sd "
        f"{PROCESS_SD[0]:.0%}-{PROCESS_SD[1]:.0%} per case, {PROCESSES} processes a run; "
        f"{CASES} cases; change at night {HISTORY + 1}; gate = regression step beyond "
        f"{DEFAULT_THRESHOLD:.0%} in the last {DEFAULT_CHECK_RUNS} runs, step alpha {STEP_ALPHA}"
    )
    t0 = time.perf_counter()
    print(describe("no change", scenario(args.null_sets, 0.0, 1)))
    for effect, seed in ((0.05, 2), (0.10, 3), (0.20, 4)):
        print(describe(f"{effect:.0%} regression", scenario(args.sets, effect, seed)))
    print(describe("10% reverting after 2 runs", scenario(args.sets, 0.10, 5, revert_after=2)))
    print(describe("20% reverting after 2 runs", scenario(args.sets, 0.20, 6, revert_after=2)))
    print(f"(ruptures + CI t-test: {timed(find_steps) * 1e3:.2f} ms per 30-run series; "
          f"{time.perf_counter() - t0:.0f} s in all)")  # fmt: skip
    if args.libraries:
        site.addsitedir(args.libraries)  # after the suite's own packages
        sets = max(10, args.sets // 3)
        nulls = max(20, args.null_sets // 3)
        for name, det in (
            ("ruptures PELT alone (pen 2 log n)", ruptures_alone),
            ("E-divisive (SPA, p 0.05, 100 perm)", edivisive),
            ("Apache Otava (p 0.001)", otava),
            ("ruptures + CI t-test (ours)", find_steps),
        ):
            print(f"-- {name}: {timed(det, calls=50) * 1e3:.2f} ms per 30-run series")
            print(describe("   no change", scenario(nulls, 0.0, 11, det)))
            print(describe("   10% regression", scenario(sets, 0.10, 13, det)))


if __name__ == "__main__":
    main()
