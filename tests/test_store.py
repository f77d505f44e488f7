"""The result store on SQLite and PostgreSQL: runs and results round-trip, nothing lost."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import signal
import sqlite3
from dataclasses import replace
from datetime import UTC
from typing import Any

import pytest
from sqlalchemy.orm import Session

import results
from results.db import STAT_COLUMNS
from results.engine import StoreError
from results.store import DuplicateResultError, UnknownRunError, open_store
from tests.support.store import (
    BACKENDS,
    backend_url,
    begin,
    case,
    fake_environment,
    fake_machine,
    measurement,
    sqlite_file,
)
from vocab.case import CASE_FIELDS
from vocab.measurement import Measurement
from vocab.messages import PlanRecord
from vocab.stats import summarize

db_url = pytest.fixture(params=BACKENDS)(backend_url)


def test_round_trip(db_url: str) -> None:
    m = measurement(batch_size=8, n=40, ci_target_met=True)
    failed = Measurement.failed(case(16, "tensorflow"), "oom", "ResourceExhaustedError: OOM")
    with open_store(db_url) as store:
        plan = PlanRecord(timeout_s=60.0, seed=4)
        run_id = begin(store, label="round trip", system={"load_avg_1m": 0.1}, plan=plan)
        result_id = store.add_result(run_id, m)
        store.add_result(run_id, failed)
        store.finish_run(run_id)
        info = store.get_run(run_id)
        assert store.get_plan(run_id) == plan
    assert (info.label, info.status, info.source, info.profile) == (
        "round trip", "finished", "cli", "quick",
    )  # fmt: skip
    assert info.started_at.tzinfo == UTC
    assert info.finished_at is not None and info.finished_at >= info.started_at
    assert info.machine["gpus"] == fake_machine()["gpus"]
    assert info.environment["framework_info"] == fake_environment()["framework_info"]
    assert info.system == {"load_avg_1m": 0.1}
    assert info.ceilings == [
        {"device": "cpu", "precision": "fp32", "gflops": 2000.0, "details": None, "env": ""}
    ]
    assert (info.n_ok, info.n_failed, info.n_skipped) == (1, 1, 0)

    df = results.load(db_url)
    assert len(df) == 2
    ok = df[df.status == "ok"].iloc[0]
    assert ok.result_id == result_id
    for name, value in zip(CASE_FIELDS, m.case.key(), strict=True):
        assert ok[name] == value
    expected = summarize(
        [s / 1e9 for s in m.samples_ns], 8, 4.1, "inference", process_ids=m.sample_process
    )
    for name in STAT_COLUMNS:
        if name in ("flags", "left_out"):  # JSON columns
            assert json.loads(ok[name]) == expected.to_dict()[name], name
            continue
        assert ok[name] == pytest.approx(getattr(expected, name)), name
    assert ok.n_samples == 40 and ok.first_step_s == pytest.approx(2.5)
    assert ok.ceiling_gflops == 2000.0
    assert expected.gflops_per_s is not None
    assert ok.ceiling_share == pytest.approx(expected.gflops_per_s / 2000.0)
    assert ok.machine_gpu == "2x NVIDIA H100 80GB HBM3"
    assert json.loads(ok.framework_build) == fake_environment()["framework_info"]["torch"]
    assert json.loads(ok.env_vars) == fake_environment()["env_vars"]
    bad = df[df.status == "oom"].iloc[0]
    assert bad.reason == "ResourceExhaustedError: OOM" and bad.n_samples == 0
    assert math.isnan(bad.median_s) and bad["flags"] is None and bad.ci_df is pd_na()

    samples = results.load_samples(db_url, [run_id])
    assert list(samples.columns[:4]) == ["run_id", "result_id", "process", "round"]
    assert samples["duration_ns"].tolist() == m.samples_ns
    assert samples["process"].tolist() == m.sample_process
    assert samples["round"].tolist() == m.sample_process  # one process per round here
    assert samples["started_ns"].tolist() == m.sample_start_ns
    assert samples["index"].tolist() == list(range(40))

    procs = results.load_processes(db_url, [run_id])
    assert procs["process"].tolist() == [0, 1] and procs["round"].tolist() == [0, 1]
    assert procs["pid"].tolist() == [1000, 1001]
    assert procs["startup_s"].tolist() == [2.0, 2.0] and procs["n_samples"].tolist() == [20, 20]
    values = m.process_values_s()
    assert procs["value_s"].tolist() == pytest.approx([values[0], values[1]])
    assert ok.value_s == pytest.approx(math.sqrt(values[0] * values[1]))
    assert str(procs["started_at"].iloc[1]) == "2026-09-21 14:13:30+00:00"  # 1790000010 s


def pd_na() -> object:
    import pandas as pd

    return pd.NA


def test_undefined_statistics_are_null(db_url: str) -> None:
    with open_store(db_url) as store:
        run_id = begin(store)
        store.add_result(run_id, measurement(n=3, processes=1))  # one process: no CI
    row = results.load(db_url).iloc[0]
    assert math.isnan(row.ci_rel) and row.median_s > 0


def test_identical_machines_and_environments_are_shared(db_url: str) -> None:
    with open_store(db_url) as store:
        first, second = begin(store), begin(store)
        other = begin(store, machine=fake_machine(hostname="bench-02"))
        runs = {r.id: r for r in store.list_runs()}
    assert runs[first].machine["id"] == runs[second].machine["id"] != runs[other].machine["id"]
    assert runs[first].environment["id"] == runs[other].environment["id"]


def test_ceiling_falls_back_to_fp32(db_url: str) -> None:
    ceilings = [
        {"device": "cuda:0", "precision": "fp32", "gflops": 50_000.0},
        {"device": "cuda:0", "precision": "bf16", "gflops": 400_000.0},
    ]
    with open_store(db_url) as store:
        run_id = begin(
            store, ceilings=[*ceilings, {"device": "cpu", "precision": "fp32", "gflops": 900.0}]
        )
        for precision in ("bf16", "fp16"):
            c = case(8, device="cuda", precision=precision)
            store.add_result(
                run_id, Measurement(case=c, samples_ns=[10**7] * 10, gmacs_per_image=4.1)
            )
    df = results.load(db_url).set_index("precision")
    assert df.loc["bf16", "ceiling_gflops"] == 400_000.0
    assert df.loc["fp16", "ceiling_gflops"] == 50_000.0  # no fp16 ceiling: fp32's
    with open_store(db_url) as store:
        assert len(store.get_run(run_id).ceilings) == 3


def test_each_environment_takes_its_own_ceiling(db_url: str) -> None:
    """An A/B run measures a ceiling in each environment (a variable that caps oneDNN at AVX2
    lowers the matmul rate too): a case's share is of its own environment's. A ceiling
    without an environment (a run without --env, or stored before ceilings were per
    environment) serves the cases of environments that have none."""
    ceilings = [
        {"device": "cpu", "precision": "fp32", "gflops": 1000.0, "env": "base"},
        {"device": "cpu", "precision": "fp32", "gflops": 400.0, "env": "avx2"},
    ]
    with open_store(db_url) as store:
        run_id = begin(store, ceilings=ceilings)
        old = begin(store, ceilings=[{"device": "cpu", "precision": "fp32", "gflops": 800.0}])
        for rid, env in ((run_id, "base"), (run_id, "avx2"), (old, "base"), (old, "avx2")):
            store.add_result(rid, replace(measurement(8), case=case(8, env=env)))
        assert {c["env"]: c["gflops"] for c in store.get_run(run_id).ceilings} == {
            "base": 1000.0,
            "avx2": 400.0,
        }
    df = results.load(db_url).set_index(["run_id", "env"])
    assert df.loc[(run_id, "base"), "ceiling_gflops"] == 1000.0
    assert df.loc[(run_id, "avx2"), "ceiling_gflops"] == 400.0
    share = df.loc[(run_id, "avx2"), "ceiling_share"] / df.loc[(run_id, "base"), "ceiling_share"]
    gflops = df.loc[(run_id, "avx2"), "gflops_per_s"] / df.loc[(run_id, "base"), "gflops_per_s"]
    assert share == pytest.approx(2.5 * gflops)
    assert (
        df.loc[(old, "base"), "ceiling_gflops"] == df.loc[(old, "avx2"), "ceiling_gflops"] == 800.0
    )


def test_duplicate_case_is_refused_and_writes_nothing(db_url: str) -> None:
    with open_store(db_url) as store:
        run_id = begin(store)
        store.add_result(run_id, measurement(8))
        with pytest.raises(DuplicateResultError, match=rf"run {run_id} already has a result"):
            store.add_result(run_id, measurement(8, n=10, seed=1))
        other_run = begin(store)
        store.add_result(other_run, measurement(8))  # unique within a run only
    assert len(results.load_samples(db_url, [run_id])) == 40


def test_unknown_runs_name_the_known_range(db_url: str) -> None:
    with open_store(db_url) as store:
        with pytest.raises(UnknownRunError, match="unknown run 5: the database has no runs yet"):
            store.get_run(5)
        first = begin(store)
        last = begin(store)
        with pytest.raises(UnknownRunError, match=rf"unknown run 99; known runs: {first}-{last}"):
            store.add_result(99, measurement())
        with pytest.raises(UnknownRunError):
            results.load(store, [first, 99])
        with pytest.raises(ValueError, match="unknown final run status 'done'"):
            store.finish_run(first, "done")
        with pytest.raises(ValueError, match="unknown run source 'cron'"):
            begin(store, source="cron")


def test_reopen_run_checks_the_machine(db_url: str) -> None:
    with open_store(db_url) as store:
        run_id = begin(store)
        store.finish_run(run_id, "interrupted")
        with pytest.raises(StoreError, match="measured on another machine"):
            store.reopen_run(run_id, machine=fake_machine(hostname="elsewhere"))
        info = store.reopen_run(run_id, machine=fake_machine())
        assert info.status == "running" and info.finished_at is None


# --- nothing lost -------------------------------------------------------------------------

# Writers are forked: separate processes with their own connections, without paying the
# imports again in each (that would dominate the test on a small machine).
needs_fork = pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="needs the fork start method"
)
FORK = (
    multiprocessing.get_context("fork")
    if "fork" in multiprocessing.get_all_start_methods()
    else None
)


def _killed_run(url: str) -> None:
    store = open_store(url)
    run_id = begin(store, label="killed")
    for batch in (1, 2, 4):
        store.add_result(run_id, measurement(batch))

    def die(self: Session) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    # The 4th case dies in flight: its rows are written, the commit never comes.
    Session.commit = die  # type: ignore[method-assign]
    store.add_result(run_id, measurement(8))


@needs_fork
def test_killed_run_keeps_finished_cases_and_resumes_without_duplicates(db_url: str) -> None:
    assert FORK is not None
    child = FORK.Process(target=_killed_run, args=(db_url,))
    child.start()
    child.join(timeout=120)
    assert child.exitcode == -signal.SIGKILL

    path = sqlite_file(db_url)
    if path is not None:
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.close()
    with open_store(db_url) as store:
        [info] = store.list_runs()
        run_id = info.id
        assert info.status == "running" and info.n_ok == 3
        plan = [case(b) for b in (1, 2, 4, 8)]
        finished = store.finished_keys(run_id)
        todo = [c for c in plan if c.key() not in finished]
        assert todo == [case(8)]
        store.reopen_run(run_id)
        for c in todo:
            store.add_result(run_id, measurement(c.batch_size))
        with pytest.raises(DuplicateResultError):
            store.add_result(run_id, measurement(1))
        store.finish_run(run_id)
    df = results.load(db_url, [run_id])
    assert sorted(df.batch_size) == [1, 2, 4, 8]
    assert len(results.load_samples(db_url, [run_id])) == 4 * 40


RESULTS_PER_WRITER = 12


def _writer(url: str, go: Any) -> None:
    go.wait(60)  # start together, so the writers really overlap
    store = open_store(url)
    run_id = begin(store, label="writer")
    for batch in range(1, RESULTS_PER_WRITER + 1):
        store.add_result(run_id, measurement(batch, n=50))
    store.finish_run(run_id)


@needs_fork
def test_concurrent_writers_lose_nothing(db_url: str) -> None:
    assert FORK is not None
    writers = 4
    go = FORK.Event()
    procs = [FORK.Process(target=_writer, args=(db_url, go)) for _ in range(writers)]
    for p in procs:
        p.start()
    go.set()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0] * writers

    df = results.load(db_url)
    assert len(df) == writers * RESULTS_PER_WRITER
    assert df.groupby("run_id").size().tolist() == [RESULTS_PER_WRITER] * writers
    assert df.machine_id.nunique() == 1 and df.environment_id.nunique() == 1
    assert (df.run_status == "finished").all()
    assert len(results.load_samples(db_url)) == writers * RESULTS_PER_WRITER * 50


def test_pipelined_throughput_is_stored_with_its_k(db_url: str) -> None:
    m = measurement(n=20, processes=2)
    m.pipeline_steps = 10
    for rec, ns in zip(m.process_records, (40_000_000, 90_000_000), strict=True):
        rec.pipelined_ns = ns
    with open_store(db_url) as store:
        run_id = begin(store)
        store.add_result(run_id, m)
    [row] = results.load(db_url).to_dict("records")
    assert row["pipeline_steps"] == 10
    assert row["pipelined_s"] == pytest.approx(0.06)  # geometric mean of 40 and 90 ms
    assert row["pipelined_images_per_s"] == pytest.approx(8 / 0.06)
    assert results.load_processes(db_url)["pipelined_s"].tolist() == [0.04, 0.09]
