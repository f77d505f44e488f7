"""One benchmark run: probe the frameworks, then rounds of worker processes, each case's
result committed to the store as soon as the case is finished.

    profile/flags -> [Case] -> rounds -> worker(cases of one framework) -> Measurement
                  -> merge per case -> store (one transaction per case)

The process is the unit of replication (vocab.stats). Round r measures every unfinished
case once more, each in a fresh worker; the order within a round (which framework's worker
goes first, and the cases inside each worker) is shuffled with the run's recorded seed, so
that drift on the machine hits every case alike. After `min_processes` rounds a case gets
more only while its CI between processes misses the target (vocab.sampling.stop_reason).
Each process of an unfinished case is kept in the store as pending, so `--resume` of a
killed run continues those cases instead of starting them over.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict, cast

from results.dbfile import DatabaseReplacedError
from results.engine import StoreError
from results.environment import (
    EnvironmentInfo,
    NamedEnvironment,
    environment_info,
    relevant_env_vars,
)
from results.format import plain
from results.redact import redact_env
from results.store import DuplicateResultError, Store
from runners import host
from runners.host import MachineInfo, SystemState
from runners.manager import probe, run_round, spawn, worker_env
from runners.probe import CeilingInfo
from runners.registry import missing
from suite.batch_search import BatchSearch, stored_rates
from suite.environments import EnvError, EnvSpec, not_installed
from suite.overhead import Overhead
from suite.scheduler import Scheduler, round_order, worker_groups
from vocab.case import FRAMEWORKS, Case
from vocab.measurement import Measurement
from vocab.messages import Nodes, PlanRecord
from vocab.runtimes import RUNTIMES, runtime
from vocab.sampling import SamplingPolicy

__all__ = ["Plan", "Scheduler", "execute", "round_order", "worker_groups"]

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
    nodes: Nodes | None = None  # several nodes (this is node 0)
    # An A/B run's environments (--env); the cases carry their names. [] : one, as ever.
    environments: list[EnvSpec] = field(default_factory=list)
    # suite.environments.check's answer (not stored): which frameworks each environment
    # has; None until checked (execute checks then).
    env_check: dict[str, dict[str, bool]] | None = None


@dataclass
class Context:
    machine: MachineInfo
    environment: EnvironmentInfo
    ceilings: list[CeilingInfo]
    system: SystemState | None = None  # governor, load: may disturb a run
    device_skips: dict[tuple[str, str], str] = field(default_factory=dict)  # (fw, device)
    warnings: list[str] = field(default_factory=list)
    # An A/B run: each environment's software, probed inside it, and what it cannot run
    # ((env, framework, device) -> reason).
    named: list[NamedEnvironment] = field(default_factory=list)
    env_skips: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def skip_reason(self, case: Case) -> str | None:
        if case.env:
            return self.env_skips.get((case.env, case.framework, case.device))
        return self.device_skips.get((case.framework, case.device))


def gather_context(
    cases: Sequence[Case],
    log: Callable[[str], None],
    environments: Sequence[EnvSpec] = (),
    env_check: Mapping[str, Mapping[str, bool]] | None = None,
) -> Context:
    """Machine and environment facts; framework build info and ceilings from probes, in
    each environment of an A/B run (`environments`; `env_check`: which frameworks each
    has, suite.environments.check)."""
    frameworks = sorted({c.framework for c in cases}, key=FRAMEWORKS.index)
    devices = sorted({c.device for c in cases})
    threads = max(c.threads for c in cases)
    interop = max(c.interop_threads for c in cases)
    warnings: list[str] = []
    # Before the probes: their matmuls would raise the load average we look at.
    state = host.system_state()
    busy = host.busy_warning(state)
    if busy:
        warnings.append(busy)
    ceilings: list[CeilingInfo] = []

    def probed(
        env: EnvSpec | None, has: Mapping[str, bool] | None
    ) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], str]]:
        """Build info and device skips of each framework in one environment, and the
        environment's ceilings (from its first framework that measures them: a variable
        such as ONEDNN_MAX_CPU_ISA changes what the machine can do for that environment)."""
        info: dict[str, dict[str, Any]] = {}
        skips: dict[tuple[str, str], str] = {}
        where = "" if env is None else f" in environment {env.name}"
        measured = False
        for fw in frameworks:
            if env is None or has is None:
                absent = missing(fw)
            else:
                absent = None if has.get(fw) else not_installed(env, fw, runtime(fw).extra)
            if absent is not None:  # its cases are skipped, naming the extra; no worker
                skips.update({(fw, device): absent for device in devices})
                warnings.append(absent)
                continue
            log(f"probing {fw}{where} ({', '.join(devices)})")
            found = probe(
                fw, devices, threads, interop, ceiling=not measured,
                python=None if env is None else env.python,
                variables=None if env is None else env.vars,
            )  # fmt: skip
            info[fw] = {"version": found["version"], **found["info"]}
            for c in found["ceilings"]:
                ceilings.append(c if env is None else {**c, "env": env.name})
                measured = True
            for device, reason in found["device_skips"].items():
                skips[(fw, device)] = reason
            if found["error"]:
                warnings.append(f"{fw}{where}: {found['error']}")
        return info, skips

    named: list[NamedEnvironment] = []
    env_skips: dict[tuple[str, str, str], str] = {}
    for env in environments:
        has = None if env_check is None else env_check.get(env.name)
        info, skips = probed(env, has)
        env_skips.update({(env.name, fw, dev): why for (fw, dev), why in skips.items()})
        record = env.record()
        named.append(
            {
                "name": record["name"],
                "python": record["python"],
                "variables": record["variables"],
                "software": env_software(env, info, threads, interop),
            }
        )
    if named:  # the run's own environment is its first named one's
        return Context(
            host.machine_info(), named[0]["software"], ceilings, state, {}, warnings, named,
            env_skips,
        )  # fmt: skip
    framework_info, device_skips = probed(None, None)
    # The variables the workers get (thread counts included), not just the parent's.
    environment = environment_info(framework_info=framework_info, env=worker_env(threads, interop))
    return Context(host.machine_info(), environment, ceilings, state, device_skips, warnings)


def env_software(
    env: EnvSpec, framework_info: dict[str, dict[str, Any]], threads: int, interop: int
) -> EnvironmentInfo:
    """One environment's software, probed with its interpreter and variables (python and
    library versions, the checkout), its frameworks' build info, and the variables its
    workers get, its own included."""
    variables = worker_env(threads, interop, env.python, env.vars)
    outcome = spawn("results.environment", "", variables, 120.0, env.python)  # no request
    if outcome.data is None:
        raise EnvError(
            f"environment {env.name!r}: {env.executable} could not describe its software: "
            f"{outcome.stderr_tail or f'exit status {outcome.returncode}'}"
        )
    software = cast(EnvironmentInfo, outcome.data)
    software["framework_info"] = framework_info
    software["env_vars"] = {**relevant_env_vars(variables), **redact_env(env.vars)}
    return software


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
        environments=context.named,
    )


@contextmanager
def _finishing(store: Store, run_id: int) -> Iterator[None]:
    """Mark the run 'finished' after the block, 'interrupted' or 'failed' if it raises."""
    try:
        yield
    except (KeyboardInterrupt, DatabaseReplacedError):  # resumable (from the recovery file)
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


def plan_record(plan: Plan, cases: Sequence[Case] | None = None) -> PlanRecord:
    """What --resume needs to rebuild the plan (`cases`: instead of the plan's own)."""
    return PlanRecord(
        cases=tuple(plan.cases if cases is None else cases),
        policy=plan.policy,
        timeout_s=plan.timeout_s,
        seed=plan.seed,
        batch_search=None if plan.batch_search is None else plan.batch_search.to_dict(),
        environments=tuple(e.to_dict() for e in plan.environments),
    )


def resume_plan(store: Store, run_id: int) -> Plan:
    """The cases of run `run_id` not stored yet (the store raises for an unknown run)."""
    run = store.get_run(run_id)
    stored = store.get_plan(run_id)
    if stored is None:
        raise StoreError(f"run {run_id} stored no plan (source {run.source}); it cannot be resumed")
    if stored.policy is None or stored.timeout_s is None:
        raise StoreError(f"run {run_id}'s stored plan has no sampling policy; it cannot be resumed")
    done = store.finished_keys(run_id)
    plan = Plan(
        cases=[c for c in stored.cases if c.key() not in done],
        policy=stored.policy,
        timeout_s=stored.timeout_s,
        profile=run.profile or "",
        label=run.label,
        command=run.command or "",
    )
    # Plans stored before replication by processes carry no seed; they resume with a new one.
    if stored.seed is not None:
        plan.seed = stored.seed
    if stored.batch_search is not None:
        plan.batch_search = BatchSearch.from_dict(stored.batch_search)
    plan.environments = [EnvSpec.from_dict(e) for e in stored.environments]
    return plan


def claim(store: Store, plan: Plan, run_id: int) -> None:
    """Take run `run_id` for this process before anything is measured (one transaction:
    of two resumes at once, the second gets RunBusyError naming the owner and leaves the
    run as it is), then keep only the plan's cases still unfinished under the claim: a
    resume that ended meanwhile may have stored some."""
    store.reopen_run(run_id, machine=host.machine_info())
    done = store.finished_keys(run_id)
    plan.cases = [c for c in plan.cases if c.key() not in done]


class _Recorder:
    """The scheduler's side effects: the store and the progress display."""

    def __init__(self, store: Store, run_id: int, plan: Plan, ui: UI) -> None:
        self.store, self.run_id, self.plan, self.ui = store, run_id, plan, ui

    def finished(self, m: Measurement) -> None:
        try:
            self.store.add_result(self.run_id, m)
        except DuplicateResultError as exc:  # stored by another process: keep that one
            self.ui.log(f"warning: {exc}")
        self.ui.case_done(m)

    def pending(self, round_: int, m: Measurement) -> None:
        self.store.add_pending(self.run_id, round_, m)

    def grown(self, planned: Sequence[Case], added: Sequence[Case]) -> None:
        self.store.set_plan(self.run_id, plan_record(self.plan, planned))
        self.ui.add_cases(len(added))


def check_environments(plan: Plan) -> None:
    """suite.environments.check for the plan's environments, once (EnvError on a bad
    interpreter): before any worker starts and before anything is written."""
    if plan.environments and plan.env_check is None:
        from suite.environments import check

        threads = max(c.threads for c in plan.cases) if plan.cases else 1
        base = worker_env(threads, 1)
        plan.env_check = check(plan.environments, {n: r.package for n, r in RUNTIMES.items()}, base)


class _Where(TypedDict, total=False):
    """Where a round's workers run, beyond this run's own defaults (runners.manager)."""

    nodes: Nodes
    python: str | None
    variables: Mapping[str, str]


def execute(
    store: Store, plan: Plan, ui: UI, resume: int | None = None
) -> tuple[int | None, list[Measurement]]:
    """Measure every case of the plan in interleaved rounds (suite.scheduler), committing
    each case's result as soon as it needs no more processes. Returns the run id (None
    when nothing was left to run) and the measurements, in plan order."""
    t0 = time.monotonic()
    if resume is not None:
        claim(store, plan, resume)
    if not plan.cases:
        ui.log("nothing to run: every case of the plan is finished")
        if resume is not None:
            store.finish_run(resume, "finished")  # claimed: it ends as what it is
        return resume, []
    try:
        check_environments(plan)
        context = gather_context(plan.cases, ui.log, plan.environments, plan.env_check)
    except BaseException:
        if resume is not None:
            store.finish_run(resume, "interrupted")  # claimed, nothing measured: resumable
        raise
    for warning in context.warnings:
        ui.log(f"warning: {warning}")
    overhead = Overhead()
    specs = {e.name: e for e in plan.environments}
    with recorded_run(store, plan, context, resume) as run_id:
        rates: dict[Case, float | None] = {}  # a batch search's finished cases
        if plan.batch_search is not None and resume is not None:
            rates = stored_rates(store, run_id)
        sched = Scheduler(
            plan.cases,
            plan.policy,
            plan.seed,
            _Recorder(store, run_id, plan, ui),
            batch_search=plan.batch_search,
            rates=rates,
            pending=store.pending(run_id) if resume is not None else (),
        )
        policy = plan.policy
        envs = f", environments {', '.join(specs)}" if specs else ""
        ui.log(
            f"run {run_id}: {len(plan.cases)} case(s){envs}, profile {plan.profile}, "
            f"{policy.min_processes}-{policy.max_processes} processes per case, seed {plan.seed}"
        )
        ui.start(len(plan.cases))
        try:
            for case in sched.cases:
                skip = context.skip_reason(case)
                if skip is not None:
                    sched.skip(case, skip)
            while groups := sched.next_round():
                for group in groups:
                    ui.case_started(group[0])
                    indices = [sched.processes(c) for c in group]
                    where: _Where = {} if plan.nodes is None else {"nodes": plan.nodes}
                    env = specs.get(group[0].env)
                    if env is not None:
                        where["python"], where["variables"] = env.python, env.vars
                    got = run_round(group, policy, sched.round, indices, plan.timeout_s, **where)
                    overhead.add(got)
                    sched.record(got)
        finally:
            ui.stop()
        plan.cases = list(sched.cases)  # the grown ones too (a batch search)
    overhead.wall_s = time.monotonic() - t0
    ui.log(overhead.line())
    return run_id, sched.measurements()


def measurement_record(m: Measurement) -> dict[str, Any]:
    """A measurement with its statistics, as `run --json` prints it."""
    stats = m.stats()
    # NaN / inf (e.g. no CI with one process) become null: JSON has no such numbers.
    values = None if stats is None else {k: plain(v) for k, v in stats.to_dict().items()}
    return {**m.to_dict(), "stats": values}
