"""Check stored statistics against the raw steps they were computed from.

A result's statistics are computed once, at the store write, by the function the stop rule
uses (vocab.stats.summarize / case_interval); the report, compare and show read them.
This module recomputes them from the stored samples and process rows, only to check.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from results.db import Process, Result, Run, Sample
from results.store import Store
from vocab.messages import decode_plan
from vocab.stats import Stats, summarize

CHECKED = ("value_s", "ci_low_s", "ci_high_s", "ci_df", "sd_log_between", "drift_rel")
REL_TOL = 1e-9


def _adaptive(run: Run, result: Result, kept: int) -> bool:
    policy = None if run.plan is None else decode_plan(run.plan, with_cases=False).policy
    if policy is not None:
        return policy.adaptive
    # no stored plan (a pytest session): the CI's degrees of freedom say it
    return result.ci_df is not None and result.ci_df == kept - 2


def recompute(store: Store, result_id: int) -> Stats | None:
    """A stored result's statistics, recomputed from its raw steps and process rows."""
    with store.reading() as session:
        result = session.get(Result, result_id)
        if result is None or result.status != "ok":
            return None
        run = session.get(Run, result.run_id)
        assert run is not None
        steps = session.execute(
            select(Sample.duration_ns, Sample.process)
            .where(Sample.result_id == result_id)
            .order_by(Sample.idx)
        ).all()
        procs = list(
            session.scalars(
                select(Process).where(Process.result_id == result_id).order_by(Process.idx)
            )
        )
        if not steps:
            return None
        kept = len(procs) - len(result.left_out or [])
        by_index = {p.idx: p for p in procs}
        order = list(dict.fromkeys(int(p) for _, p in steps))
        rounds = [by_index[i].round for i in order] if set(order) <= set(by_index) else None
        return summarize(
            [ns / 1e9 for ns, _ in steps],
            result.batch_size * result.replicas,
            result.gmacs_per_image,
            result.mode,
            process_ids=[int(p) for _, p in steps],
            adaptive=_adaptive(run, result, kept),
            rounds=rounds,
            warmup_s={p.idx: p.warmup_times_s for p in procs if p.warmup_times_s},
            capped=[p.idx for p in procs if p.warmup_stable is False],
        )


def _same(stored: Any, fresh: Any) -> bool:
    if stored is None:  # undefined statistics are stored as NULL
        return fresh is None or (isinstance(fresh, float) and not math.isfinite(fresh))
    if isinstance(stored, float) or isinstance(fresh, float):
        return math.isclose(float(stored), float(fresh), rel_tol=REL_TOL)
    return bool(stored == fresh)


def mismatches(store: Store, run_ids: Iterable[int]) -> list[str]:
    """One line per stored statistic that its raw steps do not give back; [] when all do."""
    with store.reading() as session:
        rows = session.execute(
            select(Result.id, *[getattr(Result, c) for c in CHECKED], Result.flags, Result.left_out)
            .where(Result.run_id.in_(list(run_ids)), Result.status == "ok")
            .order_by(Result.id)
        ).all()
    out = []
    for rid, *stored in rows:
        fresh = recompute(store, rid)
        if fresh is None:
            continue
        data = fresh.to_dict()
        for name, value in zip((*CHECKED, "flags", "left_out"), stored, strict=True):
            legacy = name == "flags" and any(f.get("kind") == "legacy" for f in value or ())
            if not legacy and not _same(value, data[name]):
                out.append(f"result {rid}: {name} stored {value!r}, recomputed {data[name]!r}")
    return out
