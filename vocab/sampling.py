"""The framework-neutral timing loop: warm-up until stable, then adaptive sampling.

Every timed step is `step()` followed by `sync(output)`: the clock stops only once the
device has finished. Nothing else runs between the two clock reads, so the harness adds
two `perf_counter_ns` calls per step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from vocab.stats import CI_TARGET_REL, case_interval

# A warm-up still falling steadily is settled only once the level it is heading for is this
# close (vocab.sampling._settled's projection).
WARMUP_REMAINING_REL = 0.02


@dataclass(frozen=True)
class SamplingPolicy:
    """When warm-up ends, how long one process samples, and how many processes a case gets.
    Profiles and CLI flags fill it.

    Per process: warm-up, then at least `min_samples` steps and `min_time_s` of them.
    Per case: `min_processes` fresh processes (interleaved rounds), then more, one round at a
    time, until the CI between processes is within +/- `ci_target`, or `max_processes`, or
    `max_time_s` of measured steps summed over the processes (the CI then shows the miss).
    """

    min_warmup: int = 2  # tracing / compilation / autotuning happen in these
    max_warmup: int = 20
    warmup_cap_s: float = 30.0
    warmup_window: int = 3  # warm-up is stable when the median of the last this many steps...
    warmup_tolerance: float = 0.10  # ...is within this share of the median of the ones before
    min_warmup_time_s: float = 0.5  # ...and it lasted at least this long (after step 1)
    min_warmup_time_gpu_s: float = 2.0  # on a GPU: clocks ramp up, autotuning settles
    min_samples: int = 10
    min_time_s: float = 1.0
    max_samples: int = 100_000
    ci_target: float = CI_TARGET_REL  # CI between processes within +/- this share
    min_processes: int = 5
    max_processes: int = 10
    max_time_s: float = 60.0  # cap on a case's measured time over all its processes
    # Throughput on asynchronous devices (CUDA): after the timed steps, `pipeline_groups`
    # groups of `pipeline_steps` steps with one sync per group, so the host's round trip
    # per step does not understate what the device sustains. 0 steps: off.
    pipeline_steps: int = 10
    pipeline_groups: int = 5

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", int):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(
                        f"sampling {f.name} must be a non-negative integer, got {value!r}"
                    )
            elif (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < 0
            ):
                raise ValueError(
                    f"sampling {f.name} must be a finite non-negative number, got {value!r}"
                )
        for name in ("min_warmup", "min_samples", "min_processes", "max_processes"):
            if getattr(self, name) < 1:
                raise ValueError(f"sampling {name} must be at least 1, got {getattr(self, name)}")
        if self.max_processes < self.min_processes:
            raise ValueError(
                f"sampling max_processes ({self.max_processes}) is below "
                f"min_processes ({self.min_processes})"
            )
        if self.max_time_s <= 0:
            raise ValueError(f"sampling max_time_s must be positive, got {self.max_time_s!r}")

    @property
    def adaptive(self) -> bool:
        """Processes are added until the CI meets its target: the CI pays for it."""
        return self.max_processes > self.min_processes

    def warmup_time_s(self, device: str) -> float:
        return self.min_warmup_time_gpu_s if device.startswith("cuda") else self.min_warmup_time_s

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


def stop_reason(values: Sequence[float], measured_s: float, policy: SamplingPolicy) -> str | None:
    """Checkpoint after a round: why a case needs no more processes, or None for another.

    Only called between rounds, never after single steps: stopping the moment a running
    interval happens to look narrow would make it too narrow. The interval is the one the
    store keeps (vocab.stats.case_interval: outliers left out, the adaptive df)."""
    n = len(values)
    if n < policy.min_processes:
        return None
    if case_interval(values, policy.adaptive).interval.rel <= policy.ci_target:
        return "ci target met"
    if n >= policy.max_processes:
        return "max processes"
    if measured_s >= policy.max_time_s:
        return "time cap"
    return None


@dataclass
class Timing:
    """One process's timing of one case."""

    samples_ns: list[int] = field(default_factory=list)
    starts_ns: list[int] = field(default_factory=list)  # each timed step's start, epoch ns
    warmup_ns: list[int] = field(default_factory=list)
    warmup_stable: bool = False
    pipeline_steps: int | None = None  # k, where throughput was timed with one sync per k
    pipelined_ns: list[int] = field(default_factory=list)  # per step, one value per group

    @property
    def first_step_ns(self) -> int:
        return self.warmup_ns[0]


Clock = Callable[[], int]


def epoch_offset_ns(clock: Clock = time.perf_counter_ns) -> int:
    """What to add to `clock()` readings to get Unix-epoch nanoseconds."""
    return time.time_ns() - clock()


def _settled(steps: list[int], window: int, tolerance: float) -> bool:
    """The step time has stopped moving (the first step never counts).

    A level test, not a spread test: on a shared machine single steps jump about long
    after compilation and autotuning are over. The median of the last `window` steps must
    be within `tolerance` of the median of the `window` before them; and while the level
    is still falling, the three last window medians m1 > m2 > m3 project (Aitken's delta
    squared: a geometric approach to a floor) how far m3 still is above the floor, which
    must be within WARMUP_REMAINING_REL. Adjacent windows alone pass a geometric warm-up
    1 + 0.3 * 0.85^k with the first timed step 9.6% slow: each window is only a few
    per cent below the one before, yet far above where the steps end up."""
    body = steps[1:]
    if len(body) < 2 * window:
        return False
    m3 = float(np.median(body[-window:]))
    m2 = float(np.median(body[-2 * window : -window]))
    if not (m2 > 0 and abs(m3 / m2 - 1.0) <= tolerance):
        return False
    if m3 >= m2:  # not falling: settled at this level
        return True
    if len(body) < 3 * window:
        return False  # falling, and too few steps to see where to
    m1 = float(np.median(body[-3 * window : -2 * window]))
    if m1 <= m2:  # the fall is not a steady approach: noise around a level
        return True
    q = (m2 - m3) / (m1 - m2)
    if q >= 1.0:
        return False  # falling at least as fast as before
    remaining = (m2 - m3) * q / (1.0 - q)  # m3 - the projected floor
    floor = m3 - remaining
    return floor > 0 and remaining / floor <= WARMUP_REMAINING_REL


def timed_step(
    step: Callable[[], Any], sync: Callable[[Any], None], clock: Clock = time.perf_counter_ns
) -> Callable[[], int]:
    """One step and its sync between two clock reads, in nanoseconds."""

    def one() -> int:
        t0 = clock()
        sync(step())
        return clock() - t0

    return one


def warm_up(
    one: Callable[[], int], policy: SamplingPolicy, clock: Clock, min_time_s: float | None = None
) -> tuple[list[int], bool]:
    """Steps until min_warmup are done, `min_time_s` has passed after the first step, and
    the step time has settled (`_settled`), or a cap; returns every warm-up step time and
    whether it ended settled."""
    min_time = policy.min_warmup_time_s if min_time_s is None else min_time_s
    steps = [one()]
    start = clock()  # the clocks count after the first step: compilation may take minutes
    while True:
        n = len(steps)
        elapsed = (clock() - start) / 1e9
        if n >= policy.min_warmup and elapsed >= min_time:
            if policy.warmup_window == 0:
                return steps, True
            if _settled(steps, policy.warmup_window, policy.warmup_tolerance):
                return steps, True
        capped = n >= policy.max_warmup or elapsed >= policy.warmup_cap_s
        if capped and n >= policy.min_warmup:
            return steps, False
        steps.append(one())


def time_steps(
    step: Callable[[], Any],
    sync: Callable[[Any], None],
    policy: SamplingPolicy,
    clock: Clock = time.perf_counter_ns,
    device: str = "cpu",
    pipeline: int = 0,
) -> Timing:
    """Warm up, then sample at least `min_samples` steps and `min_time_s` of them; then,
    with `pipeline` = k > 1, `policy.pipeline_groups` groups of k steps and one sync each.

    The CI target is not chased here: one process gives one value however many steps it
    takes (see vocab.stats); precision comes from more processes."""
    timing = Timing()
    one = timed_step(step, sync, clock)
    # Warm-up: never counted. The first step (tracing/compilation) is kept on its own.
    timing.warmup_ns, timing.warmup_stable = warm_up(
        one, policy, clock, policy.warmup_time_s(device)
    )
    offset = epoch_offset_ns(clock)
    total_ns = 0
    while True:
        t0 = clock()
        sync(step())
        sample = clock() - t0
        timing.samples_ns.append(sample)
        timing.starts_ns.append(t0 + offset)
        total_ns += sample
        n = len(timing.samples_ns)
        if n >= policy.max_samples:
            break
        if n >= policy.min_samples and total_ns / 1e9 >= policy.min_time_s:
            break
    if pipeline > 1:
        timing.pipeline_steps = pipeline
        for _ in range(policy.pipeline_groups):
            t0 = clock()
            out = None
            for _ in range(pipeline):
                out = step()
            sync(out)  # one stream: the last step done means all k are
            timing.pipelined_ns.append((clock() - t0) // pipeline)
    return timing
