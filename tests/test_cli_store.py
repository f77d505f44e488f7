"""`resnet-bench runs`, `show` and `export` against a real database, and their errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from results.store import open_store
from suite.cli import main
from tests.support.store import BACKENDS, backend_url, begin, case, measurement
from vocab.measurement import Measurement

db_url = pytest.fixture(params=BACKENDS)(backend_url)


@pytest.fixture
def two_runs(db_url: str) -> Iterator[tuple[str, int, int]]:
    with open_store(db_url) as store:
        first = begin(store, label="baseline", system={"cpu_governor": "performance"})
        store.add_result(first, measurement(8, n=30))
        store.add_result(first, Measurement.failed(case(64, "tensorflow"), "oom", "OOM at b64"))
        store.add_result(
            first, Measurement.failed(case(8, device="cuda"), "skipped", "no CUDA device")
        )
        store.finish_run(first)
        second = begin(store, label="candidate")  # still running: killed, say
        store.add_result(second, measurement(8, n=10, throttled=True))
    yield db_url, first, second


def test_runs_lists_every_run(
    two_runs: tuple[str, int, int], capsys: pytest.CaptureFixture[str]
) -> None:
    url, first, second = two_runs
    assert main(["runs", "--db", url]) == 0
    out = capsys.readouterr().out
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 5}
    assert "baseline" in lines[str(first)] and "finished" in lines[str(first)]
    assert "Intel Xeon Platinum 8480+ / 2x NVIDIA H100" in lines[str(first)]
    cells = [c.strip() for c in lines[str(first)].split("│")]
    assert cells[6:9] == ["1", "1", "1"]  # ok, failed, skipped
    assert "candidate" in lines[str(second)] and "running" in lines[str(second)]


def test_runs_json(two_runs: tuple[str, int, int], capsys: pytest.CaptureFixture[str]) -> None:
    url, _first, second = two_runs
    assert main(["runs", "--db", url, "--json", "--limit", "1"]) == 0
    [only] = json.loads(capsys.readouterr().out)
    assert only["id"] == second and only["label"] == "candidate" and only["ok"] == 1


def test_show(two_runs: tuple[str, int, int], capsys: pytest.CaptureFixture[str]) -> None:
    url, first, _second = two_runs
    assert main(["show", str(first), "--db", url]) == 0
    out = capsys.readouterr().out
    for expected in (
        f"run {first}",
        "baseline",
        "performance",  # governor
        "Intel(R) Xeon(R) Platinum 8480+",
        "NVIDIA H100 80GB HBM3",
        "OMP_NUM_THREADS=56",
        "2,000",  # the ceiling: 3 significant digits, as every number (results.format)
        "torch/eager r50 b8 cpu inference fp32 224px t4",
        "OOM at b64",
        "no CUDA device",
    ):
        assert expected in out, expected
    row = next(line for line in out.splitlines() if "r50 b8 cpu" in line)
    assert " ok " in row and "[" in row  # median with its CI


def test_show_latest_flags_throttling(
    two_runs: tuple[str, int, int], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _first, second = two_runs
    assert main(["show", "latest", "--db", url]) == 0
    out = capsys.readouterr().out
    assert f"run {second}" in out and "throttled" in out


@pytest.mark.parametrize("bad", ["99", "first"])
def test_show_unknown_run(
    two_runs: tuple[str, int, int], capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    url, first, second = two_runs
    assert main(["show", bad, "--db", url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    if bad == "99":
        assert f"unknown run 99; known runs: {first}-{second}" in err
    else:
        assert "bad run 'first'; give a run id (a number) or 'latest'" in err


def test_export_default_file(
    two_runs: tuple[str, int, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, first, _second = two_runs
    out_dir = tmp_path / "exports"
    args = [
        "export",
        "--db",
        url,
        "--output",
        str(out_dir),
        "--run",
        str(first),
        "--format",
        "json",
    ]
    assert main(args) == 0
    path = out_dir / f"results-run{first}.json"
    assert f"wrote 3 results to {path}" in capsys.readouterr().err
    assert {r["status"] for r in json.loads(path.read_text())} == {"ok", "oom", "skipped"}


def test_export_format_from_suffix(two_runs: tuple[str, int, int], tmp_path: Path) -> None:
    url, _first, _second = two_runs
    assert main(["export", "--db", url, "-o", str(tmp_path / "all.parquet")]) == 0
    assert len(pd.read_parquet(tmp_path / "all.parquet")) == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "--format", "xml"], "unknown export format 'xml'; allowed: csv, json, parquet"),
        (["export", "--run", "99"], "unknown run 99; known runs"),
        (["export", "--format", "parquet", "-o", "-"], "parquet is binary"),
    ],
)
def test_export_errors(
    two_runs: tuple[str, int, int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    url, _first, _second = two_runs
    assert main([*args, "--db", url, "--output", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert list(tmp_path.glob("*.*")) == []  # nothing written


def test_missing_database_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in (["runs"], ["show", "1"], ["export"]):
        assert main([*command, "--output", str(tmp_path / "out")]) == 2
        assert "no result database at" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_bad_url_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--db", "postgresql+psycopg://me:s3cret@127.0.0.1:1/x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("resnet-bench: error: cannot open database")
    assert "s3cret" not in err and err.count("\n") == 1


def test_not_a_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    assert main(["runs", "--db", f"sqlite:///{path}"]) == 2
    assert "is not a SQLite database" in capsys.readouterr().err
    assert path.read_text() == "hello\n"


def test_empty_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    open_store(url).close()
    assert main(["runs", "--db", url]) == 0
    assert "no runs in" in capsys.readouterr().out
    assert main(["show", "latest", "--db", url]) == 2
    assert "no runs in" in capsys.readouterr().err
