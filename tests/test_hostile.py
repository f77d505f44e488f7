"""Issue 22: the failure classes found when the CLI was tried as a hostile user would.
Each test is one example of the issue: it failed before the fix and passes after."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
    monkeypatch.setattr(session, "claim", lambda store, plan, run_id: None)
    assert main(["run", "--resume", "1", "--max-time", "7", "--db", db]) == 0
    assert seen[0].policy.max_time_s == 7.0


def _stored_plan() -> object:
    from suite.session import Plan
    from vocab.sampling import SamplingPolicy

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


# -- 1. secrets ----------------------------------------------------------------------------


def _stored_run(url: str, argv: list[str], env: dict[str, str]) -> None:
    """A run stored as `run` stores it: its command from argv, its variables from env."""
    from results.environment import environment_info
    from results.redact import redact_argv
    from tests.support.store import fake_machine

    with open_store(url) as store:
        run_id = store.begin_run(
            label="secrets",
            command=redact_argv(argv),
            profile="smoke",
            source="cli",
            machine=fake_machine(),
            environment=environment_info(env=env),
        )
        store.add_result(run_id, measurement())
        store.finish_run(run_id)


SECRET_URLS = [
    "postgresql+psycopg://rb@127.0.0.1:5/rb?password=Q9SECRETq",
    "postgresql://rb2:sp Q9SECRETq@host/db",
    "postgresql://rb2:p@Q9SECRETq@host/db",
    "postgresql://u:p@:/Q9SECRETq@h/db",
    "postgresql://u:x@h/db?sslmode=require&sslpassword=Q9SECRETq",
]


def test_a_db_password_reaches_no_output(tmp_path: Path) -> None:
    from tests.support.outputs import every_output

    argv = ["resnet-bench", "run"]  # each URL as `--db URL` and as `--db=URL`
    for url in SECRET_URLS:
        argv += ["--db", url, f"--db={url}"]
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    _stored_run(db, argv, {})
    text = every_output(db, tmp_path)
    assert "Q9SECRETq" not in text
    assert text.count("***") >= len(SECRET_URLS)


def test_a_bare_at_in_a_password_is_refused_before_connecting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["runs", "--db", "postgresql://rb2:p@Q9SECRETq@127.0.0.1:1/db"]) == 2
    line = one_error_line(capsys)
    assert "Q9SECRETq" not in line and "write it as %40" in line


@pytest.mark.parametrize("url", SECRET_URLS[:2])
def test_a_db_password_is_not_on_stderr_when_the_connection_fails(
    capsys: pytest.CaptureFixture[str], url: str
) -> None:
    bad = url.replace("127.0.0.1:5", "127.0.0.1:1").replace("host", "127.0.0.1:1")
    assert main(["runs", "--db", bad]) == 2
    line = one_error_line(capsys)
    assert "Q9SECRETq" not in line and "***" in line


SECRET_VARIABLES = {
    "OMP_AUTH": "Q9SECRETq",
    "TF_AUTH_BEARER": "Q9SECRETq",
    "TORCH_HUB_CRED": "Q9SECRETq",
    "TORCH_PRIVATE_PEM": "-----BEGIN PRIVATE KEY-----Q9SECRETq",
    "TF_CONFIG": '{"cluster": {"worker": ["u:Q9SECRETq@host:2222"]}, "task": {"index": 0}}',
    "TORCH_HOME": "https://u:Q9SECRETq@h/x",
    "XLA_FLAGS": "--xla_token=Q9SECRETq",
    "ORT_HEADER": "Bearer Q9SECRETq",
    "CUDA_THING": "abcDEF0123456789abcdefGHIJ0123456789Q9SECRETq",
}


def test_secret_variables_reach_no_output(tmp_path: Path) -> None:
    from results.environment import relevant_env_vars
    from tests.support.outputs import every_output

    kept = {"OMP_NUM_THREADS": "2", "XLA_FLAGS_X": "--xla_cpu_fast_math=false"}
    stored = relevant_env_vars({**SECRET_VARIABLES, **kept})
    assert all(stored.get(k, "***") == "***" for k in SECRET_VARIABLES)
    assert {k: stored[k] for k in kept} == kept  # the harmless ones stay as they are
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    _stored_run(db, ["resnet-bench", "run"], {**SECRET_VARIABLES, **kept})
    assert "Q9SECRETq" not in every_output(db, tmp_path)


def test_a_migration_cleans_secrets_already_stored(tmp_path: Path) -> None:
    import sqlalchemy as sa
    from alembic import command

    from results.engine import alembic_config
    from tests.support.outputs import every_output

    db = f"sqlite:///{tmp_path / 'old.sqlite'}"
    _stored_run(db, ["resnet-bench", "run"], {"OMP_NUM_THREADS": "2"})
    engine = sa.create_engine(db)
    with engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006")
        old = "resnet-bench run --db " + " ".join(f"'{u}'" for u in SECRET_URLS)
        conn.execute(sa.text("UPDATE run SET command = :c"), {"c": old})
        env = sa.text("UPDATE environment SET env_vars = :v")
        conn.execute(env, {"v": json.dumps({**SECRET_VARIABLES, "OMP_NUM_THREADS": "2"})})
    engine.dispose()
    text = every_output(db, tmp_path)  # opening it migrates
    assert "Q9SECRETq" not in text
    assert "OMP_NUM_THREADS=2" in text


# -- 3. two resumes of one run at once -------------------------------------------------------

RACES = 20


def _resume_in_child(url: str, run_id: int, go: object, out: object, workers: object) -> None:
    """A forked `run --resume` (the parent patched the session: fake workers, no probes)."""
    import contextlib
    import io

    err = io.StringIO()
    go.wait()  # type: ignore[attr-defined]
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["run", "--resume", str(run_id), "--db", url])
    except BaseException as exc:  # the parent sees it instead of waiting in vain
        code, err = 99, io.StringIO(repr(exc))
    out.put((code, err.getvalue(), len(workers.calls)))  # type: ignore[attr-defined]


def _interrupted_run(url: str) -> int:
    from runners.host import machine_info
    from suite import session
    from tests.support.session import POLICY, fake_context
    from tests.support.store import case

    plan = session.Plan([case(1), case(2)], POLICY, 60.0, "test", seed=3)
    with open_store(url) as store:
        run_id = store.begin_run(
            label="race", command="resnet-bench run", profile="test", source="cli",
            machine=machine_info(), environment=fake_context().environment,
            plan=session.plan_record(plan),
        )  # fmt: skip
        store.finish_run(run_id, "interrupted")
    return run_id


@pytest.mark.slow  # 20 races of two forked resumes (seconds)
def test_two_resumes_at_once_one_measures_and_the_status_is_right(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import multiprocessing
    import time

    from results.db import Pending
    from runners.host import machine_info
    from suite import session
    from tests.support.session import FakeWorkers, fake_context

    context, machine = fake_context(), machine_info()  # once: the children share them
    workers = FakeWorkers(lambda _c, _i: 0.001)

    def slow_round(*args: Any, **_kw: Any) -> Any:
        time.sleep(0.02)  # long enough for the two resumes to overlap
        return workers(*args)

    monkeypatch.setattr(session, "run_round", slow_round)
    monkeypatch.setattr(session, "gather_context", lambda *_a, **_k: context)
    monkeypatch.setattr("runners.host.machine_info", lambda: machine)
    # One resume here first: what it imports lazily (scipy.stats, ...) the children inherit.
    warm = f"sqlite:///{tmp_path / 'warm.sqlite'}"
    assert main(["run", "--resume", str(_interrupted_run(warm)), "--db", warm]) == 0
    workers.calls.clear()
    fork = multiprocessing.get_context("fork")
    outcomes: dict[str, int] = {}
    for k in range(RACES):
        url = f"sqlite:///{tmp_path / f'race{k}.sqlite'}"
        run_id = _interrupted_run(url)
        go, out = fork.Event(), fork.Queue()
        kids = [
            fork.Process(target=_resume_in_child, args=(url, run_id, go, out, workers))
            for _ in "ab"
        ]
        for p in kids:
            p.start()
        go.set()
        got = sorted(out.get(timeout=120) for _ in kids)
        for p in kids:
            p.join(timeout=60)
        measured = [g for g in got if g[0] == 0 and g[2] > 0]
        assert len(measured) == 1, got  # exactly one measured
        other_code, other_err, other_rounds = next(g for g in got if g is not measured[0])
        assert other_rounds == 0, got  # the other measured nothing
        if other_code == 2:  # refused, naming the owner, in one line
            assert "is held by pid" in other_err and len(other_err.strip().splitlines()) == 1
            outcomes["refused"] = outcomes.get("refused", 0) + 1
        else:  # came after the first had finished: nothing left to run
            assert other_code == 0, got
            outcomes["nothing left"] = outcomes.get("nothing left", 0) + 1
        with open_store(url) as store:
            info = store.get_run(run_id)
            assert (info.status, info.n_ok) == ("finished", 2), (info, got)
            with store.reading() as s:
                assert s.query(Pending).count() == 0
    assert sum(outcomes.values()) == RACES
    print(f"{RACES} races: {outcomes}")


def test_a_resume_drops_orphan_pending_rows(tmp_path: Path) -> None:
    from results.db import Pending
    from tests.support.store import case

    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    with open_store(url) as store:
        run_id = begin(store)
        store.add_pending(run_id, 0, measurement(1))
        store.add_result(run_id, measurement(1))  # deletes the pending row of its case...
        store.add_pending(run_id, 0, measurement(1))  # ...but a racing resume added one again
        store.add_pending(run_id, 0, measurement(2))
        store.finish_run(run_id, "interrupted")
        store.reopen_run(run_id)
        with store.reading() as s:
            keys = [p.case_key for p in s.query(Pending)]
        assert len(keys) == 1 and '"batch_size": 2' in keys[0]
        assert case(2).batch_size == 2
