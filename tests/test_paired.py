"""Paired comparison inside one run (`compare RUN --by AXIS`, results.paired) on hand-built
frames, and the CLI's --by against a real SQLite store."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest

from results.analysis import round_values
from results.paired import AxisError, compare_by
from results.store import open_store
from suite.cli import main
from tests.support.frames import Frames, only_row, steps
from tests.support.store import fake_environment, fake_machine
from vocab import comparison as stats
from vocab.case import CASE_FIELDS, Case
from vocab.measurement import Measurement
from vocab.messages import PlanRecord


def _rounds(
    level: float, shifts: list[float], seed: int, n: int = 8, jitter: float = 0.003
) -> list[float]:
    """Steps of one case over len(shifts) rounds (n each): round r slowed by shifts[r]."""
    rng = np.random.default_rng(seed)
    return [
        level * (1.0 + s) * (1.0 + jitter * rng.uniform(-1, 1)) for s in shifts for _ in range(n)
    ]


def test_paired_test_cancels_what_moved_the_whole_round() -> None:
    # Each round moves both cases by up to +/-10% together; the candidate is 4% slower.
    shifts = [0.1, -0.08, 0.05, -0.1, 0.07, 0.0, -0.04]
    f = Frames().run(1)
    f.result(1, "torch", 50, 1, _rounds(0.010, shifts, seed=1), processes=len(shifts))
    f.result(1, "torch", 50, 1, _rounds(0.0104, shifts, seed=2), processes=len(shifts))
    rows, samples = f.results(), f.samples()
    rounds = round_values(samples)
    paired = stats.paired_ratio_test(rounds[1], rounds[2], 0.01)
    assert paired.pairs == len(shifts) and paired.unpaired == 0
    assert paired.ratio == pytest.approx(1.04, rel=0.003)
    assert 1.01 < paired.ci_low < 1.04 < paired.ci_high < 1.07
    # The same values unpaired: the round shifts are noise to a Welch test.
    welch = stats.log_ratio_test(list(rounds[1].values()), list(rounds[2].values()), 0.01)
    assert welch.ci_low < 1.0 < welch.ci_high
    assert len(rows) == 2


@pytest.fixture
def precisions() -> Frames:
    """fp32 against bf16 in one run: bf16 20% slower at b1, the same at b8, failed at b32."""
    f = Frames().run(1)
    f.result(1, "torch", 50, 1, steps(0.010, seed=1))
    f.result(1, "torch", 50, 1, steps(0.012, seed=2), precision="bf16")
    f.result(1, "torch", 50, 8, steps(0.080, spread=0.05, seed=3))
    f.result(1, "torch", 50, 8, steps(0.080, spread=0.05, seed=4), precision="bf16")
    f.result(1, "torch", 50, 32, steps(0.300, seed=5))
    f.result(1, "torch", 50, 32, status="error", reason="bf16 unsupported", precision="bf16")
    f.result(1, "torch", 101, 1, steps(0.020, seed=6))
    return f


def test_compare_by_precision_verdicts(precisions: Frames) -> None:
    out = compare_by(precisions.results(), precisions.samples(), 1, "precision")
    assert set(out["axis"]) == {"precision"}
    assert set(out["base_value"]) == {"fp32"} and set(out["cand_value"]) == {"bf16"}
    slow = only_row(out, batch_size=1, depth=50)
    assert slow["verdict"] == "regression"
    assert slow["ratio"] == pytest.approx(1.2, rel=0.02)
    assert slow["pairs"] == 5 and slow["unpaired"] == 0
    assert only_row(out, batch_size=8)["verdict"] == "same"
    assert only_row(out, batch_size=32)["verdict"] == "not comparable"
    assert only_row(out, depth=101)["verdict"] == "only in base"
    # --base swaps the sides: the same pair is an improvement of fp32 over bf16.
    swapped = compare_by(precisions.results(), precisions.samples(), 1, "precision", "bf16")
    row = only_row(swapped, batch_size=1, depth=50)
    assert row["verdict"] == "improvement"
    assert row["ratio"] == pytest.approx(1 / 1.2, rel=0.02)
    assert only_row(swapped, depth=101)["verdict"] == "only in cand"


def test_compare_by_framework_goes_through_each_default_execution() -> None:
    f = Frames().run(1)
    f.result(1, "torch", 50, 1, steps(0.010, seed=1))
    f.result(1, "torch", 50, 1, steps(0.030, seed=2), execution="compile")
    f.result(1, "tensorflow", 50, 1, steps(0.011, seed=3))
    out = compare_by(f.results(), f.samples(), 1, "framework")
    assert len(out) == 1
    row = out.iloc[0]
    assert (row["base_value"], row["cand_value"]) == ("torch/eager", "tensorflow/graph")
    assert row["ratio"] == pytest.approx(1.1, rel=0.02)


def test_unpaired_processes_are_counted_and_left_out() -> None:
    f = Frames().run(1)
    f.result(1, "torch", 50, 1, steps(0.010, n=40, seed=1), processes=5)
    f.result(1, "torch", 50, 1, steps(0.010, n=56, seed=2), processes=7, threads=1)
    out = compare_by(f.results(), f.samples(), 1, "threads", base="2")
    row = out.iloc[0]
    assert (row["pairs"], row["unpaired"]) == (5, 2)
    assert row["verdict"] == "same"


def test_one_round_in_common_is_undetermined() -> None:
    f = Frames().run(1)
    f.result(1, "torch", 50, 1, steps(0.010, n=8, seed=1), processes=1)
    f.result(1, "torch", 50, 1, steps(0.010, n=8, seed=2), processes=1, precision="bf16")
    out = compare_by(f.results(), f.samples(), 1, "precision")
    assert out["verdict"].tolist() == ["undetermined"]
    assert math.isnan(out["ratio_ci_low"].iloc[0])


def test_benjamini_hochberg_over_the_pairs() -> None:
    # A pair whose round differences are +1.0, +3.0, 0.0, +2.0, +1.5%: alone its p against
    # "no change" is 0.04, a regression; beside 16 unchanged pairs BH holds it back.
    changes = [0.01, 0.03, 0.0, 0.02, 0.015]
    alone, crowd = Frames().run(1), Frames().run(1)
    rng = np.random.default_rng(7)
    for depth in (50, 101, 152, 200):
        for batch in (1, 2, 4, 8):
            for precision in ("fp32", "bf16"):
                xs = steps(0.01 * batch, spread=0.02, seed=int(rng.integers(1_000_000)))
                crowd.result(1, "torch", depth, batch, xs, precision=precision)
    for f in (alone, crowd):
        f.result(1, "torch", 50, 16, _rounds(0.1, [0.0] * 5, seed=3, jitter=0.0))
        f.result(1, "torch", 50, 16, _rounds(0.1, changes, seed=4, jitter=0.0), precision="bf16")
    one = only_row(compare_by(alone.results(), alone.samples(), 1, "precision", threshold=0.0),
                   batch_size=16)  # fmt: skip
    many = compare_by(crowd.results(), crowd.samples(), 1, "precision", threshold=0.0)
    assert len(many) == 17
    held = only_row(many, batch_size=16)
    assert one["p_value"] == pytest.approx(held["p_value"]) == pytest.approx(0.04, abs=0.005)
    assert one["verdict"] == "regression"
    assert held["verdict"] == "same"


def test_each_candidate_value_is_its_own_benjamini_hochberg_family() -> None:
    """env base / twin / slow: 'slow' is 20% slower in 8 cases; the twin differs from base
    in one case by rounds +1.0, +3.0, +1.0, +2.0, +1.5% (p 0.010). Over one family of 16
    pairs the slow candidate's 8 p-values of 0 would lift BH's bar for it to 9/16 x 5% =
    0.028 (a regression); per candidate value it stands beside its own 7 unchanged pairs,
    the bar 5%/8 = 0.006."""
    f = Frames().run(1)
    changes = [0.01, 0.03, 0.01, 0.02, 0.015]
    for k, batch in enumerate((1, 2, 4, 8, 16, 32, 64, 128)):
        for env, level in (("base", 1.0), ("twin", 1.0), ("slow", 1.2)):
            shifts = changes if (env, batch) == ("twin", 1) else [0.0] * 5
            xs = _rounds(0.01 * batch * level, shifts, seed=10 * k, jitter=0.0)
            f.result(1, "torch", 50, batch, xs, env=env)
    out = compare_by(f.results(), f.samples(), 1, "env", "base", 0.0, ["base", "twin", "slow"])
    slow = out[out["cand_value"] == "slow"]
    assert (slow["verdict"] == "regression").all() and len(slow) == 8
    twin = only_row(out[out["cand_value"] == "twin"], batch_size=1)
    assert twin["p_value"] == pytest.approx(0.010, abs=0.001)
    assert twin["verdict"] == "same"


def test_bad_axis_and_base_name_the_allowed_ones(precisions: Frames) -> None:
    df, samples = precisions.results(), precisions.samples()
    with pytest.raises(AxisError, match=r"unknown --by 'colour'; allowed: framework, depth"):
        compare_by(df, samples, 1, "colour")
    with pytest.raises(AxisError, match=r"--base 'fp16' is not a precision of run 1.*'fp32'"):
        compare_by(df, samples, 1, "precision", base="fp16")
    with pytest.raises(AxisError, match=r"run 1 has one device \('cpu'\)"):
        compare_by(df, samples, 1, "device")
    assert "framework" in CASE_FIELDS  # the axes are the case's fields


# ----------------------------------------------------------------------------- the CLI


def _measurement(case: Case, step_s: float, rng: random.Random) -> Measurement:
    owner = [i // 6 for i in range(30)]
    offsets = [rng.gauss(0.0, 0.01) for _ in range(5)]
    samples = [int(step_s * 1e9 * (1 + offsets[p] + 0.005 * rng.uniform(-1, 1))) for p in owner]
    return Measurement(
        case=case,
        samples_ns=samples,
        sample_process=owner,
        warmup_steps=2,
        first_step_ns=int(step_s * 3e9),
        threads_intra=case.threads,
        threads_inter=1,
    )


@pytest.fixture
def db(tmp_path: Path) -> str:
    """One run: torch r50 at threads 2 and 1, batch 1 and 8; threads 1 is 30% slower at
    b8 and the same at b1. The plan names threads 2 first."""
    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    rng = random.Random(5)
    cases = [Case("torch", 50, b, threads=t) for t in (2, 1) for b in (1, 8)]
    with open_store(url) as store:
        run_id = store.begin_run(
            label="threads",
            command="resnet-bench run",
            profile="quick",
            source="cli",
            machine=fake_machine(gpu_count=0, gpu_name=None),
            environment=fake_environment(),
            plan=PlanRecord(cases=tuple(cases)),
        )
        for case in reversed(cases):  # stored in the other order: the plan's order counts
            slow = 1.3 if (case.threads, case.batch_size) == (1, 8) else 1.0
            store.add_result(run_id, _measurement(case, 0.01 * case.batch_size * slow, rng))
        store.finish_run(run_id)
    return url


def test_cli_compare_by_threads(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "1", "--by", "threads", "--db", db]) == 1
    out = capsys.readouterr().out
    assert "--by threads, each against 2, paired by round" in out
    assert "1 regression" in out and "1 same" in out
    assert main(["compare", "latest", "--by", "threads", "--json", "--db", db]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert (doc["by"], doc["base_value"], doc["cand_values"]) == ("threads", "2", ["1"])
    assert doc["base"]["id"] == doc["cand"]["id"] == 1
    assert doc["threshold"] == pytest.approx(stats.PAIRED_THRESHOLD)
    by_batch = {c["batch_size"]: c for c in doc["cases"]}
    assert by_batch[8]["verdict"] == "regression" and by_batch[8]["pairs"] == 5
    assert by_batch[8]["ratio"] == pytest.approx(1.3, rel=0.02)
    assert by_batch[1]["verdict"] == "same"
    # The candidate named as the base: the slowdown reads as an improvement, exit 0.
    assert main(["compare", "1", "--by", "threads", "--base", "1", "--db", db]) == 0
    assert "1 improvement" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--by", "colour"], "unknown --by 'colour'; allowed: framework"),
        (["--by", "threads", "--base", "4"], "--base '4' is not a threads of run 1"),
        (["--by", "depth"], "run 1 has one depth ('50')"),
        (["2", "--by", "threads"], "--by compares inside one run"),
        (["--base", "1"], "--base names a value of the --by axis"),
        ([], "compare needs two runs (BASE CAND), or one run with --by AXIS"),
        (["--by", "threads", "--threshold", "x"], "bad --threshold 'x'"),
    ],
)
def test_cli_compare_by_bad_input(
    db: str, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", "1", *argv, "--db", db]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_compare_by_env_takes_the_first_named_environment_as_base() -> None:
    f = Frames().run(1)
    for env, level, seed in (("off", 0.0115, 1), ("base", 0.010, 2)):
        for batch in (1, 8):
            f.result(1, "torch", 50, batch, steps(level * batch, seed=seed + batch), env=env)
    out = compare_by(f.results(), f.samples(), 1, "env", order=["base", "off"])
    assert set(out["base_value"]) == {"base"} and set(out["cand_value"]) == {"off"}
    assert out["verdict"].tolist() == ["regression", "regression"]
    assert out["ratio"].tolist() == pytest.approx([1.15, 1.15], rel=0.02)
    # Without the plan's order: the environment stored first.
    assert set(compare_by(f.results(), f.samples(), 1, "env")["base_value"]) == {"off"}
