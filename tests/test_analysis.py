"""results.analysis on fixed, hand-built frames (no database, no framework)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from results import analysis
from tests.report_data import Frames, steps


def _row(df: pd.DataFrame, **where: object) -> pd.Series:
    mask = np.ones(len(df), dtype=bool)
    for col, value in where.items():
        mask &= (df[col] == value).to_numpy(dtype=bool)
    rows = df[mask]
    assert len(rows) == 1, f"{len(rows)} rows match {where}"
    return rows.iloc[0]


@pytest.fixture
def two_frameworks() -> Frames:
    """torch clearly faster at b1; the same speed at b8; tensorflow OOM at b32."""
    f = Frames().run(1)
    f.result(1, "torch", 50, 1, steps(0.010, seed=1))
    f.result(1, "tensorflow", 50, 1, steps(0.012, seed=2))
    f.result(1, "torch", 50, 8, steps(0.080, spread=0.05, seed=3))
    f.result(1, "tensorflow", 50, 8, steps(0.080, spread=0.05, seed=4))
    f.result(1, "torch", 50, 32, steps(0.300, seed=5))
    f.result(1, "tensorflow", 50, 32, status="oom", reason="ResourceExhaustedError")
    return f


# --------------------------------------------------------------------------- summary


def test_summary_converts_to_ms_and_keeps_failed_cases(two_frameworks: Frames) -> None:
    df = two_frameworks.results()
    out = analysis.summary(df)
    assert len(out) == len(df)
    ok = _row(out, framework="torch", batch_size=1)
    src = _row(df, framework="torch", batch_size=1)
    assert ok["value_ms"] == pytest.approx(src["value_s"] * 1000)
    assert ok["ci_low_ms"] <= ok["value_ms"] <= ok["ci_high_ms"]
    assert ok["images_per_s"] == pytest.approx(1 / src["value_s"])
    assert ok["processes"] == 5
    assert ok["case"] == "torch/eager r50 b1 cpu inference fp32 224px"
    failed = _row(out, framework="tensorflow", batch_size=32)
    assert failed["status"] == "oom"
    assert failed["reason"] == "ResourceExhaustedError"
    assert math.isnan(failed["value_ms"])
    assert not failed["unstable"]
    # registry order: torch before tensorflow, then depth and batch
    assert list(out["framework"])[:3] == ["torch"] * 3


def test_summary_flags_unstable_results() -> None:
    f = Frames().run(1)
    f.result(1, "torch", 50, 1, steps(0.01, spread=0.5, seed=1))
    out = analysis.summary(f.results())
    assert bool(out["unstable"].iloc[0])
    assert "missed the +/-2% target" in out["unstable_reason"].iloc[0]


# -------------------------------------------------------------- framework comparison


def test_framework_comparison_significant_and_not(two_frameworks: Frames) -> None:
    cmp = analysis.framework_comparison(two_frameworks.results(), two_frameworks.samples())
    assert {"torch/eager", "tensorflow/graph"} <= set(cmp.columns)

    fast = _row(cmp, batch_size=1)
    assert (fast["baseline"], fast["other"]) == ("torch/eager", "tensorflow/graph")
    assert fast["ratio"] == pytest.approx(1.2, rel=0.02)
    assert fast["ratio_ci_low"] > 1.0
    assert fast["p_value"] < analysis.ALPHA
    assert fast["significant"]
    assert fast["faster"] == "torch/eager"

    same = _row(cmp, batch_size=8)
    assert same["ratio_ci_low"] < 1.0 < same["ratio_ci_high"]
    assert same["p_value"] > analysis.ALPHA
    assert not same["significant"]
    assert same["faster"] is None or pd.isna(same["faster"])


def test_framework_comparison_leaves_failed_cases_out(two_frameworks: Frames) -> None:
    cmp = analysis.framework_comparison(two_frameworks.results(), two_frameworks.samples())
    row = _row(cmp, batch_size=32)
    assert row["torch/eager"] == pytest.approx(300, rel=0.02)
    assert math.isnan(row["tensorflow/graph"])
    assert pd.isna(row["baseline"]) and math.isnan(row["ratio"])
    assert not row["significant"]


def test_framework_comparison_uses_default_execution_else_first_that_finished() -> None:
    f = Frames().run(1)
    f.result(1, "torch", 50, 1, steps(0.010, seed=1))
    f.result(1, "torch", 50, 1, steps(0.005, seed=2), execution="compile")
    f.result(1, "tensorflow", 50, 1, steps(0.012, seed=3))
    f.result(1, "torch", 50, 8, status="error", reason="boom")
    f.result(1, "torch", 50, 8, steps(0.040, seed=4), execution="compile")
    f.result(1, "tensorflow", 50, 8, steps(0.080, seed=5))
    cmp = analysis.framework_comparison(f.results(), f.samples())
    assert list(cmp.columns[10:13]) == ["torch/eager", "torch/compile", "tensorflow/graph"]
    assert _row(cmp, batch_size=1)["baseline"] == "torch/eager"
    b8 = _row(cmp, batch_size=8)
    assert b8["baseline"] == "torch/compile"
    assert b8["ratio"] == pytest.approx(2.0, rel=0.02)


def test_framework_comparison_without_processes_claims_nothing(two_frameworks: Frames) -> None:
    cmp = analysis.framework_comparison(two_frameworks.results())
    fast = _row(cmp, batch_size=1)
    assert fast["ratio"] == pytest.approx(1.2, rel=0.02)
    assert math.isnan(fast["p_value"]) and math.isnan(fast["ratio_ci_low"])
    assert not fast["significant"] and pd.isna(fast["faster"])


def test_framework_faster_only_beyond_the_practical_threshold() -> None:
    f = Frames().run(1)
    f.result(1, "torch", 50, 1, steps(0.0100, spread=0.001, seed=1))
    f.result(1, "tensorflow", 50, 1, steps(0.0102, spread=0.001, seed=2))  # 2%: real, small
    cmp = analysis.framework_comparison(f.results(), f.samples())
    row = _row(cmp, batch_size=1)
    assert row["ratio_ci_low"] > 1.0  # a real difference...
    assert not row["significant"] and pd.isna(row["faster"])  # ...within 3%
    strict = analysis.framework_comparison(f.results(), f.samples(), threshold=0.01)
    assert _row(strict, batch_size=1)["faster"] == "torch/eager"


# ------------------------------------------------------------------------- scaling


def test_scaling_relative_to_the_smallest_batch(two_frameworks: Frames) -> None:
    out = analysis.scaling(two_frameworks.results())
    torch = out[out["framework"] == "torch"].sort_values("batch_size")
    assert list(torch["batch_size"]) == [1, 8, 32]
    assert torch["relative_throughput"].iloc[0] == 1.0
    expected = (32 / 0.300) / (1 / 0.010)
    assert torch["relative_throughput"].iloc[2] == pytest.approx(expected, rel=0.02)
    tf = out[out["framework"] == "tensorflow"]
    assert list(tf["batch_size"]) == [1, 8]  # the OOM case is left out


def test_depth_scaling_flags_the_odd_depth_only() -> None:
    f = Frames().run(1)
    gmacs = {50: 4.1, 101: 7.8, 152: 11.5, 200: 15.0}
    for depth, g in gmacs.items():
        per_image = 0.002 * g + 0.001  # a straight line in GMACs...
        if depth == 152:
            per_image *= 1.4  # ...but ResNet-152 is 40% slow
        f.result(1, "torch", depth, 4, steps(per_image * 4, seed=depth))
    f.result(1, "tensorflow", 50, 4, steps(0.05, seed=1))  # a single depth: no fit
    f.result(1, "tensorflow", 101, 4, status="timeout", reason="too slow")
    out = analysis.depth_scaling(f.results())
    torch = out[out["framework"] == "torch"].set_index("depth")
    assert list(torch.index[torch["outlier"]]) == [152]
    assert torch.loc[152, "residual_rel"] == pytest.approx(0.4, abs=0.03)
    assert torch.loc[50, "residual_rel"] == pytest.approx(0.0, abs=0.03)
    assert torch["slope_ms_per_gmac"].iloc[0] == pytest.approx(2.0, rel=0.03)
    tf = out[out["framework"] == "tensorflow"]
    assert len(tf) == 1 and not tf["outlier"].iloc[0] and tf["fit_ms_per_image"].isna().all()


# --------------------------------------------------------------- run comparison


@pytest.fixture
def two_runs() -> Frames:
    f = Frames().run(1).run(2)
    f.result(1, "torch", 50, 1, steps(0.010, seed=1))  # -> 10% slower: regression
    f.result(2, "torch", 50, 1, steps(0.011, seed=2))
    f.result(1, "torch", 50, 8, steps(0.080, seed=3))  # -> 10% faster: improvement
    f.result(2, "torch", 50, 8, steps(0.072, seed=4))
    f.result(1, "torch", 101, 1, steps(0.020, spread=0.05, seed=5))  # -> same distribution
    f.result(2, "torch", 101, 1, steps(0.020, spread=0.05, seed=6))
    f.result(1, "torch", 101, 8, steps(0.100, spread=0.002, seed=7))  # -> 2% slower: real
    f.result(2, "torch", 101, 8, steps(0.102, spread=0.002, seed=8))  # but under 5%
    f.result(1, "tensorflow", 50, 1, steps(0.012, seed=9))  # -> fails in run 2
    f.result(2, "tensorflow", 50, 1, status="error", reason="crash")
    f.result(1, "tensorflow", 101, 1, steps(0.030, seed=10))  # only in run 1
    f.result(2, "tensorflow", 152, 1, steps(0.040, seed=11))  # only in run 2
    return f


def test_compare_runs_verdicts(two_runs: Frames) -> None:
    out = analysis.compare_runs(two_runs.results(), two_runs.samples(), 1, 2)
    verdict = {
        (r["framework"], r["depth"], r["batch_size"]): r["verdict"] for _, r in out.iterrows()
    }
    assert verdict == {
        ("torch", 50, 1): "regression",
        ("torch", 50, 8): "improvement",
        ("torch", 101, 1): "same",
        ("torch", 101, 8): "same",
        ("tensorflow", 50, 1): "not comparable",
        ("tensorflow", 101, 1): "only in base",
        ("tensorflow", 152, 1): "only in cand",
    }
    reg = _row(out, framework="torch", depth=50, batch_size=1)
    assert reg["ratio"] == pytest.approx(1.1, rel=0.01)
    assert reg["ratio_ci_low"] > 1.05 and reg["p_value"] < analysis.ALPHA
    assert (reg["base_processes"], reg["cand_processes"]) == (5, 5)
    small = _row(out, framework="torch", depth=101, batch_size=8)
    assert small["ratio_ci_low"] > 1.0  # real, but within the 5% threshold
    assert not small["significant"] and small["change"] == pytest.approx(0.02, abs=0.005)
    noise = _row(out, framework="torch", depth=101, batch_size=1)
    assert not noise["significant"] and noise["p_value"] > analysis.ALPHA
    broken = _row(out, framework="tensorflow", depth=50)
    assert (broken["base_status"], broken["cand_status"]) == ("ok", "error")
    assert math.isnan(broken["ratio"])
    # regressions sort first
    assert out["verdict"].iloc[0] == "regression"


def test_compare_runs_threshold(two_runs: Frames) -> None:
    df, samples = two_runs.results(), two_runs.samples()
    out = analysis.compare_runs(df, samples, 1, 2, threshold=0.01)
    assert _row(out, framework="torch", depth=101, batch_size=8)["verdict"] == "regression"
    out = analysis.compare_runs(df, samples, 1, 2, threshold=0.5)
    assert "regression" not in set(out["verdict"])
    with pytest.raises(ValueError, match="threshold"):
        analysis.compare_runs(df, samples, 1, 2, threshold=-0.1)


def test_compare_runs_matches_thread_sweeps_on_threads() -> None:
    f = Frames().run(1).run(2)
    for run, slow in ((1, 1.0), (2, 1.2)):
        f.result(run, "torch", 50, 1, steps(0.010, seed=run), threads=1)
        f.result(run, "torch", 50, 1, steps(0.006 * slow, seed=run + 2), threads=2)
    out = analysis.compare_runs(f.results(), f.samples(), 1, 2)
    assert len(out) == 2
    assert _row(out, threads=1)["verdict"] == "same"
    assert _row(out, threads=2)["verdict"] == "regression"


def test_ratio_test_without_processes_claims_nothing() -> None:
    t = analysis.ratio_test({"value_s": 1.0}, {"value_s": 1.5}, None, None, 0.05)
    assert t.ratio == pytest.approx(1.5)
    assert math.isnan(t.ci_low) and not t.beyond
    # Old results (before replication) carry median_s only: it stands in for value_s.
    assert analysis.ratio_test({"median_s": 2.0}, {"median_s": 1.0}, None, None, 0.05).ratio == 0.5


def test_steps_of_one_offset_process_are_not_a_difference() -> None:
    """The bug this method replaced: two runs of identical code whose single processes sat
    at different offsets. Every step of run 2 is 3% slower, so a test on raw steps calls it
    a regression; with one process per side there is no spread between processes to judge
    a difference by, so the verdict is 'undetermined', never 'regression'."""
    f = Frames().run(1).run(2)
    f.result(1, "torch", 50, 1, steps(0.0100, spread=0.002, seed=1), processes=1)
    f.result(2, "torch", 50, 1, steps(0.0103, spread=0.002, seed=2), processes=1)
    out = analysis.compare_runs(f.results(), f.samples(), 1, 2, threshold=0.01)
    assert out["verdict"].tolist() == ["undetermined"]


def test_benjamini_hochberg_holds_back_a_lone_marginal_case() -> None:
    # 20 cases: one 6% slower with a CI only just beyond 5%, 19 unchanged. On its own its
    # p-value would pass 0.05; among 20 comparisons it must clear 0.05 / 20.
    f = Frames().run(1).run(2)
    for depth in (50, 101, 152, 200):
        for batch in (1, 2, 4, 8, 16):
            slow = 1.06 if (depth, batch) == (50, 1) else 1.0
            f.result(1, "torch", depth, batch, steps(0.01, spread=0.02, seed=batch + depth))
            f.result(2, "torch", depth, batch, steps(0.01 * slow, spread=0.02, seed=batch * 7))
    out = analysis.compare_runs(f.results(), f.samples(), 1, 2)
    lone = _row(out, depth=50, batch_size=1)
    assert lone["ratio_ci_low"] > 1.0
    assert lone["p_value"] < analysis.ALPHA
    assert lone["verdict"] == "same"  # BH: p is not below 0.05 / 20


def test_noise_floor_raises_a_case_threshold() -> None:
    f = Frames().run(1).run(2)
    f.result(1, "torch", 50, 1, steps(0.010, seed=1))
    f.result(2, "torch", 50, 1, steps(0.011, seed=2))
    key = ("torch", 50, 1, "cpu", "inference", "fp32", "eager", 224)
    out = analysis.compare_runs(f.results(), f.samples(), 1, 2, floors={key: 0.15})
    row = out.iloc[0]
    assert row["verdict"] == "same" and row["threshold_used"] == 0.15
    assert row["noise_floor"] == 0.15


# ---------------------------------------------------------------- environment diff


def test_environment_diff_lists_only_what_differs() -> None:
    f = Frames().run(1, env_vars={"OMP_NUM_THREADS": "2", "KMP_AFFINITY": "compact"})
    f.run(
        2,
        torch_version="2.14.0",
        git_commit="def456",
        machine_hostname="other-host",
        env_vars={"OMP_NUM_THREADS": "4"},
    )
    f.result(1, "torch", 50, 1, steps(0.01))
    f.result(2, "torch", 50, 1, steps(0.01), threads_intra=4)
    f.result(2, "tensorflow", 50, 1, steps(0.01), threads_intra=2)
    diff = analysis.environment_diff(f.results(), 1, 2).set_index("setting")
    assert list(diff.loc["torch_version"]) == ["2.13.0", "2.14.0"]
    assert list(diff.loc["git_commit"]) == ["abc123", "def456"]
    assert list(diff.loc["machine_hostname"]) == ["bench-host", "other-host"]
    assert list(diff.loc["env:OMP_NUM_THREADS"]) == ["2", "4"]
    assert list(diff.loc["env:KMP_AFFINITY"]) == ["compact", None]
    assert list(diff.loc["threads_intra"]) == ["2", "2, 4"]
    assert "python_version" not in diff.index
    assert "threads" not in diff.index
    assert analysis.environment_diff(f.results(), 1, 1).empty


def test_run_settings_reads_framework_builds() -> None:
    f = Frames().run(1)
    f.result(1, "torch", 50, 1, steps(0.01), framework_build=json.dumps({"mkldnn": True}))
    table = analysis.run_settings(f.results(), [1])
    assert table.loc["build:torch:mkldnn", "1"] == "true"
