"""Issue 22: the failure classes found when the CLI was tried as a hostile user would.
Each test is one example of the issue: it failed before the fix and passes after."""

from __future__ import annotations

from pathlib import Path

import pytest

from results.store import open_store
from suite.cli import main
from suite.cli.terminal import safe
from tests.support.store import begin, measurement

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    return lines[0]


def db_with_label(tmp_path: Path, label: str) -> str:
    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    with open_store(url) as store:
        run_id = begin(store, label=label)
        store.add_result(run_id, measurement())
        store.finish_run(run_id)
    return url


# -- 5. terminal control characters ---------------------------------------------------------


@pytest.mark.parametrize("char", ["\x1b", "\n", "\r", "\t", "\x85", "\u2028", *BIDI])
def test_safe_replaces_every_control(char: str) -> None:
    assert safe(f"a{char}b") == "a?b"


def test_an_escape_in_the_db_url_is_not_printed_raw(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", "--db", f"sqlite:///{tmp_path}/no\x1b[2Jdb.sqlite"]) == 2
    line = one_error_line(capsys)
    assert "\x1b" not in line and "no?[2Jdb.sqlite" in line


def test_an_escape_in_an_argparse_error_is_not_printed_raw(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", "--image-size", "\x1b[2J\u202e"])
    assert exc.value.code == 2
    line = one_error_line(capsys)
    assert "\x1b" not in line and "\u202e" not in line


@pytest.mark.parametrize("cmd", [["runs"], ["show", "1"]])
def test_a_label_with_a_line_break_forges_no_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cmd: list[str]
) -> None:
    forged = "x\n│ 2  │ 2026-01-01 │ forged"
    assert main([*cmd, "--db", db_with_label(tmp_path, forged)]) == 0
    out = capsys.readouterr().out
    assert not any(line.lstrip("│ ").startswith("2  │") for line in out.splitlines())
    assert "x?│ 2  │ 2026-01-01 │ forged" in out


@pytest.mark.parametrize("cmd", [["runs"], ["show", "1"]])
def test_a_right_to_left_override_is_not_printed_raw(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cmd: list[str]
) -> None:
    assert main([*cmd, "--db", db_with_label(tmp_path, "abc\u202efdp.exe")]) == 0
    out = capsys.readouterr().out
    assert not any(ch in out for ch in BIDI)
    assert "abc?fdp.exe" in out


# -- 6. dry run ------------------------------------------------------------------------------


def test_a_dry_run_prints_the_memory_warning_of_the_real_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("runners.nvml.gpu_devices", lambda: [])
    argv = ["run", "--dry-run", "--profile", "smoke", "--frameworks", "torch", "--depths", "50"]
    argv += ["--batch-sizes", "1", "--image-size", "100000", "--db", f"sqlite:///{tmp_path}/r"]
    assert main(argv) == 0
    assert "likely end as oom" in capsys.readouterr().out


# -- 2. bad input with --resume and calibrate -------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> str:
    return db_with_label(tmp_path, "a run")


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--depths", "101"], "--depths"),
        (["--frameworks", "bogus"], "--frameworks"),
        (["--devices", "tpu"], "--devices"),
        (["--profile", "/nonexistent.toml"], "--profile"),
        (["--label", "x"], "--label"),
        (["--processes", "3", "--label", "x"], "--processes"),
    ],
)
def test_resume_refuses_plan_flags(
    db: str, capsys: pytest.CaptureFixture[str], flags: list[str], named: str
) -> None:
    assert main(["run", "--resume", "1", *flags, "--db", db]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"resnet-bench: error: {named} does not go with --resume")


def test_resume_still_applies_max_time(
    db: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from suite import session

    seen = []
    monkeypatch.setattr(
        session, "execute", lambda store, plan, ui, resume=None: seen.append(plan) or (None, [])
    )
    monkeypatch.setattr(session, "resume_plan", lambda store, run_id: _stored_plan())
    assert main(["run", "--resume", "1", "--max-time", "7", "--db", db]) == 0
    assert seen[0].policy.max_time_s == 7.0


def _stored_plan() -> object:
    from runners.timing import SamplingPolicy
    from suite.session import Plan

    return Plan(cases=[], policy=SamplingPolicy(), timeout_s=60.0, profile="smoke")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--from-runs", ""], "--from-runs '' is an empty list"),
        (["--from-runs", ","], "--from-runs ',' is an empty list"),
        (["--from-runs", "1,2", "--repeats", "5"], "--repeats does not go with --from-runs"),
        (["--from-runs", "1,2", "--depths", "50"], "--depths does not go with --from-runs"),
        (["--from-runs", "1,2", "--profile", "smoke"], "--profile does not go with --from-runs"),
    ],
)
def test_calibrate_refuses_empty_or_conflicting_flags(
    db: str, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    assert main(["calibrate", *flags, "--db", db]) == 2
    assert message in one_error_line(capsys)
