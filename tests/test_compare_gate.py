"""Issue 22: a compare whose candidate lost what the base measured (every case killed or
timed out, or an interrupted candidate with no result) exits 1, unless --allow-missing;
the summary says which."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from results.store import open_store
from suite.cli import main
from tests.support.store import begin, case, measurement
from vocab.measurement import Measurement


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
}


@pytest.mark.parametrize("kind", sorted(CRASHED))
def test_a_candidate_that_lost_cases_fails_the_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    url = _db(tmp_path, CRASHED[kind])
    assert main(["compare", "1", "2", "--db", url]) == 1
    out = capsys.readouterr().out
    assert "exit 1 (--allow-missing accepts)" in out
    assert ("has no results" if kind == "no results" else "case(s) of the candidate crashed") in out
    assert main(["compare", "1", "2", "--allow-missing", "--db", url]) == 0
    assert "accepted (--allow-missing)" in capsys.readouterr().out
    assert main(["compare", "1", "2", "--json", "--db", url]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["lost"]["allowed"] is False


@pytest.mark.parametrize("crashed", [0, 1])
def test_a_candidate_with_a_case_measured_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], crashed: int
) -> None:
    cand = [measurement(1, processes=3), measurement(2, processes=3)]
    if crashed:  # one lost: 'not comparable' for it, the other compared
        cand[1] = Measurement.failed(case(2), "oom", "oom")
    url = _db(tmp_path, cand)
    assert main(["compare", "1", "2", "--db", url]) == 0
    assert "allow-missing" not in capsys.readouterr().out
