"""Where measurements go: the result store, the metadata around them, DataFrames, exports.

    import results
    df = results.load("sqlite:///out/results.sqlite")           # one row per result
    samples = results.load_samples("sqlite:///out/results.sqlite", run_ids=[3])
    procs = results.load_processes("sqlite:///out/results.sqlite")  # one row per process

Column meanings: results.frames.RESULT_COLUMNS / SAMPLE_COLUMNS / PROCESS_COLUMNS. pandas is
imported only when a DataFrame is asked for; no framework is ever imported here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from results.store import Store

__all__ = ["load", "load_processes", "load_samples"]


def load(db_url: str | Store, run_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """One row per result with its run, machine and environment columns joined."""
    from results.frames import load as _load

    return _load(db_url, run_ids)


def load_samples(db_url: str | Store, run_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """One row per raw sample: run_id, result_id, process, index, seconds, duration_ns."""
    from results.frames import load_samples as _load_samples

    return _load_samples(db_url, run_ids)


def load_processes(db_url: str | Store, run_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """One row per worker process of a result: its round, costs and value."""
    from results.frames import load_processes as _load_processes

    return _load_processes(db_url, run_ids)
