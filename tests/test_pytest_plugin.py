"""`pytest --benchmark-only` through our plugin, in a child pytest on a scratch folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from suite.cli.common import DB_ENV, OUTPUT_ENV, default_db_url

BENCH_FILE = (Path(__file__).parent / "benchmarks" / "test_resnet.py").read_text()


def child_pytest(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_bench.py").write_text(BENCH_FILE)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_bench.py", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )


@pytest.mark.slow
@pytest.mark.torch
def test_benchmark_only_times_the_case_and_stores_a_run(tmp_path: Path) -> None:
    """...in the database the CLI would use: here $RESNET_BENCH_OUTPUT's."""
    db = tmp_path / "bench-out" / "results.sqlite"
    env = {k: v for k, v in os.environ.items() if k != DB_ENV}
    out = child_pytest(
        tmp_path,
        "--benchmark-only",
        "--resnet-frameworks",
        "torch",
        "--resnet-image-size",
        "32",
        "--benchmark-min-rounds",
        "3",
        "--benchmark-max-time",
        "0.05",
        "--benchmark-json",
        "bench.json",
        env={**env, OUTPUT_ENV: str(db.parent)},
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    report = json.loads((tmp_path / "bench.json").read_text())
    (bench,) = report["benchmarks"]
    assert bench["extra_info"]["framework"] == "torch" and bench["extra_info"]["depth"] == 50
    assert report["machine_info"]["resnet_bench"]["cores_logical"] >= 1
    rounds = bench["stats"]["rounds"]
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("select source, status from run")).one() == (
            "pytest",
            "finished",
        )
        assert conn.execute(sa.text("select status, n_samples from result")).one() == ("ok", rounds)
        assert conn.execute(sa.text("select count(*) from sample")).scalar() == rounds


def test_bad_selection_is_a_usage_error(tmp_path: Path) -> None:
    out = child_pytest(tmp_path, "--benchmark-only", "--resnet-depths", "51")
    assert out.returncode == 4  # pytest's exit status for usage errors
    assert "unknown depth 51; allowed: 50, 101, 152, 200" in out.stderr


def test_without_benchmark_only_the_benchmarks_are_skipped(tmp_path: Path) -> None:
    out = child_pytest(tmp_path, "-rs")
    assert out.returncode == 0, out.stdout[-2000:]
    assert "run with pytest --benchmark-only" in out.stdout


def test_the_database_rule(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """One rule for `resnet-bench run` and the plugin: --db / --resnet-db, else
    $RESNET_BENCH_DB, else the output folder (--output, else $RESNET_BENCH_OUTPUT, else out)."""
    monkeypatch.delenv(DB_ENV, raising=False)
    monkeypatch.delenv(OUTPUT_ENV, raising=False)
    assert default_db_url() == "sqlite:///out/results.sqlite"
    monkeypatch.setenv(OUTPUT_ENV, str(tmp_path))
    assert default_db_url() == f"sqlite:///{tmp_path}/results.sqlite"
    assert default_db_url(output="elsewhere") == "sqlite:///elsewhere/results.sqlite"
    monkeypatch.setenv(DB_ENV, "sqlite:///env.sqlite")
    assert default_db_url() == "sqlite:///env.sqlite"
    assert default_db_url("sqlite:///given.sqlite") == "sqlite:///given.sqlite"
