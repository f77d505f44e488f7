"""The database as pandas DataFrames: one row per result, or one row per raw sample.

RESULT_COLUMNS is the contract reports, comparisons and exports code against: each column
with its kind and meaning, in order. Kinds map to pandas dtypes: int -> Int64, bool ->
boolean (nullable: NA where unknown), float -> float64 (NaN where undefined), time ->
datetime64[UTC], str and json -> strings (json holds a JSON text).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from results.db import (
    STAT_COLUMNS,
    Environment,
    Machine,
    Process,
    Result,
    Run,
    RunEnvironment,
    Sample,
)
from results.format import gpu_label
from results.metadata import VERSION_KEYS
from results.store import Store, open_store
from vocab.case import CASE_FIELDS
from vocab.messages import decode_plan
from vocab.runtimes import FRAMEWORKS, RUNTIMES

if TYPE_CHECKING:
    import pandas as pd

RESULT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("run_id", "int", "run id"),
    ("run_label", "str", "the run's --label"),
    ("run_started_at", "time", "run start (UTC)"),
    ("run_finished_at", "time", "run end (UTC); empty while running or when killed"),
    ("run_source", "str", "cli or pytest"),
    ("run_profile", "str", "profile the run was made from"),
    ("run_status", "str", "running, finished, interrupted or failed"),
    ("run_command", "str", "command line of the run"),
    ("run_seed", "int", "seed of the shuffled order within each round"),
    ("run_system", "json", "CPU/GPU state at the run's start (governor, SMT, THP...), JSON"),
    ("result_id", "int", "result id"),
    ("framework", "str", f"{', '.join(FRAMEWORKS)}"),
    ("depth", "int", "ResNet-V2 depth (50, 101, 152, 200)"),
    ("batch_size", "int", "images per step and replica"),
    ("device", "str", "cpu, cuda, cuda:N"),
    ("mode", "str", "inference or training"),
    ("precision", "str", "fp32, bf16, fp16"),
    (
        "execution",
        "str",
        "; ".join(f"{', '.join(r.executions)} ({n})" for n, r in RUNTIMES.items()),
    ),
    ("image_size", "int", "input height = width, pixels"),
    ("num_classes", "int", "classifier outputs"),
    ("threads", "int", "intra-op threads requested"),
    ("interop_threads", "int", "inter-op threads requested"),
    ("replicas", "int", "data-parallel processes (training); threads are split across them"),
    ("env", "str", "the environment it ran in (run --env NAME=SPEC); empty without --env"),
    ("env_python", "str", "that environment's interpreter; empty: the run's own"),
    ("status", "str", "ok, oom, timeout, error, skipped"),
    ("reason", "str", "why the case is not ok"),
    ("n_samples", "int", "timed steps stored"),
    ("warmup_steps", "int", "untimed warm-up steps"),
    ("first_step_s", "float", "first step, seconds (tracing, compilation)"),
    ("build_s", "float", "model build time, seconds"),
    ("threads_intra", "int", "intra-op threads read back from the framework"),
    ("threads_inter", "int", "inter-op threads read back from the framework"),
    ("sync", "str", "how a step was made to end on the device"),
    ("processes", "int", "worker processes that took samples (the case's replicates)"),
    ("value_s", "float", "THE case's time per step: geometric mean of per-process medians, s"),
    ("sd_log_between", "float", "sd of the log per-process values (spread between processes)"),
    ("drift_rel", "float", "last third of the steps against the first (median over processes)"),
    ("ci_df", "int", "degrees of freedom of the CI (n - 1; n - 2 when processes were added)"),
    (
        "flags",
        "json",
        "troubles found (vocab.flags): JSON list of {kind, process, detail}; [] when none",
    ),
    ("left_out", "json", "process indices left out of value and CI (outliers), JSON list"),
    (
        "process_values_s",
        "json",
        "stored per-process values in process order, left-out processes excluded, JSON list",
    ),
    ("process_rounds", "json", "the round of each of process_values_s, JSON list"),
    ("ci_target", "float", "the CI half-width the processes were added for (0.02: +/-2%)"),
    ("stop_reason", "str", "why no more processes: ci target met, max processes, time cap"),
    ("total_s", "float", "sum of the samples, seconds"),
    ("median_s", "float", "median of all steps pooled, seconds (diagnostic; use value_s)"),
    ("mean_s", "float", "mean step time, seconds"),
    ("stdev_s", "float", "sample standard deviation, seconds"),
    ("min_s", "float", "fastest step, seconds"),
    ("max_s", "float", "slowest step, seconds"),
    ("p5_s", "float", "5th percentile, seconds"),
    ("p25_s", "float", "25th percentile, seconds"),
    ("p75_s", "float", "75th percentile, seconds"),
    ("p95_s", "float", "95th percentile, seconds"),
    ("p99_s", "float", "99th percentile, seconds"),
    ("iqr_s", "float", "interquartile range, seconds"),
    ("ci_low_s", "float", "95% CI of value_s between processes (t on logs), low end, s"),
    ("ci_high_s", "float", "95% CI of value_s between processes, high end, seconds"),
    ("iqr_rel", "float", "IQR / median of the pooled steps"),
    ("ci_rel", "float", "larger CI half-width / value_s; empty with one process"),
    ("images_per_s", "float", "batch_size x replicas / value_s (all replicas)"),
    ("pipeline_steps", "int", "k: steps per sync in the throughput groups (CUDA); empty on CPU"),
    ("pipelined_s", "float", "time per step with one sync per k steps, s (geometric mean)"),
    ("pipelined_images_per_s", "float", "batch_size / pipelined_s: throughput, not latency"),
    ("gmacs_per_s", "float", "GMAC/s at value_s (training counts 3x forward)"),
    ("gflops_per_s", "float", "2 x gmacs_per_s"),
    ("gmacs_per_image", "float", "forward GMACs per image, from the spec"),
    ("peak_memory_bytes", "int", "peak memory of the case, bytes"),
    ("memory_kind", "str", "rss (CPU worker) or device (framework allocator)"),
    ("ci_target_met", "bool", "the sampler reached its CI target before its time cap"),
    ("throttled", "bool", "a GPU slowed down for heat/power around the case; empty: unknown"),
    ("framework_version", "str", "framework version the worker reported"),
    ("ceiling_gflops", "float", "run's measured GFLOP/s for this device and precision (else fp32)"),
    ("ceiling_share", "float", "gflops_per_s / ceiling_gflops"),
    ("machine_id", "int", "machine id"),
    ("machine_fingerprint", "str", "SHA-256 of the machine's metadata"),
    ("machine_cpu", "str", "CPU model"),
    ("machine_gpu", "str", "GPU name, 'Nx name' for several; empty without GPUs"),
    ("machine_hostname", "str", "host name, or its hash"),
    ("machine_cores_physical", "int", "physical cores"),
    ("machine_cores_logical", "int", "logical CPUs"),
    ("machine_memory_bytes", "int", "physical memory, bytes"),
    ("machine_os", "str", "operating system"),
    ("machine_kernel", "str", "kernel release"),
    ("machine_arch", "str", "architecture"),
    ("machine_isa_flags", "str", "ISA flags, comma-separated"),
    ("machine_gpu_driver", "str", "NVIDIA driver version"),
    ("environment_id", "int", "environment id (the result's named environment's, if any)"),
    ("python_version", "str", "Python version"),
    *((k.name, "str", k.description) for k in VERSION_KEYS),  # the environment's rows
    ("numpy_version", "str", "numpy version"),
    ("suite_version", "str", "resnet-bench version"),
    ("git_commit", "str", "resnet-bench git commit"),
    ("git_dirty", "bool", "uncommitted changes to tracked files"),
    ("env_vars", "json", "recorded environment variables, JSON object"),
    ("framework_build", "json", "this result's framework build info, JSON object"),
    ("details", "json", "runner facts (channels_last, ...), JSON object"),
    ("gpu_before", "json", "NVML snapshot before the case, JSON"),
    ("gpu_after", "json", "NVML snapshot after the case, JSON"),
)
COLUMNS: dict[str, str] = {name: desc for name, _kind, desc in RESULT_COLUMNS}

SAMPLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("run_id", "int", "run id"),
    ("result_id", "int", "result the sample belongs to"),
    ("process", "int", "worker process index (the case's replicate)"),
    ("round", "int", "the run's round that process ran in"),
    ("started_ns", "int", "step start, Unix epoch nanoseconds"),
    ("index", "int", "position of the step within the result"),
    ("seconds", "float", "step duration, seconds"),
    ("duration_ns", "int", "step duration, nanoseconds as measured"),
)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)


def _same_device(a: str, b: str) -> bool:
    norm = {"cuda": "cuda:0"}
    return norm.get(a, a) == norm.get(b, b)


def ceiling_for(
    ceilings: Iterable[Any], device: str, precision: str, env: str = ""
) -> float | None:
    """The ceiling for a device at a precision, falling back to its fp32 ceiling, measured
    in the case's environment `env`; the run's own ceilings (env '': a run without --env,
    or one stored before ceilings were per environment) where that environment has none."""
    ceilings = list(ceilings)
    own = [c for c in ceilings if (c.env or "") == env]
    ceilings = own or [c for c in ceilings if not c.env]
    for wanted in (precision, "fp32"):
        for c in ceilings:
            if _same_device(c.device, device) and c.precision == wanted:
                return float(c.gflops)
    return None


def _record(
    result: Result, run: Run, machine: Machine, env: Environment, named: RunEnvironment | None
) -> dict[str, Any]:
    """One result's row; a result of a named environment takes that environment's software
    (probed inside it), the others the run's."""
    if named is not None:
        env = named.environment
    ceiling = ceiling_for(run.ceilings, result.device, result.precision, result.env or "")
    record: dict[str, Any] = {
        "run_id": run.id,
        "run_label": run.label,
        "run_started_at": run.started_at,
        "run_finished_at": run.finished_at,
        "run_source": run.source,
        "run_profile": run.profile,
        "run_status": run.status,
        "run_command": run.command,
        "run_seed": None if run.plan is None else decode_plan(run.plan, with_cases=False).seed,
        "run_system": _json(run.system),
        "result_id": result.id,
        "env_python": None if named is None else named.python,
    }
    for name in (*CASE_FIELDS, "status", "reason", "n_samples", "warmup_steps", "first_step_s",
                 "build_s", "threads_intra", "threads_inter", "sync", "processes",
                 *STAT_COLUMNS, "gmacs_per_image", "peak_memory_bytes", "memory_kind",
                 "ci_target_met", "ci_target", "stop_reason", "throttled",
                 "framework_version", "pipeline_steps", "pipelined_s",
                 "pipelined_images_per_s"):  # fmt: skip
        record[name] = getattr(result, name)
    record["flags"] = _json(result.flags)
    record["left_out"] = _json(result.left_out)
    gflops = result.gflops_per_s
    framework_info = env.framework_info or {}
    versions = env.versions
    record.update(
        ceiling_gflops=ceiling,
        ceiling_share=gflops / ceiling if gflops is not None and ceiling else None,
        machine_id=machine.id,
        machine_fingerprint=machine.fingerprint,
        machine_cpu=machine.cpu_model,
        machine_gpu=gpu_label({"gpu_count": machine.gpu_count, "gpu_name": machine.gpu_name}),
        machine_hostname=machine.hostname,
        machine_cores_physical=machine.cores_physical,
        machine_cores_logical=machine.cores_logical,
        machine_memory_bytes=machine.memory_bytes,
        machine_os=machine.os,
        machine_kernel=machine.kernel,
        machine_arch=machine.arch,
        machine_isa_flags=",".join(machine.isa_flags or ()),
        machine_gpu_driver=machine.gpu_driver,
        environment_id=env.id,
        python_version=env.python_version,
        **{k.name: versions.get(k.name) for k in VERSION_KEYS},
        numpy_version=env.numpy_version,
        suite_version=env.suite_version,
        git_commit=env.git_commit,
        git_dirty=env.git_dirty,
        env_vars=_json(env.env_vars or {}),
        framework_build=_json(framework_info.get(result.framework)),
        details=_json(result.details),
        gpu_before=_json(result.gpu_before),
        gpu_after=_json(result.gpu_after),
    )
    return record


def _frame(
    records: list[dict[str, Any]], columns: tuple[tuple[str, str, str], ...]
) -> pd.DataFrame:
    import pandas as pd

    data: dict[str, Any] = {}
    for name, kind, _desc in columns:
        values = [r[name] for r in records]
        if kind == "time":
            data[name] = pd.to_datetime(pd.Series(values, dtype=object), utc=True)
        elif kind == "int":
            data[name] = pd.array(values, dtype="Int64")
        elif kind == "bool":
            data[name] = pd.array(values, dtype="boolean")
        elif kind == "float":
            data[name] = pd.Series([math.nan if v is None else v for v in values], dtype="float64")
        else:
            data[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(data)


@contextmanager
def _reading(db: str | Store, run_ids: Iterable[int] | None) -> Iterator[tuple[Store, Any]]:
    """The store (opened here and closed after, unless given) and the checked run-id filter
    (None: every run); an unknown run id raises before any query."""
    store = db if isinstance(db, Store) else open_store(db, create=False)
    try:
        ids = None if run_ids is None else sorted(set(run_ids))
        if ids is not None:
            store.check_runs(ids)
        yield store, (None if ids is None else Result.run_id.in_(ids))
    finally:
        if store is not db:
            store.close()


def load(db: str | Store, run_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """One row per result (RESULT_COLUMNS), oldest run first; unknown run ids raise."""
    with _reading(db, run_ids) as (store, wanted):
        query = (
            select(Result, Run, Machine, Environment, RunEnvironment)
            .join(Run, Result.run_id == Run.id)
            .join(Machine, Run.machine_id == Machine.id)
            .join(Environment, Run.environment_id == Environment.id)
            .outerjoin(
                RunEnvironment,
                (RunEnvironment.run_id == Result.run_id) & (RunEnvironment.name == Result.env),
            )
            .order_by(Result.run_id, Result.id)
            # Each run's ceilings and each named environment in one query for all, not
            # one per run.
            .options(selectinload(Run.ceilings), selectinload(RunEnvironment.environment))
        )
        if wanted is not None:
            query = query.where(wanted)
        with store.reading() as session:
            records = [_record(*row) for row in session.execute(query).tuples()]
            values = _stored_process_values(session, wanted)
    for rec in records:
        found = values.get(rec["result_id"])
        rec["process_values_s"] = None if found is None else json.dumps(found[0])
        rec["process_rounds"] = None if found is None else json.dumps(found[1])
    return _frame(records, RESULT_COLUMNS)


def _stored_process_values(session: Any, wanted: Any) -> dict[int, tuple[list[float], list[int]]]:
    """result_id -> (the values its processes were stored with, their rounds): the store's
    statistics, read, not recomputed; left-out processes excluded."""
    query = (
        select(Process.result_id, Process.value_s, Process.round, Process.left_out)
        .join(Result, Process.result_id == Result.id)
        .order_by(Process.result_id, Process.idx)
    )
    if wanted is not None:
        query = query.where(wanted)
    out: dict[int, tuple[list[float], list[int]]] = {}
    for rid, value, round_, left_out in session.execute(query):
        values, rounds = out.setdefault(int(rid), ([], []))
        if value is not None and not left_out:
            values.append(float(value))
            rounds.append(int(round_))
    return out


def load_samples(db: str | Store, run_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """One row per raw sample (SAMPLE_COLUMNS), in result and step order."""
    with _reading(db, run_ids) as (store, wanted):
        query = (
            select(
                Result.run_id,
                Sample.result_id,
                Sample.process,
                Sample.round,
                Sample.started_ns,
                Sample.idx,
                Sample.duration_ns,
            )
            .join(Result, Sample.result_id == Result.id)
            .order_by(Sample.result_id, Sample.idx)
        )
        if wanted is not None:
            query = query.where(wanted)
        with store.reading() as session:
            records = [
                {
                    "run_id": run_id,
                    "result_id": result_id,
                    "process": process,
                    "round": round_,
                    "started_ns": started,
                    "index": idx,
                    "seconds": ns / 1e9,
                    "duration_ns": ns,
                }
                for run_id, result_id, process, round_, started, idx, ns in session.execute(query)
            ]
    return _frame(records, SAMPLE_COLUMNS)


PROCESS_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("run_id", "int", "run id"),
    ("result_id", "int", "result the process belongs to"),
    ("process", "int", "the case's process number (its replicate)"),
    ("round", "int", "the run's round it ran in"),
    ("pid", "int", "operating-system process id"),
    ("position", "int", "place of the case among its worker's cases"),
    ("started_at", "time", "when the case began in that process (UTC)"),
    ("startup_s", "float", "worker start-up (interpreter, framework import), shared by its cases"),
    ("build_s", "float", "model build, seconds"),
    ("warmup_steps", "int", "untimed warm-up steps"),
    ("warmup_s", "float", "warm-up wall time, seconds"),
    ("warmup_stable", "bool", "warm-up ended with the step time settled"),
    ("warmup_times_s", "json", "every warm-up step, seconds, JSON list"),
    ("first_step_s", "float", "first step (tracing, compilation), seconds"),
    ("n_samples", "int", "timed steps"),
    ("value_s", "float", "median of its steps: the process's one value, seconds"),
    ("pipelined_s", "float", "median of its groups of k steps per sync, per step, seconds"),
    ("batch_means_rel", "float", "within-process diagnostic: batch-means CI half-width / mean"),
    ("drift_rel", "float", "last third of its steps against the first"),
    ("left_out", "bool", "an outlier left out of the case value and CI (vocab.flags)"),
    ("peak_memory_bytes", "int", "peak memory of the case in it, bytes"),
    ("throttled", "bool", "a GPU slowed down during it"),
)


def load_processes(db: str | Store, run_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """One row per worker process of a result (PROCESS_COLUMNS), in result and process order.
    Results stored before replication by processes have none."""
    names = [c for c, _k, _d in PROCESS_COLUMNS if c not in ("run_id", "result_id", "process")]
    with _reading(db, run_ids) as (store, wanted):
        query = (
            select(Result.run_id, Process)
            .join(Result, Process.result_id == Result.id)
            .order_by(Process.result_id, Process.idx)
        )
        if wanted is not None:
            query = query.where(wanted)
        with store.reading() as session:
            records = [
                {
                    "run_id": run_id,
                    "result_id": proc.result_id,
                    "process": proc.idx,
                    **{n: getattr(proc, n) for n in names},
                    "warmup_times_s": _json(proc.warmup_times_s),
                }
                for run_id, proc in session.execute(query).tuples()
            ]
    return _frame(records, PROCESS_COLUMNS)
