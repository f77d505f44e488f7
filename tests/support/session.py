"""Stand-ins for running a session without workers: a silent UI, a context without probes,
and fake rounds of workers whose step times a test chooses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from suite import session
from vocab.case import Case
from vocab.measurement import Measurement, ProcessRecord
from vocab.sampling import SamplingPolicy

POLICY = SamplingPolicy(min_processes=3, max_processes=6, ci_target=0.02, max_time_s=1e6)


class Silent:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, message: str) -> None:
        self.lines.append(message)

    def start(self, total: int) -> None: ...
    def case_started(self, case: Case) -> None: ...
    def case_done(self, m: Measurement) -> None: ...
    def add_cases(self, count: int) -> None: ...
    def stop(self) -> None: ...


def fake_context(**kw: Any) -> session.Context:
    from results.environment import environment_info
    from runners.host import machine_info

    return session.Context(machine_info(), environment_info(), ceilings=[], **kw)


class FakeWorkers:
    """run_round stand-in: value(case, process index) seconds per step, 10 steps."""

    def __init__(self, value: Callable[[Case, int], float | str]) -> None:
        self.value = value
        self.calls: list[tuple[int, list[Case]]] = []
        self.options: list[dict[str, Any]] = []  # each call's keywords (python, variables)

    def __call__(
        self,
        group: list[Case],
        policy: SamplingPolicy,
        round_: int,
        indices: list[int],
        _t: float,
        **options: Any,
    ) -> list[Measurement]:
        self.calls.append((round_, list(group)))
        self.options.append(options)
        out = []
        for case, index in zip(group, indices, strict=True):
            v = self.value(case, index)
            rec = ProcessRecord(index=index, round=round_, pid=1000 + round_, startup_ns=10**9)
            if isinstance(v, str):
                m = Measurement(case=case, status="error", reason=v, process_records=[rec])
            else:
                ns = [int(v * 1e9)] * 10
                rec.measured_ns = sum(ns)
                m = Measurement(
                    case=case,
                    samples_ns=ns,
                    sample_process=[index] * 10,
                    process_records=[rec],
                    ci_target=policy.ci_target,
                )
            out.append(m)
        return out
