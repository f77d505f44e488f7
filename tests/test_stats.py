"""Statistics against hand-computed values, including the source script's timing bug."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from vocab.comparison import benjamini_hochberg, log_ratio_test, noise_floor, ratio_test
from vocab.stats import (
    batch_means_rel,
    case_drift,
    drift_rel,
    geometric_interval,
    per_process,
    process_values,
    robust_line,
    sd_log,
    summarize,
)


def test_source_script_case_steps_of_100ms_are_100ms() -> None:
    # The TF-1 script summed 10 of 100 steps and divided by 100: 0.010 +/- 0.030 s.
    s = summarize([0.100] * 100, batch_size=32, process_ids=[i // 25 for i in range(100)])
    assert s.value_s == pytest.approx(0.100)
    assert s.median_s == pytest.approx(0.100)
    assert s.mean_s == pytest.approx(0.100)
    assert s.stdev_s == pytest.approx(0.0, abs=1e-12)
    assert (s.ci_low_s, s.ci_high_s) == pytest.approx((0.100, 0.100))
    assert s.images_per_s == pytest.approx(320.0)
    assert s.n == 100 and s.processes == 4 and s.total_s == pytest.approx(10.0)
    assert s.flags == () and s.left_out == () and s.ci_df == 3


def test_hand_computed_one_to_ten_in_one_process() -> None:
    s = summarize([float(v) for v in range(10, 0, -1)], batch_size=8, gmacs_per_image=4.0)
    assert s.n == 10 and s.processes == 1
    assert s.value_s == s.median_s == 5.5
    assert s.mean_s == 5.5
    assert s.stdev_s == pytest.approx(math.sqrt(82.5 / 9))
    assert (s.min_s, s.max_s) == (1.0, 10.0)
    # numpy's linear interpolation: position p * (n - 1) in the sorted samples
    assert s.p5_s == pytest.approx(1.45)
    assert s.p25_s == pytest.approx(3.25)
    assert s.iqr_s == pytest.approx(4.5)
    # One process: no spread between processes, so no CI (the CI says it; no flag does).
    assert math.isnan(s.ci_low_s) and math.isinf(s.ci_rel) and s.ci_df == 0
    assert s.flag_kinds == ("drift",)  # 10..1: the steps fall by 78% inside the process
    assert s.images_per_s == pytest.approx(8 / 5.5)
    assert s.gmacs_per_s == pytest.approx(4.0 * 8 / 5.5)
    assert s.gflops_per_s == pytest.approx(2 * 4.0 * 8 / 5.5)
    # 10..1 in order: last third (3, 2, 1) against the first (10, 9, 8): -78%.
    assert s.drift_rel == pytest.approx(2.0 / 9.0 - 1.0)


def test_value_and_ci_come_from_processes_not_steps() -> None:
    # Three processes of 1000 identical steps each: steps say nothing about the spread.
    values = [0.10, 0.11, 0.12]
    samples = [v for v in values for _ in range(1000)]
    ids = [p for p in range(3) for _ in range(1000)]
    s = summarize(samples, 1, process_ids=ids)
    logs = np.log(values)
    half = sps.t.ppf(0.975, 2) * logs.std(ddof=1) / math.sqrt(3)
    assert s.value_s == pytest.approx(math.exp(logs.mean()))
    assert (s.ci_low_s, s.ci_high_s) == pytest.approx(
        (math.exp(logs.mean() - half), math.exp(logs.mean() + half))
    )
    assert s.ci_rel == pytest.approx(math.exp(half) - 1.0)
    assert s.processes == 3 and s.ci_df == 2
    assert s.flags == ()  # a wide CI is a wide CI, not a flag
    # Processes added until the CI looked narrow: one degree of freedom fewer.
    wide = summarize(samples, 1, process_ids=ids, adaptive=True)
    assert wide.ci_df == 1 and wide.ci_rel == pytest.approx(
        math.exp(sps.t.ppf(0.975, 1) * logs.std(ddof=1) / math.sqrt(3)) - 1.0
    )


def test_process_values_are_medians_in_order_of_appearance() -> None:
    assert process_values([3.0, 1.0, 2.0, 10.0, 30.0], [1, 1, 1, 0, 0]) == {1: 2.0, 0: 20.0}
    with pytest.raises(ValueError, match="tag every sample"):
        process_values([1.0], [0, 1])


def test_geometric_interval_edges() -> None:
    one = geometric_interval([2.0])
    assert one.value == 2.0 and math.isnan(one.low) and math.isinf(one.rel)
    assert geometric_interval([]).n == 0
    same = geometric_interval([2.0, 2.0, 2.0])
    assert (same.low, same.high, same.rel) == (2.0, 2.0, 0.0)


def test_training_counts_three_forward_passes() -> None:
    inf = summarize([0.5] * 20, batch_size=2, gmacs_per_image=1.0, mode="inference")
    tr = summarize([0.5] * 20, batch_size=2, gmacs_per_image=1.0, mode="training")
    assert tr.gmacs_per_s == pytest.approx(3 * (inf.gmacs_per_s or 0))


def test_drift_flags_a_step_change_every_process_shows() -> None:
    steady = [1.0] * 30
    stepped = [1.0] * 15 + [1.2] * 15
    assert drift_rel(steady) == 0.0
    assert drift_rel(stepped) == pytest.approx(0.2)
    assert math.isnan(drift_rel([1.0] * 8))  # too few steps for thirds
    ids = [p for p in range(3) for _ in range(30)]
    s = summarize(stepped * 3, 1, process_ids=ids)
    (flag,) = s.flags
    assert flag.kind == "drift" and "+20.0%" in flag.detail and flag.process is None
    # One process drifting among steady ones is that process's noise, not the case's.
    assert case_drift([0.0, 0.0, 0.3]) == 0.0
    assert math.isnan(case_drift([math.nan]))


def test_batch_means_is_a_within_process_diagnostic() -> None:
    assert batch_means_rel([1.0] * 50) == 0.0
    assert math.isinf(batch_means_rel([1.0] * 9))
    assert batch_means_rel([1.0, 1.2] * 25) < 0.01  # alternating noise averages out


def test_summarize_refuses_empty() -> None:
    with pytest.raises(ValueError, match="no samples"):
        summarize([], 1)


def test_log_ratio_test_hand_computed() -> None:
    base = [1.00, 1.02, 0.98, 1.01, 0.99]
    cand = [1.10, 1.12, 1.08, 1.11, 1.09]
    t = log_ratio_test(base, cand, threshold=0.05)
    lb, lc = np.log(base), np.log(cand)
    d = lc.mean() - lb.mean()
    assert t.ratio == pytest.approx(math.exp(d))
    se = math.sqrt(lb.var(ddof=1) / 5 + lc.var(ddof=1) / 5)
    half = sps.t.ppf(0.975, t.df) * se
    assert (t.ci_low, t.ci_high) == pytest.approx((math.exp(d - half), math.exp(d + half)))
    assert t.beyond and t.p_value < 0.05
    # The same data against a 15% threshold: a real change, but not beyond the threshold.
    wide = log_ratio_test(base, cand, threshold=0.15)
    assert not wide.beyond and wide.p_value > 0.05
    # One process on each side: nothing can be said.
    assert math.isnan(log_ratio_test([1.0], [2.0], 0.05).p_value)
    # One process on one side: the other side's spread stands in for both.
    half_known = log_ratio_test([1.0], [1.0, 1.1, 1.2], 0.05)
    assert math.isfinite(half_known.ci_low) and half_known.df == 2


def test_benjamini_hochberg_against_hand_computed() -> None:
    # m = 5, q = 0.05: thresholds 0.01, 0.02, 0.03, 0.04, 0.05; the largest k with
    # p_(k) <= k q / m is k = 3 (0.03 <= 0.03), so the three smallest are rejected.
    p = [0.03, 0.001, 0.5, 0.02, 0.045]
    assert benjamini_hochberg(p) == [True, True, False, True, False]
    assert benjamini_hochberg([math.nan, 0.001]) == [False, True]
    assert benjamini_hochberg([]) == []


def test_noise_floor_is_the_a_a_95th_percentile_change() -> None:
    assert noise_floor(0.0) == 0.0
    assert noise_floor(0.01) == pytest.approx(math.expm1(1.959964 * math.sqrt(2) * 0.01))


def test_ratio_test_without_processes_claims_nothing() -> None:
    t = ratio_test(None, None, 0.05, base_value=1.0, cand_value=1.5)
    assert t.ratio == pytest.approx(1.5)
    assert math.isnan(t.ci_low) and not t.beyond
    with_values = ratio_test([1.0, 1.01, 0.99], [1.5, 1.52, 1.49], 0.05, 9.0, 9.0)
    assert with_values.ratio == pytest.approx(1.5, rel=0.01) and with_values.beyond


def test_per_process_statistics() -> None:
    steps = [1.0] * 9 + [2.0, 2.0, 2.2]
    ids = [0] * 9 + [1] * 3
    first, second = per_process(steps, ids)
    assert (first.index, first.n, first.value_s) == (0, 9, 1.0)
    assert first.drift_rel == 0.0 and math.isinf(first.batch_means_rel)  # 9 < 10 steps
    assert (second.index, second.n, second.value_s) == (1, 3, 2.0)
    assert math.isnan(second.drift_rel)
    assert sd_log([1.0, math.e]) == pytest.approx(math.sqrt(0.5)) and math.isnan(sd_log([2.0]))


def test_robust_line_ignores_one_odd_point() -> None:
    x = [1.0, 2.0, 3.0, 4.0]
    slope, intercept = robust_line(x, [2.0, 4.0, 6.0, 30.0])
    assert (slope, intercept) == (pytest.approx(2.0), pytest.approx(0.0))


def test_a_measurements_statistics_are_computed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store on write, the summary table and `run --json` share one computation; a
    change to what they derive from drops it."""
    from vocab import measurement as mod
    from vocab.case import Case
    from vocab.measurement import Measurement

    calls = []
    real = mod.summarize
    monkeypatch.setattr(mod, "summarize", lambda *a, **k: calls.append(1) or real(*a, **k))
    m = Measurement(Case("torch", 50, 1), samples_ns=[10**7] * 20, sample_process=[0] * 20)
    first = m.stats()
    assert m.stats() is first and m.process_stats() is m.process_stats() and len(calls) == 1
    m.samples_ns = [2 * 10**7] * 20
    second = m.stats()
    assert second is not None and second.value_s == pytest.approx(0.02) and len(calls) == 2
    m.stop_reason = "ci target met"  # not an input of the statistics
    assert m.stats() is second and len(calls) == 2
    assert m.to_dict()["samples_ns"] == m.samples_ns and "_statistics" not in m.to_dict()
