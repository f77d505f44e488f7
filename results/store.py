"""The result store: open a database by URL, record runs and results, nothing lost.

- One transaction per case: `add_result` commits the result row and every raw sample at
  once, so a run killed with SIGKILL loses at most the case in flight.
- SQLite runs in WAL mode with a busy timeout, and every write transaction starts with
  BEGIN IMMEDIATE: several processes may write one file at the same time (a deferred
  transaction that reads, then writes, can fail at once with SQLITE_BUSY instead of
  waiting).
- The schema is migrated with Alembic on open. A database from a newer resnet-bench, a
  file that is not SQLite, or a database holding someone else's tables is refused with a
  StoreError and left exactly as it was.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, delete, event, func, insert, inspect, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from results.db import (
    RUN_SOURCES,
    RUN_STATUSES,
    STAT_COLUMNS,
    Ceiling,
    Environment,
    Machine,
    NoiseFloor,
    Pending,
    Process,
    Result,
    Run,
    Sample,
    utcnow,
)
from results.metadata import (
    ENVIRONMENT_KEYS,
    MACHINE_KEYS,
    environment_fingerprint,
    machine_fingerprint,
    validate,
)
from results.redact import redact
from runners.measurement import Measurement
from suite.case import CASE_FIELDS

SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_S = 30.0
MAX_ID = 2**63 - 1  # the largest id any backend stores (BIGINT / SQLite INTEGER)
FAILED_STATUSES: tuple[str, ...] = ("oom", "killed", "timeout", "error")
_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_PG_MIGRATION_LOCK = 0x7265736E  # pg_advisory_xact_lock key: one migrator at a time


STALE_AFTER_S = 3 * 3600.0  # no heartbeat this long from another host: the run is gone


def host_id() -> str:
    """This host, as run.owner_host stores it (a hash: the name itself is the machine's)."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:64]


def pid_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process with that pid
    return True


class StoreError(Exception):
    """The database cannot be used; the message is one line naming it (password masked)."""


class UnknownRunError(StoreError):
    """A run id that is not in the database; the message gives the known range."""


class DuplicateResultError(StoreError):
    """The run already holds a result for this case key (nothing was written)."""


def mask_url(url: str | URL) -> str:
    """The URL with its password replaced by ***, also for strings SQLAlchemy cannot parse."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    return redact(url)


def alembic_config() -> Config:
    """Alembic configured in code, so migrations run from an installed package, any cwd."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "results/migrations has no revision"
    return head


@dataclass(frozen=True)
class RunInfo:
    id: int
    started_at: datetime
    finished_at: datetime | None
    label: str | None
    command: str | None
    profile: str | None
    source: str
    status: str
    machine: dict[str, Any]  # MACHINE_KEYS plus id and fingerprint
    environment: dict[str, Any]  # ENVIRONMENT_KEYS plus id and fingerprint
    system: dict[str, Any] | None
    ceilings: list[dict[str, Any]]  # device, precision, gflops, details
    counts: dict[str, int] = field(default_factory=dict)  # result status -> results
    owner_host: str | None = None
    owner_pid: int | None = None
    heartbeat_at: datetime | None = None

    @property
    def state(self) -> str:
        """The status to show: 'stale' for a run still marked running whose process is
        gone (same host: its pid no longer exists; elsewhere: no heartbeat for
        STALE_AFTER_S). A stale run is resumable like an interrupted one."""
        if self.status != "running":
            return self.status
        if self.owner_host is not None and self.owner_host == host_id():
            return "running" if pid_alive(self.owner_pid) else "stale"
        beat = self.heartbeat_at or self.started_at
        age = (utcnow() - beat).total_seconds()
        return "stale" if age > STALE_AFTER_S else "running"

    @property
    def n_ok(self) -> int:
        return self.counts.get("ok", 0)

    @property
    def n_failed(self) -> int:
        return sum(self.counts.get(s, 0) for s in FAILED_STATUSES)

    @property
    def n_skipped(self) -> int:
        return self.counts.get("skipped", 0)

    @property
    def machine_label(self) -> str:
        """Short 'CPU / GPU' text, e.g. 'Intel Xeon Platinum 8480+ / 8x NVIDIA H100'."""
        return machine_label(self.machine)


def short_cpu(model: str | None) -> str:
    if not model:
        return "unknown CPU"
    text = re.sub(r"\((R|TM|tm)\)", "", model).split(" @ ")[0]
    text = re.sub(r"\b(CPU|Processor|\d+-Core)\b", "", text)
    return " ".join(text.split())


def gpu_label(machine: Mapping[str, Any]) -> str | None:
    count, name = machine.get("gpu_count") or 0, machine.get("gpu_name")
    if not count or not name:
        return None
    return f"{count}x {name}" if count > 1 else str(name)


def machine_label(machine: Mapping[str, Any]) -> str:
    gpu = gpu_label(machine)
    cpu = short_cpu(machine.get("cpu_model"))
    return f"{cpu} / {gpu}" if gpu else cpu


def _finite(value: Any) -> Any:
    # Undefined statistics (inf, nan: e.g. ci_rel with < 6 samples) are stored as NULL.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _seconds(ns: int | None) -> float | None:
    return None if ns is None else ns / 1e9


def result_values(m: Measurement) -> dict[str, Any]:
    """A Result row's columns for one measurement, statistics derived from its samples."""
    values: dict[str, Any] = dict(zip(CASE_FIELDS, m.case.key(), strict=True))
    values.update(
        status=m.status,
        reason=m.reason,
        n_samples=len(m.samples_ns),
        warmup_steps=m.warmup_steps,
        first_step_s=_seconds(m.first_step_ns),
        build_s=_seconds(m.build_ns),
        threads_intra=m.threads_intra,
        threads_inter=m.threads_inter,
        sync=m.sync,
        processes=m.processes,
        peak_memory_bytes=m.peak_memory_bytes,
        memory_kind=m.memory_kind,
        ci_target_met=m.ci_target_met,
        ci_target=m.ci_target,
        stop_reason=m.stop_reason,
        throttled=m.throttled,
        gmacs_per_image=m.gmacs_per_image,
        framework_version=m.framework_version,
        details=m.details or None,
        gpu_before=m.gpu_before,
        gpu_after=m.gpu_after,
    )
    stats = m.stats()
    if stats is not None:
        data = stats.to_dict()
        values.update({name: _finite(data[name]) for name in STAT_COLUMNS})
    pipelined = m.pipelined_s()
    if pipelined is not None:
        values.update(
            pipeline_steps=m.pipeline_steps,
            pipelined_s=pipelined,
            pipelined_images_per_s=m.case.batch_size / pipelined,
        )
    return values


def _epoch(ns: int | None) -> datetime | None:
    return None if ns is None else datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)


def process_rows(result_id: int, m: Measurement) -> list[dict[str, Any]]:
    """The Process rows of a measurement: each worker process's costs and its value."""
    from runners.stats import batch_means_rel, drift_rel

    values = m.process_values_s()
    by_process: dict[int, list[int]] = {}
    for ns, p in zip(m.samples_ns, m.sample_process, strict=True):
        by_process.setdefault(p, []).append(ns)
    rows = []
    for rec in m.process_records:
        steps = [ns / 1e9 for ns in by_process.get(rec.index, [])]
        rows.append(
            {
                "result_id": result_id,
                "idx": rec.index,
                "round": rec.round,
                "pid": rec.pid,
                "position": rec.position,
                "started_at": _epoch(rec.started_ns),
                "startup_s": _seconds(rec.startup_ns),
                "build_s": _seconds(rec.build_ns),
                "warmup_steps": rec.warmup_steps,
                "warmup_s": _seconds(rec.warmup_ns),
                "warmup_stable": rec.warmup_stable,
                "first_step_s": _seconds(rec.first_step_ns),
                "n_samples": len(steps),
                "value_s": values.get(rec.index),
                "pipelined_s": _seconds(rec.pipelined_ns),
                "batch_means_rel": _finite(batch_means_rel(steps)) if steps else None,
                "drift_rel": _finite(drift_rel(steps)) if steps else None,
                "peak_memory_bytes": rec.peak_memory_bytes,
                "throttled": rec.throttled,
                "gpu_before": rec.gpu_before,
                "gpu_after": rec.gpu_after,
            }
        )
    return rows


def case_key_text(case: Any) -> str:
    """A case as canonical JSON: the pending table's key."""
    return json.dumps(case.to_dict(), sort_keys=True)


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    return lines[0] if lines else type(orig).__name__


def _sqlite_path(url: URL) -> Path | None:
    """The file behind a SQLite URL; None for in-memory databases."""
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


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


def open_store(url: str, *, create: bool = True) -> Store:
    """Open (and create or migrate to the current schema) the database at `url`.

    create=False refuses a SQLite file that does not exist yet (for commands that only
    read). Every failure is a StoreError with one line naming the (masked) URL.
    """
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
    backend = parsed.get_backend_name()
    sqlite_file = _sqlite_path(parsed) if backend == "sqlite" else None
    if sqlite_file is not None:
        _check_sqlite_file(sqlite_file, create)
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
    if backend == "sqlite":
        _configure_sqlite(engine)
    store = Store(engine, masked)
    try:
        store._migrate()
        if sqlite_file is not None:
            store._enable_wal()
    except StoreError:
        engine.dispose()
        raise
    except (DBAPIError, sqlite3.Error) as exc:
        engine.dispose()
        raise StoreError(f"cannot open database {masked}: {_first_line(exc)}") from None
    return store


class Store:
    """A migrated database. Use open_store(); close() (or `with`) when done."""

    def __init__(self, engine: Engine, masked_url: str) -> None:
        self.engine = engine
        self.url = masked_url  # password masked: safe to print
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        # Writers take SQLite's write lock at BEGIN, waiting up to the busy timeout for it.
        self._write_sessions = sessionmaker(
            engine.execution_options(sqlite_begin="IMMEDIATE"), expire_on_commit=False
        )

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- schema ---------------------------------------------------------------------------

    def _check_revision(self, current: set[str], script: ScriptDirectory) -> None:
        known = {rev.revision for rev in script.walk_revisions()}
        newer = sorted(current - known)
        if newer:
            raise StoreError(
                f"database {self.url} has schema revision {', '.join(newer)}, newer than this "
                f"resnet-bench (knows up to {script.get_current_head()}); upgrade resnet-bench"
            )

    def _migrate(self) -> None:
        cfg = alembic_config()
        script = ScriptDirectory.from_config(cfg)
        head = script.get_current_head()
        # A plain read first: an up-to-date (or newer, or read-only) database needs no lock.
        with self.engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
        self._check_revision(current, script)
        if current == {head}:
            return
        with self._write_sessions() as session, session.begin():
            conn = session.connection()
            if conn.dialect.name == "postgresql":
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
                )
            # Again under the lock: another process may have migrated meanwhile.
            current = set(MigrationContext.configure(conn).get_current_heads())
            self._check_revision(current, script)
            if current == {head}:
                return
            if not current:
                foreign = sorted(set(inspect(conn).get_table_names()) - {"alembic_version"})
                if foreign:
                    raise StoreError(
                        f"database {self.url} holds other tables ({', '.join(foreign[:5])}) "
                        "and no resnet-bench schema; left untouched: give another --db"
                    )
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def _enable_wal(self) -> None:
        # journal_mode is persistent and cannot change inside a transaction: use the raw
        # connection (autocommit, see _configure_sqlite). Set only after the schema checks,
        # so a refused file is never switched to WAL.
        # Switching needs the database to itself, and SQLite answers "locked" at once rather
        # than waiting out busy_timeout: retry while other processes (migrating, writing) hold
        # it. Once WAL, the mode is persistent and the plain read below sees it.
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        raw = self.engine.raw_connection()
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

    # --- sessions -------------------------------------------------------------------------

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for queries; driver failures become StoreError naming the database."""
        with self._sessions() as session:
            try:
                yield session
            except DBAPIError as exc:
                raise StoreError(f"database {self.url}: {_first_line(exc)}") from exc

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with self._write_sessions() as session:
            try:
                yield session
            except DBAPIError as exc:
                session.rollback()
                if isinstance(exc, IntegrityError):
                    raise
                raise StoreError(f"database {self.url}: {_first_line(exc)}") from exc

    # --- writing --------------------------------------------------------------------------

    @staticmethod
    def _upsert(
        session: Session,
        model: type[Machine] | type[Environment],
        values: Mapping[str, Any],
        fingerprint: str,
    ) -> int:
        """The id of the row with this fingerprint, inserting it if new (race-safe)."""
        query = select(model.id).where(model.fingerprint == fingerprint)
        found = session.scalar(query)
        if found is not None:
            return found
        try:
            with session.begin_nested():  # a savepoint: losing the race keeps the transaction
                row = model(fingerprint=fingerprint, **values)
                session.add(row)
            return row.id
        except IntegrityError:
            found = session.scalar(query)
            if found is None:
                raise
            return found

    def begin_run(
        self,
        *,
        label: str | None,
        command: str | None,
        profile: str | None,
        source: str,
        machine: Mapping[str, Any],
        environment: Mapping[str, Any],
        ceilings: Sequence[Mapping[str, Any]] = (),
        system: Mapping[str, Any] | None = None,
        plan: Mapping[str, Any] | None = None,
    ) -> int:
        """Record a new run (status 'running') and return its id.

        `machine`/`environment` as results.metadata.machine_info()/environment_info() give
        them; identical ones are shared between runs. `ceilings`: dicts with device,
        precision, gflops (and optional details). `system`: metadata.system_state().
        `plan`: whatever the runner needs to resume the run (JSON), back from get_plan().
        """
        if source not in RUN_SOURCES:
            raise ValueError(f"unknown run source {source!r}; allowed: {', '.join(RUN_SOURCES)}")
        validate(machine, MACHINE_KEYS)
        validate(environment, ENVIRONMENT_KEYS)
        rows = [_ceiling(c) for c in ceilings]
        with self._write() as session:
            machine_id = self._upsert(session, Machine, machine, machine_fingerprint(machine))
            env_id = self._upsert(
                session, Environment, environment, environment_fingerprint(environment)
            )
            run = Run(
                label=label,
                command=command,
                profile=profile,
                source=source,
                status="running",
                machine_id=machine_id,
                environment_id=env_id,
                system=dict(system) if system is not None else None,
                plan=dict(plan) if plan is not None else None,
                started_at=utcnow(),
                owner_host=host_id(),
                owner_pid=os.getpid(),
                heartbeat_at=utcnow(),
            )
            run.ceilings = rows
            session.add(run)
            session.commit()
            return run.id

    def add_ceilings(self, run_id: int, ceilings: Sequence[Mapping[str, Any]]) -> None:
        """Record ceilings measured after begin_run (a device pair already stored is replaced)."""
        rows = [_ceiling(c) for c in ceilings]
        with self._write() as session:
            run = self._run(session, run_id)
            keep = {(r.device, r.precision) for r in rows}
            run.ceilings = [c for c in run.ceilings if (c.device, c.precision) not in keep]
            session.flush()
            run.ceilings.extend(rows)
            session.commit()

    def add_result(self, run_id: int, measurement: Measurement) -> int:
        """Store one case's result and all its samples in one transaction; return its id.

        A case key the run already holds raises DuplicateResultError and writes nothing
        (use finished_keys() to skip those on resume).
        """
        values = result_values(measurement)
        with self._write() as session:
            self._run(session, run_id).heartbeat_at = utcnow()
            result = Result(run_id=run_id, created_at=utcnow(), **values)
            session.add(result)
            try:
                session.flush()
            except IntegrityError:
                session.rollback()
                raise DuplicateResultError(
                    f"run {run_id} already has a result for {measurement.case.label()} "
                    f"(threads {measurement.case.threads}); not stored again"
                ) from None
            m = measurement
            rounds = {r.index: r.round for r in m.process_records}
            starts: list[int | None] = [*m.sample_start_ns] or [None] * len(m.samples_ns)
            if m.samples_ns:
                session.execute(
                    insert(Sample),
                    [
                        {
                            "result_id": result.id,
                            "idx": i,
                            "process": p,
                            "round": rounds.get(p, p),
                            "started_ns": t,
                            "duration_ns": int(ns),
                        }
                        for i, (ns, p, t) in enumerate(
                            zip(m.samples_ns, m.sample_process, starts, strict=True)
                        )
                    ],
                )
            if m.process_records:
                session.execute(insert(Process), process_rows(result.id, m))
            session.execute(
                delete(Pending).where(
                    Pending.run_id == run_id, Pending.case_key == case_key_text(m.case)
                )
            )
            session.commit()
            return result.id

    def add_pending(self, run_id: int, round_: int, measurement: Measurement) -> None:
        """Keep one finished process of a case that will get more (see Pending)."""
        with self._write() as session:
            self._run(session, run_id).heartbeat_at = utcnow()
            session.add(
                Pending(
                    run_id=run_id,
                    case_key=case_key_text(measurement.case),
                    round=round_,
                    measurement=json.loads(measurement.to_json()),
                )
            )
            session.commit()

    def pending(self, run_id: int) -> list[Measurement]:
        """The run's pending processes, oldest first."""
        with self.reading() as session:
            self._run(session, run_id)
            rows = session.scalars(
                select(Pending.measurement).where(Pending.run_id == run_id).order_by(Pending.id)
            )
            return [Measurement.from_dict(r) for r in rows]

    def add_noise_floors(
        self, machine_id: int, runs: Sequence[int], floors: Sequence[Mapping[str, Any]]
    ) -> None:
        """Store what A/A runs of each case moved on this machine: dicts with `key` (the
        case's match-key values, a list), `sd_log` and `floor` (see results.noise)."""
        now = utcnow()
        with self._write() as session:
            session.add_all(
                NoiseFloor(
                    machine_id=machine_id,
                    created_at=now,
                    case_key=json.dumps(list(f["key"])),
                    runs=list(runs),
                    sd_log=float(f["sd_log"]),
                    floor=float(f["floor"]),
                )
                for f in floors
            )
            session.commit()

    def noise_floors(self, machine_id: int) -> dict[tuple[Any, ...], float]:
        """The latest floor per case key learnt on this machine ({} if never calibrated)."""
        with self.reading() as session:
            rows = session.execute(
                select(NoiseFloor.case_key, NoiseFloor.floor)
                .where(NoiseFloor.machine_id == machine_id)
                .order_by(NoiseFloor.created_at, NoiseFloor.id)
            )
            return {tuple(json.loads(key)): float(floor) for key, floor in rows}

    def finish_run(self, run_id: int, status: str = "finished") -> None:
        if status not in RUN_STATUSES or status == "running":
            allowed = ", ".join(s for s in RUN_STATUSES if s != "running")
            raise ValueError(f"unknown final run status {status!r}; allowed: {allowed}")
        with self._write() as session:
            run = self._run(session, run_id)
            run.status = status
            run.finished_at = utcnow()
            session.commit()

    def reopen_run(self, run_id: int, machine: Mapping[str, Any] | None = None) -> RunInfo:
        """Mark a run 'running' again to resume it; refuses a different machine if given."""
        with self._write() as session:
            run = self._run(session, run_id)
            if machine is not None and run.machine.fingerprint != machine_fingerprint(machine):
                other = machine_label(_row(run.machine))
                raise StoreError(
                    f"run {run_id} was measured on another machine ({other}); "
                    "resume it there, or start a new run"
                )
            run.status = "running"
            run.finished_at = None
            run.owner_host, run.owner_pid, run.heartbeat_at = host_id(), os.getpid(), utcnow()
            session.commit()
        return self.get_run(run_id)

    # --- reading --------------------------------------------------------------------------

    def _run(self, session: Session, run_id: int) -> Run:
        if not 0 < run_id <= MAX_ID:  # SQLite raises OverflowError beyond 64 bits
            raise UnknownRunError(self._unknown_run_message(session, run_id))
        run = session.get(Run, run_id)
        if run is None:
            raise UnknownRunError(self._unknown_run_message(session, run_id))
        return run

    @staticmethod
    def _unknown_run_message(session: Session, run_id: Any) -> str:
        low, high = session.execute(select(func.min(Run.id), func.max(Run.id))).one()
        if low is None:
            return f"unknown run {run_id}: the database has no runs yet"
        known = str(low) if low == high else f"{low}-{high}"
        return f"unknown run {run_id}; known runs: {known}"

    def check_runs(self, run_ids: Iterable[int]) -> None:
        """Raise UnknownRunError for the first id the database does not hold."""
        wanted = set(run_ids)
        with self.reading() as session:
            odd = sorted(r for r in wanted if not 0 < r <= MAX_ID)
            if odd:
                raise UnknownRunError(self._unknown_run_message(session, odd[0]))
            have = set(session.scalars(select(Run.id).where(Run.id.in_(wanted))))
            missing = sorted(wanted - have)
            if missing:
                raise UnknownRunError(self._unknown_run_message(session, missing[0]))

    def get_plan(self, run_id: int) -> dict[str, Any] | None:
        """The plan begin_run stored with the run (None if it stored none)."""
        with self.reading() as session:
            return self._run(session, run_id).plan

    def set_plan(self, run_id: int, plan: dict[str, Any]) -> None:
        """Replace the run's stored plan (a batch search adds cases as it goes)."""
        with self._write() as session:
            self._run(session, run_id).plan = dict(plan)
            session.commit()

    def finished_keys(self, run_id: int) -> set[tuple[Any, ...]]:
        """Case keys (suite.case.Case.key()) the run already holds, whatever their status."""
        columns = [getattr(Result, name) for name in CASE_FIELDS]
        with self.reading() as session:
            self._run(session, run_id)
            rows = session.execute(select(*columns).where(Result.run_id == run_id))
            return {tuple(row) for row in rows}

    def get_run(self, run_id: int) -> RunInfo:
        with self.reading() as session:
            run = self._run(session, run_id)
            return _info(run, self._counts(session, [run_id]).get(run_id, {}))

    def list_runs(self) -> list[RunInfo]:
        """Every run, oldest first."""
        with self.reading() as session:
            runs = list(session.scalars(select(Run).order_by(Run.id)))
            counts = self._counts(session, None)
            return [_info(run, counts.get(run.id, {})) for run in runs]

    @staticmethod
    def _counts(session: Session, run_ids: list[int] | None) -> dict[int, dict[str, int]]:
        query = select(Result.run_id, Result.status, func.count()).group_by(
            Result.run_id, Result.status
        )
        if run_ids is not None:
            query = query.where(Result.run_id.in_(run_ids))
        out: dict[int, dict[str, int]] = {}
        for run_id, status, n in session.execute(query):
            out.setdefault(run_id, {})[status] = n
        return out


def _ceiling(values: Mapping[str, Any]) -> Ceiling:
    unknown = sorted(set(values) - {"device", "precision", "gflops", "details"})
    if unknown:
        raise ValueError(f"unknown ceiling field(s) {', '.join(unknown)}")
    try:
        return Ceiling(
            device=str(values["device"]),
            precision=str(values["precision"]),
            gflops=float(values["gflops"]),
            details=values.get("details"),
        )
    except KeyError as exc:
        raise ValueError(f"a ceiling needs device, precision and gflops; {exc} missing") from None


def _row(obj: Machine | Environment) -> dict[str, Any]:
    keys = MACHINE_KEYS if isinstance(obj, Machine) else ENVIRONMENT_KEYS
    out: dict[str, Any] = {"id": obj.id, "fingerprint": obj.fingerprint}
    out.update({k.name: getattr(obj, k.name) for k in keys})
    return out


def _info(run: Run, counts: dict[str, int]) -> RunInfo:
    return RunInfo(
        id=run.id,
        started_at=run.started_at,
        finished_at=run.finished_at,
        label=run.label,
        command=run.command,
        profile=run.profile,
        source=run.source,
        status=run.status,
        machine=_row(run.machine),
        environment=_row(run.environment),
        system=run.system,
        ceilings=[
            {"device": c.device, "precision": c.precision, "gflops": c.gflops, "details": c.details}
            for c in run.ceilings
        ],
        counts=dict(counts),
        owner_host=run.owner_host,
        owner_pid=run.owner_pid,
        heartbeat_at=run.heartbeat_at,
    )
