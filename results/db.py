"""The result database schema: SQLAlchemy 2.0 ORM, the same on SQLite and PostgreSQL.

    machine 1--* run *--1 environment
                 run 1--* ceiling          (measured GFLOP/s per device and precision)
                 run 1--* result 1--* process (one per worker process: its round, costs)
                              result 1--* sample  (every raw step: duration, process, start)
                 run 1--* pending          (processes of cases not finished yet: --resume)
    machine 1--* run_variance              (A/A shift between runs per case: calibrate)

Machine and environment rows are shared between runs, unique by a fingerprint of their
values (results.metadata). A result's case key is unique within its run, which is what
`--resume` relies on to never store a case twice. The schema is created and migrated by
Alembic (results/migrations): change a model here, then add a revision there.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from vocab.case import CASE_FIELDS

RUN_SOURCES: tuple[str, ...] = ("cli", "pytest")
RUN_STATUSES: tuple[str, ...] = ("running", "finished", "interrupted", "failed")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone: it is put back on read)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps UTC times only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


# Named constraints, so migrations can refer to them on every backend (SQLite batch mode).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
        str: String(255),
    }


class Machine(Base):
    """One machine; the columns are results.metadata.MACHINE_KEYS."""

    __tablename__ = "machine"

    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    cpu_model: Mapped[str | None]
    cpu_vendor: Mapped[str | None] = mapped_column(String(64))
    arch: Mapped[str | None] = mapped_column(String(32))
    cores_physical: Mapped[int | None]
    cores_logical: Mapped[int | None]
    freq_base_mhz: Mapped[float | None] = mapped_column(Float)
    freq_max_mhz: Mapped[float | None] = mapped_column(Float)
    l2_cache_bytes: Mapped[int | None] = mapped_column(BigInteger)
    l3_cache_bytes: Mapped[int | None] = mapped_column(BigInteger)
    isa_flags: Mapped[list[Any] | None]
    memory_bytes: Mapped[int | None] = mapped_column(BigInteger)
    os: Mapped[str | None]
    kernel: Mapped[str | None]
    hostname: Mapped[str | None]
    hostname_hashed: Mapped[bool | None]
    gpu_count: Mapped[int | None]
    gpu_name: Mapped[str | None]
    gpu_driver: Mapped[str | None] = mapped_column(String(64))
    gpu_cuda_driver: Mapped[str | None] = mapped_column(String(32))
    gpus: Mapped[list[Any] | None]


class Environment(Base):
    """One software environment; the columns are results.metadata.ENVIRONMENT_KEYS."""

    __tablename__ = "environment"

    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    python_version: Mapped[str | None] = mapped_column(String(64))
    python_implementation: Mapped[str | None] = mapped_column(String(64))
    numpy_version: Mapped[str | None] = mapped_column(String(64))
    scipy_version: Mapped[str | None] = mapped_column(String(64))
    pandas_version: Mapped[str | None] = mapped_column(String(64))
    suite_version: Mapped[str | None] = mapped_column(String(64))
    git_commit: Mapped[str | None] = mapped_column(String(64))
    git_dirty: Mapped[bool | None]
    env_vars: Mapped[dict[str, Any] | None]
    framework_info: Mapped[dict[str, Any] | None]
    version_rows: Mapped[list[EnvironmentVersion]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="EnvironmentVersion.key"
    )

    @property
    def versions(self) -> dict[str, str]:
        """The runtime versions, one row each (results.metadata.VERSION_KEYS)."""
        return {row.key: row.value for row in self.version_rows}

    @versions.setter
    def versions(self, values: dict[str, str] | None) -> None:
        self.version_rows = [EnvironmentVersion(key=k, value=v) for k, v in (values or {}).items()]


class EnvironmentVersion(Base):
    """One software version or build fact of an environment: a key of the registry
    (results.metadata.VERSION_KEYS, from the runtime records) and its value."""

    __tablename__ = "environment_version"
    __table_args__ = (UniqueConstraint("environment_id", "key", name="uq_environment_version_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    environment_id: Mapped[int] = mapped_column(
        ForeignKey("environment.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(256))


class Run(Base):
    __tablename__ = "run"
    # history: a machine's runs in time order (migration 0008)
    __table_args__ = (Index("ix_run_machine_id_started_at", "machine_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    label: Mapped[str | None] = mapped_column(Text)
    command: Mapped[str | None] = mapped_column(Text)
    profile: Mapped[str | None]
    source: Mapped[str] = mapped_column(String(16))  # RUN_SOURCES
    status: Mapped[str] = mapped_column(String(16))  # RUN_STATUSES
    machine_id: Mapped[int] = mapped_column(ForeignKey("machine.id"), index=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environment.id"), index=True)
    # governor, turbo, load average at start (runners.host.system_state)
    system: Mapped[dict[str, Any] | None]
    # what the runner needs to resume the run (cases, sampling policy...), as it gave it
    plan: Mapped[dict[str, Any] | None]
    # who is running it: a run 'running' whose process is gone is shown as stale
    owner_host: Mapped[str | None] = mapped_column(String(64))  # sha256 of the host name
    owner_pid: Mapped[int | None]
    heartbeat_at: Mapped[datetime | None]  # last write of the run (a process, a result)

    machine: Mapped[Machine] = relationship()
    environment: Mapped[Environment] = relationship()
    ceilings: Mapped[list[Ceiling]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="Ceiling.id"
    )
    environments: Mapped[list[RunEnvironment]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="RunEnvironment.id"
    )


class RunEnvironment(Base):
    """One named environment of an A/B run (`--env NAME=SPEC`): what it was asked to be
    (interpreter, variables) and the software probed inside it (an Environment row, the
    same key table and fingerprint as a run's own). Runs without --env have none."""

    __tablename__ = "run_environment"
    __table_args__ = (UniqueConstraint("run_id", "name", name="uq_run_environment_run_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))  # Result.env
    python: Mapped[str | None] = mapped_column(Text)  # None: the run's own interpreter
    variables: Mapped[dict[str, Any] | None]  # the VAR=V it sets (secrets redacted)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environment.id"), index=True)

    run: Mapped[Run] = relationship(back_populates="environments")
    environment: Mapped[Environment] = relationship()


class Ceiling(Base):
    """What the machine can do: a measured matrix-multiply rate for one device and precision."""

    __tablename__ = "ceiling"
    __table_args__ = (
        UniqueConstraint(
            "run_id", "env", "device", "precision", name="uq_ceiling_run_env_device_precision"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"))
    device: Mapped[str] = mapped_column(String(32))
    precision: Mapped[str] = mapped_column(String(16))
    # The named environment it was measured in ("": the run's one environment, or a
    # ceiling stored before ceilings were per environment: it serves every case of its run).
    env: Mapped[str] = mapped_column(String(64), server_default="", default="")
    gflops: Mapped[float] = mapped_column(Float)
    details: Mapped[dict[str, Any] | None]  # how it was measured (matrix size, repeats...)

    run: Mapped[Run] = relationship(back_populates="ceilings")


class Result(Base):
    """One case of a run: its key, what happened, the statistics of its samples."""

    __tablename__ = "result"
    __table_args__ = (UniqueConstraint("run_id", *CASE_FIELDS, name="uq_result_run_case"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the case key (vocab.case.CASE_FIELDS)
    framework: Mapped[str] = mapped_column(String(32))
    depth: Mapped[int]
    batch_size: Mapped[int]
    device: Mapped[str] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(16))
    precision: Mapped[str] = mapped_column(String(16))
    execution: Mapped[str] = mapped_column(String(32))
    image_size: Mapped[int]
    num_classes: Mapped[int]
    threads: Mapped[int]
    interop_threads: Mapped[int]
    replicas: Mapped[int] = mapped_column(server_default="1")
    env: Mapped[str] = mapped_column(String(64), server_default="")  # "": no --env
    # what happened
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    n_samples: Mapped[int]
    warmup_steps: Mapped[int | None]
    first_step_s: Mapped[float | None] = mapped_column(Float)
    build_s: Mapped[float | None] = mapped_column(Float)
    threads_intra: Mapped[int | None]
    threads_inter: Mapped[int | None]
    sync: Mapped[str | None] = mapped_column(String(64))
    processes: Mapped[int | None]
    peak_memory_bytes: Mapped[int | None] = mapped_column(BigInteger)
    memory_kind: Mapped[str | None] = mapped_column(String(16))
    ci_target_met: Mapped[bool | None]
    ci_target: Mapped[float | None] = mapped_column(Float)
    stop_reason: Mapped[str | None] = mapped_column(String(32))  # why no more processes
    # vocab.stats.Stats of the samples (NULL when not ok, or undefined like the CI with
    # one process). value_s and its CI come from the processes; the rest from pooled steps.
    value_s: Mapped[float | None] = mapped_column(Float)
    sd_log_between: Mapped[float | None] = mapped_column(Float)
    drift_rel: Mapped[float | None] = mapped_column(Float)
    ci_df: Mapped[int | None]  # degrees of freedom of the CI (0: none)
    # vocab.flags: [{kind, process, detail}], one per trouble found ([]: none; NULL: not ok)
    flags: Mapped[list[Any] | None]
    left_out: Mapped[list[Any] | None]  # process indices left out of value and CI
    total_s: Mapped[float | None] = mapped_column(Float)
    median_s: Mapped[float | None] = mapped_column(Float)
    mean_s: Mapped[float | None] = mapped_column(Float)
    stdev_s: Mapped[float | None] = mapped_column(Float)
    min_s: Mapped[float | None] = mapped_column(Float)
    max_s: Mapped[float | None] = mapped_column(Float)
    p5_s: Mapped[float | None] = mapped_column(Float)
    p25_s: Mapped[float | None] = mapped_column(Float)
    p75_s: Mapped[float | None] = mapped_column(Float)
    p95_s: Mapped[float | None] = mapped_column(Float)
    p99_s: Mapped[float | None] = mapped_column(Float)
    iqr_s: Mapped[float | None] = mapped_column(Float)
    ci_low_s: Mapped[float | None] = mapped_column(Float)
    ci_high_s: Mapped[float | None] = mapped_column(Float)
    images_per_s: Mapped[float | None] = mapped_column(Float)
    # throughput with one sync per pipeline_steps steps (CUDA; vocab.sampling)
    pipeline_steps: Mapped[int | None]
    pipelined_s: Mapped[float | None] = mapped_column(Float)
    pipelined_images_per_s: Mapped[float | None] = mapped_column(Float)
    gmacs_per_s: Mapped[float | None] = mapped_column(Float)
    gflops_per_s: Mapped[float | None] = mapped_column(Float)
    iqr_rel: Mapped[float | None] = mapped_column(Float)
    ci_rel: Mapped[float | None] = mapped_column(Float)
    throttled: Mapped[bool | None]
    gmacs_per_image: Mapped[float | None] = mapped_column(Float)
    framework_version: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any] | None]
    # NVML snapshots around the case (runners.nvml.gpu_snapshot), as the runner gave them
    gpu_before: Mapped[Any | None] = mapped_column(JSON)
    gpu_after: Mapped[Any | None] = mapped_column(JSON)


class Sample(Base):
    """One timed step of a result, in the order it ran."""

    __tablename__ = "sample"

    result_id: Mapped[int] = mapped_column(
        ForeignKey("result.id", ondelete="CASCADE"), primary_key=True
    )
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)  # position within the result
    process: Mapped[int]  # which worker process took it (process.idx)
    round: Mapped[int | None]  # the run's round that process ran in
    started_ns: Mapped[int | None] = mapped_column(BigInteger)  # step start, Unix epoch ns
    duration_ns: Mapped[int] = mapped_column(BigInteger)


class Process(Base):
    """One worker process's part of a result (vocab.measurement.ProcessRecord)."""

    __tablename__ = "process"

    result_id: Mapped[int] = mapped_column(
        ForeignKey("result.id", ondelete="CASCADE"), primary_key=True
    )
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)  # the case's process number
    round: Mapped[int]
    pid: Mapped[int | None]
    position: Mapped[int | None]  # the case's place among its worker's cases
    started_at: Mapped[datetime | None]
    startup_s: Mapped[float | None] = mapped_column(Float)  # the worker's, shared by its cases
    build_s: Mapped[float | None] = mapped_column(Float)
    warmup_steps: Mapped[int | None]
    warmup_s: Mapped[float | None] = mapped_column(Float)
    warmup_stable: Mapped[bool | None]
    warmup_times_s: Mapped[list[Any] | None]  # every warm-up step, seconds
    first_step_s: Mapped[float | None] = mapped_column(Float)
    n_samples: Mapped[int]
    value_s: Mapped[float | None] = mapped_column(Float)  # median of its steps
    pipelined_s: Mapped[float | None] = mapped_column(Float)  # median of its pipelined groups
    batch_means_rel: Mapped[float | None] = mapped_column(Float)  # within-process CI
    drift_rel: Mapped[float | None] = mapped_column(Float)
    left_out: Mapped[bool | None]  # an outlier left out of the case value (vocab.flags)
    peak_memory_bytes: Mapped[int | None] = mapped_column(BigInteger)
    throttled: Mapped[bool | None]
    gpu_before: Mapped[Any | None] = mapped_column(JSON)
    gpu_after: Mapped[Any | None] = mapped_column(JSON)


class Pending(Base):
    """A finished process of a case whose result is not stored yet; deleted with the result
    that absorbs it. What lets --resume continue a case instead of starting it over."""

    __tablename__ = "pending"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), index=True)
    case_key: Mapped[str] = mapped_column(Text)  # JSON of the case, vocab.case.Case.to_dict
    round: Mapped[int]
    measurement: Mapped[dict[str, Any]]  # vocab.measurement.Measurement.to_dict


class RunVariance(Base):
    """What moves a whole run of a case on one machine beyond what its processes show
    (`resnet-bench calibrate`, results.noise); run-vs-run `compare` adds it to the error."""

    __tablename__ = "run_variance"

    id: Mapped[int] = mapped_column(primary_key=True)
    machine_id: Mapped[int] = mapped_column(ForeignKey("machine.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    case_key: Mapped[str] = mapped_column(Text)  # JSON object of the match keys' values
    threads: Mapped[int]
    runs: Mapped[list[Any]]  # the A/A run ids it was learnt from
    sd_log: Mapped[float] = mapped_column(Float)  # sd of the log case value between runs
    run_var: Mapped[float] = mapped_column(Float)  # variance of one run's log shift
    run_df: Mapped[float] = mapped_column(Float)  # its degrees of freedom (runs - 1)
    processes: Mapped[float | None] = mapped_column(Float)  # median processes per run
    sd_process: Mapped[float | None] = mapped_column(Float)  # median sd between processes


STAT_COLUMNS: tuple[str, ...] = (
    "value_s", "sd_log_between", "drift_rel", "ci_df", "left_out", "flags",
    "total_s", "median_s", "mean_s", "stdev_s", "min_s", "max_s", "p5_s", "p25_s", "p75_s",
    "p95_s", "p99_s", "iqr_s", "ci_low_s", "ci_high_s", "images_per_s", "gmacs_per_s",
    "gflops_per_s", "iqr_rel", "ci_rel",
)  # fmt: skip
