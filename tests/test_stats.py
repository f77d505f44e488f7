"""Statistics against hand-computed values, including the source script's timing bug."""

from __future__ import annotations

import math

import pytest

from runners.stats import median_ci, median_ci_indices, summarize


def test_source_script_case_steps_of_100ms_are_100ms() -> None:
    # The TF-1 script summed 10 of 100 steps and divided by 100: 0.010 +/- 0.030 s.
    s = summarize([0.100] * 100, batch_size=32)
    assert s.median_s == pytest.approx(0.100)
    assert s.mean_s == pytest.approx(0.100)
    assert s.stdev_s == pytest.approx(0.0, abs=1e-12)
    assert (s.ci_low_s, s.ci_high_s) == pytest.approx((0.100, 0.100))
    assert s.images_per_s == pytest.approx(320.0)
    assert s.n == 100 and s.total_s == pytest.approx(10.0)


def test_hand_computed_one_to_ten() -> None:
    s = summarize([float(v) for v in range(10, 0, -1)], batch_size=8, gmacs_per_image=4.0)
    assert s.n == 10
    assert s.median_s == 5.5
    assert s.mean_s == 5.5
    assert s.stdev_s == pytest.approx(math.sqrt(82.5 / 9))
    assert (s.min_s, s.max_s) == (1.0, 10.0)
    # numpy's linear interpolation: position p * (n - 1) in the sorted samples
    assert s.p5_s == pytest.approx(1.45)
    assert s.p25_s == pytest.approx(3.25)
    assert s.p75_s == pytest.approx(7.75)
    assert s.p95_s == pytest.approx(9.55)
    assert s.p99_s == pytest.approx(9.91)
    assert s.iqr_s == pytest.approx(4.5)
    # n = 10: P(x_(2) <= m < x_(9)) = 1 - 2 * P(B <= 1) = 1 - 22/1024 = 0.9785 >= 0.95,
    # while x_(3)..x_(8) would cover only 1 - 2 * 56/1024 = 0.89.
    assert (s.ci_low_s, s.ci_high_s) == (2.0, 9.0)
    assert s.images_per_s == pytest.approx(8 / 5.5)
    assert s.gmacs_per_s == pytest.approx(4.0 * 8 / 5.5)
    assert s.gflops_per_s == pytest.approx(2 * 4.0 * 8 / 5.5)
    assert s.unstable  # IQR / median = 0.82


def test_training_counts_three_forward_passes() -> None:
    inf = summarize([0.5] * 20, batch_size=2, gmacs_per_image=1.0, mode="inference")
    tr = summarize([0.5] * 20, batch_size=2, gmacs_per_image=1.0, mode="training")
    assert tr.gmacs_per_s == pytest.approx(3 * (inf.gmacs_per_s or 0))


@pytest.mark.parametrize(
    ("n", "expected"),
    [(5, None), (6, (0, 5)), (10, (1, 8)), (20, (5, 14)), (100, (39, 60))],
)
def test_median_ci_order_statistics(n: int, expected: tuple[int, int] | None) -> None:
    # Reference: binomial tables for the 95% CI of the median (e.g. Conover, table A3).
    assert median_ci_indices(n) == expected


def test_stable_and_unstable_flags() -> None:
    steady = [1.0 + 0.001 * (i % 3) for i in range(50)]
    assert not summarize(steady, 1).unstable
    assert summarize(steady, 1, ci_target_met=False).unstable
    noisy = [1.0, 1.5] * 25
    assert summarize(noisy, 1).unstable


def test_median_ci_too_few_samples_is_min_max() -> None:
    assert median_ci([3.0, 1.0, 2.0]) == (1.0, 3.0)


def test_summarize_refuses_empty() -> None:
    with pytest.raises(ValueError, match="no samples"):
        summarize([], 1)
