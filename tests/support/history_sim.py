"""Seeded nightly series on the development machine's noise, and the nightly gate over them.

Each night is one run: a machine-wide day offset (sd 1.5%, shared by every case of the run),
and per case `PROCESSES` fresh processes (quick's replication) whose log values scatter
with the case's between-process sd (2-5%, drawn per case). A case's value is the geometric
mean of its processes with the runner's t-interval (vocab.stats.geometric_interval). A
true change multiplies every case's time from night `change_at` on (and, for a change that
reverts, back after `revert_after` nights). The gate is results.history.gate over the
series up to each night: the `history --check` of that night.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from results.changepoints import Step, find_steps, run_se
from results.history import DEFAULT_CHECK_RUNS, DEFAULT_THRESHOLD, gate
from vocab.stats import geometric_interval

DAY_SD = 0.015
PROCESS_SD = (0.02, 0.05)
PROCESSES = 5  # quick's min_processes (its heavy cases stop there)
TRUE_S = 0.1

Detector = Callable[[np.ndarray, np.ndarray], list[Step]]


@dataclass(frozen=True)
class Nights:
    """values[night, case] with its CI and process counts."""

    values: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    processes: np.ndarray

    def case(self, c: int, upto: int) -> tuple[np.ndarray, np.ndarray]:
        """Case c's log values and their standard errors over nights 0..upto-1."""
        se = run_se(
            self.values[:upto, c], self.ci_low[:upto, c], self.ci_high[:upto, c],
            self.processes[:upto, c],
        )  # fmt: skip
        return np.log(self.values[:upto, c]), se


def simulate(
    rng: np.random.Generator,
    nights: int,
    cases: int,
    change_at: int | None = None,
    effect: float = 0.0,
    revert_after: int | None = None,
) -> Nights:
    sd = rng.uniform(*PROCESS_SD, size=cases)
    shape = (nights, cases)
    values, low, high = np.empty(shape), np.empty(shape), np.empty(shape)
    for n in range(nights):
        day = rng.normal(0.0, DAY_SD)
        changed = change_at is not None and n >= change_at
        if changed and revert_after is not None and change_at is not None:
            changed = n < change_at + revert_after
        level = np.log(TRUE_S) + day + (np.log1p(effect) if changed else 0.0)
        for c in range(cases):
            ci = geometric_interval(np.exp(level + rng.normal(0.0, sd[c], PROCESSES)))
            values[n, c], low[n, c], high[n, c] = ci.value, ci.low, ci.high
    return Nights(values, low, high, np.full(shape, float(PROCESSES)))


@dataclass(frozen=True)
class GateResult:
    alerts: int  # case-nights on which the gate fired
    case_nights: int
    detected: int  # cases (of those with a change) caught within `within` nights
    changed_cases: int
    # per detected case: nights from the change until caught (1: the change's own night)
    delays: tuple[int, ...]

    @property
    def alert_rate(self) -> float:
        return self.alerts / self.case_nights if self.case_nights else float("nan")

    @property
    def detection_rate(self) -> float:
        return self.detected / self.changed_cases if self.changed_cases else float("nan")


def run_gate(
    data: Nights,
    first_night: int,
    change_at: int | None = None,
    within: int = DEFAULT_CHECK_RUNS,
    last: int = DEFAULT_CHECK_RUNS,
    threshold: float = DEFAULT_THRESHOLD,
    detector: Detector = find_steps,
) -> GateResult:
    """The gate on every night from `first_night` on (nights before are its history).
    Without a change every alert is false; with one, a case is detected when the gate fires
    within `within` nights of the change, counting the change's night as the first."""
    nights, cases = data.values.shape
    alerts = case_nights = detected = 0
    delays: list[int] = []
    for c in range(cases):
        caught = None
        for n in range(first_night, nights):
            y, se = data.case(c, n + 1)
            fired = gate(detector(y, se), n + 1, last, threshold)
            if change_at is None or n < change_at:
                case_nights += 1
                alerts += fired
            elif caught is None and fired:
                caught = n - change_at + 1
        if change_at is not None and caught is not None and caught <= within:
            detected += 1
            delays.append(caught)
    return GateResult(
        alerts, case_nights, detected, 0 if change_at is None else cases, tuple(delays)
    )


def merged(results: Sequence[GateResult]) -> GateResult:
    return GateResult(
        sum(r.alerts for r in results),
        sum(r.case_nights for r in results),
        sum(r.detected for r in results),
        sum(r.changed_cases for r in results),
        tuple(d for r in results for d in r.delays),
    )
