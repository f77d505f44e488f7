"""The failures found when the CLI was tried as a careless user and an attacker would:
credentials, unchecked profile values and limits, odd ids and URLs, output files that are
not regular files, wrong status labels, terminal escapes, in-memory databases. Each bad
input gets one line on stderr, exit status 2, no traceback, and nothing written."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from results.engine import alembic_config
from results.redact import redact, redact_env
from results.store import open_store
from runners.manager import Outcome, _failure
from suite.cli import main
from tests.support.store import begin, measurement
from vocab.case import Case

HUGE = "99999999999999999999999"


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    return lines[0]


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    with open_store(url) as store:
        run_id = begin(store, label="\x1b]0;pwned\x07\x1b[2J label")
        store.add_result(run_id, measurement())
        store.finish_run(run_id)
    return url


# -- 1. credentials ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ("run --db postgresql+psycopg://u:s3cret@h/db", "run --db postgresql+psycopg://u:***@h/db"),
        ("--db=postgresql://u:s3cret@h:5432/db --x", "--db=postgresql://u:***@h:5432/db --x"),
        ("postgresql://u:p@:/w@h/db", "postgresql://u:***@h/db"),  # bare @ : / in it
        ("sqlite:///out/results.sqlite", "sqlite:///out/results.sqlite"),
    ],
)
def test_redact_urls(text: str, clean: str) -> None:
    assert redact(text) == clean


def test_secret_environment_variables_are_masked() -> None:
    env = {
        "MY_API_TOKEN": "t",
        "DB_PASSWORD": "p",
        "OMP_NUM_THREADS": "2",
        "TORCH_HOME": "https://u:pw@h/x",
    }
    assert redact_env(env) == {
        "MY_API_TOKEN": "***",
        "DB_PASSWORD": "***",
        "OMP_NUM_THREADS": "2",
        "TORCH_HOME": "***",  # a credential-looking value is masked whole (results.redact)
    }
    from results.environment import relevant_env_vars

    assert relevant_env_vars({"TORCH_HOME": "https://u:pw@h/x"}) == {"TORCH_HOME": "***"}


def test_run_stores_its_command_without_the_password(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import argparse

    from suite.cli import run_cmd

    argv = ["resnet-bench", "run", "--db", "postgresql+psycopg://u:s3cret@h/db"]
    monkeypatch.setattr("sys.argv", argv)
    parser = argparse.ArgumentParser()
    run_cmd.add_arguments(parser)
    plan = run_cmd.make_plan(parser.parse_args(["--profile", "smoke"]))
    assert "s3cret" not in plan.command and "u:***@h" in plan.command


def test_a_migration_redacts_commands_already_stored(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    with open_store(url) as store:
        begin(store)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
        conn.execute(sa.text("UPDATE run SET command = 'run --db postgresql://u:pw@h/db'"))
    engine.dispose()
    with open_store(url) as store:
        assert store.list_runs()[0].command == "run --db postgresql://u:***@h/db"


# -- 2. profile values ---------------------------------------------------------------------

BAD_PROFILES = [
    ("[sampling]\ntimeout_s = 'abc'\n", "timeout_s must be a positive number"),
    ("[sampling]\nprocesses = 'x'\n", "min_processes must be a non-negative integer"),
    ("sampling = [1]\n", "must be tables"),
    ("sampling = 'ab'\n", "must be tables"),
    ("[sampling]\nprocesses = 0\n", "min_processes must be at least 1"),
    ("[sampling]\nmin_samples = 2.5\n", "min_samples must be a non-negative integer"),
    ("[sampling]\nmax_time_s = true\n", "max_time_s must be a finite non-negative number"),
    ("[sampling]\nmin_processes = 6\nmax_processes = 3\n", "max_processes (3) is below"),
]
CASES = "[cases]\nframeworks = ['torch']\ndepths = [50]\nbatch_sizes = [1]\n"


@pytest.mark.parametrize(("extra", "message"), BAD_PROFILES)
def test_bad_profile_values_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str, message: str
) -> None:
    path = tmp_path / "p.toml"
    path.write_text(extra + CASES if extra.startswith("sampling") else CASES + extra)
    db = tmp_path / "r.sqlite"
    assert main(["run", "--profile", str(path), "--db", f"sqlite:///{db}"]) == 2
    assert message in one_error_line(capsys)
    assert not db.exists()


def test_a_float_depth_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.toml"
    path.write_text(CASES.replace("[50]", "[50.0]"))
    assert main(["run", "--profile", str(path), "--db", f"sqlite:///{tmp_path / 'r'}"]) == 2
    assert "depth must be an integer, got 50.0" in one_error_line(capsys)


# -- 3. limits -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flags",
    [
        ["--max-time", "-1"],
        ["--max-time", "nan"],
        ["--timeout", "nan"],
        ["--timeout", "inf"],
        ["--timeout", "0"],
        ["--timeout", "-1"],
        ["--max-time", "0"],
    ],
)
def test_limits_must_be_finite_and_positive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    db = tmp_path / "r.sqlite"
    with pytest.raises(SystemExit) as exit_info:
        raise SystemExit(main(["run", "--profile", "smoke", "--db", f"sqlite:///{db}", *flags]))
    assert exit_info.value.code == 2
    assert "must be a positive, finite number of seconds" in one_error_line(capsys)
    assert not db.exists()


# -- 4. odd ids and URLs -------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["show", HUGE],
        ["compare", "1", HUGE],
        ["report", "--runs", HUGE],
        ["export", "--run", HUGE, "-o", "-"],
        ["run", "--resume", HUGE],
    ],
)
def test_huge_run_ids_are_unknown_runs(
    db: str, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    assert main([*args, "--db", db]) == 2
    assert f"unknown run {HUGE}" in one_error_line(capsys)


def test_a_url_with_a_bare_at_in_its_password(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--db", "postgresql+psycopg://u:p@:/w@h:x/db"]) == 2
    line = one_error_line(capsys)
    assert "p@:/w" not in line and "***" in line


def test_an_in_memory_database_is_refused_for_run(capsys: pytest.CaptureFixture[str]) -> None:
    for url in ("sqlite://", "sqlite:///", "sqlite:///:memory:"):
        assert main(["run", "--profile", "smoke", "--db", url]) == 2
        assert "in-memory database" in one_error_line(capsys)


# -- 5 and 6. output files -----------------------------------------------------------------


def test_export_to_a_folder_or_a_full_disk_is_one_line(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", "-o", str(tmp_path), "--db", db]) == 2
    assert "is a folder" in one_error_line(capsys)
    if Path("/dev/full").exists():
        assert main(["export", "-o", "/dev/full", "--db", db]) == 2
        assert "No space left on device" in one_error_line(capsys)


def test_devices_are_written_through_and_links_kept(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", "-o", os.devnull, "--db", db]) == 0
    assert Path(os.devnull).is_char_device()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert main(["export", "--format", "json", "-o", str(fifo), "--db", db]) == 0
        assert os.read(reader, 1 << 20).startswith(b"[")
    finally:
        os.close(reader)
    assert fifo.is_fifo()  # still a FIFO, not replaced by a regular file
    target = tmp_path / "real.html"
    target.write_text("old")
    link = tmp_path / "link.html"
    link.symlink_to(target)
    assert main(["report", "-o", str(link), "--db", db]) == 0
    assert link.is_symlink() and "<!DOCTYPE html>" in target.read_text()
    capsys.readouterr()
    assert main(["report", "-o", "-", "--db", db]) == 0
    assert capsys.readouterr().out.startswith("<!DOCTYPE html>")


# -- 7. a stale run ------------------------------------------------------------------------


def test_a_running_run_whose_process_is_gone_is_stale(db: str) -> None:
    with open_store(db) as store:
        run_id = begin(store)
        assert store.get_run(run_id).state == "running"  # this very process owns it
        with store._write() as session:  # as if its owner had died
            session.execute(sa.text(f"UPDATE run SET owner_pid = 2147483646 WHERE id = {run_id}"))
            session.commit()
        assert store.get_run(run_id).state == "stale"
        assert store.get_run(run_id).status == "running"  # stored as it was: resumable


# -- 8. status labels ----------------------------------------------------------------------


def test_sigkill_is_oom_only_with_evidence() -> None:
    case = Case("torch", 50, 1)
    killed = _failure(case, Outcome(-signal.SIGKILL, None, ""), 5)
    assert (killed.status, killed.reason) == ("killed", "worker killed by SIGKILL")
    oom = _failure(case, Outcome(-signal.SIGKILL, None, "", oom_killed=True), 5)
    assert oom.status == "oom" and "OOM killer" in (oom.reason or "")


def test_oom_kills_read_from_the_cgroup(tmp_path: Path) -> None:
    from runners.host import oom_kills

    (tmp_path / "proc/self").mkdir(parents=True)
    (tmp_path / "proc/self/cgroup").write_text("0::/bench\n")
    level = tmp_path / "sys/fs/cgroup/bench"
    level.mkdir(parents=True)
    (level / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\n")
    (tmp_path / "sys/fs/cgroup/memory.events").write_text("oom_kill 1\n")
    assert oom_kills(tmp_path) == 3
    assert oom_kills(tmp_path / "nowhere") is None


@pytest.mark.torch
def test_allocation_failures_are_oom() -> None:
    from runners.torch_runner import TorchRunner

    err = RuntimeError(
        "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: "
        "you tried to allocate 240844800000 bytes. Error code 12 (Cannot allocate memory)"
    )
    assert TorchRunner().is_oom(err)
    assert not TorchRunner().is_oom(RuntimeError("shape mismatch"))


# -- 9. terminal escapes -------------------------------------------------------------------


@pytest.mark.parametrize("cmd", [["runs"], ["show", "1"]])
def test_control_characters_are_not_printed_raw(
    db: str, capsys: pytest.CaptureFixture[str], cmd: list[str]
) -> None:
    assert main([*cmd, "--db", db]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "?]0;pwned??[2J label" in out


# -- 10. smaller ones ----------------------------------------------------------------------


def test_models_lists_a_repeated_depth_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--depths", "50,50", "--frameworks", "torch", "--json"]) == 0
    import json

    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1


def test_a_batch_that_cannot_fit_is_warned_about(monkeypatch: pytest.MonkeyPatch) -> None:
    from suite.cli.run_cmd import memory_warnings

    monkeypatch.setattr("runners.nvml.gpu_devices", lambda: [])
    huge, small = Case("torch", 50, 100_000), Case("torch", 50, 1)
    warnings = memory_warnings([huge, small])
    assert len(warnings) == 1 and "b100000" in warnings[0] and "likely end as oom" in warnings[0]
