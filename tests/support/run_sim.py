"""A seeded simulated case, measured through the suite's own code: the timing loop with its
warm-up rule (vocab.sampling.time_steps on a virtual clock), one Measurement per process,
the stop rule between rounds (vocab.sampling.stop_reason) and the statistics and flags the
store keeps (Measurement.stats -> vocab.stats.summarize). Only the machine is simulated.

The machine (NoiseModel): each process has an offset (log-normal with sd `process_sd`, or
Student t with 3 df scaled to the same sd), its steps carry AR(1) noise (phi `phi`, sd
`step_sd`); optionally one process of a case is hit by a neighbour (probability `hit_p`,
slowed by a uniform 10-40%), the machine drifts linearly by `drift` over a run's rounds,
and every process warms up geometrically (step k is 1 + `warmup` * 0.85^k slower).

The truth a case's CI should cover: the case's level without offsets, hits or warm-up,
averaged (geometric mean) over the rounds the case ran in; with drift, that is the machine's
mean level while the case was measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from vocab.case import Case
from vocab.measurement import Measurement, ProcessRecord
from vocab.sampling import SamplingPolicy, stop_reason, time_steps

CASE = Case("torch", 50, 1)
WARMUP_RATIO = 0.85  # geometric warm-up: step k is 1 + amplitude * 0.85^k slower


@dataclass(frozen=True)
class NoiseModel:
    name: str
    offsets: str = "normal"  # or "t3": Student t, 3 df, scaled to sd process_sd
    process_sd: float = 0.02
    step_sd: float = 0.03  # stationary sd of the log step noise
    phi: float = 0.5
    step_s: float = 0.05
    hit_p: float = 0.0  # probability that one process of a case is hit
    hit_low: float = 0.10
    hit_high: float = 0.40
    drift: float = 0.0  # the machine's level rises by this over max_processes rounds
    warmup: float = 0.0  # amplitude of the geometric warm-up


SCENARIOS: dict[str, NoiseModel] = {
    "normal": NoiseModel("per-process offsets normal, sd 2%"),
    "t3": NoiseModel("per-process offsets t3 scaled to sd 2%", offsets="t3"),
    "hit": NoiseModel("one process hit (p=0.2) slowed 10-40%", hit_p=0.2),
    "drift": NoiseModel("+3% drift over a run", drift=0.03),
}
GEOMETRIC_WARMUP = NoiseModel("geometric warm-up 1 + 0.3 * 0.85^k", warmup=0.3)

# A quick-profile process (suite/profiles/quick.toml): few steps, no thirds for drift.
QUICK = SamplingPolicy(
    min_warmup=2,
    max_warmup=15,
    warmup_window=2,
    min_warmup_time_s=0.3,
    warmup_cap_s=10.0,
    min_samples=3,
    min_time_s=0.3,
    min_processes=5,
    max_processes=6,
    max_time_s=4.0,
)


def _offset(rng: np.random.Generator, noise: NoiseModel) -> float:
    if noise.offsets == "t3":
        return noise.process_sd * float(rng.standard_t(3)) / math.sqrt(3.0)
    return float(rng.normal(0.0, noise.process_sd))


class _Machine:
    """One process's steps on a virtual clock: what time_steps times."""

    def __init__(self, rng: np.random.Generator, noise: NoiseModel, level: float) -> None:
        self.rng, self.noise, self.level = rng, noise, level
        self.now_ns = 0
        self.k = 0
        self.x = float(rng.normal(0.0, noise.step_sd))
        self.innovation = noise.step_sd * math.sqrt(1.0 - noise.phi**2)

    def clock(self) -> int:
        return self.now_ns

    def step(self) -> None:
        n = self.noise
        self.x = n.phi * self.x + float(self.rng.normal(0.0, self.innovation))
        warm = 1.0 + n.warmup * WARMUP_RATIO**self.k
        self.now_ns += int(self.level * warm * math.exp(self.x) * 1e9)
        self.k += 1


def measure_process(
    rng: np.random.Generator,
    noise: NoiseModel,
    policy: SamplingPolicy,
    level: float,
    index: int,
    round_: int,
) -> Measurement:
    """One worker process of the case whose steps take `level` seconds before noise and
    warm-up (offset, hit and drift included by the caller)."""
    machine = _Machine(rng, noise, level)
    timing = time_steps(machine.step, lambda _: None, policy, clock=machine.clock)
    record = ProcessRecord(
        index=index,
        round=round_,
        warmup_steps=len(timing.warmup_ns),
        warmup_stable=timing.warmup_stable,
        warmup_step_ns=list(timing.warmup_ns),
        first_step_ns=timing.first_step_ns,
        measured_ns=sum(timing.samples_ns),
    )
    return Measurement(
        case=CASE,
        samples_ns=timing.samples_ns,
        sample_process=[index] * len(timing.samples_ns),
        process_records=[record],
        ci_target=policy.ci_target,
        adaptive=policy.adaptive,
    )


@dataclass(frozen=True)
class SimulatedCase:
    measurement: Measurement  # merged, with stop_reason: what the store would get
    truth_s: float  # what its CI should cover
    hit: int | None  # the process index that was hit, if any

    @property
    def covered(self) -> bool:
        s = self.measurement.stats()
        assert s is not None
        return bool(s.ci_low_s <= self.truth_s <= s.ci_high_s)

    def flagged(self, kind: str) -> bool:
        s = self.measurement.stats()
        return s is not None and kind in s.flag_kinds


def simulate_case(
    rng: np.random.Generator, noise: NoiseModel, policy: SamplingPolicy
) -> SimulatedCase:
    """One case with steps of `noise.step_s`: processes in rounds until the suite's stop
    rule says enough."""
    true_s = noise.step_s
    hit = int(rng.integers(policy.min_processes)) if rng.random() < noise.hit_p else None
    span = max(policy.max_processes - 1, 1)
    parts: list[Measurement] = []
    levels: list[float] = []
    while True:
        if parts:
            values = [v for m in parts for v in m.process_values_s().values()]
            reason = stop_reason(values, sum(m.measured_s for m in parts), policy)
            if reason is not None:
                break
        r = len(parts)
        machine = math.exp(noise.drift * r / span)
        slow = 1.0 + float(rng.uniform(noise.hit_low, noise.hit_high)) if r == hit else 1.0
        level = true_s * machine * math.exp(_offset(rng, noise)) * slow
        parts.append(measure_process(rng, noise, policy, level, r, r))
        levels.append(machine)
    merged = Measurement.merge(parts)
    merged.stop_reason = reason
    truth = true_s * math.exp(float(np.mean(np.log(levels))))
    return SimulatedCase(merged, truth, hit)


@dataclass(frozen=True)
class Figures:
    cases: int
    coverage: float
    mean_processes: float
    outlier_share: float  # cases with an outlier flag
    flagged_share: float  # cases with any flag
    hit_cases: int
    hit_found: float  # of the cases with a hit process, share whose hit was flagged


def figures(noise: NoiseModel, n_cases: int, seed: int, policy: SamplingPolicy) -> Figures:
    rng = np.random.default_rng(seed)
    cases = [simulate_case(rng, noise, policy) for _ in range(n_cases)]
    hits = [c for c in cases if c.hit is not None]
    found = 0
    for c in hits:
        s = c.measurement.stats()
        assert s is not None
        found += any(f.kind == "outlier" and f.process == c.hit for f in s.flags)
    return Figures(
        cases=n_cases,
        coverage=float(np.mean([c.covered for c in cases])),
        mean_processes=float(np.mean([c.measurement.processes for c in cases])),
        outlier_share=float(np.mean([c.flagged("outlier") for c in cases])),
        flagged_share=float(np.mean([bool(c.measurement.stats().flags) for c in cases])),  # type: ignore[union-attr]
        hit_cases=len(hits),
        hit_found=found / len(hits) if hits else math.nan,
    )


def with_policy(policy: SamplingPolicy, **changes: object) -> SamplingPolicy:
    return replace(policy, **changes)  # type: ignore[arg-type]
