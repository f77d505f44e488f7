"""Opening a result database: parse the URL, refuse what is not ours, migrate, tune SQLite.

- SQLite runs in WAL mode with a busy timeout, and every write transaction starts with
  BEGIN IMMEDIATE: several processes may write one file at the same time (a deferred
  transaction that reads, then writes, can fail at once with SQLITE_BUSY instead of
  waiting).
- The schema is migrated with Alembic on open. A database from a newer resnet-bench, a
  file that is not SQLite, or a database holding someone else's tables is refused with a
  StoreError and left exactly as it was.

results.store reads and writes runs and results on the engine this module opens.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from results.redact import mask_url

SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_S = 30.0
_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_PG_MIGRATION_LOCK = 0x7265736E  # pg_advisory_xact_lock key: one migrator at a time


class StoreError(Exception):
    """The database cannot be used; the message is one line naming it (password masked)."""


def alembic_config() -> Config:
    """Alembic configured in code, so migrations run from an installed package, any cwd."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "results/migrations has no revision"
    return head


def first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    return lines[0] if lines else type(orig).__name__


def _sqlite_path(url: URL) -> Path | None:
    """The file behind a SQLite URL; None for in-memory databases."""
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def sqlite_file(engine: Engine) -> Path | None:
    """The file behind a SQLite engine; None for in-memory databases and other backends."""
    return _sqlite_path(engine.url) if engine.url.get_backend_name() == "sqlite" else None


def _check_sqlite_file(path: Path, create: bool) -> None:
    """Refuse anything but a SQLite file (or an empty/new one) before SQLite opens it."""
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not a SQLite database file")
    if not path.exists():
        if not create:
            raise StoreError(f"no result database at {path}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder for {path}: {exc.strerror}") from None
        return
    try:
        with path.open("rb") as f:
            header = f.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from None
    if header and header != SQLITE_HEADER:  # an empty file is a valid, empty database
        raise StoreError(
            f"{path} is not a SQLite database (it does not start with 'SQLite format 3'); "
            "left untouched: give another --db or --output"
        )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        # We emit BEGIN ourselves: pysqlite's implicit transactions skip DDL and savepoints.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def open_engine(url: str, *, create: bool = True) -> tuple[Engine, str]:
    """The engine for `url`, its schema created or migrated, and the URL masked for printing.

    create=False refuses a SQLite file that does not exist yet (for commands that only
    read). Every failure is a StoreError with one line naming the (masked) URL.
    """
    engine, parsed, masked = _new_engine(url)
    backend = parsed.get_backend_name()
    sqlite_file = _sqlite_path(parsed) if backend == "sqlite" else None
    if sqlite_file is not None:
        try:
            _check_sqlite_file(sqlite_file, create)
        except StoreError:
            engine.dispose()
            raise
    if backend == "sqlite":
        _configure_sqlite(engine)
    try:
        migrate(engine, masked)
        if sqlite_file is not None:
            enable_wal(engine)
    except StoreError:
        engine.dispose()
        raise
    except (DBAPIError, sqlite3.Error) as exc:
        engine.dispose()
        raise StoreError(f"cannot open database {masked}: {first_line(exc)}") from None
    return engine, masked


def check_url(url: str) -> str:
    """Refuse now what open_engine would refuse before connecting (syntax, dialect, driver),
    connecting to nothing and creating nothing: for a check at start-up. Returns the URL
    masked for printing."""
    engine, _parsed, masked = _new_engine(url)
    engine.dispose()
    return masked


def _new_engine(url: str) -> tuple[Engine, URL, str]:
    """An engine for `url`, not connected yet, with the parsed and the masked URL."""
    masked = mask_url(url)
    try:
        parsed = make_url(url)
        parsed.get_backend_name()
    except (ArgumentError, ValueError):  # ValueError: e.g. a bare '@:/' in the password
        raise StoreError(
            f"cannot parse database URL {masked!r}; expected e.g. sqlite:///out/results.sqlite "
            "or postgresql+psycopg://user:password@host/dbname"
        ) from None
    masked = mask_url(parsed)
    if "@" in (parsed.host or ""):
        # The parser took the password to the first '@': the rest would be sent, as a host
        # name, to a resolver and echoed in its error.
        raise StoreError(f"database URL {masked} has an '@' in its password; write it as %40")
    try:
        engine = create_engine(parsed)
    except NoSuchModuleError:
        raise StoreError(
            f"unsupported database URL {masked}: SQLAlchemy has no dialect {parsed.drivername!r}"
        ) from None
    except ImportError as exc:
        raise StoreError(
            f"the database driver for {masked} is not installed ({exc.name or exc}); "
            "for PostgreSQL: pip install 'psycopg[binary]'"
        ) from None
    return engine, parsed, masked


def writer(engine: Engine) -> Engine:
    """The engine whose transactions take SQLite's write lock at BEGIN (waiting up to the
    busy timeout for it); the same engine elsewhere."""
    return engine.execution_options(sqlite_begin="IMMEDIATE")


def _check_revision(url: str, current: set[str], script: ScriptDirectory) -> None:
    known = {rev.revision for rev in script.walk_revisions()}
    newer = sorted(current - known)
    if newer:
        raise StoreError(
            f"database {url} has schema revision {', '.join(newer)}, newer than this "
            f"resnet-bench (knows up to {script.get_current_head()}); upgrade resnet-bench"
        )


def migrate(engine: Engine, url: str) -> None:
    """Bring the schema to the head revision (one migrator at a time); refuse a newer or
    foreign database with a StoreError."""
    cfg = alembic_config()
    script = ScriptDirectory.from_config(cfg)
    head = script.get_current_head()
    # A plain read first: an up-to-date (or newer, or read-only) database needs no lock.
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    _check_revision(url, current, script)
    if current == {head}:
        return
    with writer(engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        # Again under the lock: another process may have migrated meanwhile.
        current = set(MigrationContext.configure(conn).get_current_heads())
        _check_revision(url, current, script)
        if current == {head}:
            return
        if not current:
            foreign = sorted(set(inspect(conn).get_table_names()) - {"alembic_version"})
            if foreign:
                raise StoreError(
                    f"database {url} holds other tables ({', '.join(foreign[:5])}) "
                    "and no resnet-bench schema; left untouched: give another --db"
                )
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def enable_wal(engine: Engine) -> None:
    # journal_mode is persistent and cannot change inside a transaction: use the raw
    # connection (autocommit, see _configure_sqlite). Set only after the schema checks,
    # so a refused file is never switched to WAL.
    # Switching needs the database to itself, and SQLite answers "locked" at once rather
    # than waiting out busy_timeout: retry while other processes (migrating, writing) hold
    # it. Once WAL, the mode is persistent and the plain read below sees it.
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    raw = engine.raw_connection()
    try:
        db: Any = raw.driver_connection
        while db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            try:
                db.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        raw.close()
