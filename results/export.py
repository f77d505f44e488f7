"""Results out of the database as CSV, JSON or Parquet, written atomically.

Shapes (column meanings: results.frames.RESULT_COLUMNS; SAMPLE_EXPORT_COLUMNS below):

- csv: one row per result. With samples: one row per raw sample instead, in long format
  (SAMPLE_EXPORT_COLUMNS: run, result, case key, status, process, round, step start,
  index, seconds): CSV has no lists, and a long table loads straight into any tool.
- json: a list of objects, one per result; JSON-text columns (env_vars, framework_build,
  details, gpu_before/after) nested, times ISO 8601 UTC, null where empty. With samples:
  each object gains samples_s and samples_process lists, in step order.
- parquet: one row per result; with samples, list columns samples_s (double) and
  samples_process (int64), as in JSON.

Files are written with results.files.atomic_write: renamed into place, so a failure
leaves no half-written file; devices and FIFOs written through, links kept.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from results.files import FileWriteError, atomic_write
from results.format import plain
from results.frames import RESULT_COLUMNS, load, load_samples
from results.samples import ResultSamples, samples_by_result
from results.store import Store, open_store
from vocab.case import CASE_FIELDS

if TYPE_CHECKING:
    import pandas as pd

FORMATS: tuple[str, ...] = ("csv", "json", "parquet")
SAMPLE_EXPORT_COLUMNS: tuple[str, ...] = (
    "run_id", "result_id", *CASE_FIELDS, "status", "process", "round", "started_ns", "index",
    "seconds", "duration_ns",
)  # fmt: skip
_JSON_COLUMNS = frozenset(name for name, kind, _ in RESULT_COLUMNS if kind == "json")


class ExportError(ValueError):
    """A bad export request (format, destination); the message names it."""


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; allowed: {', '.join(FORMATS)}")


def default_filename(fmt: str, run_ids: Sequence[int] | None = None, samples: bool = False) -> str:
    """results.csv, results-run3.json, samples-run3-4.csv (CSV samples are their own table)."""
    check_format(fmt)
    stem = "samples" if samples and fmt == "csv" else "results"
    if run_ids:
        stem += "-run" + "-".join(str(i) for i in sorted(set(run_ids)))
    return f"{stem}.{fmt}"


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain dicts; JSON-text columns (env_vars, framework_build, ...) parsed."""
    out = []
    for row in frame.to_dict("records"):
        rec = {str(k): plain(v) for k, v in row.items()}
        for name in _JSON_COLUMNS & rec.keys():
            if isinstance(rec[name], str):
                rec[name] = json.loads(rec[name])
        out.append(rec)
    return out


def _with_sample_lists(frame: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    by_result = samples_by_result(samples)
    none = ResultSamples()
    frame = frame.copy()
    frame["samples_s"] = [by_result.get(int(r), none).seconds for r in frame["result_id"]]
    frame["samples_process"] = [by_result.get(int(r), none).process for r in frame["result_id"]]
    return frame


def _long_samples(frame: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    keys = frame[["result_id", *CASE_FIELDS, "status"]]
    merged = samples.merge(keys, on="result_id", how="left", validate="many_to_one")
    return merged[list(SAMPLE_EXPORT_COLUMNS)]


def _writer(frame: pd.DataFrame, fmt: str) -> Callable[[IO[str] | Path], None]:
    def write(dest: IO[str] | Path) -> None:
        if fmt == "csv":
            frame.to_csv(dest, index=False)
        elif fmt == "json":
            text = json.dumps(records(frame), indent=1, allow_nan=False)
            if isinstance(dest, Path):
                dest.write_text(text + "\n", encoding="utf-8")
            else:
                dest.write(text + "\n")
        else:
            assert isinstance(dest, Path)
            frame.to_parquet(dest, index=False)

    return write


def export(
    db: str | Store,
    fmt: str,
    dest: Path | None,
    *,
    run_ids: Iterable[int] | None = None,
    samples: bool = False,
    stdout: IO[str] | None = None,
) -> int:
    """Write the results (of `run_ids`, default all) to `dest` (None: stdout); return rows.

    Bad format or destination -> ExportError; unknown runs / unusable database -> StoreError.
    """
    check_format(fmt)
    if dest is None and fmt == "parquet":
        raise ExportError("parquet is binary: give a file with -o, not standard output")
    store = db if isinstance(db, Store) else open_store(db, create=False)
    try:
        ids = None if run_ids is None else list(run_ids)
        frame = load(store, ids)
        if samples:
            raw = load_samples(store, ids)
            frame = _long_samples(frame, raw) if fmt == "csv" else _with_sample_lists(frame, raw)
    finally:
        if store is not db:
            store.close()
    write = _writer(frame, fmt)
    if dest is None:
        write(stdout or sys.stdout)
    else:
        try:
            atomic_write(dest, write)
        except FileWriteError as exc:
            raise ExportError(str(exc)) from None
    return len(frame)
