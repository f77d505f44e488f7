"""Exports: CSV, JSON and Parquet shapes, with and without samples, written atomically."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from results.export import (
    SAMPLE_EXPORT_COLUMNS,
    ExportError,
    default_filename,
    export,
)
from results.frames import COLUMNS, RESULT_COLUMNS
from results.store import UnknownRunError, open_store
from tests.support.store import BACKENDS, backend_url, begin, case, measurement
from vocab.case import CASE_FIELDS
from vocab.measurement import Measurement

db_url = pytest.fixture(params=BACKENDS)(backend_url)

# The JSON keys the issue promises other tools.
REQUIRED_JSON_KEYS = [
    "run_id",
    "framework",
    "depth",
    "batch_size",
    "device",
    "mode",
    "precision",
    "execution",
    "image_size",
    "threads",
    "status",
    "n_samples",
    "median_s",
    "ci_low_s",
    "ci_high_s",
    "images_per_s",
    "gmacs_per_s",
    "peak_memory_bytes",
    "flags",
    "machine_cpu",
    "machine_gpu",
    "torch_version",
    "tensorflow_version",
    "git_commit",
]


@pytest.fixture
def filled(db_url: str) -> Iterator[tuple[str, int, int]]:
    """Two runs: run A with two ok results and an oom, run B with one ok result."""
    with open_store(db_url) as store:
        a = begin(store, label="A")
        store.add_result(a, measurement(8, n=30))
        store.add_result(a, measurement(16, n=20, seed=1))
        store.add_result(a, Measurement.failed(case(64, "tensorflow"), "oom", "OOM"))
        store.finish_run(a)
        b = begin(store, label="B")
        store.add_result(b, measurement(8, n=10, seed=2))
        store.finish_run(b)
    yield db_url, a, b


def test_every_column_is_documented() -> None:
    assert len(COLUMNS) == len(RESULT_COLUMNS)
    assert all(desc for desc in COLUMNS.values())
    assert set(REQUIRED_JSON_KEYS) <= set(COLUMNS)


def test_json(filled: tuple[str, int, int], tmp_path: Path) -> None:
    url, a, _b = filled
    out = tmp_path / "r.json"
    assert export(url, "json", out, run_ids=[a]) == 3
    rows = json.loads(out.read_text())
    assert isinstance(rows, list) and len(rows) == 3
    for row in rows:
        assert set(REQUIRED_JSON_KEYS) <= set(row)
        assert row["run_id"] == a
    ok = next(r for r in rows if r["batch_size"] == 8)
    assert ok["n_samples"] == 30 and ok["median_s"] > 0 and ok["flags"] == []
    assert ok["machine_gpu"] == "2x NVIDIA H100 80GB HBM3"
    assert ok["env_vars"]["OMP_NUM_THREADS"] == "56"  # JSON columns nested, not strings
    assert ok["run_started_at"].endswith("+00:00")
    oom = next(r for r in rows if r["status"] == "oom")
    assert oom["median_s"] is None and oom["flags"] is None and oom["reason"] == "OOM"


def test_json_with_samples(filled: tuple[str, int, int], tmp_path: Path) -> None:
    url, a, b = filled
    out = tmp_path / "r.json"
    export(url, "json", out, samples=True)
    rows = {(r["run_id"], r["batch_size"]): r for r in json.loads(out.read_text())}
    expected = measurement(16, n=20, seed=1)
    assert rows[(a, 16)]["samples_s"] == [ns / 1e9 for ns in expected.samples_ns]
    assert rows[(a, 16)]["samples_process"] == expected.sample_process
    assert len(rows[(b, 8)]["samples_s"]) == 10
    assert rows[(a, 64)]["samples_s"] == []


def test_csv(filled: tuple[str, int, int], tmp_path: Path) -> None:
    url, _a, _b = filled
    out = tmp_path / "r.csv"
    assert export(url, "csv", out) == 4
    frame = pd.read_csv(out)
    assert list(frame.columns) == list(COLUMNS)
    assert sorted(frame.batch_size) == [8, 8, 16, 64]


def test_csv_with_samples_is_long(filled: tuple[str, int, int], tmp_path: Path) -> None:
    url, a, _b = filled
    out = tmp_path / "s.csv"
    assert export(url, "csv", out, run_ids=[a], samples=True) == 50
    frame = pd.read_csv(out)
    assert list(frame.columns) == list(SAMPLE_EXPORT_COLUMNS)
    b16 = frame[frame.batch_size == 16]
    assert b16["seconds"].tolist() == [ns / 1e9 for ns in measurement(16, n=20, seed=1).samples_ns]
    assert b16["index"].tolist() == list(range(20))
    assert set(CASE_FIELDS) <= set(frame.columns)


def test_parquet(filled: tuple[str, int, int], tmp_path: Path) -> None:
    url, a, _b = filled
    out = tmp_path / "r.parquet"
    assert export(url, "parquet", out, samples=True) == 4
    frame = pd.read_parquet(out)
    assert set(COLUMNS) <= set(frame.columns)
    row = frame[(frame.run_id == a) & (frame.batch_size == 8)].iloc[0]
    assert len(row.samples_s) == 30 and row.n_samples == 30
    assert str(frame["run_started_at"].dtype).endswith("UTC]")


def test_bad_requests(filled: tuple[str, int, int], tmp_path: Path) -> None:
    url, _a, b = filled
    with pytest.raises(ExportError, match="unknown export format 'xml'; allowed: csv, json"):
        export(url, "xml", tmp_path / "r.xml")
    with pytest.raises(ExportError, match="parquet is binary"):
        export(url, "parquet", None)
    with pytest.raises(UnknownRunError, match=f"unknown run {b + 10}"):
        export(url, "csv", tmp_path / "r.csv", run_ids=[b + 10])
    assert list(tmp_path.iterdir()) == [] or all(p.is_dir() for p in tmp_path.iterdir())


def test_failure_leaves_nothing_half_written(
    filled: tuple[str, int, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _a, _b = filled
    folder = tmp_path / "exports"
    folder.mkdir()
    previous = folder / "r.csv"
    previous.write_text("an earlier export\n")

    def broken(self: pd.DataFrame, path: Path, **_kw: object) -> None:
        Path(path).write_text("run_id,framew")  # part of a file, then the disk fills up
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(ExportError, match=r"cannot write .*r\.csv: No space left"):
        export(url, "csv", previous)
    assert previous.read_text() == "an earlier export\n"
    assert sorted(p.name for p in folder.iterdir()) == ["r.csv"]  # no temp file left


def test_default_filenames() -> None:
    assert default_filename("csv") == "results.csv"
    assert default_filename("json", [3], samples=True) == "results-run3.json"
    assert default_filename("csv", [4, 3], samples=True) == "samples-run3-4.csv"
