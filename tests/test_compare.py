"""results.compare on fixed, hand-built frames (no database, no framework)."""

from __future__ import annotations

import json
import math

import pytest
from scipy import stats as sps

from results import compare
from tests.support.frames import Frames, only_row, steps
from vocab.comparison import RunShift

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
    out = compare.compare_runs(two_runs.results(), two_runs.samples(), 1, 2)
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
    reg = only_row(out, framework="torch", depth=50, batch_size=1)
    assert reg["ratio"] == pytest.approx(1.1, rel=0.01)
    assert reg["ratio_ci_low"] > 1.05 and reg["p_value"] < compare.ALPHA
    assert (reg["base_processes"], reg["cand_processes"]) == (5, 5)
    small = only_row(out, framework="torch", depth=101, batch_size=8)
    assert small["ratio_ci_low"] > 1.0  # real, but within the 5% threshold
    assert not small["significant"] and small["change"] == pytest.approx(0.02, abs=0.005)
    noise = only_row(out, framework="torch", depth=101, batch_size=1)
    assert not noise["significant"] and noise["p_value"] > compare.ALPHA
    broken = only_row(out, framework="tensorflow", depth=50)
    assert (broken["base_status"], broken["cand_status"]) == ("ok", "error")
    assert math.isnan(broken["ratio"])
    # regressions sort first
    assert out["verdict"].iloc[0] == "regression"


def test_compare_runs_threshold(two_runs: Frames) -> None:
    df, samples = two_runs.results(), two_runs.samples()
    out = compare.compare_runs(df, samples, 1, 2, threshold=0.01)
    assert only_row(out, framework="torch", depth=101, batch_size=8)["verdict"] == "regression"
    out = compare.compare_runs(df, samples, 1, 2, threshold=0.5)
    assert "regression" not in set(out["verdict"])
    with pytest.raises(ValueError, match="threshold"):
        compare.compare_runs(df, samples, 1, 2, threshold=-0.1)


def test_compare_runs_matches_thread_sweeps_on_threads() -> None:
    f = Frames().run(1).run(2)
    for run, slow in ((1, 1.0), (2, 1.2)):
        f.result(run, "torch", 50, 1, steps(0.010, seed=run), threads=1)
        f.result(run, "torch", 50, 1, steps(0.006 * slow, seed=run + 2), threads=2)
    out = compare.compare_runs(f.results(), f.samples(), 1, 2)
    assert len(out) == 2
    assert only_row(out, threads=1)["verdict"] == "same"
    assert only_row(out, threads=2)["verdict"] == "regression"


def test_steps_of_one_offset_process_are_not_a_difference() -> None:
    """The bug this method replaced: two runs of identical code whose single processes sat
    at different offsets. Every step of run 2 is 3% slower, so a test on raw steps calls it
    a regression; with one process per side there is no spread between processes to judge
    a difference by, so the verdict is 'undetermined', never 'regression'."""
    f = Frames().run(1).run(2)
    f.result(1, "torch", 50, 1, steps(0.0100, spread=0.002, seed=1), processes=1)
    f.result(2, "torch", 50, 1, steps(0.0103, spread=0.002, seed=2), processes=1)
    out = compare.compare_runs(f.results(), f.samples(), 1, 2, threshold=0.01)
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
    out = compare.compare_runs(f.results(), f.samples(), 1, 2)
    lone = only_row(out, depth=50, batch_size=1)
    assert lone["ratio_ci_low"] > 1.0
    assert lone["p_value"] < compare.ALPHA
    assert lone["verdict"] == "same"  # BH: p is not below 0.05 / 20


def test_run_variance_joins_the_standard_error() -> None:
    f = Frames().run(1).run(2)
    f.result(1, "torch", 50, 1, steps(0.010, seed=1))
    f.result(2, "torch", 50, 1, steps(0.011, seed=2))
    plain = compare.compare_runs(f.results(), f.samples(), 1, 2).iloc[0]
    assert plain["verdict"] == "regression" and math.isnan(plain["run_sd"])
    key = ("torch", 50, 1, "cpu", "inference", "fp32", "eager", 224, 1, "", 2)
    shift = RunShift(0.03**2, 4.0, 5)  # whole runs of this case move by 3% (sd), 4 df
    out = compare.compare_runs(f.results(), f.samples(), 1, 2, run_variance={key: shift})
    row = out.iloc[0]
    assert row["verdict"] == "same" and row["threshold_used"] == 0.05  # never raised
    assert row["run_sd"] == pytest.approx(0.03) and row["run_df"] == 4.0
    assert row["ratio"] == pytest.approx(plain["ratio"])
    # se^2 = the processes' part + 2 x the run variance; df from Welch-Satterthwaite
    assert row["se_log"] ** 2 == pytest.approx(plain["se_log"] ** 2 + 2 * 0.03**2)
    assert 4.0 < row["df"] < plain["df"]
    low = math.log(row["ratio_ci_low"])
    half = math.log(row["ratio"]) - low
    assert half == pytest.approx(sps.t.ppf(0.975, row["df"]) * row["se_log"])


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
    diff = compare.environment_diff(f.results(), 1, 2).set_index("setting")
    assert list(diff.loc["torch_version"]) == ["2.13.0", "2.14.0"]
    assert list(diff.loc["git_commit"]) == ["abc123", "def456"]
    assert list(diff.loc["machine_hostname"]) == ["bench-host", "other-host"]
    assert list(diff.loc["env:OMP_NUM_THREADS"]) == ["2", "4"]
    assert list(diff.loc["env:KMP_AFFINITY"]) == ["compact", None]
    assert list(diff.loc["threads_intra"]) == ["2", "2, 4"]
    assert "python_version" not in diff.index
    assert "threads" not in diff.index
    assert compare.environment_diff(f.results(), 1, 1).empty


def test_run_settings_reads_framework_builds() -> None:
    f = Frames().run(1)
    f.result(1, "torch", 50, 1, steps(0.01), framework_build=json.dumps({"mkldnn": True}))
    table = compare.run_settings(f.results(), [1])
    assert table.loc["build:torch:mkldnn", 1] == "true"


def test_match_keys_keep_the_stored_order() -> None:
    """Noise floors are stored as lists of MATCH_KEYS values (derived from the case's
    fields): a new case field may add keys, but these must keep their order."""
    assert compare.MATCH_KEYS[:8] == (
        "framework", "depth", "batch_size", "device", "mode", "precision", "execution",
        "image_size",
    )  # fmt: skip
    assert set(compare.MATCH_KEYS).isdisjoint(compare.SWEEP_KEYS)
