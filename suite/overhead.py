"""Where a run's time went: what the workers cost beyond the timed steps (printed at the
end of `resnet-bench run`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vocab.measurement import Measurement


@dataclass
class Overhead:
    """Where a run's time went: what the workers cost beyond the timed steps."""

    wall_s: float = 0.0
    workers: int = 0
    startup_s: float = 0.0  # spawn -> ready: interpreter, framework import, threads
    build_s: float = 0.0
    warmup_s: float = 0.0
    first_step_s: float = 0.0  # part of warm-up: compilation, autotuning
    measured_s: float = 0.0
    processes: int = 0  # case processes (a worker runs several)

    def add(self, round_results: Sequence[Measurement]) -> None:
        pids = set()
        for m in round_results:
            for p in m.process_records:
                if p.pid is not None and p.pid not in pids and p.startup_ns is not None:
                    pids.add(p.pid)
                    self.startup_s += p.startup_ns / 1e9
                self.build_s += (p.build_ns or 0) / 1e9
                self.warmup_s += p.warmup_ns / 1e9
                self.first_step_s += (p.first_step_ns or 0) / 1e9
                self.processes += 1
                self.measured_s += p.measured_ns / 1e9
        self.workers += len(pids)

    def line(self) -> str:
        other = max(0.0, self.wall_s - self.startup_s - self.build_s - self.warmup_s)
        other = max(0.0, other - self.measured_s)
        share = self.measured_s / self.wall_s if self.wall_s > 0 else 0.0
        per_worker = self.startup_s / self.workers if self.workers else 0.0
        n = max(self.processes, 1)
        fixed = (self.startup_s + self.build_s) / n
        return (
            f"time: {self.wall_s:.0f} s in all, {self.measured_s:.0f} s timed ({share:.0%}); "
            f"{self.workers} workers, start-up {self.startup_s:.0f} s "
            f"({per_worker:.1f} s each), builds {self.build_s:.0f} s, "
            f"warm-up {self.warmup_s:.0f} s, other {other:.0f} s (probes, store); "
            f"fixed cost per case process {fixed:.1f} s (start-up share and build; "
            f"first step {self.first_step_s / n:.1f} s apart)"
        )
