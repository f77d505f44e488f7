"""The result store: open a database by URL, record runs and results, nothing lost.

- One transaction per case: `add_result` commits the result row and every raw sample at
  once, so a run killed with SIGKILL loses at most the case in flight.
- Every write transaction takes the database's write lock at BEGIN (results.engine, which
  also opens, checks and migrates the database).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from results.claim import drop_orphan_pending, refuse_if_held
from results.db import (
    RUN_SOURCES,
    RUN_STATUSES,
    Environment,
    Machine,
    Pending,
    Process,
    Result,
    Run,
    RunEnvironment,
    Sample,
    utcnow,
)
from results.dbfile import DatabaseReplacedError, FileGuard, moved_line
from results.engine import StoreError, first_line, open_engine, sqlite_file, writer
from results.environment import EnvironmentInfo, NamedEnvironment
from results.format import machine_label
from results.metadata import (
    ENVIRONMENT_KEYS,
    MACHINE_KEYS,
    environment_fingerprint,
    machine_fingerprint,
    validate,
    validate_versions,
)
from results.rows import case_key_text, ceiling_row, process_rows, result_values
from results.runinfo import RunInfo, host_id, run_info, stored_machine
from runners.host import MachineInfo, SystemState
from runners.probe import CeilingInfo
from vocab.case import CASE_FIELDS
from vocab.measurement import Measurement
from vocab.messages import PlanRecord, decode_plan, encode_plan

MAX_ID = 2**63 - 1  # the largest id any backend stores (BIGINT / SQLite INTEGER)


class UnknownRunError(StoreError):
    """A run id that is not in the database; the message gives the known range."""


class DuplicateResultError(StoreError):
    """The run already holds a result for this case key (nothing was written)."""


def open_store(url: str, *, create: bool = True) -> Store:
    """Open (and create or migrate to the current schema) the database at `url`.

    create=False refuses a SQLite file that does not exist yet (for commands that only
    read). Every failure is a StoreError with one line naming the (masked) URL.
    """
    return Store(*open_engine(url, create=create))


class Store:
    """A migrated database. Use open_store(); close() (or `with`) when done."""

    def __init__(self, engine: Engine, masked_url: str) -> None:
        self._use(engine, masked_url)
        path = sqlite_file(engine)  # a SQLite file is watched: results.dbfile
        self._guard = FileGuard(path) if path is not None and path.is_file() else None

    def _use(self, engine: Engine, masked_url: str) -> None:
        self.engine = engine
        self.url = masked_url  # password masked: safe to print
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        # Writers take SQLite's write lock at BEGIN, waiting up to the busy timeout for it.
        self._write_sessions = sessionmaker(writer(engine), expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()
        if self._guard is not None:
            self._guard.close()

    def _follow_file(self) -> str | None:
        """Before a write: if the database file was deleted or replaced, carry on in a
        recovery copy of it and return the line that says so (else None)."""
        if self._guard is None or not self._guard.replaced():
            return None
        old, dest = self.url, self._guard.recover()
        self.close()  # SQLite neither checkpoints into nor deletes a moved file's -wal
        self._use(*open_engine(f"sqlite:///{dest}"))
        self._guard = FileGuard(dest)
        return moved_line(old, dest)

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- sessions -------------------------------------------------------------------------

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for queries; driver failures become StoreError naming the database."""
        with self._sessions() as session:
            try:
                yield session
            except DBAPIError as exc:
                raise StoreError(f"database {self.url}: {first_line(exc)}") from exc

    @contextmanager
    def _write(self) -> Iterator[Session]:
        moved = self._follow_file()  # the check at each commit: same device and inode
        with self._write_sessions() as session:
            try:
                yield session
            except DBAPIError as exc:
                session.rollback()
                if isinstance(exc, IntegrityError):
                    raise
                raise StoreError(f"database {self.url}: {first_line(exc)}") from exc
        if moved is not None:  # written, to the recovery file: now stop the run
            raise DatabaseReplacedError(moved)

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
        machine: MachineInfo,
        environment: EnvironmentInfo,
        ceilings: Sequence[CeilingInfo] = (),
        system: SystemState | None = None,
        plan: PlanRecord | None = None,
        environments: Sequence[NamedEnvironment] = (),
    ) -> int:
        """Record a new run (status 'running') and return its id.

        `machine`/`environment` as runners.host.machine_info() and
        results.environment.environment_info() give them; identical ones are shared between
        runs. `ceilings`: dicts with device, precision, gflops (and optional details).
        `system`: runners.host.system_state().
        `plan`: what the runner needs to resume the run, back from get_plan().
        `environments`: the run's named environments (--env), each with the software
        probed inside it; their results carry the name (Result.env).
        """
        if source not in RUN_SOURCES:
            raise ValueError(f"unknown run source {source!r}; allowed: {', '.join(RUN_SOURCES)}")
        validate(machine, MACHINE_KEYS)
        validate(environment, ENVIRONMENT_KEYS)
        validate_versions(environment["versions"] or {})
        for named in environments:
            validate(named["software"], ENVIRONMENT_KEYS)
            validate_versions(named["software"]["versions"] or {})
        rows = [ceiling_row(c) for c in ceilings]
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
                plan=encode_plan(plan) if plan is not None else None,
                started_at=utcnow(),
                owner_host=host_id(),
                owner_pid=os.getpid(),
                heartbeat_at=utcnow(),
            )
            run.ceilings = rows
            run.environments = [
                RunEnvironment(
                    name=named["name"],
                    python=named["python"],
                    variables=dict(named["variables"]),
                    environment_id=self._upsert(
                        session,
                        Environment,
                        named["software"],
                        environment_fingerprint(named["software"]),
                    ),
                )
                for named in environments
            ]
            session.add(run)
            session.commit()
            return run.id

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
        """Claim a run to resume it: mark it 'running' with this process as its owner, in
        one transaction (SQLite's write lock at BEGIN, PostgreSQL's row lock), so of two
        resumes at once exactly one gets it. Refuses (RunBusyError, naming the owner) a run
        another live process holds, and a different machine if `machine` is given. Pending
        processes of cases that already have a result (left by an older race) are dropped."""
        with self._write() as session:
            run = self._run(session, run_id, lock=True)
            if machine is not None and run.machine.fingerprint != machine_fingerprint(machine):
                other = machine_label(stored_machine(run.machine))
                raise StoreError(
                    f"run {run_id} was measured on another machine ({other}); "
                    "resume it there, or start a new run"
                )
            refuse_if_held(run_info(run, {}))
            drop_orphan_pending(session, run_id)
            run.status = "running"
            run.finished_at = None
            run.owner_host, run.owner_pid, run.heartbeat_at = host_id(), os.getpid(), utcnow()
            session.commit()
        return self.get_run(run_id)

    # --- reading --------------------------------------------------------------------------

    def _run(self, session: Session, run_id: int, *, lock: bool = False) -> Run:
        if not 0 < run_id <= MAX_ID:  # SQLite raises OverflowError beyond 64 bits
            raise UnknownRunError(self._unknown_run_message(session, run_id))
        run = session.get(Run, run_id, with_for_update=lock)
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

    def get_plan(self, run_id: int) -> PlanRecord | None:
        """The plan begin_run stored with the run (None if it stored none)."""
        with self.reading() as session:
            stored = self._run(session, run_id).plan
        return None if stored is None else decode_plan(stored)

    def set_plan(self, run_id: int, plan: PlanRecord) -> None:
        """Replace the run's stored plan (a batch search adds cases as it goes)."""
        with self._write() as session:
            self._run(session, run_id).plan = encode_plan(plan)
            session.commit()

    def finished_keys(self, run_id: int) -> set[tuple[Any, ...]]:
        """Case keys (vocab.case.Case.key()) the run already holds, whatever their status."""
        columns = [getattr(Result, name) for name in CASE_FIELDS]
        with self.reading() as session:
            self._run(session, run_id)
            rows = session.execute(select(*columns).where(Result.run_id == run_id))
            return {tuple(row) for row in rows}

    def get_run(self, run_id: int) -> RunInfo:
        with self.reading() as session:
            run = self._run(session, run_id)
            return run_info(run, self._counts(session, [run_id]).get(run_id, {}))

    def list_runs(self) -> list[RunInfo]:
        """Every run, oldest first."""
        with self.reading() as session:
            runs = list(session.scalars(select(Run).order_by(Run.id)))
            counts = self._counts(session, None)
            return [run_info(run, counts.get(run.id, {})) for run in runs]

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
