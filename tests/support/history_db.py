"""Small nightly histories in a store, for the history tests: one run per night, two
torch cases, seeded processes."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from results.store import open_store
from tests.support.store import begin, fake_environment, measurement
from vocab.measurement import ProcessRecord


def measured(level_s: float, rng: np.random.Generator, *, threads: int = 4, batch: int = 8,
              framework: str = "torch", processes: int = 4) -> Any:  # fmt: skip
    """A measurement whose processes scatter 2% around `level_s`, 3 steps each."""
    per = 3
    values = level_s * np.exp(rng.normal(0.0, 0.02, processes))
    samples = [int(v * 1e9 * (1 + 0.001 * k)) for v in values for k in range(per)]
    owner = [p for p in range(processes) for _ in range(per)]
    m = measurement(batch, framework, n=len(samples), processes=processes)
    records = [
        dataclasses.replace(m.process_records[0], index=p, round=p) for p in range(processes)
    ]
    assert all(isinstance(r, ProcessRecord) for r in records)
    m = dataclasses.replace(
        m, samples_ns=samples, sample_process=owner, sample_start_ns=[], process_records=records,
        threads_intra=threads,
    )  # fmt: skip
    return dataclasses.replace(m, case=dataclasses.replace(m.case, threads=threads))


def nightly_db(url: str, levels: Sequence[float], *, threads_from: int | None = None,
               seed: int = 0, commits: bool = True) -> list[int]:  # fmt: skip
    """One run per level; torch b8 follows `levels`, torch b1 stays flat; from run index
    `threads_from` on both run with 1 thread (threads_intra 1)."""
    rng = np.random.default_rng(seed)
    ids = []
    with open_store(url) as store:
        for i, level in enumerate(levels):
            env = fake_environment(git_commit=f"{i:040x}" if commits else None)
            run = begin(store, label=f"night-{i + 1}", environment=env)
            threads = 1 if threads_from is not None and i >= threads_from else 4
            store.add_result(run, measured(level, rng, threads=threads))
            store.add_result(run, measured(0.01, rng, threads=threads, batch=1))
            store.finish_run(run)
            ids.append(run)
    return ids
