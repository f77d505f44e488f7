"""History: series, change points (results.changepoints / results.history), the `history`
command and its --check gate, on seeded simulations and on small hand-built databases."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from results.changepoints import find_steps, run_se
from results.history import analyse, gate
from results.history_query import HistoryError, load_points, resolve_machine
from results.store import open_store
from suite.cli import main
from tests.support.history_db import measured, nightly_db
from tests.support.history_sim import merged, run_gate, simulate
from tests.support.store import begin, fake_machine

# --------------------------------------------------------------- change points


def test_a_clear_step_is_found_at_its_run_with_a_ci() -> None:
    rng = np.random.default_rng(3)
    y = np.log(0.1) + rng.normal(0, 0.02, 20)
    y[12:] += np.log(1.10)
    steps = find_steps(y, np.full(20, 0.01))
    assert [s.index for s in steps] == [12]
    low, high = steps[0].ci()
    assert low < 1.10 < high and steps[0].ratio == pytest.approx(1.10, abs=0.03)
    assert (steps[0].n_before, steps[0].n_after) == (12, 8)


def test_a_flat_series_has_no_step_and_short_ones_none_at_all() -> None:
    rng = np.random.default_rng(4)
    assert find_steps(np.log(0.1) + rng.normal(0, 0.03, 30), np.full(30, 0.01)) == []
    assert find_steps([0.0, 1.0], [0.01, 0.01]) == []


def test_runs_without_a_ci_weigh_by_the_scatter_alone() -> None:
    # One process per run (pytest-benchmark): no per-run CI, the t-test on the scatter.
    se = run_se([0.1, 0.1], [float("nan"), 0.09], [float("nan"), 0.11], [1, 5])
    assert se[0] == 0.0 and se[1] > 0.0
    rng = np.random.default_rng(5)
    y = np.log(0.1) + rng.normal(0, 0.02, 16)
    y[8:] += np.log(1.2)
    assert [s.index for s in find_steps(y, np.zeros(16))] == [8]


# ------------------------------------------------------------ simulated nights


def test_simulated_nights_catch_a_10_percent_regression_without_false_alerts() -> None:
    # Small and seeded (benchmarks/history_sim.py runs the full figures).
    found = [
        run_gate(simulate(np.random.default_rng(s), 20, 6, 14, 0.10), 10, change_at=14)
        for s in range(3)
    ]
    caught = merged(found)
    assert caught.detection_rate >= 0.9 and max(caught.delays) <= 5
    null = merged([run_gate(simulate(np.random.default_rng(50 + s), 22, 6), 10) for s in range(3)])
    assert null.case_nights == 3 * 6 * 12 and null.alerts == 0


def test_the_gate_looks_at_the_last_k_runs_only() -> None:
    rng = np.random.default_rng(6)
    y = np.log(0.1) + rng.normal(0, 0.01, 20)
    y[10:] += np.log(1.3)
    steps = find_steps(y, np.full(20, 0.005))
    assert gate(steps, 20, 10, 0.05) and not gate(steps, 20, 9, 0.05)
    assert not gate(steps, 20, 10, 0.35)  # 30% is not beyond 35%
    faster = find_steps(-y, np.full(20, 0.005))
    assert not gate(faster, 20, 10, 0.05)  # an improvement never fails the gate


# ------------------------------------------------------------ database series


@pytest.fixture
def db(tmp_path: Any) -> str:
    return f"sqlite:///{tmp_path / 'history.sqlite'}"


def test_a_step_is_found_at_its_run_and_names_what_changed(db: str) -> None:
    import results

    ids = nightly_db(db, [0.1] * 6 + [0.13] * 6, threads_from=6)
    with open_store(db, create=False) as store:
        machine = resolve_machine(store, None)
        points = load_points(store, machine.id)
        series = analyse(points, 0.05, lambda r: results.load(store, r))
    assert len(series) == 2  # one per case; the thread change did not split them
    b8 = next(s for s in series if s.key["batch_size"] == 8)
    b1 = next(s for s in series if s.key["batch_size"] == 1)
    (step,) = b8.steps
    assert (step.prev_run_id, step.run_id, step.kind) == (ids[5], ids[6], "regression")
    assert step.ratio == pytest.approx(1.3, abs=0.03) and step.ratio_ci_low > 1.2
    assert (step.runs_before, step.runs_after) == (6, 6)
    named = {d.setting: (d.before, d.after) for d in step.differences}
    assert named["threads"] == ("4", "1") and named["threads_intra"] == ("4", "1")
    assert "git_commit" in named
    assert b1.steps == []  # flat, though its threads changed too: named, not a step
    assert any(d.setting == "threads" for d in b1.changed[6])


def test_filters_and_last_n_are_in_sql(db: str) -> None:
    ids = nightly_db(db, [0.1] * 5)
    with open_store(db, create=False) as store:
        machine = resolve_machine(store, None)
        b8 = load_points(store, machine.id, {"batch_size": [8]})
        last2 = load_points(store, machine.id, last=2)
    assert set(b8["batch_size"]) == {8} and len(b8) == 5
    assert sorted(set(last2["run_id"])) == ids[-2:]


def test_order_by_commit_puts_a_commit_s_runs_together(db: str) -> None:
    nightly_db(db, [0.1] * 4)
    with open_store(db, create=False) as store:
        machine = resolve_machine(store, None)
        points = load_points(store, machine.id)
    series = analyse(points, by="commit")
    assert [len(s) for s in series] == [4, 4]
    with pytest.raises(HistoryError, match="unknown order"):
        analyse(points, by="author")


# ------------------------------------------------------------------ the command


def test_history_check_exits_1_on_a_fresh_regression_and_0_before(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    nightly_db(db, [0.1] * 6 + [0.13] * 3, threads_from=6)
    assert main(["history", "--check", "--db", db]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION torch/eager r50 b8" in out and "threads: 4 -> 1" in out
    assert main(["history", "--check", "--last", "2", "--db", db]) == 0  # older than 2 runs
    assert main(["history", "--check", "--threshold", "40%", "--db", db]) == 0
    assert main(["history", "--check", "--frameworks", "tensorflow", "--db", db]) == 2


def test_history_check_before_the_change_exits_0(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    nightly_db(db, [0.1] * 6)
    assert main(["history", "--check", "--db", db]) == 0
    assert "ok: no regression step beyond 5.0%" in capsys.readouterr().out


def test_history_prints_series_and_change_points(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = nightly_db(db, [0.1] * 6 + [0.13] * 6, threads_from=6)
    assert main(["history", "--points", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "change points" in out and f"{ids[5]} -> {ids[6]}" in out and "+30" in out
    assert "threads: 4 -> 1" in out
    assert main(["history", "--json", "--depths", "50", "--batch-sizes", "8", "--db", db]) == 0
    doc = json.loads(capsys.readouterr().out)
    (series,) = doc["series"]
    assert len(series["points"]) == 12 and series["change_points"][0]["run_id"] == ids[6]
    assert series["change_points"][0]["kind"] == "regression"
    assert main(["history", "--json", "--check", "--last", "6", "--db", db]) == 1
    check = json.loads(capsys.readouterr().out)["check"]
    assert check["exit"] == 1 and check["regressions"][0]["case"].startswith("torch/eager r50 b8")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--machine", "nope"], "--machine 'nope' is not a known machine"),
        (["--last", "0"], "must be a positive integer, got '0'"),
        (["--check", "--last", "x"], "must be a positive integer, got 'x'"),
        (["--depths", "51"], "unknown depth '51'; allowed: 50, 101, 152, 200"),
        (["--frameworks", "caffe"], "unknown framework 'caffe'"),
        (["--batch-sizes", "32"], "an empty series"),
        (["--since", "yesterday"], "bad date 'yesterday'"),
        (["--threshold", "lots"], "bad --threshold 'lots'"),
    ],
)
def test_history_bad_input_is_one_line_and_exit_2(
    db: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    nightly_db(db, [0.1] * 3)
    with (
        pytest.raises(SystemExit)
        if argv[0] in ("--last", "--check", "--depths", "--frameworks", "--since")
        else _nothing()
    ):
        code = main(["history", *argv, "--db", db])
        assert code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return False


def test_machine_by_hostname_fingerprint_and_id(db: str) -> None:
    nightly_db(db, [0.1] * 3)
    with open_store(db, create=False) as store:
        m = resolve_machine(store, None)
        assert resolve_machine(store, "bench-01").id == m.id
        assert resolve_machine(store, m.fingerprint[:8]).id == m.id
        assert resolve_machine(store, str(m.id)).id == m.id
    other = fake_machine(hostname="bench-02")
    with open_store(db) as store:
        run = begin(store, machine=other)
        store.add_result(run, measured(0.1, np.random.default_rng(1)))
    with open_store(db, create=False) as store:
        assert resolve_machine(store, None).hostname == "bench-02"  # the latest run's


# ------------------------------------------------------------------ the report


def test_report_has_a_history_section_with_plotly_inlined_once(db: str) -> None:
    from results.report import report_html

    ids = nightly_db(db, [0.1] * 6 + [0.13] * 6, threads_from=6)
    with open_store(db, create=False) as store:
        html = report_html(store)
    assert '<section id="series">' in html and "<h2>History</h2>" in html
    # the library once (the report's charts and History's share it), then a script per chart
    assert html.count("plotly.js v") == 1
    assert html.count("<script") == 1 + html.count("Plotly.newPlot(")
    assert "<script src" not in html and "<link" not in html  # nothing fetched
    section = html[html.index('<section id="series">') :]
    section = section[: section.index("</section>")]
    assert section.count("Plotly.newPlot") == 2  # one chart per workload (b1, b8)
    first_row = section[section.index("<tbody>") : section.index("</tbody>")]
    assert "regression" in first_row and f"{ids[5]} → {ids[6]}" in first_row
    assert "threads: 4 -&gt; 1" in first_row
    assert f"run {ids[6]} (night-7)" in section  # the hover text of a point
    assert "commit 000000000000" in section


def test_report_of_a_single_run_has_no_history_section(db: str) -> None:
    from results.report import report_html

    nightly_db(db, [0.1])
    with open_store(db, create=False) as store:
        html = report_html(store)
    assert '<section id="series">' not in html and "chart-history" not in html
