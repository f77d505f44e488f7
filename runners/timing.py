"""The framework-neutral timing loop: warm-up until stable, then adaptive sampling.

Every timed step is `step()` followed by `sync(output)`: the clock stops only once the
device has finished. Nothing else runs between the two clock reads, so the harness adds
two `perf_counter_ns` calls per step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from runners.stats import CI_TARGET_REL, ci_rel_halfwidth


@dataclass(frozen=True)
class SamplingPolicy:
    """When warm-up ends and when sampling stops. Profiles and CLI flags fill it."""

    min_warmup: int = 2  # tracing / compilation / autotuning happen in these
    max_warmup: int = 20
    warmup_cap_s: float = 30.0
    warmup_window: int = 3  # warm-up is stable when this many steps agree...
    warmup_tolerance: float = 0.10  # ...within this spread relative to their median
    min_samples: int = 10
    min_time_s: float = 1.0
    ci_target: float = CI_TARGET_REL  # CI of the median within +/- this share of it
    max_time_s: float = 60.0  # cap on measured time; unmet CI target -> unstable
    max_samples: int = 100_000

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"sampling {f.name} must be a non-negative number, got {value!r}")
        if self.min_warmup < 1:
            raise ValueError(f"sampling min_warmup must be at least 1, got {self.min_warmup}")
        if self.min_samples < 1:
            raise ValueError(f"sampling min_samples must be at least 1, got {self.min_samples}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SamplingPolicy:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(
                f"unknown sampling key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(names))}"
            )
        return cls(**data)


@dataclass
class Timing:
    samples_ns: list[int] = field(default_factory=list)
    warmup_ns: list[int] = field(default_factory=list)
    warmup_stable: bool = False
    ci_target_met: bool = False

    @property
    def first_step_ns(self) -> int:
        return self.warmup_ns[0]


Clock = Callable[[], int]


def _stable(window: list[int], tolerance: float) -> bool:
    med = float(np.median(window))
    return med > 0 and (max(window) - min(window)) / med <= tolerance


def timed_step(
    step: Callable[[], Any], sync: Callable[[Any], None], clock: Clock = time.perf_counter_ns
) -> Callable[[], int]:
    """One step and its sync between two clock reads, in nanoseconds."""

    def one() -> int:
        t0 = clock()
        sync(step())
        return clock() - t0

    return one


def warm_up(one: Callable[[], int], policy: SamplingPolicy, clock: Clock) -> tuple[list[int], bool]:
    """Steps until min_warmup are done and the last `warmup_window` agree within tolerance
    (or a cap); returns every warm-up step time and whether it ended stable."""
    steps = [one()]
    start = clock()  # the cap counts after the first step: compilation may take minutes
    while True:
        n = len(steps)
        if n >= policy.min_warmup:
            if policy.warmup_window == 0:
                return steps, True
            # n > window keeps the first step (compilation) out of the window.
            window = steps[-policy.warmup_window :]
            if n > policy.warmup_window and _stable(window, policy.warmup_tolerance):
                return steps, True
            if n >= policy.max_warmup or (clock() - start) / 1e9 >= policy.warmup_cap_s:
                return steps, False
        steps.append(one())


def time_steps(
    step: Callable[[], Any],
    sync: Callable[[Any], None],
    policy: SamplingPolicy,
    clock: Clock = time.perf_counter_ns,
) -> Timing:
    """Warm up, then sample until min count, min time and CI target are met (or the cap)."""
    timing = Timing()
    one = timed_step(step, sync, clock)
    # Warm-up: never counted. The first step (tracing/compilation) is kept on its own.
    timing.warmup_ns, timing.warmup_stable = warm_up(one, policy, clock)

    total_ns = 0
    while True:
        sample = one()
        timing.samples_ns.append(sample)
        total_ns += sample
        n = len(timing.samples_ns)
        if n >= policy.max_samples:
            break
        if n < policy.min_samples or total_ns / 1e9 < policy.min_time_s:
            continue
        if ci_rel_halfwidth(timing.samples_ns) <= policy.ci_target:
            timing.ci_target_met = True
            break
        if total_ns / 1e9 >= policy.max_time_s:
            break
    if not timing.ci_target_met:
        timing.ci_target_met = ci_rel_halfwidth(timing.samples_ns) <= policy.ci_target
    return timing
