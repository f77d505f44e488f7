"""`run --dry-run` and the estimate `run` prints before it starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from results.store import open_store
from runners.host import machine_info
from suite.cli import main
from suite.estimate import (
    GUESS_BUILD_S,
    GUESS_STARTUP_S,
    PROBES_S,
    estimate,
    guess_step_s,
    history_from,
)
from suite.session import Plan
from tests.support.store import begin, case, measurement
from vocab.case import Case
from vocab.sampling import SamplingPolicy

POLICY = SamplingPolicy(min_processes=4, min_samples=10, min_time_s=1.0, warmup_window=0,
                        min_warmup=2, min_warmup_time_s=0.5)  # fmt: skip


def test_a_guess_scales_with_batch_and_mode() -> None:
    one = guess_step_s(Case("torch", 50, 1))
    assert guess_step_s(Case("torch", 50, 8)) == pytest.approx(8 * one)
    assert guess_step_s(Case("torch", 50, 1, mode="training")) == pytest.approx(3 * one)
    assert guess_step_s(Case("torch", 50, 1, device="cuda")) < one / 100


def test_estimate_without_history_adds_up() -> None:
    cases = [Case("torch", 50, 1, threads=1), Case("tensorflow", 50, 1, threads=1)]
    est = estimate(Plan(cases, POLICY, 60.0, "t"), {})
    for c in est.cases:
        step = guess_step_s(c.case)
        warm = max(2 * step, 0.5 + step)  # min_warmup steps, or the minimum time
        assert c.per_process_s == pytest.approx(GUESS_BUILD_S + warm + max(10 * step, 1.0))
        assert c.processes == 4 and c.source == "guess"
    startup = 4 * (GUESS_STARTUP_S["torch"] + GUESS_STARTUP_S["tensorflow"])
    assert est.startup_s == pytest.approx(startup)
    assert est.total_s == pytest.approx(sum(c.total_s for c in est.cases) + startup + PROBES_S)
    assert "0 timed from earlier runs on this machine, 2 guessed" in est.line()


def test_history_of_this_machine_is_used(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    with open_store(url) as store:
        run_id = begin(store, machine=machine_info())
        store.add_result(run_id, measurement(batch_size=8))  # about 0.1 s a step
        other = begin(store)  # another machine: not used
        store.add_result(other, measurement(batch_size=1))
        history = history_from(store, [case(8), case(1)])
    assert set(history) == {case(8).key()}
    step, setup, used = history[case(8).key()]
    assert used == run_id and 0.1 <= step <= 0.102
    assert setup == pytest.approx(0.3 + 3.0)  # build + warm-up of its processes
    est = estimate(Plan([case(8), case(1)], POLICY, 60.0, "t"), history)
    assert est.cases[0].source == f"run {run_id}"
    assert est.cases[0].per_process_s == pytest.approx(3.3 + max(10 * step, 1.0))
    assert est.cases[1].source == "guess"


def test_dry_run_lists_the_plan_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "r.sqlite"
    args = ["run", "--profile", "smoke", "--dry-run", "--db", f"sqlite:///{db}"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "plan: profile smoke, 8 case(s)" in out and "estimated at least" in out
    assert out.count("guess") >= 8  # no database yet: every case guessed
    assert not db.exists()
    assert main(["run", "--resume", "1", "--dry-run", "--db", f"sqlite:///{db}"]) == 2
    assert "does not go with --resume" in capsys.readouterr().err
