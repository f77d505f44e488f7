"""`history` and `history --check` over a team-sized database: 1,000 runs x 50 cases
(50,000 results) on one machine, on SQLite and on PostgreSQL.

    python benchmarks/history_scale.py                          # SQLite in a temp folder
    python benchmarks/history_scale.py --pg URL                 # and PostgreSQL (an empty
                                                                # database: its tables are made)
    eval "$(scripts/start-postgres.sh --export)"
    python benchmarks/history_scale.py --pg "$RESNET_BENCH_TEST_PG_URL"

The database is filled with bulk inserts (result rows with their statistics; no raw
samples, which history never reads): seeded values on the nightly noise model, a new commit
every 20 runs and a new environment every 100, and a 10% regression in 5 cases from run 990
on. Each command is timed in-process (parse, query, change points, printing to a null
stream) and as a fresh `python -m suite` process (interpreter and imports included),
`--repeats` times each (the median is printed), wall-clock and CPU seconds: on a loaded
machine the wall time is mostly waiting for a core, and the CPU time says what the command
itself costs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert

from results.db import Environment, Machine, Result, Run
from results.store import open_store
from suite.cli import main as cli
from vocab.runtimes import FRAMEWORKS, RUNTIMES, joining

RUNS = 1000
# quick's runtimes at every depth and six batches, and the next runtime's two depth-50 cases
MAIN = joining("quick")
OTHER = next(fw for fw in FRAMEWORKS if fw not in MAIN)
CASES = [
    (fw, depth, batch)
    for fw in MAIN
    for depth in (50, 101, 152, 200)
    for batch in (1, 2, 4, 8, 16, 32)
] + [(OTHER, 50, 1), (OTHER, 50, 8)]  # 50 cases
EXECUTION = {fw: RUNTIMES[fw].default_execution for fw in FRAMEWORKS}
CHANGE_AT = 990
CHANGED = 5  # the first five cases regress by 10% from CHANGE_AT on


def fill(url: str, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    t0 = datetime(2024, 1, 1, 2, 0, tzinfo=UTC)
    with open_store(url) as store, store.engine.begin() as conn:
        machine = conn.execute(
            insert(Machine).returning(Machine.id),
            {"fingerprint": "f" * 64, "hostname": "bench-scale", "cpu_model": "simulated"},
        ).scalar_one()
        envs = [
            conn.execute(
                insert(Environment).returning(Environment.id),
                {"fingerprint": f"{e:064x}", "git_commit": None, "python_version": f"3.11.{e}"},
            ).scalar_one()
            for e in range(RUNS // 100)
        ]
        runs = conn.execute(
            insert(Run).returning(Run.id, sort_by_parameter_order=True),
            [
                {
                    "started_at": t0 + timedelta(days=i),
                    "finished_at": t0 + timedelta(days=i, hours=1),
                    "label": f"night-{i + 1}",
                    "source": "cli",
                    "status": "finished",
                    "machine_id": machine,
                    "environment_id": envs[i // 100],
                    "system": {"load_avg_1m": 0.5},
                }
                for i in range(RUNS)
            ],
        ).scalars().all()  # fmt: skip
        sd = rng.uniform(0.02, 0.05, len(CASES))
        base = {c: 0.002 * c[1] / 50 * c[2] for c in CASES}
        rows = []
        for i, run in enumerate(runs):
            day = rng.normal(0.0, 0.015)
            for k, (fw, depth, batch) in enumerate(CASES):
                level = np.log(base[(fw, depth, batch)]) + day
                if k < CHANGED and i >= CHANGE_AT:
                    level += np.log(1.10)
                logs = level + rng.normal(0.0, sd[k], 5)
                centre, half = logs.mean(), 2.776 * logs.std(ddof=1) / np.sqrt(5)
                rows.append(
                    {
                        "run_id": run, "framework": fw, "depth": depth, "batch_size": batch,
                        "device": "cpu", "mode": "inference", "precision": "fp32",
                        "execution": EXECUTION[fw], "image_size": 224, "num_classes": 1000,
                        "threads": 2, "interop_threads": 1, "replicas": 1, "env": "",
                        "status": "ok", "n_samples": 15, "processes": 5,
                        "value_s": float(np.exp(centre)),
                        "ci_low_s": float(np.exp(centre - half)),
                        "ci_high_s": float(np.exp(centre + half)),
                        "framework_version": "1.0",
                    }
                )  # fmt: skip
        conn.execute(insert(Result), rows)
    # A commit every 20 runs: environments per commit would be many rows; the commit is
    # what history orders --by commit and names at a step.
    with open_store(url) as store, store.engine.begin() as conn:
        for e, env in enumerate(envs):
            conn.execute(
                Environment.__table__.update()
                .where(Environment.id == env)
                .values(git_commit=f"{e:040x}")
            )


def in_process(argv: list[str]) -> tuple[float, float, int]:
    """Wall and CPU seconds of one call of the CLI in this process, and its exit code."""
    sink = io.StringIO()
    t0, c0 = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(sink):
        code = cli(argv)
    return time.perf_counter() - t0, time.process_time() - c0, code


def fresh(argv: list[str]) -> tuple[float, float, int]:
    """Wall and CPU (user + system) seconds of a fresh `python -m suite` process."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "suite", *argv], env=env, capture_output=True, check=False
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, done.returncode


def measure(name: str, url: str, repeats: int) -> None:
    t0 = time.perf_counter()
    fill(url)
    print(f"{name}: filled {RUNS} runs x {len(CASES)} cases in {time.perf_counter() - t0:.1f} s")
    print(f"  median of {repeats}, wall s (CPU s); load average before each command")
    for argv in (
        ["history"],
        ["history", "--check"],
        ["history", "--check", "--last", "20"],
        ["history", "--frameworks", MAIN[0], "--depths", "50", "--last", "100"],
        ["history", "--json"],
    ):
        full = [*argv, "--db", url]
        at = load()
        in_process(full)  # warm: imports, the first connection
        warm = [in_process(full) for _ in range(repeats)]
        cold = [fresh(full) for _ in range(repeats)]
        codes = {c for *_, c in warm} | {c for *_, c in cold}

        def median(runs: list[tuple[float, float, int]], i: int) -> float:
            return statistics.median(r[i] for r in runs)

        print(
            f"  {' '.join(argv):58s} exit {'/'.join(map(str, sorted(codes)))}: "
            f"{median(warm, 0):5.2f} ({median(warm, 1):4.2f}) in-process, "
            f"{median(cold, 0):5.2f} ({median(cold, 1):4.2f}) fresh process  [load {at}]"
        )


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", metavar="URL", help="also an empty PostgreSQL database")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument(
        "--repeats", type=int, default=3, metavar="N", help="timings per figure (median)"
    )
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be a positive integer, got {args.repeats}")
    print(f"load average at start: {load()}")
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            measure("SQLite", f"sqlite:///{tmp}/scale.sqlite", args.repeats)
    if args.pg:
        measure("PostgreSQL", args.pg, args.repeats)
    print(f"load average at end: {load()}")


if __name__ == "__main__":
    main()
