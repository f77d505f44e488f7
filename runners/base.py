"""The interface every framework runner implements; one small module per framework."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from vocab.case import Case
from vocab.jsonfields import JSONValue


class Runner(Protocol):
    """One framework's way to build, step and synchronise a case inside a worker process.

    A runner instance serves one case: `build` makes the model, inputs and step function;
    `step` launches one step and returns its output; `sync` returns only once the device
    has finished the work behind that output.
    """

    name: str
    sync_method: str  # recorded with the result: how a step was made to end on the device

    def unsupported(self, case: Case) -> str | None:
        """Why this machine/framework cannot run the case (-> status 'skipped'), or None."""

    def set_threads(self, intra: int, inter: int) -> tuple[int, int]:
        """Set intra/inter-op threads before the framework initialises; return read-back."""

    def prepare(self, cases: Sequence[Case]) -> None:
        """One-time set-up the worker's cases will need (lazy framework imports), done at
        the worker's start-up so that it is not counted in the first case's build."""

    def build(self, case: Case) -> None:
        """Build model, synthetic inputs (on the device) and the step function."""

    def step(self) -> Any:
        """Run (launch) one inference or training step and return its output."""

    def sync(self, output: Any) -> None:
        """Block until the device has finished the step that produced `output`."""

    def peak_memory(self) -> tuple[int, str] | None:
        """(bytes, kind) of the case's peak memory: device allocator or the worker's RSS."""

    def is_oom(self, exc: BaseException) -> bool:
        """Whether an exception means the case ran out of (device or host) memory."""

    def details(self) -> dict[str, JSONValue]:
        """Facts about how the case ran (channels_last, cudnn.benchmark, TF32, oneDNN...)."""

    def info(self) -> dict[str, JSONValue]:
        """Framework version and build information (CUDA, cuDNN, oneDNN/MKL, XLA)."""

    def version(self) -> str:
        """The framework's version string."""

    def matmul_gflops(self, device: str, precision: str) -> float | None:
        """Measured square matrix-multiply rate on `device`; None if the precision is not
        supported there. The machine's ceiling that results are reported against."""


def reset_peak_rss() -> bool:
    """Restart this process's peak RSS count (Linux: `5` to /proc/self/clear_refs), so one
    worker running several cases reports each case's own peak. False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def peak_rss_bytes() -> int:
    """This process's peak resident set size since start or the last reset_peak_rss()."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux KiB, macOS bytes
    return int(peak if sys.platform == "darwin" else peak * 1024)


MATMUL_N = {"cpu": 2048, "cuda": 8192}  # big enough to be compute bound, small enough to be quick
MATMUL_REPS = 10


def best_rate(run: Callable[[], None], n: int, reps: int = MATMUL_REPS) -> float:
    """GFLOP/s of the fastest of `reps` timed n x n matmuls (`run` must block until done).

    The fastest, not the median: a ceiling is what the machine can do, and on a shared host
    the slower repetitions measure the neighbours.
    """
    run()  # warm-up: library initialisation, kernel selection
    best = min(_timed(run) for _ in range(reps))
    return 2.0 * n**3 / best / 1e9


def _timed(run: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0
