"""Issue 22, item 4: the SQLite file deleted or replaced mid-run. At each commit the store
checks that the path still names the file it opened (device and inode); if not, the run
stops with one line and a non-zero exit, and what the file held, with the result being
written, is in a recovery file that `--resume` reads."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from results.dbfile import DatabaseReplacedError
from results.store import open_store
from suite.cli import main
from tests.support.store import begin, measurement


def _remove(path: Path) -> None:
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        p.unlink(missing_ok=True)


def _replace(path: Path) -> bytes:
    other = path.with_name("other.sqlite")
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE mine (x)")
        conn.execute("INSERT INTO mine VALUES (42)")
    conn.close()
    data = other.read_bytes()
    other.replace(path)  # mv other.sqlite results.sqlite
    return data


def _recovery_file(message: str) -> Path:
    found = re.search(r"are in (\S+\.sqlite):", message)
    assert found, message
    return Path(found.group(1))


@pytest.mark.parametrize("fault", ["rm", "mv"])
def test_a_replaced_file_stops_the_store_and_keeps_every_result(tmp_path: Path, fault: str) -> None:
    path = tmp_path / "results.sqlite"
    with open_store(f"sqlite:///{path}") as store:
        run_id = begin(store)
        store.add_result(run_id, measurement(1))  # the first commit
        other = _replace(path) if fault == "mv" else None
        if fault == "rm":
            _remove(path)
        with pytest.raises(DatabaseReplacedError) as exc:
            store.add_result(run_id, measurement(2))
        message = str(exc.value)
        assert "\n" not in message and "deleted or replaced during the run" in message
        store.finish_run(run_id, "interrupted")  # later writes go on in the recovery file
    if other is not None:  # someone else's database: not written to
        assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(other).digest()
    else:
        assert not path.exists()
    recovered = _recovery_file(message)
    with open_store(f"sqlite:///{recovered}", create=False) as store:
        info = store.get_run(run_id)
        assert (info.status, info.n_ok) == ("interrupted", 2)


def test_an_untouched_file_is_not_recovered(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'results.sqlite'}") as store:
        run_id = begin(store)
        for b in (1, 2, 4):
            store.add_result(run_id, measurement(b))
        store.finish_run(run_id)
    assert [p.name for p in tmp_path.iterdir() if "recovered" in p.name] == []


def test_a_run_whose_file_is_deleted_stops_and_resumes_from_the_recovery_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from suite import session
    from tests.support.session import FakeWorkers, fake_context

    path = tmp_path / "results.sqlite"
    workers = FakeWorkers(lambda _c, _i: 0.01)

    def rm_in_round_one(group: Any, policy: Any, round_: int, *args: Any, **_kw: Any) -> Any:
        if round_ == 1 and path.exists():  # after round 0's commits
            _remove(path)
        return workers(group, policy, round_, *args)

    monkeypatch.setattr(session, "run_round", rm_in_round_one)
    monkeypatch.setattr(session, "gather_context", lambda *_a, **_k: fake_context())
    argv = ["run", "--profile", "smoke", "--frameworks", "torch", "--depths", "50"]
    argv += ["--batch-sizes", "1,2", "--modes", "inference", "--processes", "3"]
    assert main([*argv, "--db", f"sqlite:///{path}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("resnet-bench: error: database file") and "Traceback" not in err
    recovered = _recovery_file(err[-1])
    url = f"sqlite:///{recovered}"
    with open_store(url, create=False) as store:
        [info] = store.list_runs()
        assert info.status == "interrupted" and len(store.pending(info.id)) >= 2
    assert main(["run", "--resume", str(info.id), "--db", url]) == 0
    with open_store(url, create=False) as store:
        info = store.get_run(info.id)
        assert (info.status, info.n_ok) == ("finished", 2)
