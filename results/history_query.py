"""The SQL behind `resnet-bench history`: a fixed number of queries per series set,
filtered in the database.

A team's shared database holds thousands of runs; the history of a machine's cases is read
with the filters (machine, case axes, --since, --last) in the WHERE clause, selecting only
the columns a series needs: the results' own in one query, their runs' (time, label,
commit) in another, joined in pandas so that each run's columns are converted once, not
once per result (benchmarks/history_scale.py times 1,000 runs x 50 cases). The plans use
migration 0008's run (machine_id, started_at) index and uq_result_run_case (run_id first)
on SQLite and PostgreSQL alike; no other index is needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Select, func, select

from results.db import Environment, Machine, Result, Run
from results.store import Store
from vocab.case import CASE_FIELDS

if TYPE_CHECKING:
    import pandas as pd


Q = TypeVar("Q", bound="Select[*tuple[Any, ...]]")


class HistoryError(ValueError):
    """Bad input to the history (an unknown machine, an empty series): one line."""


# What a point of a series needs, besides its case key.
POINT_COLUMNS: tuple[str, ...] = (
    "run_id",
    "result_id",
    "run_started_at",
    "run_label",
    "run_source",
    "git_commit",
    "environment_id",
    "value_s",
    "ci_low_s",
    "ci_high_s",
    "processes",
    "threads_intra",
    "threads_inter",
    "framework_version",
)


@dataclass(frozen=True)
class MachineRow:
    id: int
    fingerprint: str
    hostname: str | None
    cpu: str | None
    runs: int
    last_run_at: datetime | None

    @property
    def label(self) -> str:
        return f"{self.hostname or '?'} ({self.cpu or 'unknown CPU'}, {self.fingerprint[:12]})"


def machines(store: Store) -> list[MachineRow]:
    """Every machine with runs, the one that ran last first."""
    query = (
        select(
            Machine.id,
            Machine.fingerprint,
            Machine.hostname,
            Machine.cpu_model,
            func.count(Run.id),
            func.max(Run.started_at),
        )
        .join(Run, Run.machine_id == Machine.id)
        .group_by(Machine.id, Machine.fingerprint, Machine.hostname, Machine.cpu_model)
    )
    with store.reading() as session:
        rows = [MachineRow(*r) for r in session.execute(query).tuples()]
    return sorted(
        rows, key=lambda m: (m.last_run_at is not None, m.last_run_at, m.id), reverse=True
    )


def resolve_machine(store: Store, text: str | None) -> MachineRow:
    """--machine: a fingerprint (or its first 6+ characters), a hostname, or a machine id;
    by default the machine of the latest run. Unknown -> HistoryError naming the known."""
    known = machines(store)
    if not known:
        raise HistoryError(f"no runs in {store.url} yet")
    if text is None:
        return known[0]
    wanted = text.strip()
    found = [
        m
        for m in known
        if wanted == str(m.id)
        or wanted == m.hostname
        or (len(wanted) >= 6 and m.fingerprint.startswith(wanted.lower()))
    ]
    if len(found) == 1:
        return found[0]
    listing = "; ".join(f"{m.id}: {m.label}" for m in known)
    what = "matches several machines" if found else "is not a known machine"
    raise HistoryError(
        f"--machine {text!r} {what}; give an id, hostname or fingerprint prefix of: {listing}"
    )


def _case_filter(query: Q, axes: Mapping[str, Sequence[Any]]) -> Q:
    for name, values in axes.items():
        if name not in CASE_FIELDS:
            raise ValueError(f"not a case field: {name}")
        if values:
            query = query.where(getattr(Result, name).in_(list(values)))
    return query


def _ok(query: Q) -> Q:
    return query.where(Result.status == "ok", Result.value_s.is_not(None))


# The run columns of a point, read once per run (not once per result) and joined in pandas.
RUN_COLUMNS: tuple[str, ...] = (
    "run_started_at",
    "run_label",
    "run_source",
    "git_commit",
    "environment_id",
)


def load_points(
    store: Store,
    machine_id: int,
    axes: Mapping[str, Sequence[Any]] | None = None,
    since: datetime | None = None,
    last: int | None = None,
) -> pd.DataFrame:
    """Every ok result of the machine's runs that the filters keep: one row per result,
    CASE_FIELDS + POINT_COLUMNS, oldest run first. `last`: only the `last` latest runs
    that have such a result.

    Two queries for the whole set, whatever its size: the results (their own columns
    only, filtered and ordered in SQL) and the runs they belong to; a run's time, label
    and commit are converted once per run rather than once per result."""
    import pandas as pd

    axes = axes or {}
    where_run = [Run.machine_id == machine_id]
    if since is not None:
        where_run.append(Run.started_at >= since)
    if last is not None:
        latest = (
            _ok(_case_filter(select(Run.id, Run.started_at), axes))
            .join(Result, Result.run_id == Run.id)
            .where(*where_run)
            .group_by(Run.id, Run.started_at)
            .order_by(Run.started_at.desc(), Run.id.desc())
            .limit(last)
            .subquery()
        )
        where_run.append(Run.id.in_(select(latest.c.id)))
    result_columns = [c for c in POINT_COLUMNS if c not in RUN_COLUMNS]
    points = (
        select(
            *(getattr(Result, f) for f in CASE_FIELDS),
            *(Result.id if c == "result_id" else getattr(Result, c) for c in result_columns),
        )
        .join(Run, Result.run_id == Run.id)
        .where(*where_run)
        .order_by(Run.started_at, Run.id, Result.id)
    )
    runs = (
        select(Run.id, Run.started_at, Run.label, Run.source, Environment.git_commit,
               Run.environment_id)
        .join(Environment, Run.environment_id == Environment.id)
        .where(*where_run)
    )  # fmt: skip
    with store.reading() as session:
        # Core execution, rows as plain tuples: no ORM bookkeeping per row, and pandas
        # builds its columns without probing each Row for array attributes.
        conn = session.connection()
        rows = [tuple(r) for r in conn.execute(_ok(_case_filter(points, axes)))]
        present = {r[len(CASE_FIELDS)] for r in rows}  # run_id follows the case fields
        run_rows = [tuple(r) for r in conn.execute(runs) if r[0] in present]
    df = pd.DataFrame.from_records(rows, columns=[*CASE_FIELDS, *result_columns])
    by_run = pd.DataFrame.from_records(run_rows, columns=["run_id", *RUN_COLUMNS])
    by_run["run_started_at"] = pd.to_datetime(by_run["run_started_at"], utc=True)
    at = pd.Index(by_run["run_id"]).get_indexer(df["run_id"])
    joined = by_run.take(at).reset_index(drop=True)
    return pd.concat([df, joined.drop(columns="run_id")], axis=1)[[*CASE_FIELDS, *POINT_COLUMNS]]
