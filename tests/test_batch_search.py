"""`--batch-sizes auto`: the doubling rule, a search run with fake workers (oom, a
plateau, resume), the best batch in the report's data, and the CLI's parsing."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import results
from results import html
from results.batches import best_batches
from results.store import Store, open_store
from suite import session
from suite.batch_search import BatchSearch
from tests.support.session import POLICY, FakeWorkers, Silent, fake_context
from tests.support.store import begin
from vocab.case import Case
from vocab.measurement import Measurement

BASE = Case("torch", 50, 1, image_size=32, threads=1)


def at(batch: int, case: Case = BASE) -> Case:
    return dataclasses.replace(case, batch_size=batch)


def test_doubles_while_throughput_gains_and_stops_on_a_plateau_or_failure() -> None:
    search = BatchSearch()
    rates: dict[Case, float | None] = {at(1): 100.0}
    assert search.next_case(at(1), rates) == at(2)
    rates[at(2)] = 150.0
    assert search.next_case(at(2), rates) == at(4)
    rates[at(4)] = 150.0 * 1.031  # a gain of 3.1%: go on
    assert search.next_case(at(4), rates) == at(8)
    rates[at(8)] = rates[at(4)] * 1.029  # 2.9%: the plateau
    assert search.next_case(at(8), rates) is None
    rates[at(16)] = None  # oom (or any failure) ends it
    assert search.next_case(at(16), rates) is None
    assert BatchSearch(max_batch=4).next_case(at(4), {at(4): 1.0}) is None


def test_first_cases_are_one_per_group_at_the_start_batch() -> None:
    cases = [at(8), at(32), at(8, dataclasses.replace(BASE, mode="training"))]
    assert BatchSearch().first_cases(cases) == [at(1), at(1, cases[2])]


def _images_per_s(case: Case, _index: int) -> float | str:
    """Step time for the fake workers: throughput rises to batch 8, then flat; training
    runs out of memory at batch 4."""
    if case.mode == "training" and case.batch_size >= 4:
        return "CUDA out of memory"
    rate = {1: 100.0, 2: 180.0, 4: 300.0, 8: 400.0}.get(case.batch_size, 401.0)
    return case.batch_size / rate


def _oom_workers(value: Callable[[Case, int], float | str]) -> Callable[..., list[Measurement]]:
    """FakeWorkers whose failures are out-of-memory ones."""
    workers = FakeWorkers(value)

    def call(*args: Any) -> list[Measurement]:
        out = workers(*args)
        return [dataclasses.replace(m, status="oom") if m.status == "error" else m for m in out]

    return call


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'r.sqlite'}")


def test_a_search_run_grows_its_cases_and_names_the_best_batch(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    call = _oom_workers(_images_per_s)
    monkeypatch.setattr(session, "run_round", call)
    monkeypatch.setattr(session, "gather_context", lambda _c, _log, *_envs: fake_context())
    training = dataclasses.replace(BASE, mode="training")
    search = BatchSearch()
    plan = session.Plan(search.first_cases([BASE, training]), POLICY, 60.0, "t", seed=1)
    plan.batch_search = search
    run_id, ms = session.execute(store, plan, Silent())
    got = {(m.case.mode, m.case.batch_size): m.status for m in ms}
    # inference: 1, 2, 4, 8 gain >= 3%; 16 gains 0.25%: stop. training: oom at 4.
    assert got == {
        ("inference", 1): "ok", ("inference", 2): "ok", ("inference", 4): "ok",
        ("inference", 8): "ok", ("inference", 16): "ok",
        ("training", 1): "ok", ("training", 2): "ok", ("training", 4): "oom",
    }  # fmt: skip
    # the stored plan holds every case the search added, for --resume
    assert run_id is not None
    stored = store.get_plan(run_id)
    assert stored is not None and len(stored.cases) == 8 and stored.batch_search
    best = best_batches(results.load(store, [run_id])).set_index("mode")
    assert best.loc["inference", "best_batch"] == 16
    assert best.loc["inference", "batches"] == "1, 2, 4, 8, 16"
    assert best.loc["inference", "gain_over_half"] == pytest.approx(401 / 400 - 1, rel=1e-4)
    assert best.loc["training", "best_batch"] == 2
    assert best.loc["training", "largest_status"] == "oom"
    page = html.render_report(results.load(store), results.load_samples(store), [run_id])
    assert "<h2>Best batch</h2>" in page
    assert "torch/eager r50 cpu inference fp32 32px</td><td>1, 2, 4, 8, 16</td>" in page


def test_a_resumed_search_compares_with_the_batches_stored_before(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def dies_at_batch_16(case: Case, index: int) -> float | str:
        if case.batch_size == 16:
            raise KeyboardInterrupt
        return _images_per_s(case, index)

    monkeypatch.setattr(session, "run_round", FakeWorkers(dies_at_batch_16))
    monkeypatch.setattr(session, "gather_context", lambda _c, _log, *_envs: fake_context())
    search = BatchSearch()
    plan = session.Plan([BASE], POLICY, 60.0, "t", seed=1, batch_search=search)
    with pytest.raises(KeyboardInterrupt):
        session.execute(store, plan, Silent())
    run_id = store.list_runs()[-1].id
    resumed = session.resume_plan(store, run_id)
    assert resumed.cases == [at(16)] and resumed.batch_search == search
    workers = FakeWorkers(_images_per_s)
    monkeypatch.setattr(session, "run_round", workers)
    _, ms = session.execute(store, resumed, Silent(), resume=run_id)
    # 16 gains 0.25% over the 8 stored before the interruption: the search ends there
    assert [m.case.batch_size for m in ms] == [16]
    assert {c.batch_size for _, group in workers.calls for c in group} == {16}


def test_a_group_with_one_batch_has_no_best_batch(store: Store) -> None:
    run_id = begin(store)
    store.add_result(run_id, Measurement(case=BASE, samples_ns=[10**7] * 3))
    assert best_batches(results.load(store, [run_id])).empty


def test_cli_parses_auto_and_names_it_in_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from suite.cli import main

    db = ["--db", f"sqlite:///{tmp_path / 'r.sqlite'}"]
    with pytest.raises(SystemExit) as exited:
        main(["run", "--batch-sizes", "0", "--dry-run", *db])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "batch size must be a positive integer, got '0' (or auto)" in err
    code = main(
        [
            "run",
            "--batch-sizes",
            "auto",
            "--frameworks",
            "torch",
            "--depths",
            "50",
            "--dry-run",
            *db,
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "torch/eager r50 b1 " in out and " b8 " not in out
    assert "batch search: each group starts at batch 1 and doubles" in out
