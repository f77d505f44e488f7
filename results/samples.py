"""A samples frame grouped by result: each result's raw steps with the process that took
each, and its per-process values (what analysis, export and the case charts read)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from vocab import stats

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class ResultSamples:
    """One result's raw steps, in step order, each with the process that took it."""

    seconds: list[float] = field(default_factory=list)
    process: list[int] = field(default_factory=list)

    def process_values(self) -> np.ndarray:
        """Its per-process values (the median of each process's steps), in process order."""
        return np.array(list(stats.process_values(self.seconds, self.process).values()))


def samples_by_result(samples: pd.DataFrame | None) -> dict[int, ResultSamples]:
    """result_id -> its samples, from a load_samples() frame (None: no samples)."""
    out: dict[int, ResultSamples] = {}
    if samples is None:
        return out
    columns = (samples[c].tolist() for c in ("result_id", "seconds", "process"))
    for result_id, seconds, process in zip(*columns, strict=True):
        found = out.setdefault(int(result_id), ResultSamples())
        found.seconds.append(float(seconds))
        found.process.append(int(process))
    return out
