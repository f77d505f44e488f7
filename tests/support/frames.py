"""Hand-built result frames shaped like results.load() / results.load_samples() for report tests.

Each result's statistics are derived from its raw samples with vocab.stats.summarize, as
the store does, so a test states only the step times it wants; columns and dtypes follow
results.frames.RESULT_COLUMNS / SAMPLE_COLUMNS (Int64, nullable boolean, UTC times).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from results.frames import RESULT_COLUMNS, SAMPLE_COLUMNS
from vocab.case import default_execution
from vocab.stats import per_process, summarize

LOAD_COLUMNS: tuple[str, ...] = tuple(name for name, _kind, _desc in RESULT_COLUMNS)
SAMPLE_NAMES: tuple[str, ...] = tuple(name for name, _kind, _desc in SAMPLE_COLUMNS)

GMACS = {50: 4.1, 101: 7.8, 152: 11.5, 200: 15.0}  # forward GMACs per image, 224px, roughly
CEILING_GFLOPS = 2000.0


def steps(median_s: float, n: int = 40, spread: float = 0.01, seed: int = 0) -> list[float]:
    """n step times around median_s with a relative spread (uniform, reproducible)."""
    rng = np.random.default_rng(seed)
    return list(median_s * (1.0 + spread * rng.uniform(-1.0, 1.0, n)))


class Frames:
    """Accumulates runs and results; `results()` and `samples()` give the two frames."""

    def __init__(self) -> None:
        self._rows: list[dict[str, Any]] = []
        self._samples: list[dict[str, Any]] = []
        self._runs: dict[int, dict[str, Any]] = {}

    def run(self, run_id: int, **fields: Any) -> Frames:
        env = fields.pop("env_vars", {"OMP_NUM_THREADS": "2"})
        run = {
            "run_id": run_id,
            "run_label": f"run {run_id}",
            "run_started_at": pd.Timestamp("2026-01-01T10:00:00Z") + pd.Timedelta(hours=run_id),
            "run_finished_at": pd.Timestamp("2026-01-01T10:30:00Z") + pd.Timedelta(hours=run_id),
            "run_source": "cli",
            "run_profile": "quick",
            "run_status": "finished",
            "run_command": "resnet-bench run --profile quick",
            "machine_id": 1,
            "machine_fingerprint": "fp-1",
            "machine_cpu": "Test CPU @ 3GHz",
            "machine_gpu": None,
            "machine_hostname": "bench-host",
            "machine_cores_physical": 2,
            "machine_cores_logical": 2,
            "machine_memory_bytes": 8 * 2**30,
            "machine_os": "Linux-6.1",
            "environment_id": run_id,
            "python_version": "3.11.9",
            "torch_version": "2.13.0",
            "tensorflow_version": "2.21.0",
            "numpy_version": "2.4.6",
            "suite_version": "0.1.0",
            "git_commit": "abc123",
            "git_dirty": False,
            "env_vars": json.dumps(env),
        }
        run.update(fields)
        self._runs[run_id] = run
        return self

    def result(
        self,
        run_id: int,
        framework: str,
        depth: int = 50,
        batch_size: int = 8,
        samples: Sequence[float] | None = None,
        status: str = "ok",
        reason: str | None = None,
        execution: str | None = None,
        processes: int = 5,
        **fields: Any,
    ) -> Frames:
        """One result; its samples are split into `processes` consecutive blocks, one per
        worker process (and round), as a run with replication stores them."""
        result_id = len(self._rows) + 1
        execution = execution or default_execution(framework)
        row: dict[str, Any] = dict.fromkeys(LOAD_COLUMNS)
        row.update(self._runs[run_id])
        row.update(
            result_id=result_id,
            framework=framework,
            execution=execution,
            depth=depth,
            batch_size=batch_size,
            device="cpu",
            mode="inference",
            precision="fp32",
            image_size=224,
            num_classes=1000,
            threads=2,
            interop_threads=1,
            replicas=1,
            env="",
            status=status,
            reason=reason,
            threads_intra=2,
            threads_inter=1,
            sync="none",
            processes=processes,
            memory_kind="rss",
            gmacs_per_image=GMACS.get(depth),
            ceiling_gflops=CEILING_GFLOPS,
            framework_build=json.dumps({"version": "x"}),
            n_samples=0,
        )
        if status == "ok":
            xs = list(samples if samples is not None else steps(0.1))
            owner = [i * processes // len(xs) for i in range(len(xs))]
            st = summarize(xs, batch_size, gmacs_per_image=GMACS.get(depth), process_ids=owner)
            row.update({k: v for k, v in st.to_dict().items() if k in row})
            procs = [p for p in per_process(xs, owner) if p.index not in st.left_out]
            row.update(  # the JSON columns as results.frames gives them
                flags=json.dumps([f.to_dict() for f in st.flags]),
                left_out=json.dumps(list(st.left_out)),
                process_values_s=json.dumps([p.value_s for p in procs]),
                process_rounds=json.dumps([p.index for p in procs]),  # one process per round
            )
            row.update(
                n_samples=st.n,
                warmup_steps=3,
                first_step_s=st.median_s * 5,
                build_s=0.5,
                ceiling_share=(st.gflops_per_s or 0.0) / CEILING_GFLOPS,
                peak_memory_bytes=2**30,
                throttled=None,
            )
            self._samples.extend(
                {
                    "run_id": run_id,
                    "result_id": result_id,
                    "process": owner[i],
                    "round": owner[i],
                    "started_ns": 1_790_000_000 * 10**9 + i * 10**8,
                    "index": i,
                    "seconds": x,
                    "duration_ns": round(x * 1e9),
                }
                for i, x in enumerate(xs)
            )
        row.update(fields)
        self._rows.append(row)
        return self

    def results(self) -> pd.DataFrame:
        return _typed(self._rows, RESULT_COLUMNS)

    def samples(self) -> pd.DataFrame:
        return _typed(self._samples, SAMPLE_COLUMNS)


def _typed(rows: list[dict[str, Any]], columns: Sequence[tuple[str, str, str]]) -> pd.DataFrame:
    """The dtypes results.frames gives each column kind."""
    dtypes = {"int": "Int64", "bool": "boolean", "float": "float64", "time": "datetime64[ns, UTC]"}
    data = {
        name: pd.Series([r.get(name) for r in rows], dtype=dtypes.get(kind, object))
        for name, kind, _desc in columns
    }
    return pd.DataFrame(data, columns=[name for name, _k, _d in columns])


HOSTILE = "<script>alert(1)</script>"


def report_frames() -> Frames:
    """Two runs for report tests: every chart kind, failed, skipped and flagged cases (one
    process of torch/compile r101 b64 is 30% slow: an outlier, left out), and
    markup in every kind of database string (label, hostname, CPU, command, reason, env var).
    """
    f = Frames()
    f.run(1, env_vars={"OMP_NUM_THREADS": "2"})
    f.run(
        2,
        run_label=HOSTILE,
        run_command=f"resnet-bench run --label '{HOSTILE}'",
        machine_hostname=HOSTILE,
        machine_cpu=f"CPU {HOSTILE}",
        torch_version="2.14.0",
        env_vars={"OMP_NUM_THREADS": HOSTILE},
    )
    for run in (1, 2):
        for depth in (50, 101, 152):
            for batch in (1, 8):
                slow = 1.1 if run == 2 and batch == 1 else 1.0
                per_image = 0.002 * GMACS[depth]
                f.result(run, "torch", depth, batch, steps(per_image * batch * slow, seed=depth))
                f.result(
                    run, "tensorflow", depth, batch, steps(per_image * batch * 1.2, seed=batch)
                )
    f.result(2, "torch", 50, 64, status="oom", reason=f"out of memory {HOSTILE}")
    f.result(2, "tensorflow", 50, 64, status="skipped", reason="no CUDA device")
    hit = [x * (1.3 if i >= 32 else 1.0) for i, x in enumerate(steps(0.5, seed=3))]
    f.result(2, "torch", 101, 64, hit, execution="compile")
    return f


def only_row(df: pd.DataFrame, **where: object) -> pd.Series:
    """The one row of `df` where every column equals its value in `where`."""
    mask = np.ones(len(df), dtype=bool)
    for col, value in where.items():
        mask &= (df[col] == value).to_numpy(dtype=bool)
    rows = df[mask]
    assert len(rows) == 1, f"{len(rows)} rows match {where}"
    return rows.iloc[0]
