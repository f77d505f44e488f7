"""results.analysis on fixed, hand-built frames (no database, no framework)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from results import analysis
from tests.support.frames import Frames, only_row, steps


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
    ok = only_row(out, framework="torch", batch_size=1)
    src = only_row(df, framework="torch", batch_size=1)
    assert ok["value_ms"] == pytest.approx(src["value_s"] * 1000)
    assert ok["ci_low_ms"] <= ok["value_ms"] <= ok["ci_high_ms"]
    assert ok["images_per_s"] == pytest.approx(1 / src["value_s"])
    assert ok["processes"] == 5
    assert ok["case"] == "torch/eager r50 b1 cpu inference fp32 224px"
    failed = only_row(out, framework="tensorflow", batch_size=32)
    assert failed["status"] == "oom"
    assert failed["reason"] == "ResourceExhaustedError"
    assert math.isnan(failed["value_ms"])
    assert failed["flags"] == [] and failed["flag_text"] == ""
    # registry order: torch before tensorflow, then depth and batch
    assert list(out["framework"])[:3] == ["torch"] * 3


def test_summary_carries_flags_and_a_wide_ci_is_not_one() -> None:
    f = Frames().run(1)
    spread = [0.01 * level for level in (1.0, 1.05, 1.10, 0.95, 0.90) for _ in range(8)]
    f.result(1, "torch", 50, 1, spread)  # processes 5% apart: a wide CI, no trouble
    drifting = [0.01 * (1.0 + 0.2 * (i % 40 >= 20)) for i in range(200)]
    f.result(1, "torch", 50, 2, drifting)  # every process 20% slower in its second half
    out = analysis.summary(f.results())
    wide, drift = out.iloc[0], out.iloc[1]
    assert wide["ci_rel"] > 0.02 and wide["flags"] == [] and wide["flag_text"] == ""
    assert [f["kind"] for f in drift["flags"]] == ["drift"]
    assert drift["flag_text"].startswith("drift inside processes: last third of the steps")


# -------------------------------------------------------------- framework comparison


def test_framework_comparison_significant_and_not(two_frameworks: Frames) -> None:
    cmp = analysis.framework_comparison(two_frameworks.results(), two_frameworks.samples())
    assert {"torch/eager", "tensorflow/graph"} <= set(cmp.columns)

    fast = only_row(cmp, batch_size=1)
    assert (fast["baseline"], fast["other"]) == ("torch/eager", "tensorflow/graph")
    assert fast["ratio"] == pytest.approx(1.2, rel=0.02)
    assert fast["ratio_ci_low"] > 1.0
    assert fast["p_value"] < analysis.ALPHA
    assert fast["significant"]
    assert fast["faster"] == "torch/eager"

    same = only_row(cmp, batch_size=8)
    assert same["ratio_ci_low"] < 1.0 < same["ratio_ci_high"]
    assert same["p_value"] > analysis.ALPHA
    assert not same["significant"]
    assert same["faster"] is None or pd.isna(same["faster"])


def test_four_frameworks_each_compared_with_torch() -> None:
    f = Frames().run(1)
    frameworks = (("torch", 1.0), ("tensorflow", 1.2), ("jax", 2.0), ("onnxruntime", 0.8))
    for k, (fw, scale) in enumerate(frameworks):
        for batch in (1, 8):
            # A seed per framework: the same noise on both sides of a pair would make every
            # round's ratio equal, and a paired CI of zero width.
            f.result(1, fw, 50, batch, steps(0.010 * batch * scale, seed=10 * batch + k))
    cmp = analysis.framework_comparison(f.results(), f.samples())
    labels = ["torch/eager", "tensorflow/graph", "jax/jit", "onnxruntime/session"]
    assert [c for c in cmp.columns if "/" in c] == labels
    assert len(cmp) == 2 * 3  # per case, one row per framework against the baseline
    assert set(cmp["baseline"]) == {"torch/eager"}
    for other, scale in (("tensorflow/graph", 1.2), ("jax/jit", 2.0), ("onnxruntime/session", 0.8)):
        for batch in (1, 8):
            row = only_row(cmp, batch_size=batch, other=other)
            assert row["ratio"] == pytest.approx(scale, rel=0.02)
            assert row["ratio_ci_low"] < row["ratio"] < row["ratio_ci_high"]
            assert row["faster"] == ("onnxruntime/session" if scale < 1 else "torch/eager")


def test_framework_comparison_leaves_failed_cases_out(two_frameworks: Frames) -> None:
    cmp = analysis.framework_comparison(two_frameworks.results(), two_frameworks.samples())
    row = only_row(cmp, batch_size=32)
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
    first = 1 + len(analysis.COMPARISON_KEYS)  # after run_id and the keys
    labels = ["torch/eager", "torch/compile", "tensorflow/graph"]
    assert list(cmp.columns[first : first + 3]) == labels
    assert only_row(cmp, batch_size=1)["baseline"] == "torch/eager"
    b8 = only_row(cmp, batch_size=8)
    assert b8["baseline"] == "torch/compile"
    assert b8["ratio"] == pytest.approx(2.0, rel=0.02)


def test_framework_comparison_without_processes_claims_nothing(two_frameworks: Frames) -> None:
    # Results stored before replication by processes: no process values, no samples.
    old = two_frameworks.results().assign(process_values_s=None)
    cmp = analysis.framework_comparison(old)
    fast = only_row(cmp, batch_size=1)
    assert fast["ratio"] == pytest.approx(1.2, rel=0.02)
    assert math.isnan(fast["p_value"]) and math.isnan(fast["ratio_ci_low"])
    assert not fast["significant"] and pd.isna(fast["faster"])


def test_framework_faster_only_beyond_the_practical_threshold() -> None:
    f = Frames().run(1)
    f.result(1, "torch", 50, 1, steps(0.0100, spread=0.001, seed=1))
    f.result(1, "tensorflow", 50, 1, steps(0.0102, spread=0.001, seed=2))  # 2%: real, small
    cmp = analysis.framework_comparison(f.results(), f.samples())
    row = only_row(cmp, batch_size=1)
    assert row["ratio_ci_low"] > 1.0  # a real difference...
    assert not row["significant"] and pd.isna(row["faster"])  # ...within 3%
    strict = analysis.framework_comparison(f.results(), f.samples(), threshold=0.01)
    assert only_row(strict, batch_size=1)["faster"] == "torch/eager"


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


def test_case_value_falls_back_to_the_pooled_median() -> None:
    assert analysis.case_value({"value_s": 1.5, "median_s": 1.0}) == 1.5
    # Old results (before replication) carry median_s only: it stands in for value_s.
    assert analysis.case_value({"value_s": None, "median_s": 2.0}) == 2.0


def test_run_ids_are_integers_in_numeric_order() -> None:
    f = Frames().run(9).run(10)
    f.result(10, "torch", 50, 1, steps(0.01, seed=1))
    f.result(9, "torch", 50, 1, steps(0.01, seed=2))
    out = analysis.summary(f.results())
    assert out["run_id"].tolist() == [9, 10]  # as text, "10" would sort first
    assert analysis.of_run(f.results(), 10)["run_id"].tolist() == [10]
