"""`resnet-bench run`: bad input is one line and exit 2; real runs store and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from suite.cli import main

BAD_FLAGS = [
    (
        ["--frameworks", "mxnet"],
        "unknown framework 'mxnet'; allowed: torch, tensorflow, jax, onnxruntime, openvino",
    ),
    (["--depths", "51"], "unknown depth 51; allowed: 50, 101, 152, 200"),
    (["--depths", "fifty"], "unknown depth 'fifty'; allowed: 50, 101, 152, 200"),
    (["--devices", "gpu"], "unknown device 'gpu'; allowed: cpu, cuda, cuda:N"),
    (["--modes", "train"], "unknown mode 'train'; allowed: inference, training"),
    (["--precisions", "int8"], "unknown precision 'int8'; allowed: fp32, bf16, fp16"),
    (["--executions", "fast"], "unknown execution 'fast'; allowed: default, eager, compile"),
    (["--batch-sizes", "0"], "batch size must be a positive integer, got '0'"),
    (["--batch-sizes", "1,x"], "batch size must be a positive integer, got 'x'"),
    (["--image-size", "-2"], "image size must be a positive integer, got '-2'"),
    (["--image-size", "1.5"], "image size must be a positive integer, got '1.5'"),
    (["--profile", "nope"], "profile 'nope' is neither a built-in profile"),
    (["--frameworks", "torch", "--executions", "xla"], "'xla' belongs to tensorflow"),
]


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    return lines[0]


@pytest.mark.parametrize(("flags", "message"), BAD_FLAGS)
def test_bad_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    db = tmp_path / "results.sqlite"  # the default database in --output
    with pytest.raises(SystemExit) as exit_info:
        code = main(["run", "--db", f"sqlite:///{db}", *flags])
        raise SystemExit(code)
    assert exit_info.value.code == 2
    assert message in one_error_line(capsys)
    assert not db.exists()  # nothing written, not even an empty database


@pytest.mark.parametrize(
    ("profile", "message"),
    [("[cases\n", "is not valid TOML"), ("[cases]\nframeworks=['torch']\n", "lacks depths")],
)
def test_malformed_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], profile: str, message: str
) -> None:
    path = tmp_path / "p.toml"
    path.write_text(profile)
    assert main(["run", "--profile", str(path), "--db", f"sqlite:///{tmp_path / 'r.sqlite'}"]) == 2
    assert message in one_error_line(capsys)


def test_database_that_cannot_be_opened(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a database")
    assert main(["run", "--profile", "smoke", "--db", f"sqlite:///{text}"]) == 2
    assert "is not a SQLite database" in one_error_line(capsys)
    assert text.read_text() == "not a database"
    assert main(["run", "--profile", "smoke", "--db", "nonsense://x"]) == 2
    assert "nonsense" in one_error_line(capsys)


def test_resume_of_unknown_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--resume", "7", "--db", f"sqlite:///{tmp_path / 'none.sqlite'}"]) == 2
    assert "no result database" in one_error_line(capsys)


@pytest.mark.slow
@pytest.mark.torch
def test_smoke_json_has_a_measurement_per_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Torch's cases only: the run loop is the same for every runtime (several runtimes
    in one run: tests/test_session.py; each runtime in a real worker: tests/test_runners.py
    and tests/test_jax_onnx.py), and a TensorFlow worker's training trace costs more than
    the rest of this test."""
    db = tmp_path / "results.sqlite"  # the default database in --output
    code = main(
        [
            "run",
            "--profile",
            "smoke",
            "--frameworks",
            "torch",
            "--batch-sizes",
            "2",
            "--threads",  # more would spin-wait for a core on a shared machine
            "1",
            "--json",
            "--db",
            f"sqlite:///{db}",
            "--max-time",
            "0.3",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    records = json.loads(captured.out)  # stdout holds the JSON and nothing else
    cases = {(r["case"]["framework"], r["case"]["mode"]) for r in records}
    assert cases == {("torch", m) for m in ("inference", "training")}
    for r in records:
        assert r["status"] == "ok", r["reason"]
        assert len(r["samples_ns"]) >= 15 and r["warmup_steps"] >= 3
        assert r["processes"] == 3 and len(r["process_records"]) == 3
        assert r["first_step_ns"] > 0 and r["build_ns"] > 0
        assert r["threads_intra"] == r["case"]["threads"] and r["threads_inter"] == 1
        assert r["sync"] and r["peak_memory_bytes"] > 0
        stats = r["stats"]
        for key in (
            "value_s",
            "median_s",
            "mean_s",
            "stdev_s",
            "min_s",
            "max_s",
            "p5_s",
            "p95_s",
            "p99_s",
            "iqr_s",
            "ci_low_s",
            "ci_high_s",
            "images_per_s",
            "gmacs_per_s",
            "gflops_per_s",
        ):
            assert stats[key] > 0, key
        assert isinstance(stats["flags"], list) and isinstance(stats["left_out"], list)
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from result")).scalar() == 2
        assert conn.execute(sa.text("select status from run")).scalar() == "finished"


def _count(db: Path, table: str) -> int:
    if not db.exists():
        return 0
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(f"select count(*) from {table}")).scalar() or 0)
    except sa.exc.OperationalError:
        return 0
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.torch
def test_killed_run_keeps_finished_processes_and_resumes_without_duplicates(
    tmp_path: Path,
) -> None:
    db = tmp_path / "results.sqlite"  # the default database in --output
    url = f"sqlite:///{db}"
    args = [
        "--profile",
        "smoke",
        "--frameworks",
        "torch",
        "--modes",
        "inference",
        "--batch-sizes",
        "1,2",
        "--threads",
        "1",
        "--max-time",
        "0.3",
        "--db",
        url,
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "suite", "run", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    # Round 1 stored both cases' first process, round 2 one more: no case has its 3 yet.
    deadline = time.monotonic() + 600
    while _count(db, "pending") < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole run, worker included, mid-way
    proc.wait()
    if _count(db, "pending") < 3:
        pytest.fail("the run stored fewer than 3 processes in 600 s (or ended by itself)")
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        kept = conn.execute(sa.text("select measurement from pending")).scalars().all()
    pids = {json.loads(m)["process_records"][0]["pid"] if isinstance(m, str) else
            m["process_records"][0]["pid"] for m in kept}  # fmt: skip
    assert len(kept) >= 3 and _count(db, "result") == 0  # 3 processes a case: none done
    assert main(["run", "--resume", "1", "--db", url, "--max-time", "0.3"]) == 0
    with engine.connect() as conn:
        rows = conn.execute(sa.text("select batch_size from result order by batch_size")).all()
        assert [r[0] for r in rows] == [1, 2]  # every case once
        assert conn.execute(sa.text("select status from run")).scalar() == "finished"
        procs = conn.execute(sa.text("select result_id, idx, pid from process")).all()
        assert len(procs) == 6 and len({(r, i) for r, i, _ in procs}) == 6
        assert pids <= {pid for _, _, pid in procs}  # the processes from before the kill
        assert conn.execute(sa.text("select count(*) from pending")).scalar() == 0
    engine.dispose()


def _workers_of(parent: int) -> list[int]:
    """The worker processes `parent` started that are running now (other runs on the
    machine, a developer's say, are not this test's)."""
    out = subprocess.run(
        ["pgrep", "-P", str(parent), "-f", "runners.worker"], capture_output=True, text=True
    )
    return [int(p) for p in out.stdout.split()]


def _alive(pids: list[int]) -> list[int]:
    """Those of `pids` still running (an orphan is re-parented, so not found by parent)."""
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_stopped_parent_leaves_no_worker_behind(tmp_path: Path, sig: signal.Signals) -> None:
    db = tmp_path / "results.sqlite"  # the default database in --output
    url = f"sqlite:///{db}"
    args = ["--profile", "smoke", "--frameworks", "torch", "--modes", "inference"]
    args += ["--batch-sizes", "1", "--threads", "1"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "suite", "run", *args, "--db", url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600
    # A worker runs (the first round's: the run is recorded before any worker starts).
    while not _workers_of(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = _workers_of(proc.pid)
    if not workers:
        proc.kill()
        proc.wait()
        pytest.fail("no worker running to leave behind")
    # each worker's temporary folder: the one its events file is in (its command line)
    folders = {
        Path(arg).parent
        for pid in workers
        for arg in Path(f"/proc/{pid}/cmdline").read_text().split("\0")
        if arg.endswith("events.jsonl")
    }
    assert folders and all(f.name.startswith("resnet-bench-") for f in folders)
    proc.send_signal(sig)  # the parent only: the worker has its own session
    code = proc.wait(timeout=60)
    deadline = time.monotonic() + 30  # the orphaned worker finishes its current step
    while _alive(workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _alive(workers) == []
    assert not any(f.exists() for f in folders)  # no temporary folder left
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        status = conn.execute(sa.text("select status from run")).scalar()
    engine.dispose()
    if sig == signal.SIGTERM:
        assert code == 130 and status == "interrupted"
    else:
        assert status == "running"  # nobody could mark it; --resume still finishes it


def test_report_after_the_run_shows_that_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run --report` writes the report of the run it made (earlier runs as context),
    through results.report like `resnet-bench report`, and prints its path."""
    from results.store import open_store
    from suite import session
    from tests.support.store import begin, measurement

    db = tmp_path / "results.sqlite"  # the default database in --output
    with open_store(f"sqlite:///{db}") as store:
        earlier = begin(store, label="earlier")
        store.add_result(earlier, measurement())
        store.finish_run(earlier)

    def measured(store: Any, plan: session.Plan, ui: Any, resume: int | None = None) -> Any:
        run_id = begin(store, label="this run")
        store.add_result(run_id, measurement())
        store.finish_run(run_id)
        later = begin(store, label="another writer's")  # the report stays on this run
        store.add_result(later, measurement())
        return run_id, []

    monkeypatch.setattr(session, "execute", measured)
    args = ["run", "--report", "--output", str(tmp_path), "--depths", "50", "--batch-sizes", "1"]
    assert main(args) == 0
    report = tmp_path / "report.html"
    assert str(report.resolve()) in capsys.readouterr().out.splitlines()
    html = report.read_text()
    title = html[html.index("<title>") : html.index("</title>")]
    assert title.endswith("run 2 (this run)"), title
    assert ">earlier<" in html  # the run before it, as context


def test_workers_see_the_output_folder_during_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import argparse

    from suite.cli.common import OUTPUT_ENV, workers_output

    monkeypatch.delenv(OUTPUT_ENV, raising=False)
    with workers_output(argparse.Namespace(output=str(tmp_path))):
        assert os.environ[OUTPUT_ENV] == str(tmp_path.resolve())  # ONNX exports go there
    assert OUTPUT_ENV not in os.environ
    monkeypatch.setenv(OUTPUT_ENV, "elsewhere")
    with workers_output(argparse.Namespace(output=None)):
        assert os.environ[OUTPUT_ENV] == str(Path("elsewhere").resolve())
    assert os.environ[OUTPUT_ENV] == "elsewhere"
