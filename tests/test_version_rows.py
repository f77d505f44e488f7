"""Versions as rows (results.metadata.VERSION_KEYS, table environment_version): an old
database with a column per runtime opens, its values become rows, and it shows; unknown
version keys are refused on write."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

import results
from results.engine import alembic_config
from results.metadata import MetadataError
from results.store import open_store
from tests.support.store import BACKENDS, backend_url, begin, fake_environment, measurement

db_url = pytest.fixture(params=BACKENDS)(backend_url)


def test_an_old_database_moves_its_version_columns_into_rows(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from suite.cli import main

    with open_store(db_url) as store:
        run_id = begin(store, environment=fake_environment(torch_version="2.12.1"))
        store.add_result(run_id, measurement())
        store.finish_run(run_id)
    engine = create_engine(db_url)
    with engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006")  # the schema with one column per runtime
        assert "environment_version" not in inspect(conn).get_table_names()
        old = conn.execute(text("SELECT torch_version, onnxruntime_distribution FROM environment"))
        assert old.one() == ("2.12.1", "onnxruntime")
    engine.dispose()
    df = results.load(db_url)  # opening migrates it to the head again
    assert df.iloc[0].torch_version == "2.12.1" and df.iloc[0].jaxlib_version == "0.10.2"
    with open_store(db_url) as store:
        versions = store.get_run(run_id).environment["versions"]
    assert versions["tensorflow_distribution"] == "tensorflow"
    assert versions == fake_environment(torch_version="2.12.1")["versions"]
    args = ["show", str(run_id), "--db", db_url]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "2.12.1" in out and "0.10.2 / 0.10.2" in out and "1.32.0 (onnxruntime)" in out


def test_an_unknown_version_key_is_refused(db_url: str) -> None:
    env = fake_environment()
    env["versions"] = {**env["versions"], "mxnet_version": "1.9"}
    with open_store(db_url) as store, pytest.raises(MetadataError, match="mxnet_version"):
        begin(store, environment=env)
