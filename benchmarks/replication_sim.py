"""The full figures of the replication statistics and the flags, quoted in the README.

Every simulated case goes through the suite's own code (tests/support/run_sim.py): the
timing loop with its warm-up rule on a virtual clock, the stop rule between rounds, and the
statistics and flags the store keeps. Only the machine is simulated: per-process offsets
(normal, sd 2%; or t with 3 df scaled to sd 2%), AR(1) steps (phi 0.5, sd 3%), one hit
process (p=0.2, slowed 10-40%), a +3% drift over a run, a geometric warm-up.

    python benchmarks/replication_sim.py [--cases 2000] [--seed 11]

Also printed for comparison: the CI on n - 1 df (the rule before this one) and the former
warm-up rule (adjacent windows only), both replaced here for that line alone.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from tests.support.run_sim import (
    GEOMETRIC_WARMUP,
    QUICK,
    SCENARIOS,
    NoiseModel,
    figures,
    simulate_case,
    with_policy,
)
from vocab import sampling as timing
from vocab import stats
from vocab.sampling import SamplingPolicy

POLICIES = {"default (5-10 processes)": SamplingPolicy(), "quick (5-6 processes)": QUICK}


@contextmanager
def n_minus_1_df() -> Iterator[None]:
    saved = stats.ADAPTIVE_DF_LOSS
    stats.ADAPTIVE_DF_LOSS = 0
    try:
        yield
    finally:
        stats.ADAPTIVE_DF_LOSS = saved


def _adjacent_only(steps: list[int], window: int, tolerance: float) -> bool:
    """The former warm-up rule: two adjacent window medians within tolerance."""
    if len(steps) < 2 * window + 1:
        return False
    last = float(np.median(steps[-window:]))
    before = float(np.median(steps[-2 * window : -window]))
    return before > 0 and abs(last / before - 1.0) <= tolerance


@contextmanager
def former_warmup_rule() -> Iterator[None]:
    saved = timing._settled
    timing._settled = _adjacent_only
    try:
        yield
    finally:
        timing._settled = saved


def coverage_table(n: int, seed: int) -> None:
    print(f"CI coverage and flags, {n} simulated cases per line")
    for pname, policy in POLICIES.items():
        for key, noise in SCENARIOS.items():
            f = figures(noise, n, seed, policy)
            with n_minus_1_df():
                old = figures(noise, n, seed, policy).coverage
            hit = f" hit process flagged {f.hit_found:.1%} of {f.hit_cases};" if f.hit_cases else ""
            print(
                f"  {pname:25s} {key:6s} coverage {f.coverage:.1%} (n-1 df: {old:.1%}); "
                f"processes {f.mean_processes:.2f}; outlier flag {f.outlier_share:.1%};{hit} "
                f"any flag {f.flagged_share:.1%}"
            )


def warmup_table(n: int, seed: int) -> None:
    print(f"geometric warm-up 1 + 0.3 * 0.85^k, {n} simulated cases per line")
    cut = {"quick, warm-up capped at 7 steps": with_policy(QUICK, max_warmup=7)}
    lines = [(f"{p}", pol, False) for p, pol in POLICIES.items()]
    lines += [(f"{p}, former warm-up rule", pol, True) for p, pol in POLICIES.items()]
    lines += [(p, pol, False) for p, pol in cut.items()]
    for name, policy, former in lines:
        rng = np.random.default_rng(seed)
        with former_warmup_rule() if former else _nothing():
            cases = [simulate_case(rng, GEOMETRIC_WARMUP, policy) for _ in range(n)]
        firsts, capped, kinds = [], 0, Counter[str]()
        for c in cases:
            m = c.measurement
            per = {p.index: p for p in m.process_records}
            for idx in dict.fromkeys(m.sample_process):
                first = m.samples_ns[m.sample_process.index(idx)] / 1e9
                firsts.append(first / GEOMETRIC_WARMUP.step_s - 1.0)
                capped += not per[idx].warmup_stable
            s = m.stats()
            assert s is not None
            kinds.update(set(s.flag_kinds))
        bias = float(np.mean([c.measurement.stats().value_s / c.truth_s - 1 for c in cases]))  # type: ignore[union-attr]
        flagged = ", ".join(f"{k} {v / n:.1%}" for k, v in sorted(kinds.items())) or "none"
        print(
            f"  {name:42s} first timed step {np.median(firsts):+.1%} (median); "
            f"case value {bias:+.1%}; processes capped unsettled "
            f"{capped / len(firsts):.1%}; flags: {flagged}"
        )
    clean = figures(NoiseModel("clean"), n, seed, QUICK)
    print(f"  clean cases, quick: any flag {clean.flagged_share:.1%}")


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    coverage_table(args.cases, args.seed)
    warmup_table(max(args.cases // 4, 100), args.seed)


if __name__ == "__main__":
    main()
