"""Flags that name a trouble (vocab.flags), the warm-up rule, and statistics computed once
at the store write and read back (results.verify recomputes them only to check)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import sqlalchemy as sa
from alembic import command

import results
from results.analysis import stored_process_values
from results.engine import alembic_config
from results.store import open_store
from results.verify import mismatches
from tests.support.run_sim import QUICK
from tests.support.store import BACKENDS, backend_url, begin, measurement
from vocab.case import Case
from vocab.flags import (
    DRIFT_THRESHOLD,
    FLAG_KINDS,
    Flag,
    flags_text,
    left_out_positions,
    outlier_offsets,
    rounds_drift,
    warmup_excess,
)
from vocab.measurement import Measurement, ProcessRecord
from vocab.sampling import SamplingPolicy, _settled, stop_reason, time_steps
from vocab.stats import case_interval, geometric_interval, summarize

db_url = pytest.fixture(params=BACKENDS)(backend_url)


def blocks(levels: list[float], n: int = 10) -> tuple[list[float], list[int]]:
    """n identical steps per process at each level: process values = levels exactly."""
    return [v for v in levels for _ in range(n)], [p for p in range(len(levels)) for _ in range(n)]


# --- outlier process ---------------------------------------------------------------------


def test_one_process_off_the_others_is_flagged_and_left_out() -> None:
    levels = [1.00, 1.01, 0.99, 1.00, 1.25]
    assert list(outlier_offsets(levels)) == [4]
    s = summarize(*blocks(levels)[:1], 1, process_ids=blocks(levels)[1])
    (flag,) = s.flags
    assert (flag.kind, flag.process) == ("outlier", 4) and "left out" in flag.detail
    assert flag.text().startswith("outlier process 4: +25.0% off the others' median")
    assert s.left_out == (4,) and s.processes == 5
    assert s.value_s == pytest.approx(geometric_interval(levels[:4]).value)  # without it
    assert s.ci_df == 3


def test_the_rule_is_max_of_eight_percent_and_four_sd_of_the_others() -> None:
    assert outlier_offsets([1.0, 1.0, 1.0, 1.0, 1.07]) == {}  # 7% < 8%
    assert list(outlier_offsets([1.0, 1.0, 1.0, 1.0, 1.09])) == [4]
    # Others 5% apart (sd ~4%): 12% off is within 4 sd, so noise, not an outlier.
    assert outlier_offsets([0.95, 1.0, 1.05, 1.0, 1.12]) == {}
    assert outlier_offsets([1.0, 1.3]) == {}  # one other: no judgement


def test_an_outlier_is_kept_when_too_few_would_remain_or_too_many_are_off() -> None:
    # Three processes: leaving one out would leave two (a CI on 1 df): kept, and said.
    s = summarize(*blocks([1.0, 1.0, 1.3])[:1], 1, process_ids=blocks([1.0, 1.0, 1.3])[1])
    assert s.left_out == () and "kept" in s.flags[0].detail
    assert left_out_positions(8, {1: 0.2, 5: 0.2}) == (1, 5)  # two of eight: a quarter
    assert left_out_positions(8, {1: 0.2, 5: 0.2, 6: 0.2}) == ()


def test_the_stop_rule_checks_the_interval_the_store_keeps() -> None:
    policy = SamplingPolicy(min_processes=5, max_processes=10, ci_target=0.02)
    hit = [1.0, 1.002, 0.998, 1.001, 1.4]
    # With the hit process the CI is far wider than 2%; without it, well inside.
    assert geometric_interval(hit).rel > 0.1
    assert case_interval(hit, adaptive=True).interval.rel < 0.02
    assert stop_reason(hit, 1.0, policy) == "ci target met"


# --- drift -------------------------------------------------------------------------------


def test_drift_across_rounds_for_processes_too_short_for_thirds() -> None:
    levels = [1.0 + 0.03 * r for r in range(6)]  # +15% over six rounds, 3 steps each
    samples, ids = blocks(levels, n=3)
    s = summarize(samples, 1, process_ids=ids, rounds=list(range(6)))
    assert math.isnan(s.drift_rel)  # no thirds in 3 steps
    (flag,) = s.flags
    assert flag.kind == "drift_rounds" and "+15.0% from round 0 to 5" in flag.detail
    flat = summarize(*blocks([1.0, 1.01, 0.99, 1.0, 1.005, 0.995], n=3)[:1], 1,
                     process_ids=blocks([1.0] * 6, n=3)[1], rounds=list(range(6)))  # fmt: skip
    assert flat.flags == ()
    change, p = rounds_drift([1.0, 1.01, 0.99], [0, 1, 2])
    assert math.isnan(change) and math.isnan(p)  # too few rounds for a line
    assert DRIFT_THRESHOLD == 0.05


# --- warm-up -----------------------------------------------------------------------------


def test_warmup_is_judged_against_the_level_of_the_timed_steps() -> None:
    assert warmup_excess([5.0, 1.2, 1.1, 1.1], 1.0) == pytest.approx(0.1)
    assert math.isnan(warmup_excess([5.0], 1.0))  # the first step never counts
    samples, ids = blocks([1.0] * 4)
    late = {p: [5.0, 1.12, 1.10, 1.08] for p in range(4)}
    s = summarize(samples, 1, process_ids=ids, warmup_s=late, capped=[2])
    (flag,) = s.flags
    assert flag.kind == "warmup" and "+10.0% against the timed steps" in flag.detail
    assert "capped unsettled in process(es) 2" in flag.detail
    done = {p: [5.0, 1.01, 0.99, 1.0] for p in range(4)}
    assert summarize(samples, 1, process_ids=ids, warmup_s=done, capped=[2]).flags == ()


def geometric(k: int) -> float:
    return 1.0 + 0.3 * 0.85**k


def test_adjacent_windows_alone_pass_a_geometric_warmup_the_rule_does_not() -> None:
    # quick's window of 2 at 10%: the old rule (adjacent windows only) said settled after
    # 7 steps, with the first timed step 9.6% slow. The projection refuses it.
    ns = [int(1e8 * geometric(k)) for k in range(7)]
    last, before = np.median(ns[-2:]), np.median(ns[-4:-2])
    assert abs(last / before - 1) <= 0.10 and geometric(7) - 1 == pytest.approx(0.096, abs=1e-3)
    assert not _settled(ns, 2, 0.10)
    flat = [int(1e8 * v) for v in (3.0, 1.0, 1.02, 0.99, 1.01, 1.0)]
    assert _settled(flat, 2, 0.10)  # a level that stopped moving settles at once


@pytest.mark.parametrize("policy", [SamplingPolicy(), QUICK], ids=["default", "quick"])
def test_a_geometric_warmup_ends_near_its_floor_or_says_it_did_not_settle(
    policy: SamplingPolicy,
) -> None:
    clock = [0]
    k = [0]

    def step() -> None:
        clock[0] += int(0.05e9 * geometric(k[0]))
        k[0] += 1

    timing = time_steps(step, lambda _: None, policy, clock=lambda: clock[0])
    first_timed = timing.samples_ns[0] / 0.05e9 - 1.0
    assert (timing.warmup_stable and first_timed <= 0.02) or not timing.warmup_stable
    assert first_timed < 0.05


# --- the flag record ---------------------------------------------------------------------


def test_flags_are_small_json_records_with_a_registry_of_kinds() -> None:
    f = Flag("outlier", "+14.0% off the others' median (left out of the value)", 3)
    assert f.to_dict() == {"kind": "outlier", "process": 3, "detail": f.detail}
    assert Flag.from_dict(json.loads(json.dumps(f.to_dict()))) == f
    assert flags_text([f.to_dict(), {"kind": "legacy", "process": None, "detail": "x"}]) == (
        f"outlier process 3: {f.detail}; unstable (stored before flags): x"
    )
    with pytest.raises(ValueError, match="unknown flag kind 'odd'; allowed: outlier, drift"):
        Flag("odd", "")
    assert set(FLAG_KINDS) == {"outlier", "drift", "drift_rounds", "warmup", "legacy"}


# --- stored once, read back ----------------------------------------------------------------


def hit_measurement() -> Measurement:
    """Five processes of 10 steps, the last one 30% slow, with warm-up steps recorded."""
    rng = np.random.default_rng(5)
    parts = []
    for p in range(5):
        level = 0.1 * (1.3 if p == 4 else 1.0) * (1 + 0.005 * rng.standard_normal())
        steps = [int(level * (1 + 0.01 * rng.standard_normal()) * 1e9) for _ in range(10)]
        warm = [int(level * 3e9)] + [int(level * 1e9)] * 4
        record = ProcessRecord(index=p, round=p, warmup_steps=5, warmup_step_ns=warm,
                               measured_ns=sum(steps))  # fmt: skip
        parts.append(
            Measurement(Case("torch", 50, 1, threads=2), samples_ns=steps,
                        sample_process=[p] * 10, process_records=[record], adaptive=True)
        )  # fmt: skip
    return Measurement.merge(parts)


def test_statistics_are_stored_once_and_recompute_from_the_raw_steps(db_url: str) -> None:
    url = db_url
    m = hit_measurement()
    with open_store(url) as store:
        run_id = begin(store)
        store.add_result(run_id, m)
        store.add_result(run_id, measurement(processes=3))
        assert mismatches(store, [run_id]) == []
    df = results.load(url)
    row = df[df["processes"] == 5].iloc[0]
    assert json.loads(row["left_out"]) == [4] and row["ci_df"] == 2  # adaptive: n - 2
    assert [f["kind"] for f in json.loads(row["flags"])] == ["outlier"]
    procs = results.load_processes(url)
    assert procs[procs["result_id"] == row["result_id"]]["left_out"].tolist() == [
        False, False, False, False, True,
    ]  # fmt: skip
    values = stored_process_values(df)[int(row["result_id"])]
    assert len(values) == 4 and math.exp(np.log(values).mean()) == pytest.approx(row["value_s"])
    # compare and the report read the stored values: a stored value changed is what they see
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE process SET value_s = value_s * 2 WHERE idx = 0"))
        conn.execute(sa.text("UPDATE result SET value_s = value_s * 3"))
    engine.dispose()
    tampered = results.load(url)
    assert stored_process_values(tampered)[int(row["result_id"])][0] == pytest.approx(2 * values[0])
    with open_store(url) as store:
        found = mismatches(store, [run_id])
    assert found and all("value_s stored" in line for line in found)


def test_results_stored_as_unstable_keep_showing_as_legacy(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from suite.cli import main

    url = db_url
    with open_store(url) as store:
        run_id = begin(store)
        store.add_result(run_id, measurement(processes=2))
        store.add_result(run_id, measurement(batch_size=1, processes=2))
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0010")
        reason = "CI between processes +/-9.1% missed the +/-2% target"
        conn.execute(
            sa.text("UPDATE result SET unstable = (batch_size = 8), unstable_reason = :r"),
            {"r": reason},
        )
    engine.dispose()
    df = results.load(url)  # opening migrates it
    by_batch = {int(r["batch_size"]): json.loads(r["flags"]) for _, r in df.iterrows()}
    assert by_batch[1] == []
    assert by_batch[8] == [{"kind": "legacy", "process": None, "detail": reason}]
    assert main(["show", str(run_id), "--db", url]) == 0
    out = capsys.readouterr().out
    assert "legacy" in out and "unstable (stored before flags)" in out
