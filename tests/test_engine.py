"""Opening a result database (results.engine): the schema and its migrations, clear
refusals that leave the file as it was, SQLite settings."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, create_engine, inspect, text

import results
from results.db import STAT_COLUMNS, Base, Machine
from results.engine import StoreError, alembic_config, head_revision
from results.format import fmt
from results.metadata import ENVIRONMENT_KEYS, MACHINE_KEYS, VERSION_KEYS
from results.store import open_store
from tests.support.store import (
    BACKENDS,
    backend_url,
    begin,
    measurement,
    sqlite_file,
)
from vocab.case import CASE_FIELDS
from vocab.stats import Stats

db_url = pytest.fixture(params=BACKENDS)(backend_url)


# --- schema ------------------------------------------------------------------------------


def test_migrations_match_the_models(db_url: str) -> None:
    open_store(db_url).close()
    engine = create_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert MigrationContext.configure(conn).get_current_heads() == (head_revision(),)
    engine.dispose()
    assert diff == [], "results/db.py changed without a migration: add a revision"


def _migrate(conn: Connection, revision: str, *, down: bool = True) -> None:
    """The migrations run on `conn` down (or up) to `revision`."""
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    (command.downgrade if down else command.upgrade)(cfg, revision)


def test_migrations_downgrade_and_upgrade_again(db_url: str) -> None:
    open_store(db_url).close()
    engine = create_engine(db_url)
    with engine.begin() as conn:
        _migrate(conn, "base")
        assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    with open_store(db_url) as store:
        assert store.list_runs() == []


def test_ceilings_stored_before_they_were_per_environment_keep_serving_their_run(
    db_url: str,
) -> None:
    """Migration 0013 gives the ceilings stored before it env '' (they serve every case of
    their run); its downgrade keeps one ceiling per device and precision."""
    with open_store(db_url) as store:
        old = begin(store)  # one cpu fp32 ceiling of 2000 GFLOP/s
        store.add_result(old, measurement(8))
    engine = create_engine(db_url)
    with engine.begin() as conn:
        _migrate(conn, "0012")
        assert "env" not in {c["name"] for c in inspect(conn).get_columns("ceiling")}
        _migrate(conn, "head", down=False)
        envs = conn.execute(text("SELECT env, gflops FROM ceiling")).all()
    assert [tuple(r) for r in envs] == [("", 2000.0)]
    assert results.load(db_url)["ceiling_gflops"].tolist() == [2000.0]
    with open_store(db_url) as store:  # an A/B run's two sets go down to one
        ab = begin(store, ceilings=[
            {"device": "cpu", "precision": "fp32", "gflops": 900.0, "env": "a"},
            {"device": "cpu", "precision": "fp32", "gflops": 400.0, "env": "b"},
        ])  # fmt: skip
    with engine.begin() as conn:
        _migrate(conn, "0012")
        rows = conn.execute(text("SELECT gflops FROM ceiling WHERE run_id = :r"), {"r": ab})
        assert [r[0] for r in rows] == [900.0]
    engine.dispose()


def test_runs_stored_before_replication_still_load_and_show(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A database at revision 0001 (one pooled sample set per result, no value_s, no
    rounds) is migrated on open: value_s = the old median, rounds = the old process tags."""
    from suite.cli import main

    with open_store(db_url) as store:
        run_id = begin(store)
        store.add_result(run_id, measurement(n=30, processes=1))
        store.finish_run(run_id)
    old_median = float(results.load(db_url).iloc[0].median_s)
    engine = create_engine(db_url)
    with engine.begin() as conn:
        _migrate(conn, "0001")
        assert "value_s" not in {c["name"] for c in inspect(conn).get_columns("result")}
        assert "process" not in inspect(conn).get_table_names()
    engine.dispose()
    df = results.load(db_url)  # opening migrates it to the head again
    assert df.iloc[0].value_s == pytest.approx(old_median)
    samples = results.load_samples(db_url)
    assert samples["round"].tolist() == samples["process"].tolist() == [0] * 30
    assert results.load_processes(db_url).empty  # old results have no process rows
    args = ["show", str(run_id), "--db", db_url] if "://" in db_url else []
    assert main(args) == 0
    # one process: the value without a CI, as the report shows it
    row = next(line for line in capsys.readouterr().out.splitlines() if "r50" in line)
    assert f" {fmt(old_median * 1e3)} " in row and "[" not in row


def test_metadata_keys_have_columns() -> None:
    machine_cols = set(Base.metadata.tables["machine"].columns.keys())
    env_cols = set(Base.metadata.tables["environment"].columns.keys())
    assert {k.name for k in MACHINE_KEYS} <= machine_cols
    # versions are rows (table environment_version), not a column per runtime
    assert {k.name for k in ENVIRONMENT_KEYS} - {"versions"} <= env_cols
    assert not {k.name for k in VERSION_KEYS} & env_cols
    assert {"environment_id", "key", "value"} <= set(
        Base.metadata.tables["environment_version"].columns.keys()
    )
    assert set(STAT_COLUMNS) <= set(Stats.__dataclass_fields__)
    assert set(CASE_FIELDS) <= set(Base.metadata.tables["result"].columns.keys())


# --- refusals -----------------------------------------------------------------------------


def _snapshot(path: Path) -> tuple[bytes, int, list[str]]:
    return path.read_bytes(), path.stat().st_mtime_ns, sorted(p.name for p in path.parent.iterdir())


def test_newer_schema_is_refused_and_left_unchanged(db_url: str) -> None:
    with open_store(db_url) as store:
        begin(store)
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    engine.dispose()
    path = sqlite_file(db_url)
    before = _snapshot(path) if path else None
    message = (
        r"has schema revision 9999_future, newer than this resnet-bench "
        rf"\(knows up to {head_revision()}\); upgrade resnet-bench"
    )
    with pytest.raises(StoreError, match=message):
        open_store(db_url)
    if path is not None:
        assert _snapshot(path) == before
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == (
            "9999_future"
        )
        assert conn.execute(text("SELECT count(*) FROM run")).scalar_one() == 1
    engine.dispose()


@pytest.mark.parametrize(
    "content",
    [b"run,framework\n1,torch\n", b"SQLite format 2\x00" + bytes(200), b"\x00\x01" * 50],
    ids=["csv-text", "near-miss-header", "binary"],
)
def test_non_database_file_is_refused_and_left_unchanged(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "results.sqlite"
    path.write_bytes(content)
    before = _snapshot(path)
    with pytest.raises(StoreError, match=r"results.sqlite is not a SQLite database.*untouched"):
        open_store(f"sqlite:///{path}")
    assert _snapshot(path) == before


def test_foreign_database_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "app.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()
    before = _snapshot(path)
    with pytest.raises(StoreError, match=r"holds other tables \(users\) and no resnet-bench"):
        open_store(f"sqlite:///{path}")
    assert _snapshot(path) == before


def test_empty_file_becomes_a_database(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    path.touch()
    with open_store(f"sqlite:///{path}") as store:
        assert store.list_runs() == []
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()


def test_read_only_open_does_not_create(tmp_path: Path) -> None:
    path = tmp_path / "nothing" / "results.sqlite"
    with pytest.raises(StoreError, match="no result database at"):
        open_store(f"sqlite:///{path}", create=False)
    assert not path.parent.exists()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "cannot parse database URL 'not a url'"),
        ("nosuchdb://host/x", "SQLAlchemy has no dialect 'nosuchdb'"),
        ("postgresql+pg8000://bench:s3cret@localhost/db", "driver for .* is not installed"),
        ("postgresql+psycopg://bench:s3cret@127.0.0.1:1/db", "cannot open database .*:1/db: "),
    ],
    ids=["unparsable", "unknown-dialect", "missing-driver", "unreachable"],
)
def test_bad_urls_give_one_line_without_the_password(url: str, expected: str) -> None:
    with pytest.raises(StoreError, match=expected) as info:
        open_store(url)
    message = str(info.value)
    assert "\n" not in message and "s3cret" not in message
    if "s3cret" in url:
        assert "bench:***@" in message


def test_sqlite_settings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'deep' / 'er' / 'r.sqlite'}"
    with open_store(url) as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_machine_table_has_unique_fingerprint() -> None:
    assert Machine.__table__.c.fingerprint.unique
