"""History at scale (benchmarks/history_scale.py times it): the shapes its speed rests on,
each checked against the plain way it replaces, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, event

import results
from results.analysis import of_run
from results.compare import record_differences, settings_differences
from results.format import is_missing, plain, plain_column
from results.history import _marked, _marker_codes, analyse
from results.history_query import POINT_COLUMNS, load_points, resolve_machine
from results.store import open_store
from suite.cli import main
from tests.support.history_db import nightly_db
from tests.support.store import BACKENDS, backend_url
from vocab.case import CASE_FIELDS

db_url = pytest.fixture(params=BACKENDS)(backend_url)


@contextmanager
def selects(engine: Engine) -> Iterator[list[str]]:
    """The SELECT statements the engine runs inside the block."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def _plain(values: Any) -> list[Any]:
    return [None if is_missing(v) else plain(v) for v in values]


def test_points_carry_their_runs_as_a_join_row_by_row_would(db_url: str) -> None:
    # Two queries (the results, their runs) joined in pandas: the same columns as every
    # ok result of results.load, in run order; runs without a commit keep None.
    nightly_db(db_url, [0.1] * 3, threads_from=2)
    late = nightly_db(db_url, [0.1] * 2, commits=False, seed=1)
    with open_store(db_url, create=False) as store:
        machine = resolve_machine(store, None)
        points = load_points(store, machine.id)
        latest = load_points(store, machine.id, {"batch_size": [8]}, last=3)
        full = results.load(store)
    want = full[full["status"] == "ok"].sort_values(["run_started_at", "run_id", "result_id"])
    assert list(points.columns) == [*CASE_FIELDS, *POINT_COLUMNS]
    for col in points.columns:
        assert _plain(points[col]) == _plain(want[col]), col
    assert str(points["run_started_at"].dtype) == "datetime64[us, UTC]"
    assert points[points["run_id"].isin(late)]["git_commit"].isna().all()
    assert set(latest["batch_size"]) == {8} and len(latest) == 3
    assert sorted(latest["run_id"]) == sorted(points["run_id"].unique())[-3:]


def test_history_queries_do_not_grow_with_the_runs(db_url: str) -> None:
    ids = nightly_db(db_url, [0.1] * 6)
    with open_store(db_url, create=False) as store:
        machine = resolve_machine(store, None)
        counts = []
        for last, runs in ((1, ids[:2]), (None, ids)):
            with selects(store.engine) as seen:
                load_points(store, machine.id, last=last)
            with selects(store.engine) as loaded:
                results.load(store, runs)  # ceilings and environments: not one per run
            counts.append((len(seen), len(loaded)))
    assert counts[0] == counts[1] and counts[0][0] == 2


def test_a_setting_unset_at_a_step_is_told_unset(tmp_path: Any) -> None:
    db = f"sqlite:///{tmp_path / 'history.sqlite'}"
    before = nightly_db(db, [0.1] * 6)
    after = nightly_db(db, [0.13] * 6, commits=False, seed=1)
    with open_store(db, create=False) as store:
        points = load_points(store, resolve_machine(store, None).id)
        series = analyse(points, 0.05, lambda r: results.load(store, r))
    (step,) = next(s for s in series if s.key["batch_size"] == 8).steps
    assert (step.prev_run_id, step.run_id) == (before[-1], after[0])
    told = {d.setting: d for d in step.differences}
    assert told["git_commit"].after is None and str(told["git_commit"]).endswith("-> (unset)")
    assert main(["history", "--json", "--db", db]) == 0


def test_record_differences_are_settings_differences(tmp_path: Any) -> None:
    db = f"sqlite:///{tmp_path / 'history.sqlite'}"
    ids = nightly_db(db, [0.1] * 4, threads_from=2)
    df = results.load(db)
    for a, b in itertools.pairwise(ids):
        table = settings_differences(df, [a, b])
        groups = {run: of_run(df, run).to_dict("records") for run in (a, b)}
        got = record_differences(groups)
        assert [n for n, _ in got] == table.index.tolist()
        for name, values in got:
            assert _plain(values.values()) == _plain(table.loc[name, [a, b]])


@pytest.mark.parametrize(
    "column",
    [
        pd.Series([1, 2, 3]),
        pd.Series([True, False]),
        pd.Series([1.5, np.nan, np.inf, -0.0, 2.0]),
        pd.Series(pd.to_datetime(["2024-01-01T02:00:00.5+00:00", None], utc=True)),
        pd.Series(pd.to_datetime(["2024-01-01T02:00:00+00:00"], utc=True)),
        pd.Series(["a", None, "c"]),
        pd.Series([1, None, "x", 2.0], dtype=object),
        pd.Series(pd.array([1, None], dtype="Int64")),
    ],
    ids=["int", "bool", "float", "time", "whole-second", "str", "object", "Int64"],
)
def test_plain_column_is_plain_of_each_value(column: pd.Series) -> None:
    assert plain_column(column) == [plain(v) for v in column.tolist()]


def test_marker_codes_see_what_a_pairwise_comparison_sees() -> None:
    frame = pd.DataFrame(
        {
            "environment_id": [1, 1, 1, 2, 2, 2, 2],
            "git_commit": ["a", "a", None, None, "b", "b", "b"],
            "threads_intra": pd.Series([4, 4.0, 4, None, None, np.nan, 1], dtype=object),
        }
    )

    def same(x: Any, y: Any) -> bool:
        return bool(x == y) or (is_missing(x) and is_missing(y))

    rows = frame.to_dict("records")
    want = [i for i in range(1, len(rows)) if any(not same(rows[i][c], rows[i - 1][c])
                                                  for c in frame.columns)]  # fmt: skip
    assert _marked(_marker_codes(frame)) == want == [2, 3, 4, 6]
    assert _marked(_marker_codes(frame)[[0, 1]]) == []  # 4 and 4.0 are one value
