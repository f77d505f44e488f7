"""The run loop's contracts: interleaved rounds, adaptive stopping by processes, failures
and skips, resume of pending processes, and the import rule (the parent process never
loads a framework). Workers are faked; the store is a real SQLite file."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from results.store import Store, open_store
from suite import session
from tests.support.session import POLICY, FakeWorkers, Silent, fake_context
from vocab.case import Case
from vocab.measurement import Measurement

A = Case("torch", 50, 1, image_size=32, threads=1)
B = Case("torch", 50, 2, image_size=32, threads=1)
C = Case("tensorflow", 50, 1, image_size=32, threads=1)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'r.sqlite'}")


def _run(
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    workers: FakeWorkers,
    cases: list[Case],
    seed: int = 7,
    **ctx: Any,
) -> tuple[int | None, list[Measurement]]:
    monkeypatch.setattr(session, "run_round", workers)
    monkeypatch.setattr(session, "gather_context", lambda _c, _log, *_envs: fake_context(**ctx))
    plan = session.Plan(cases, POLICY, 60.0, "test", seed=seed)
    return session.execute(store, plan, Silent())


def _noisy(case: Case, index: int) -> float:
    # A: steady (stops at min_processes); B: +/-10% between processes (runs to the max).
    if case == B:
        return 0.1 * (1.1 if index % 2 else 0.9)
    return 0.1


def test_rounds_interleave_cases_and_add_processes_only_where_needed(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    workers = FakeWorkers(_noisy)
    run_id, ms = _run(store, monkeypatch, workers, [A, B, C])
    rounds = [r for r, _ in workers.calls]
    assert rounds == sorted(rounds)  # round r of every case before round r + 1 of any
    per_round = {r: {c for rr, g in workers.calls if rr == r for c in g} for r in set(rounds)}
    assert per_round[0] == per_round[1] == per_round[2] == {A, B, C}
    assert per_round[3] == {B}  # A and C met the CI target after 3 processes
    # One worker per framework per round: torch's cases share one.
    assert all(len({c.framework for c in g}) == 1 for _, g in workers.calls)
    by_case = {m.case: m for m in ms}
    assert by_case[A].processes == 3 and by_case[A].stop_reason == "ci target met"
    assert by_case[B].processes == POLICY.max_processes
    assert by_case[B].stop_reason == "max processes"
    stats = by_case[B].stats()
    assert stats is not None and stats.ci_rel > POLICY.ci_target and stats.processes == 6
    # Stored: every process with its round, nothing left pending.
    assert run_id is not None and store.pending(run_id) == []


def test_the_order_within_a_round_follows_the_recorded_seed(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    orders = []
    for seed in (1, 1, 2, 3, 4):
        workers = FakeWorkers(lambda _c, _i: 0.1)
        _run(store, monkeypatch, workers, [A, B, C], seed=seed)
        orders.append([tuple(g) for _, g in workers.calls])
    assert orders[0] == orders[1]
    assert len({tuple(o) for o in orders}) > 1


def test_a_failing_process_ends_only_its_case(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    workers = FakeWorkers(lambda c, i: "boom" if (c == A and i == 1) else 0.1)
    _, ms = _run(store, monkeypatch, workers, [A, C])
    by_case = {m.case: m for m in ms}
    assert by_case[A].status == "error"
    assert by_case[A].reason == "process 2 of 2: boom"
    assert len(by_case[A].samples_ns) == 10  # the good process's steps are kept
    assert by_case[C].status == "ok" and by_case[C].processes == 3


def test_a_device_the_probe_found_missing_is_skipped_without_a_worker(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = Case("tensorflow", 50, 1, device="cuda")
    workers = FakeWorkers(lambda _c, _i: 0.1)
    _, ms = _run(
        store,
        monkeypatch,
        workers,
        [case],
        device_skips={("tensorflow", "cuda"): "no GPU visible to TensorFlow"},
    )
    assert workers.calls == []
    assert [(m.status, m.reason) for m in ms] == [("skipped", "no GPU visible to TensorFlow")]


def test_resume_continues_pending_processes(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    def dies_in_round_two(case: Case, index: int) -> float:
        if index == 2:
            raise KeyboardInterrupt
        return 0.1

    with pytest.raises(KeyboardInterrupt):
        _run(store, monkeypatch, FakeWorkers(dies_in_round_two), [A])
    run_id = store.list_runs()[-1].id
    assert store.get_run(run_id).status == "interrupted"
    assert len(store.pending(run_id)) == 2
    plan = session.resume_plan(store, run_id)
    assert plan.seed == 7 and plan.cases == [A]
    workers = FakeWorkers(lambda _c, _i: 0.1)
    monkeypatch.setattr(session, "run_round", workers)
    _, ms = session.execute(store, plan, Silent(), resume=run_id)
    assert [r for r, _ in workers.calls] == [2]  # only the third process was missing
    assert ms[0].processes == 3 and store.pending(run_id) == []


def test_the_run_summary_shows_the_overhead(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    ui = Silent()
    monkeypatch.setattr(session, "run_round", FakeWorkers(lambda _c, _i: 0.1))
    monkeypatch.setattr(session, "gather_context", lambda _c, _log, *_envs: fake_context())
    session.execute(store, session.Plan([A, C], POLICY, 60.0, "test", seed=1), ui)
    line = ui.lines[-1]
    # 3 rounds x 2 frameworks = 6 workers of 1 s start-up each; 2 cases x 3 x 10 x 0.1 s.
    assert "6 workers, start-up 6 s (1.0 s each)" in line
    assert "6 s timed" in line
    # 6 case processes: 1 s of start-up each (one case per worker here), no build
    assert "fixed cost per case process 1.0 s" in line


def test_the_parent_process_never_imports_a_framework() -> None:
    code = (
        "import sys, suite.cli, suite.session, suite.pytest_plugin, results, results.store, "
        "results.html, results.analysis, runners.manager, networks, networks.verify\n"
        "from suite.cli import build_parser; build_parser()\n"
        "loaded = [m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules]\n"
        "print(','.join(loaded))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_a_framework_not_installed_is_skipped_naming_its_extra(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The core install has no framework: its cases end 'skipped' with the extra to install,
    without a probe or a worker; the other framework runs."""
    from vocab.runtimes import RUNTIMES

    tf, torch = RUNTIMES["tensorflow"], RUNTIMES["torch"]
    monkeypatch.setitem(RUNTIMES, "tensorflow", replace(tf, package="no_such_package_here"))
    monkeypatch.setitem(RUNTIMES, "torch", replace(torch, package="pytest"))  # here, installed
    probed: list[str] = []

    def fake_probe(fw: str, *_a: Any, **_k: Any) -> Any:
        from runners.probe import empty_result

        probed.append(fw)
        return empty_result(fw)

    monkeypatch.setattr(session, "probe", fake_probe)
    context = session.gather_context([A, C], lambda _m: None)
    reason = "tensorflow is not installed: pip install 'resnet-bench[tensorflow]'"
    assert probed == ["torch"] and context.device_skips == {("tensorflow", "cpu"): reason}
    monkeypatch.setattr(session, "gather_context", lambda _c, _log, *_envs: context)
    workers = FakeWorkers(lambda case, index: 0.01)
    monkeypatch.setattr(session, "run_round", workers)
    _, ms = session.execute(store, session.Plan([A, C], POLICY, 60.0, "test", seed=1), Silent())
    by_case = {m.case: m for m in ms}
    assert (by_case[C].status, by_case[C].reason) == ("skipped", reason)
    assert by_case[A].status == "ok" and all(C not in group for _r, group in workers.calls)
