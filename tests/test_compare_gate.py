"""Issue 22: a compare whose candidate lost what the base measured (a case killed, timed out
or out of memory where the base has it, or an interrupted candidate with no result) exits
1, unless --allow-missing; the summary says which. Run-vs-run and paired (--by) alike."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from results.store import open_store
from suite.cli import main
from tests.support.store import begin, case, measurement
from vocab.measurement import Measurement
from vocab.messages import PlanRecord


def _db(tmp_path: Path, cand: list[Measurement]) -> str:
    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    with open_store(url) as store:
        base = begin(store, label="base")
        for b in (1, 2):
            store.add_result(base, measurement(b, processes=3))
        store.finish_run(base)
        run = begin(store, label="cand")
        for m in cand:
            store.add_result(run, m)
        store.finish_run(run, "finished" if cand else "interrupted")
    return url


CRASHED = {
    "all killed": [Measurement.failed(case(b), "killed", "SIGKILL") for b in (1, 2)],
    "all timed out": [Measurement.failed(case(b), "timeout", "600 s") for b in (1, 2)],
    "killed and oom": [
        Measurement.failed(case(1), "killed", "x"),
        Measurement.failed(case(2), "oom", "x"),
    ],
    "no results": [],
    "one of two killed": [measurement(1, processes=3), Measurement.failed(case(2), "killed", "x")],
}


@pytest.mark.parametrize("kind", sorted(CRASHED))
def test_a_candidate_that_lost_cases_fails_the_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    url = _db(tmp_path, CRASHED[kind])
    assert main(["compare", "1", "2", "--db", url]) == 1
    out = capsys.readouterr().out
    assert "exit 1 (--allow-missing accepts)" in out
    lost = "1 case(s)" if kind == "one of two killed" else "2 case(s)"
    assert (
        "has no results" if kind == "no results" else f"{lost} the base measured crashed"
    ) in out
    assert main(["compare", "1", "2", "--allow-missing", "--db", url]) == 0
    assert "accepted (--allow-missing)" in capsys.readouterr().out
    assert main(["compare", "1", "2", "--json", "--db", url]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["lost"]["allowed"] is False


def test_a_candidate_that_measured_every_case_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _db(tmp_path, [measurement(1, processes=3), measurement(2, processes=3)])
    assert main(["compare", "1", "2", "--db", url]) == 0
    assert "allow-missing" not in capsys.readouterr().out


def test_a_case_crashed_on_both_sides_is_not_the_candidates_loss(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    with open_store(url) as store:
        for label in ("base", "cand"):
            run = begin(store, label=label)
            store.add_result(run, measurement(1, processes=3))
            store.add_result(run, Measurement.failed(case(2), "oom", "oom"))
            store.finish_run(run)
    assert main(["compare", "1", "2", "--db", url]) == 0
    assert "crashed in the candidate" not in capsys.readouterr().out


def test_paired_compare_gates_a_crashed_candidate_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--by threads: the threads-1 case of batch 2 was killed, its threads-4 twin measured."""
    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    cases = [case(b, threads=t) for t in (4, 1) for b in (1, 2)]
    with open_store(url) as store:
        run = begin(store, plan=PlanRecord(cases=tuple(cases)))
        for c in cases:
            if (c.threads, c.batch_size) == (1, 2):
                store.add_result(run, Measurement.failed(c, "killed", "SIGKILL"))
            else:
                store.add_result(run, replace(measurement(c.batch_size, processes=3), case=c))
        store.finish_run(run)
    assert main(["compare", "1", "--by", "threads", "--db", url]) == 1
    assert "1 case(s) the base measured crashed in the candidate: exit 1" in capsys.readouterr().out
    assert main(["compare", "1", "--by", "threads", "--allow-missing", "--db", url]) == 0
    assert "accepted (--allow-missing)" in capsys.readouterr().out
    assert main(["compare", "1", "--by", "threads", "--json", "--db", url]) == 1
    assert json.loads(capsys.readouterr().out)["lost"]["crashed"] == 1
