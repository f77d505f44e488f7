"""Seeded simulations of the comparisons through the suite's own code
(tests/support/comparison_sim.py); small counts here, the full figures come from
benchmarks/comparison_sim.py (README, "Comparing inside a run")."""

from __future__ import annotations

import pytest

from tests.support.comparison_sim import paired_calls, separate_calls
from vocab.comparison import PAIRED_THRESHOLD

pytestmark = pytest.mark.slow  # ~1 min in all on an idle 2-core host


@pytest.mark.parametrize("scenario", ["normal", "drift"])
def test_paired_a_a_calls_almost_nothing(scenario: str) -> None:
    calls = paired_calls(6, 0.0, scenario, PAIRED_THRESHOLD, seed=21)
    assert calls.cases == 6 * 16
    assert calls.called_share <= 0.05
    assert calls.exits <= 1  # of 6 runs of 16 cases (the benchmark: <= 5% of runs)
    assert calls.coverage >= 0.90


def test_paired_finds_a_true_5_and_10_percent_change() -> None:
    five = paired_calls(4, 0.05, "normal", PAIRED_THRESHOLD, seed=22)
    assert five.called_share >= 0.80
    assert five.wrong == 0
    ten = paired_calls(4, 0.10, "normal", PAIRED_THRESHOLD, seed=23)
    assert ten.called_share >= 0.98  # 63 of 64 at least (the benchmark: >= 99%)


def test_paired_finds_a_true_change_beside_a_hit_process() -> None:
    # One process of a case slowed 10-40% (p 0.2 per case and side): the outlier rule leaves
    # it out of its case value and of its round's pair, so the power holds.
    five = paired_calls(4, 0.05, "hit", PAIRED_THRESHOLD, seed=26)
    assert five.called_share >= 0.80
    assert five.wrong == 0
    ten = paired_calls(4, 0.10, "hit", PAIRED_THRESHOLD, seed=36)
    assert ten.called_share >= 0.98


def test_a_1_percent_threshold_would_cost_the_power() -> None:
    # Why the paired default is 0%: the same seeded runs with a 1% threshold miss more.
    at_zero = paired_calls(3, 0.05, "normal", 0.0, seed=24)
    at_one = paired_calls(3, 0.05, "normal", 0.01, seed=24)
    assert at_one.called < at_zero.called


def test_separate_runs_cover_the_truth_with_the_calibrated_run_variance() -> None:
    # Whole-machine shifts of 1-3% between runs; 5 A/A runs calibrate each case.
    calibrated = separate_calls(4, 5, 0.0, "normal", 0.05, seed=25)
    assert calibrated.coverage >= 0.93
    assert calibrated.wrong == 0
    blind = separate_calls(4, 5, 0.0, "normal", 0.05, seed=25, calibrated=False)
    assert blind.coverage < calibrated.coverage
