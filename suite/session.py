"""One benchmark run: probe the frameworks, then rounds of worker processes, each case's
result committed to the store as soon as the case is finished.

    profile/flags -> [Case] -> rounds -> worker(cases of one framework) -> Measurement
                  -> merge per case -> store (one transaction per case)

The process is the unit of replication (runners.stats). Round r measures every unfinished
case once more, each in a fresh worker; the order within a round (which framework's worker
goes first, and the cases inside each worker) is shuffled with the run's recorded seed, so
that drift on the machine hits every case alike. After `min_processes` rounds a case gets
more only while its CI between processes misses the target (runners.timing.stop_reason).
Each process of an unfinished case is kept in the store as pending, so `--resume` of a
killed run continues those cases instead of starting them over.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from results.engine import StoreError
from results.environment import EnvironmentInfo, environment_info
from results.format import plain
from results.store import Store
from runners import host
from runners.host import MachineInfo, SystemState
from runners.manager import probe, run_round, worker_env, worker_key
from runners.measurement import Measurement
from runners.probe import CeilingInfo
from runners.registry import missing
from runners.timing import SamplingPolicy, stop_reason
from suite.batch_search import BatchSearch, stored_rates, throughput
from suite.case import FRAMEWORKS, Case

# The first framework probed measures the matmul ceiling: in registry order, so torch where
# it runs (it can tell native CPU bf16 from emulated).


@dataclass
class Plan:
    cases: list[Case]
    policy: SamplingPolicy
    timeout_s: float  # per case in flight in a worker
    profile: str
    label: str | None = None
    command: str = ""
    source: str = "cli"
    seed: int = field(default_factory=lambda: random.SystemRandom().randrange(2**31))
    batch_search: BatchSearch | None = None  # --batch-sizes auto: cases grow as it doubles
    # Several nodes (this is node 0): {"nnodes": N, "rdzv_endpoint": "HOST:PORT"}
    nodes: dict[str, Any] | None = None


@dataclass
class Context:
    machine: MachineInfo
    environment: EnvironmentInfo
    ceilings: list[CeilingInfo]
    system: SystemState | None = None  # governor, load: may disturb a run
    device_skips: dict[tuple[str, str], str] = field(default_factory=dict)  # (fw, device)
    warnings: list[str] = field(default_factory=list)


def gather_context(cases: Sequence[Case], log: Callable[[str], None]) -> Context:
    """Machine and environment facts; framework build info and ceilings from probes."""
    frameworks = sorted({c.framework for c in cases}, key=FRAMEWORKS.index)
    devices = sorted({c.device for c in cases})
    threads = max(c.threads for c in cases)
    interop = max(c.interop_threads for c in cases)
    framework_info: dict[str, dict[str, Any]] = {}
    ceilings: list[CeilingInfo] = []
    skips: dict[tuple[str, str], str] = {}
    warnings: list[str] = []
    # Before the probes: their matmuls would raise the load average we look at.
    state = host.system_state()
    busy = host.busy_warning(state)
    if busy:
        warnings.append(busy)
    for fw in frameworks:
        absent = missing(fw)
        if absent is not None:  # its cases are skipped, naming the extra; no worker starts
            skips.update({(fw, device): absent for device in devices})
            warnings.append(absent)
            continue
        log(f"probing {fw} ({', '.join(devices)})")
        found = probe(fw, devices, threads, interop, ceiling=not ceilings)
        framework_info[fw] = {"version": found["version"], **found["info"]}
        ceilings.extend(found["ceilings"])
        for device, reason in found["device_skips"].items():
            skips[(fw, device)] = reason
        if found["error"]:
            warnings.append(f"{fw}: {found['error']}")
    # The variables the workers get (thread counts included), not just the parent's.
    environment = environment_info(framework_info=framework_info, env=worker_env(threads, interop))
    return Context(host.machine_info(), environment, ceilings, state, skips, warnings)


@contextmanager
def recorded_run(
    store: Store, plan: Plan, context: Context, resume: int | None = None
) -> Iterator[int]:
    """A new run (or `resume`, reopened) that ends 'finished', or 'interrupted' / 'failed'
    if the body raises; each result inside was committed on its own already."""
    if resume is None:
        run_id = _begin(store, context, plan.label, plan.command, plan.profile, plan.source, plan)
    else:
        run_id = store.reopen_run(resume, machine=context.machine).id
    with _finishing(store, run_id):
        yield run_id


def _begin(
    store: Store,
    context: Context,
    label: str | None,
    command: str,
    profile: str,
    source: str,
    plan: Plan | None,
) -> int:
    return store.begin_run(
        label=label,
        command=command,
        profile=profile,
        source=source,
        machine=context.machine,
        environment=context.environment,
        ceilings=context.ceilings,
        system=context.system,
        plan=None if plan is None else plan_record(plan),
    )


@contextmanager
def _finishing(store: Store, run_id: int) -> Iterator[None]:
    """Mark the run 'finished' after the block, 'interrupted' or 'failed' if it raises."""
    try:
        yield
    except KeyboardInterrupt:
        store.finish_run(run_id, "interrupted")
        raise
    except BaseException:
        store.finish_run(run_id, "failed")
        raise
    store.finish_run(run_id, "finished")


class UI(Protocol):
    def log(self, message: str) -> None: ...
    def start(self, total: int) -> None: ...
    def case_started(self, case: Case) -> None: ...
    def case_done(self, m: Measurement) -> None: ...
    def add_cases(self, count: int) -> None: ...
    def stop(self) -> None: ...


def plan_record(plan: Plan) -> dict[str, Any]:
    """What --resume needs to rebuild the plan: stored with the run."""
    return {
        "cases": [c.to_dict() for c in plan.cases],
        "policy": plan.policy.to_dict(),
        "timeout_s": plan.timeout_s,
        "seed": plan.seed,
        "batch_search": None if plan.batch_search is None else plan.batch_search.to_dict(),
    }


def resume_plan(store: Store, run_id: int) -> Plan:
    """The cases of run `run_id` not stored yet (the store raises for an unknown run)."""
    run = store.get_run(run_id)
    stored = store.get_plan(run_id)
    if stored is None:
        raise StoreError(f"run {run_id} stored no plan (source {run.source}); it cannot be resumed")
    done = store.finished_keys(run_id)
    cases = [Case.from_dict(c) for c in stored["cases"]]
    # Plans stored before replication by processes carry no seed; they resume with a new one.
    plan = Plan(
        cases=[c for c in cases if c.key() not in done],
        policy=SamplingPolicy.from_dict(stored["policy"]),
        timeout_s=float(stored["timeout_s"]),
        profile=run.profile or "",
        label=run.label,
        command=run.command or "",
    )
    if stored.get("seed") is not None:
        plan.seed = int(stored["seed"])
    if stored.get("batch_search") is not None:
        plan.batch_search = BatchSearch.from_dict(stored["batch_search"])
    return plan


def worker_groups(cases: Sequence[Case]) -> dict[tuple[Any, ...], list[Case]]:
    """Cases one worker may measure in one round: same framework, device and threads."""
    groups: dict[tuple[Any, ...], list[Case]] = {}
    for c in cases:
        groups.setdefault(worker_key(c), []).append(c)
    return groups


def round_order(cases: Sequence[Case], rng: random.Random) -> list[list[Case]]:
    """One round: the workers in shuffled order, each with its cases shuffled."""
    groups = [list(g) for g in worker_groups(cases).values()]
    rng.shuffle(groups)
    for g in groups:
        rng.shuffle(g)
    return groups


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


def execute(
    store: Store, plan: Plan, ui: UI, resume: int | None = None
) -> tuple[int | None, list[Measurement]]:
    """Measure every case of the plan in interleaved rounds, committing each case's result
    as soon as it needs no more processes. Returns the run id (None when nothing was left
    to run) and the measurements, in plan order."""
    t0 = time.monotonic()
    if not plan.cases:
        ui.log("nothing to run: every case of the plan is finished")
        return resume, []
    context = gather_context(plan.cases, ui.log)
    for warning in context.warnings:
        ui.log(f"warning: {warning}")
    overhead = Overhead()
    finished: dict[Case, Measurement] = {}
    with recorded_run(store, plan, context, resume) as run_id:
        parts: dict[Case, list[Measurement]] = {c: [] for c in plan.cases}
        if resume is not None:
            for m in store.pending(run_id):
                if m.case in parts:
                    parts[m.case].append(m)
        rates: dict[Case, float | None] = {}  # a batch search's finished cases
        if plan.batch_search is not None and resume is not None:
            rates = stored_rates(store, run_id)
        policy = plan.policy
        ui.log(
            f"run {run_id}: {len(plan.cases)} case(s), profile {plan.profile}, "
            f"{policy.min_processes}-{policy.max_processes} processes per case, seed {plan.seed}"
        )
        ui.start(len(plan.cases))

        def finish(case: Case, reason: str | None) -> None:
            m = Measurement.merge(parts[case])
            m.stop_reason = reason
            m.ci_target_met = reason == "ci target met" if m.status == "ok" else None
            finished[case] = m
            if plan.batch_search is not None:
                rates[case] = throughput(m)
                grow(plan.batch_search.next_case(case, rates))
            store.add_result(run_id, m)
            ui.case_done(m)

        def grow(case: Case | None) -> None:
            """A batch search's next case joins the next round; the stored plan gets it
            before the result that led to it, so --resume knows it."""
            if case is None or case in parts:
                return
            plan.cases.append(case)
            parts[case] = []
            store.set_plan(run_id, plan_record(plan))
            ui.add_cases(1)

        try:
            for case in plan.cases:
                skip = context.device_skips.get((case.framework, case.device))
                if skip is not None:
                    parts[case] = [Measurement.failed(case, "skipped", skip)]
                    finish(case, None)
            rng = random.Random(plan.seed)
            round_ = max((len(ms) for ms in parts.values()), default=0)
            while True:
                for case in plan.cases:  # the checkpoint: only between rounds
                    ms = parts[case]
                    if case in finished or not ms:
                        continue
                    values = [v for m in ms for v in m.process_values_s().values()]
                    reason = stop_reason(values, sum(m.measured_s for m in ms), policy)
                    if reason is not None:
                        finish(case, reason)
                active = [c for c in plan.cases if c not in finished]
                if not active:
                    break
                for group in round_order(active, rng):
                    ui.case_started(group[0])
                    indices = [len(parts[c]) for c in group]
                    several: dict[str, Any] = {"nodes": plan.nodes} if plan.nodes else {}
                    got = run_round(group, policy, round_, indices, plan.timeout_s, **several)
                    overhead.add(got)
                    for m in got:
                        parts[m.case].append(m)
                        if m.status != "ok":
                            finish(m.case, None)
                        else:
                            store.add_pending(run_id, round_, m)
                round_ += 1
        finally:
            ui.stop()
    overhead.wall_s = time.monotonic() - t0
    ui.log(overhead.line())
    return run_id, [finished[c] for c in plan.cases if c in finished]


def measurement_record(m: Measurement) -> dict[str, Any]:
    """A measurement with its statistics, as `run --json` prints it."""
    stats = m.stats()
    # NaN / inf (e.g. no CI with one process) become null: JSON has no such numbers.
    values = None if stats is None else {k: plain(v) for k, v in stats.to_dict().items()}
    return {**m.to_dict(), "stats": values}
