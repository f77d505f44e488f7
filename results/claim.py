"""Who may resume a run: the claim `Store.reopen_run` takes in one write transaction.

A run still 'running' whose owner is alive (same host: its pid exists; another host: a
heartbeat within runinfo.STALE_AFTER_S) belongs to that owner: a second resume is refused
with one line naming it, and leaves the run as it is. A stale, interrupted, failed or
finished run is taken. Pending processes of cases that already have a result (an older
race's leftovers) are dropped on the way.
"""

from __future__ import annotations

import json

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from results.db import Pending, Result
from results.engine import StoreError
from results.runinfo import RunInfo
from vocab.case import CASE_FIELDS, Case


class RunBusyError(StoreError):
    """Another live process holds the run (resuming it, or still running it)."""


def refuse_if_held(run: RunInfo) -> None:
    """RunBusyError when another live process holds `run`."""
    if run.state == "running" and not run.owned_here():
        raise RunBusyError(
            f"run {run.id} is held by {run.owner_text()}; wait until it ends "
            "(resnet-bench runs), or stop it, then resume"
        )


def drop_orphan_pending(session: Session, run_id: int) -> None:
    columns = [getattr(Result, name) for name in CASE_FIELDS]
    done = {tuple(r) for r in session.execute(select(*columns).where(Result.run_id == run_id))}
    rows = session.execute(select(Pending.id, Pending.case_key).where(Pending.run_id == run_id))
    orphans = [i for i, key in rows.all() if Case.from_dict(json.loads(key)).key() in done]
    if orphans:
        session.execute(delete(Pending).where(Pending.id.in_(orphans)))
