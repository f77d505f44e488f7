"""What data-parallel runs share whatever the framework: which cases can run on several
replicas, how threads are split, ranks that die with their launcher, and the timing rule.

A timed step ends when every rank has finished it: each rank syncs its device, then one
small all-reduce (MAX of the ranks' own step times) is both the barrier and what every rank
decides on, so all ranks take the same warm-up and sample counts (a rank that stopped alone
would leave the others waiting in a collective). Rank 0's clock, from its step's start to
the end of that all-reduce, gives the stored samples; each rank's own step times give the
per-rank medians. Every runtime's data-parallel path (its record's `replicas`) uses it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vocab.case import Case
from vocab.measurement import Measurement, ProcessRecord
from vocab.messages import RankReport
from vocab.runtimes import RUNTIMES, runtime
from vocab.sampling import SamplingPolicy, warm_up

# Test hook: "RANK:STEP" makes that rank SIGKILL itself at that step, "RANK:STEP:hang"
# makes it sleep there (the failure tests; never set in a run).
KILL_RANK_ENV = "RESNET_BENCH_KILL_RANK"
# The worker's folder: each rank keeps its progress there (rank<R>.progress, one line), so
# that a case killed at its timeout can name the rank that was behind (runners.manager).
PROGRESS_DIR_ENV = "RESNET_BENCH_PROGRESS_DIR"
PHASES = ("started", "forward done", "finished, waiting for the others")


def report_progress(rank: int, step: int, phase: int) -> None:
    """Overwrite this rank's progress line: 'STEP PHASE' (PHASES); a no-op outside a worker."""
    folder = os.environ.get(PROGRESS_DIR_ENV)
    if folder:
        with contextlib.suppress(OSError):
            Path(folder, f"rank{rank}.progress").write_text(f"{step} {phase}")


def behind(progress: dict[int, str]) -> str | None:
    """'rank 1 at step 3 (started); the others at step 3 (forward done)' from the ranks'
    progress lines: who was least far when the case was killed. None without a difference."""
    steps: dict[int, tuple[int, int]] = {}
    for rank, line in progress.items():
        with contextlib.suppress(ValueError):
            step, phase = (int(v) for v in line.split())
            steps[rank] = (step, min(phase, len(PHASES) - 1))
    if len(set(steps.values())) < 2:
        return None

    def where(at: tuple[int, int]) -> str:
        return f"step {at[0]} ({PHASES[at[1]]})"

    low = min(steps.values())
    late = sorted(r for r, at in steps.items() if at == low)
    others = max(steps.values())
    names = ", ".join(map(str, late))
    return f"rank{'s' if len(late) > 1 else ''} {names} at {where(low)}; ahead: {where(others)}"


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now (the OS picks it); recorded with the result."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def unsupported(case: Case) -> str | None:
    """Why a case cannot run on several replicas (-> skipped), or None."""
    if case.replicas == 1:
        return None
    replicated = [name for name, r in RUNTIMES.items() if r.replicas]
    if runtime(case.framework).replicas is None:
        return (
            f"{case.replicas} replicas: data parallelism is measured for "
            f"{' and '.join(replicated)} only, not {case.framework}"
        )
    if case.mode != "training":
        return (
            f"{case.replicas} replicas: data parallelism is measured for training; an "
            "inference replica would not talk to the others"
        )
    if case.execution == "xla":
        return "xla with several replicas: not measured (the strategies run graph mode here)"
    if case.execution == "cudagraph":
        return "cudagraph with DDP: the gradient all-reduce is not captured here"
    return None


def threads_per_rank(case: Case, nproc: int) -> int:
    """The case's intra-op threads split across the replicas on this node (at least 1)."""
    return max(1, case.threads // nproc)


def die_with_launcher() -> None:
    """Linux: a rank ends when its launcher (the worker) dies, even by SIGKILL."""
    import sys

    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


@dataclass
class RankTiming:
    clock_ns: list[int] = field(default_factory=list)  # rank's start -> all ranks done
    own_ns: list[int] = field(default_factory=list)  # rank's start -> its own device sync
    starts_ns: list[int] = field(default_factory=list)
    warmup_ns: list[int] = field(default_factory=list)
    warmup_stable: bool = False


def time_replicated(
    step: Callable[[], Any],
    device_sync: Callable[[], None],
    agree: Callable[[int], int],
    policy: SamplingPolicy,
    device: str,
    rank: int = 0,
) -> RankTiming:
    """`vocab.sampling`'s warm-up and sampling rule, decided on agreed values: `agree`
    (an all-reduce MAX over the ranks) turns this rank's step time into the slowest rank's,
    the same number on every rank; the warm-up's clock is the sum of agreed steps."""
    timing = RankTiming()
    agreed_total = [0]
    kill = os.environ.get(KILL_RANK_ENV, "")
    kill_rank, _, kill_step = kill.partition(":")

    def one() -> int:
        n = len(timing.clock_ns)
        if kill and int(kill_rank) == rank and n >= int(kill_step.split(":")[0]):
            if kill_step.endswith(":hang"):
                time.sleep(3600)
            os.kill(os.getpid(), signal.SIGKILL)
        report_progress(rank, n, 0)
        t0 = time.perf_counter_ns()
        step()
        device_sync()
        own = time.perf_counter_ns() - t0
        report_progress(rank, n, 2)
        agreed = agree(own)
        timing.clock_ns.append(time.perf_counter_ns() - t0)
        timing.own_ns.append(own)
        timing.starts_ns.append(t0)
        agreed_total[0] += agreed
        return agreed

    def clock() -> int:
        return agreed_total[0]

    timing.warmup_ns, timing.warmup_stable = warm_up(
        one, policy, clock, policy.warmup_time_s(device)
    )
    n_warm = len(timing.clock_ns)
    offset = time.time_ns() - time.perf_counter_ns()
    total = 0
    while True:
        total += one()
        n = len(timing.clock_ns) - n_warm
        if n >= policy.max_samples or (
            n >= policy.min_samples and total / 1e9 >= policy.min_time_s
        ):
            break
    timing.warmup_ns = timing.clock_ns[:n_warm]
    timing.clock_ns, timing.own_ns = timing.clock_ns[n_warm:], timing.own_ns[n_warm:]
    timing.starts_ns = [t + offset for t in timing.starts_ns[n_warm:]]
    return timing


def take_rank0_timing(result: Measurement, record: ProcessRecord, first: RankReport) -> None:
    """The case's samples and warm-up facts from rank (or task) 0's report: its clock is
    the one the stored steps come from."""
    clock = first.clock
    if clock is None or not clock.warmup_ns:
        raise RuntimeError(f"rank {first.rank} sent no timing; rank 0 keeps the clock")
    result.samples_ns = list(clock.samples_ns)
    result.sample_start_ns = list(clock.starts_ns)
    result.sample_process = [record.index] * len(result.samples_ns)
    record.warmup_steps = result.warmup_steps = len(clock.warmup_ns)
    record.first_step_ns = result.first_step_ns = clock.warmup_ns[0]
    record.warmup_stable = clock.warmup_stable
    record.warmup_step_ns = list(clock.warmup_ns)
    record.measured_ns = sum(result.samples_ns)
    result.threads_intra = first.threads
