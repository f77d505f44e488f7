"""The run loop as one object (suite.scheduler.Scheduler): rounds, pending processes,
stopping, batch-search growth only at the checkpoint between rounds; and a session of
several environments: every case in every environment in every round, one worker per
environment, each with its interpreter and variables. Workers are faked."""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from results.store import open_store
from suite import session
from suite.batch_search import BatchSearch
from suite.cli import main
from suite.environments import EnvSpec
from suite.scheduler import Scheduler, round_order
from tests.support.session import POLICY, FakeWorkers, Silent, fake_context
from vocab.case import Case
from vocab.measurement import Measurement, ProcessRecord

A = Case("torch", 50, 1, image_size=32, threads=1)
C = Case("tensorflow", 50, 1, image_size=32, threads=1)


class Sink:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def finished(self, m: Measurement) -> None:
        self.events.append(("finished", m.case))

    def pending(self, round_: int, m: Measurement) -> None:
        self.events.append(("pending", (round_, m.case)))

    def grown(self, planned: Sequence[Case], added: Sequence[Case]) -> None:
        self.events.append(("grown", (tuple(planned), list(added))))


def _ok(case: Case, index: int, round_: int, value: float) -> Measurement:
    ns = [int(value * 1e9)] * 5
    rec = ProcessRecord(index=index, round=round_, measured_ns=sum(ns))
    return Measurement(case=case, samples_ns=ns, sample_process=[index] * 5, process_records=[rec])


def _drive(sched: Scheduler, value: Any) -> list[list[list[Case]]]:
    """Run the loop with fake results; every round's groups, as the scheduler gave them."""
    rounds = []
    while groups := sched.next_round():
        rounds.append(groups)
        before = sched.cases
        for group in groups:
            got = [value(c, sched.processes(c), sched.round) for c in group]
            sched.record(got)
            assert sched.cases == before  # nothing joins mid-round
    return rounds


def test_a_batch_search_grows_only_between_rounds() -> None:
    # Throughput doubles with the batch up to 4, then stops gaining: the search grows
    # b1 -> b2 -> b4 -> b8 and ends there.
    sink = Sink()
    search = BatchSearch()
    sched = Scheduler([A], POLICY, 1, sink, batch_search=search)

    def value(case: Case, index: int, round_: int) -> Measurement:
        step = 0.01 * (1 if case.batch_size <= 4 else case.batch_size / 4)
        return _ok(case, index, round_, step)

    rounds = _drive(sched, value)
    batches = [c.batch_size for c in sched.cases]
    assert batches == [1, 2, 4, 8]
    # Each grown case first appears in the round after the one its parent finished in.
    first_round = {
        c.batch_size: next(i for i, r in enumerate(rounds) if any(c in g for g in r))
        for c in sched.cases
    }
    assert first_round == {1: 0, 2: 3, 4: 6, 8: 9}
    # The grown plan is handed on before the result that led to it.
    kinds = [k for k, _ in sink.events if k != "pending"]
    assert kinds[:2] == ["grown", "finished"]
    planned, added = sink.events[[k for k, _ in sink.events].index("grown")][1]
    assert [c.batch_size for c in planned] == [1, 2] and [c.batch_size for c in added] == [2]
    assert [m.case.batch_size for m in sched.measurements()] == [1, 2, 4, 8]


def test_a_failure_mid_round_finishes_its_case_and_its_growth_waits() -> None:
    sink = Sink()
    sched = Scheduler([A, C], POLICY, 3, sink, batch_search=BatchSearch())

    def value(case: Case, index: int, round_: int) -> Measurement:
        if case.framework == "tensorflow" and case.batch_size == 1:
            return Measurement.failed(case, "oom", "out of memory")
        return _ok(case, index, round_, 0.01 / case.batch_size**0.5)

    _drive(sched, value)
    statuses = {(m.case.framework, m.case.batch_size): m.status for m in sched.measurements()}
    assert statuses[("tensorflow", 1)] == "oom"  # oom ends its group's doubling
    assert ("tensorflow", 2) not in statuses
    assert statuses[("torch", 1)] == "ok" and ("torch", 2) in statuses


def test_pending_processes_resume_where_they_were() -> None:
    sink = Sink()
    done = [_ok(A, 0, 0, 0.01), _ok(A, 1, 1, 0.01)]
    sched = Scheduler([A, C], POLICY, 3, sink, pending=done)
    assert sched.round == 2 and sched.processes(A) == 2 and sched.processes(C) == 0
    groups = sched.next_round()
    assert {c for g in groups for c in g} == {A, C}


@settings(deadline=None)  # the examples: the profile's (tests/conftest.py)
@given(
    n_envs=st.integers(1, 4),
    batches=st.lists(st.integers(1, 8), min_size=1, max_size=4, unique=True),
    seed=st.integers(0, 2**31 - 1),
)
def test_round_order_interleaves_environments(n_envs: int, batches: list[int], seed: int) -> None:
    envs = [f"e{i}" for i in range(n_envs)]
    cases = [
        Case(fw, 50, b, image_size=32, threads=1, env=e)
        for fw in ("torch", "tensorflow")
        for b in batches
        for e in envs
    ]
    groups = round_order(cases, random.Random(seed))
    # every case once; a worker never mixes environments (or frameworks)
    assert sorted(c for g in groups for c in g) == sorted(cases)
    for g in groups:
        assert len({(c.env, c.framework) for c in g}) == 1
    assert len(groups) == 2 * n_envs


def test_a_session_measures_every_case_in_every_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    envs = [
        EnvSpec("on", None, (("TF_ENABLE_ONEDNN_OPTS", "1"),)),
        EnvSpec("new", "/venvs/new/bin/python", (("X", "1"),)),
    ]
    cases = [dataclasses.replace(c, env=e.name) for c in (A, C) for e in envs]
    workers = FakeWorkers(lambda case, _i: 0.1 if case.env == "on" else 0.11)
    monkeypatch.setattr(session, "run_round", workers)
    from results.environment import environment_info

    def software(name: str) -> Any:
        info = environment_info()
        info["env_vars"] = {"X": name}
        return {"name": name, "python": None, "variables": {"X": name}, "software": info}

    context = fake_context(
        env_skips={
            ("new", "tensorflow", "cpu"): "tensorflow is not installed in environment 'new'"
        },
        named=[software(e.name) for e in envs],
    )
    monkeypatch.setattr(session, "gather_context", lambda *_a: context)
    plan = session.Plan(cases, POLICY, 60.0, "test", seed=5, environments=envs, env_check={})
    with open_store(f"sqlite:///{tmp_path / 'r.sqlite'}") as store:
        run_id, ms = session.execute(store, plan, Silent())
        stored = store.get_plan(run_id or 0)
    by = {(m.case.framework, m.case.env): m for m in ms}
    assert by[("tensorflow", "new")].status == "skipped"
    assert "environment 'new'" in (by[("tensorflow", "new")].reason or "")
    assert all(by[k].status == "ok" for k in by if k != ("tensorflow", "new"))
    # each round: every measured case once, each environment's worker with its settings
    rounds: dict[int, list[Case]] = {}
    for (r, group), options in zip(workers.calls, workers.options, strict=True):
        rounds.setdefault(r, []).extend(group)
        env = next(e for e in envs if e.name == group[0].env)
        assert options == {"python": env.python, "variables": env.vars}
    for got in rounds.values():
        assert sorted(got) == sorted(c for c in cases if c != dataclasses.replace(C, env="new"))
    assert stored is not None and [e["name"] for e in stored.environments] == ["on", "new"]
    # --resume rebuilds the environments from the stored plan
    with open_store(f"sqlite:///{tmp_path / 'r.sqlite'}") as store:
        again = session.resume_plan(store, run_id or 0)
    assert again.environments == envs and again.cases == []
    # compare --by env names what differs between the environments
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    capsys.readouterr()
    main(["compare", str(run_id), "--by", "env", "--json", "--db", db])
    doc = json.loads(capsys.readouterr().out)
    assert {"setting": "env:X", "values": {"on": "on", "new": "new"}} in doc["environment"]
    assert {c["base_value"] for c in doc["cases"]} == {"on"}
    main(["compare", str(run_id), "--by", "env", "--db", db])
    shown = capsys.readouterr().out
    assert "env:X" in shown and "@on" not in shown
