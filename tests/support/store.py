"""Fixtures and builders for the result-store tests (SQLite and PostgreSQL alike).

PostgreSQL tests need RESNET_BENCH_TEST_PG_URL (scripts/start-postgres.sh prints one);
without it they skip, saying so. Each PostgreSQL test gets a schema of its own.
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from results.metadata import ENVIRONMENT_KEYS, MACHINE_KEYS, VERSION_KEYS, validate
from tests.support.services import skip_or_fail_in_ci
from vocab.case import Case
from vocab.details import Details
from vocab.measurement import Measurement

PG_ENV = "RESNET_BENCH_TEST_PG_URL"
PG_SKIP = f"{PG_ENV} is not set: start a server with scripts/start-postgres.sh and export it"
BACKENDS = ("sqlite", pytest.param("postgresql", marks=pytest.mark.postgres))


def fake_machine(**overrides: Any) -> dict[str, Any]:
    """A machine as runners.host.machine_info() returns it, independent of the test host."""
    info: dict[str, Any] = {
        "cpu_model": "Intel(R) Xeon(R) Platinum 8480+ @ 2.00GHz",
        "cpu_vendor": "GenuineIntel",
        "arch": "x86_64",
        "cores_physical": 56,
        "cores_logical": 112,
        "freq_base_mhz": 2000.0,
        "freq_max_mhz": 3800.0,
        "l2_cache_bytes": 2 * 2**20,
        "l3_cache_bytes": 105 * 2**20,
        "isa_flags": ["amx_bf16", "amx_tile", "avx2", "avx512_bf16", "avx512f", "fma"],
        "memory_bytes": 512 * 2**30,
        "os": "Linux Debian GNU/Linux 12 (bookworm)",
        "kernel": "6.1.0-18-amd64",
        "hostname": "bench-01",
        "hostname_hashed": False,
        "gpu_count": 2,
        "gpu_name": "NVIDIA H100 80GB HBM3",
        "gpu_driver": "550.54.15",
        "gpu_cuda_driver": "12.4",
        "gpus": [
            {"index": i, "name": "NVIDIA H100 80GB HBM3", "memory_bytes": 80 * 2**30,
             "compute_capability": "9.0"}
            for i in range(2)
        ],
    }  # fmt: skip
    info.update(overrides)
    validate(info, MACHINE_KEYS)
    return info


def fake_environment(**overrides: Any) -> dict[str, Any]:
    info: dict[str, Any] = {
        "python_version": "3.11.7",
        "python_implementation": "CPython",
        "numpy_version": "2.1.0",
        "scipy_version": "1.14.0",
        "pandas_version": "2.2.2",
        "versions": {
            "torch_version": "2.13.0",
            "tensorflow_version": "2.21.0",
            "tensorflow_distribution": "tensorflow",
            "jax_version": "0.10.2",
            "jaxlib_version": "0.10.2",
            "onnxruntime_version": "1.32.0",
            "onnxruntime_distribution": "onnxruntime",
        },
        "suite_version": "0.1.0",
        "git_commit": "0123456789abcdef0123456789abcdef01234567",
        "git_dirty": False,
        "env_vars": {"OMP_NUM_THREADS": "56", "TF_ENABLE_ONEDNN_OPTS": "1"},
        "framework_info": {
            "torch": {"cuda": "12.4", "cudnn": 90100, "mkldnn": True},
            "tensorflow": {"cuda_version": "12.5", "xla": True},
        },
    }
    # a version key (torch_version=...) overrides that row of `versions`
    known = {k.name for k in VERSION_KEYS}
    info["versions"] = {**info["versions"], **{k: v for k, v in overrides.items() if k in known}}
    info.update({k: v for k, v in overrides.items() if k not in known})
    validate(info, ENVIRONMENT_KEYS)
    return info


def case(batch_size: int = 8, framework: str = "torch", **kw: Any) -> Case:
    # threads given: the key must not depend on the cores of the test host
    return Case(framework, kw.pop("depth", 50), batch_size, threads=kw.pop("threads", 4), **kw)


def measurement(
    batch_size: int = 8, framework: str = "torch", n: int = 40, seed: int = 0, **kw: Any
) -> Measurement:
    """An ok measurement with n samples around 100 ms (`processes` of them, 2 by default,
    one per round), built by hand."""
    from vocab.measurement import ProcessRecord

    rng = random.Random(seed)
    procs = int(kw.pop("processes", 2))
    samples = [int(1e8 * (1.0 + 0.02 * rng.random())) for _ in range(n)]
    owner = [i * procs // n for i in range(n)]
    t0 = 1_790_000_000 * 10**9
    starts = [t0 + p * 10**10 + sum(samples[:i]) for i, p in enumerate(owner)]
    records = [
        ProcessRecord(
            index=p,
            round=p,
            pid=1000 + p,
            started_ns=t0 + p * 10**10,
            startup_ns=2 * 10**9,
            build_ns=300_000_000,
            warmup_steps=5,
            warmup_ns=3 * 10**9,
            first_step_ns=2_500_000_000,
            measured_ns=sum(s for s, o in zip(samples, owner, strict=True) if o == p),
        )
        for p in range(procs)
    ]
    fields: dict[str, Any] = {
        "samples_ns": samples,
        "sample_process": owner,
        "sample_start_ns": starts,
        "process_records": records,
        "warmup_steps": 5,
        "first_step_ns": 2_500_000_000,
        "build_ns": 300_000_000,
        "threads_intra": 4,
        "threads_inter": 1,
        "sync": "none",
        "peak_memory_bytes": 3 * 2**30,
        "memory_kind": "rss",
        "processes": procs,
        "gmacs_per_image": 4.1,
        "framework_version": "2.13.0",
        "details": Details(runner={"channels_last": True}),
    }
    fields.update(kw)
    return Measurement(case=case(batch_size, framework), **fields)


def begin(store: Any, label: str = "test", **kw: Any) -> int:
    run_id: int = store.begin_run(
        label=label,
        command="resnet-bench run --profile quick",
        profile="quick",
        source=kw.pop("source", "cli"),
        machine=kw.pop("machine", None) or fake_machine(),
        environment=kw.pop("environment", None) or fake_environment(),
        ceilings=kw.pop("ceilings", [{"device": "cpu", "precision": "fp32", "gflops": 2000.0}]),
        **kw,
    )
    return run_id


def fresh_pg_url() -> Iterator[str]:
    """A URL whose default schema is new and empty; dropped afterwards."""
    base = os.environ.get(PG_ENV)
    if not base:
        skip_or_fail_in_ci(PG_SKIP)
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def backend_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A fresh, empty database URL on each backend; a test module makes it its fixture:
    `db_url = pytest.fixture(params=BACKENDS)(backend_url)`."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'out' / 'results.sqlite'}"
    else:
        yield from fresh_pg_url()


def sqlite_file(url: str) -> Path | None:
    """The file behind a SQLite URL; None for PostgreSQL (or an in-memory database)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return Path(parsed.database)
