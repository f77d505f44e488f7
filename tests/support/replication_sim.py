"""A seeded two-level noise model for the replication statistics (no real model runs).

Each process of a case has its own offset (log-normal, sd PROCESS_SD) and its steps carry
AR(1) noise (phi PHI) on top; a process's value is the median of its steps, a case's
processes are added with the suite's own stopping rule (vocab.sampling.stop_reason).
"""

from __future__ import annotations

import math

import numpy as np

from vocab.comparison import benjamini_hochberg, log_ratio_test
from vocab.sampling import SamplingPolicy, stop_reason
from vocab.stats import case_interval

PROCESS_SD = 0.02
PHI = 0.5
STEP_SD = 0.03  # stationary sd of the log step noise
STEPS = 20  # timed steps per process


def process_value(rng: np.random.Generator, true: float) -> float:
    offset = rng.normal(0.0, PROCESS_SD)
    innovation_sd = STEP_SD * math.sqrt(1.0 - PHI**2)
    noise = np.empty(STEPS)
    x = rng.normal(0.0, STEP_SD)
    for i in range(STEPS):
        x = PHI * x + rng.normal(0.0, innovation_sd)
        noise[i] = x
    return float(np.median(true * np.exp(offset + noise)))


def measure_case(rng: np.random.Generator, true: float, policy: SamplingPolicy) -> list[float]:
    """Per-process values of one case, processes added until the suite's rule stops."""
    values: list[float] = []
    while True:
        if values and stop_reason(values, 0.0, policy) is not None:
            return values
        values.append(process_value(rng, true))


def coverage(n_cases: int, seed: int, policy: SamplingPolicy) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(n_cases):
        iv = case_interval(measure_case(rng, 1.0, policy), policy.adaptive).interval  # as stored
        hits += iv.low <= 1.0 <= iv.high
    return hits / n_cases


def changed_share(
    n_runs: int,
    cases_per_run: int,
    slowdown: float,
    threshold: float,
    seed: int,
    policy: SamplingPolicy,
) -> float:
    """Share of cases called changed in the right direction (any direction when slowdown
    is 0) by compare's rule: CI beyond the threshold, Benjamini-Hochberg over a run's cases."""
    rng = np.random.default_rng(seed)
    called = 0
    for _ in range(n_runs):
        tests = [
            log_ratio_test(
                measure_case(rng, 1.0, policy),
                measure_case(rng, 1.0 + slowdown, policy),
                threshold,
            )
            for _ in range(cases_per_run)
        ]
        reject = benjamini_hochberg([t.p_value for t in tests])
        for t, r in zip(tests, reject, strict=True):
            if r and t.beyond and (slowdown == 0.0 or t.ratio > 1.0):
                called += 1
    return called / (n_runs * cases_per_run)
