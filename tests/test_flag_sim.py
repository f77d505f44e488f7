"""Seeded simulations through the suite's own timing, stop rule and statistics
(tests/support/run_sim.py): the CI's coverage under adaptive stopping in each of the
issue's noise scenarios, the outlier flag's rates, and the warm-up flag on a geometric
warm-up. Small versions; benchmarks/replication_sim.py prints the full figures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.support.run_sim import (
    GEOMETRIC_WARMUP,
    QUICK,
    SCENARIOS,
    figures,
    simulate_case,
    with_policy,
)

pytestmark = pytest.mark.slow  # seconds each: simulated processes step by step


def test_the_ci_covers_the_truth_at_the_nominal_level() -> None:
    """94.5-96.5% in each scenario. 600 cases give a scenario's coverage to +/-0.9% (one
    standard error), so each scenario must lie within two of them of that window and the
    four together (2,400 cases, +/-0.45%) inside it; the full figures (2,000 cases per
    scenario and policy) come from benchmarks/replication_sim.py."""
    n = 600
    found = {k: figures(noise, n, seed=3, policy=QUICK).coverage for k, noise in SCENARIOS.items()}
    for name, cov in found.items():
        band = 2 * math.sqrt(0.95 * 0.05 / n)
        assert 0.945 - band <= cov <= 0.965 + band, (name, found)
    assert 0.945 <= sum(found.values()) / len(found) <= 0.965, found


def test_the_outlier_flag_is_rare_on_clean_cases_and_finds_a_hit_process() -> None:
    for clean in ("normal", "t3", "drift"):
        f = figures(SCENARIOS[clean], 200, seed=4, policy=QUICK)
        assert f.outlier_share <= 0.10, (clean, f)
    hit = figures(SCENARIOS["hit"], 300, seed=5, policy=QUICK)
    assert hit.hit_cases >= 40 and hit.hit_found >= 0.80, hit


def test_a_warmup_cut_short_is_flagged_and_a_finished_one_is_not() -> None:
    rng = np.random.default_rng(6)
    short = with_policy(QUICK, max_warmup=7)  # ends with the first timed step ~10% slow
    cut = [simulate_case(rng, GEOMETRIC_WARMUP, short) for _ in range(60)]
    assert np.mean([c.flagged("warmup") for c in cut]) >= 0.80
    clean = [simulate_case(rng, SCENARIOS["normal"], QUICK) for _ in range(60)]
    assert np.mean([c.flagged("warmup") for c in clean]) <= 0.05
