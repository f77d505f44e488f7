"""The run loop's state in one object: the rounds, each case's processes so far (pending),
when a case stops (vocab.sampling.stop_reason), and growth by batch search.

    sched = Scheduler(cases, policy, seed, sink)
    while groups := sched.next_round():      # the checkpoint between rounds
        for group in groups:                  # one worker each, in shuffled order
            sched.record(run_round(group, ...))

Cases change only at the checkpoint: a case a batch search adds (after the case before it
finished, which may happen mid-round when it failed) waits in `_grown` and joins the list
when the next round is planned, so no loop ever iterates over a list that changes. The
sink does the side effects: store a finished case, keep a pending process, store the grown
plan (before the result that led to it, so --resume knows the new case).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from runners.manager import worker_key
from suite.batch_search import BatchSearch, throughput
from vocab.case import Case
from vocab.measurement import Measurement
from vocab.sampling import SamplingPolicy, stop_reason


class Sink(Protocol):
    def finished(self, m: Measurement) -> None: ...
    def pending(self, round_: int, m: Measurement) -> None: ...
    def grown(self, planned: Sequence[Case], added: Sequence[Case]) -> None: ...


def worker_groups(cases: Sequence[Case]) -> dict[tuple[Any, ...], list[Case]]:
    """Cases one worker may measure in one round: same framework, device, threads and
    environment (runners.manager.worker_key)."""
    groups: dict[tuple[Any, ...], list[Case]] = {}
    for c in cases:
        groups.setdefault(worker_key(c), []).append(c)
    return groups


def round_order(cases: Sequence[Case], rng: random.Random) -> list[list[Case]]:
    """One round: the workers in shuffled order, each with its cases shuffled. Each
    environment is a worker group of its own, so environments interleave like frameworks."""
    groups = [list(g) for g in worker_groups(cases).values()]
    rng.shuffle(groups)
    for g in groups:
        rng.shuffle(g)
    return groups


class Scheduler:
    def __init__(
        self,
        cases: Sequence[Case],
        policy: SamplingPolicy,
        seed: int,
        sink: Sink,
        *,
        batch_search: BatchSearch | None = None,
        rates: Mapping[Case, float | None] | None = None,
        pending: Sequence[Measurement] = (),
    ) -> None:
        """`pending`: processes a resumed run already stored; `rates`: a resumed batch
        search's finished cases (suite.batch_search.stored_rates)."""
        self.policy = policy
        self._sink = sink
        self._search = batch_search
        self._rates: dict[Case, float | None] = dict(rates or {})
        self._cases: list[Case] = list(dict.fromkeys(cases))
        self._parts: dict[Case, list[Measurement]] = {c: [] for c in self._cases}
        for m in pending:
            if m.case in self._parts:
                self._parts[m.case].append(m)
        self._finished: dict[Case, Measurement] = {}
        self._grown: list[Case] = []
        self._rng = random.Random(seed)
        # A resumed run continues at the round after its last stored process.
        self.round = max((len(ms) for ms in self._parts.values()), default=0)
        self._issued = False

    @property
    def cases(self) -> tuple[Case, ...]:
        """The cases so far, in plan order (a copy: growth never changes it under you)."""
        return tuple(self._cases)

    def planned(self) -> tuple[Case, ...]:
        """Every case the run will have measured, grown ones included: the stored plan."""
        return (*self._cases, *self._grown)

    def skip(self, case: Case, reason: str) -> None:
        """A case that will not run (a device or framework missing): stored as skipped."""
        self._parts[case] = [Measurement.failed(case, "skipped", reason)]
        self._finish(case, None)

    def next_round(self) -> list[list[Case]]:
        """The checkpoint: cases whose stop rule says so are finished, grown cases join,
        and the next round's worker groups come in shuffled order ([]: all finished)."""
        if self._issued:
            self.round += 1
            self._issued = False
        for case in self.cases:
            ms = self._parts[case]
            if case in self._finished or not ms:
                continue
            values = [v for m in ms for v in m.process_values_s().values()]
            reason = stop_reason(values, sum(m.measured_s for m in ms), self.policy)
            if reason is not None:
                self._finish(case, reason)
        self._admit()
        active = [c for c in self._cases if c not in self._finished]
        if not active:
            return []
        self._issued = True
        return round_order(active, self._rng)

    def processes(self, case: Case) -> int:
        """The case's processes so far: the next one's index."""
        return len(self._parts[case])

    def record(self, measured: Sequence[Measurement]) -> None:
        """One worker's results of this round: a failed case is finished at once, an ok
        process is kept pending until its case stops."""
        for m in measured:
            self._parts[m.case].append(m)
            if m.status != "ok":
                self._finish(m.case, None)
            else:
                self._sink.pending(self.round, m)

    def measurements(self) -> list[Measurement]:
        """The finished cases' merged measurements, in plan order."""
        return [self._finished[c] for c in self._cases if c in self._finished]

    def _finish(self, case: Case, reason: str | None) -> None:
        m = Measurement.merge(self._parts[case])
        m.stop_reason = reason
        m.ci_target_met = reason == "ci target met" if m.status == "ok" else None
        self._finished[case] = m
        if self._search is not None:
            self._rates[case] = throughput(m)
            grown = self._search.next_case(case, self._rates)
            if grown is not None and grown not in self._parts and grown not in self._grown:
                self._grown.append(grown)
                self._sink.grown(self.planned(), [grown])
        self._sink.finished(m)

    def _admit(self) -> None:
        for case in self._grown:
            self._cases.append(case)
            self._parts[case] = []
        self._grown = []
