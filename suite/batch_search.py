"""`--batch-sizes auto`: each case group's best batch, found by doubling.

A group (every case axis but the batch) starts at batch 1 and doubles while the batch runs
and its throughput gains at least `min_gain` (3%) over the batch before; it stops at the
first batch that runs out of memory (stored as `oom`), fails, or gains less, or at
`max_batch`. Each batch is an ordinary case of the run, measured in its own processes and
interleaved rounds like any other, so its throughput carries the usual CI; the rule
compares the case values (the report names the best batch per group).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vocab.case import CASE_FIELDS, Case
from vocab.measurement import Measurement

if TYPE_CHECKING:
    from results.store import Store

MIN_GAIN = 0.03


@dataclass(frozen=True)
class BatchSearch:
    start: int = 1
    factor: int = 2
    min_gain: float = MIN_GAIN
    max_batch: int = 4096

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BatchSearch:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})

    def first_cases(self, cases: list[Case]) -> list[Case]:
        """The profile's cases at the starting batch, one per group."""
        out: list[Case] = []
        for case in cases:
            first = dataclasses.replace(case, batch_size=self.start)
            if first not in out:
                out.append(first)
        return out

    def next_case(self, case: Case, rates: Mapping[Case, float | None]) -> Case | None:
        """After `case` finished: the next batch of its group, or None where the search
        there ends. `rates`: images/s of the run's finished cases (`throughput`), None for
        a case that did not end ok."""
        rate = rates.get(case)
        if rate is None:
            return None  # oom ends the doubling; so does any other failure
        before = None
        if case.batch_size > self.start:
            smaller = dataclasses.replace(case, batch_size=case.batch_size // self.factor)
            before = rates.get(smaller)
        if before is not None and rate < before * (1.0 + self.min_gain):
            return None
        if case.batch_size * self.factor > self.max_batch:
            return None
        return dataclasses.replace(case, batch_size=case.batch_size * self.factor)


def throughput(m: Measurement) -> float | None:
    """images/s the search compares: with one sync per k steps where that was timed (what
    the device sustains), else at one sync per step; None unless ok."""
    if m.status != "ok":
        return None
    pipelined = m.pipelined_s()
    if pipelined is not None:
        return m.case.batch_size / pipelined
    stats = m.stats()
    return None if stats is None else stats.images_per_s


def stored_rates(store: Store, run_id: int) -> dict[Case, float | None]:
    """`throughput` of the cases a run already stored (for --resume of a search)."""
    import results

    df = results.load(store, [run_id])
    rates: dict[Case, float | None] = {}
    for row in df.to_dict("records"):
        case = Case.from_dict({name: row[name] for name in CASE_FIELDS})
        rate = row["pipelined_images_per_s"]
        if not _finite(rate):
            rate = row["images_per_s"]
        rates[case] = float(rate) if row["status"] == "ok" and _finite(rate) else None
    return rates


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
