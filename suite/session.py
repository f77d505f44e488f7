"""One benchmark run: probe the frameworks, then each case in its own worker, each result
committed to the store as soon as it exists.

    profile/flags -> [Case] -> worker(case) -> Measurement -> store (one transaction per case)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from results import metadata
from results.store import Store, StoreError
from runners.manager import probe, run_case, worker_env
from runners.measurement import Measurement
from runners.stats import Stats, summarize
from runners.timing import SamplingPolicy
from suite.case import Case

# Prefer torch for the matmul ceiling (it can tell native CPU bf16 from emulated).
CEILING_FRAMEWORKS = ("torch", "tensorflow")


@dataclass
class Plan:
    cases: list[Case]
    policy: SamplingPolicy
    timeout_s: float
    processes: int
    profile: str
    label: str | None = None
    command: str = ""
    source: str = "cli"


@dataclass
class Context:
    machine: dict[str, Any]
    environment: dict[str, Any]
    ceilings: list[dict[str, Any]]
    system: dict[str, Any] = field(default_factory=dict)  # governor, load: may disturb a run
    device_skips: dict[tuple[str, str], str] = field(default_factory=dict)  # (fw, device)
    warnings: list[str] = field(default_factory=list)


def gather_context(cases: Sequence[Case], log: Callable[[str], None]) -> Context:
    """Machine and environment facts; framework build info and ceilings from probes."""
    frameworks = sorted({c.framework for c in cases}, key=CEILING_FRAMEWORKS.index)
    devices = sorted({c.device for c in cases})
    threads = max(c.threads for c in cases)
    interop = max(c.interop_threads for c in cases)
    framework_info: dict[str, dict[str, Any]] = {}
    ceilings: list[dict[str, Any]] = []
    skips: dict[tuple[str, str], str] = {}
    warnings: list[str] = []
    # Before the probes: their matmuls would raise the load average we look at.
    state = metadata.system_state()
    busy = metadata.busy_warning(state)
    if busy:
        warnings.append(busy)
    for fw in frameworks:
        log(f"probing {fw} ({', '.join(devices)})")
        found = probe(fw, devices, threads, interop, ceiling=not ceilings)
        framework_info[fw] = {"version": found.get("version"), **found.get("info", {})}
        ceilings.extend(found.get("ceilings", []))
        for device, reason in (found.get("device_skips") or {}).items():
            skips[(fw, device)] = reason
        if found.get("error"):
            warnings.append(f"{fw}: {found['error']}")
    # The variables the workers get (thread counts included), not just the parent's.
    environment = metadata.environment_info(
        framework_info=framework_info, env=worker_env(threads, interop)
    )
    return Context(metadata.machine_info(), environment, ceilings, state, skips, warnings)


def measure(case: Case, plan: Plan, context: Context) -> Measurement:
    """One case, with GPU state around it; a device the machine lacks is never run."""
    skip = context.device_skips.get((case.framework, case.device))
    if skip is not None:
        return Measurement.failed(case, "skipped", skip)
    before = metadata.gpu_snapshot()
    result = run_case(case, plan.policy, plan.timeout_s, plan.processes)
    after = metadata.gpu_snapshot()
    if before is not None and after is not None:
        result.gpu_before = {"gpus": before}
        result.gpu_after = {"gpus": after}
        result.throttled = metadata.throttled(before, after)
    return result


@contextmanager
def recorded_run(
    store: Store, plan: Plan, context: Context, resume: int | None = None
) -> Iterator[int]:
    """A new run (or `resume`, reopened) that ends 'finished', or 'interrupted' / 'failed'
    if the body raises; each result inside was committed on its own already."""
    if resume is None:
        run_id = store.begin_run(
            label=plan.label,
            command=plan.command,
            profile=plan.profile,
            source=plan.source,
            machine=context.machine,
            environment=context.environment,
            ceilings=context.ceilings,
            system=context.system,
            plan=plan_record(plan),
        )
    else:
        run_id = store.reopen_run(resume, machine=context.machine).id
    try:
        yield run_id
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
    def stop(self) -> None: ...


def plan_record(plan: Plan) -> dict[str, Any]:
    """What --resume needs to rebuild the plan: stored with the run."""
    return {
        "cases": [c.to_dict() for c in plan.cases],
        "policy": plan.policy.to_dict(),
        "timeout_s": plan.timeout_s,
        "processes": plan.processes,
    }


def resume_plan(store: Store, run_id: int) -> Plan:
    """The cases of run `run_id` not stored yet (the store raises for an unknown run)."""
    run = store.get_run(run_id)
    stored = store.get_plan(run_id)
    if stored is None:
        raise StoreError(f"run {run_id} stored no plan (source {run.source}); it cannot be resumed")
    done = store.finished_keys(run_id)
    cases = [Case.from_dict(c) for c in stored["cases"]]
    return Plan(
        cases=[c for c in cases if c.key() not in done],
        policy=SamplingPolicy.from_dict(stored["policy"]),
        timeout_s=float(stored["timeout_s"]),
        processes=int(stored["processes"]),
        profile=run.profile or "",
        label=run.label,
        command=run.command or "",
    )


def execute(
    store: Store, plan: Plan, ui: UI, resume: int | None = None
) -> tuple[int | None, list[Measurement]]:
    """Measure every case of the plan, committing each result as soon as it exists.
    Returns the run id (None when nothing was left to run) and the measurements."""
    results: list[Measurement] = []
    if not plan.cases:
        ui.log("nothing to run: every case of the plan is finished")
        return resume, results
    context = gather_context(plan.cases, ui.log)
    for warning in context.warnings:
        ui.log(f"warning: {warning}")
    with recorded_run(store, plan, context, resume) as run_id:
        ui.log(f"run {run_id}: {len(plan.cases)} case(s), profile {plan.profile}")
        ui.start(len(plan.cases))
        try:
            for case in plan.cases:
                ui.case_started(case)
                m = measure(case, plan, context)
                store.add_result(run_id, m)
                results.append(m)
                ui.case_done(m)
        finally:
            ui.stop()
    return run_id, results


def statistics(m: Measurement) -> Stats | None:
    if m.status != "ok" or not m.samples_ns:
        return None
    return summarize(
        [s / 1e9 for s in m.samples_ns],
        m.case.batch_size,
        m.gmacs_per_image,
        m.case.mode,
        m.ci_target_met,
    )


def measurement_record(m: Measurement) -> dict[str, Any]:
    """A measurement with its statistics, as `run --json` prints it."""
    stats = statistics(m)
    return {**m.to_dict(), "stats": None if stats is None else stats.to_dict()}
