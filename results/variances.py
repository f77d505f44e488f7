"""The run-to-run variances `calibrate` keeps per machine (results.noise learns them), in the
store: table run_variance (results.db.RunVariance)."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select

from results.db import RunVariance, utcnow
from results.keys import VARIANCE_KEYS
from results.store import Store
from vocab.case import Case
from vocab.comparison import RunShift


def store_run_variances(
    store: Store, machine_id: int, runs: Sequence[int], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Store what moves a whole run of each case on this machine (results.noise
    learn_run_variance's rows: `key`, a dict of the match keys' values, `threads`,
    `sd_log`, `run_var`, `run_df`, `processes`, `sd_process`)."""
    now = utcnow()
    with store._write() as session:
        session.add_all(
            RunVariance(
                machine_id=machine_id,
                created_at=now,
                case_key=json.dumps(dict(r["key"]), sort_keys=True),
                threads=int(r["threads"]),
                runs=list(runs),
                sd_log=float(r["sd_log"]),
                run_var=float(r["run_var"]),
                run_df=float(r["run_df"]),
                processes=_float_or_none(r.get("processes")),
                sd_process=_float_or_none(r.get("sd_process")),
            )
            for r in rows
        )
        session.commit()


def stored_run_variances(store: Store, machine_id: int) -> dict[tuple[Any, ...], RunShift]:
    """The latest run variance per case (results.compare.VARIANCE_KEYS values) learnt on
    this machine ({} if never calibrated). A key stored before a case field existed
    takes that field's default, so calibrations stay valid when the case grows."""
    defaults = {f.name: f.default for f in dataclasses.fields(Case)}
    with store.reading() as session:
        rows = session.execute(
            select(
                RunVariance.case_key,
                RunVariance.threads,
                RunVariance.run_var,
                RunVariance.run_df,
                RunVariance.runs,
            )
            .where(RunVariance.machine_id == machine_id)
            .order_by(RunVariance.created_at, RunVariance.id)
        )
        out: dict[tuple[Any, ...], RunShift] = {}
        for key, threads, var, df, runs in rows:
            values = {**defaults, **json.loads(key)}
            match = tuple(values[k] for k in VARIANCE_KEYS if k != "threads")
            out[(*match, threads)] = RunShift(float(var), float(df), len(runs or ()))
        return out


def _float_or_none(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None
