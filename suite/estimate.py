"""How long a plan will take, before it runs: `run --dry-run`, and the line `run` prints
before it starts.

A case costs, per process, its build, its warm-up and its timed steps; each round also
pays one worker start-up per framework (and device and thread setting). Where this
machine has measured the case before (the same case key in the result database, on a
machine with the same fingerprint), its step time and costs come from the latest such
result; otherwise the step time is guessed from the spec's MACs at a nominal rate and the
costs from nominal values. Processes count at the policy's minimum, so the estimate is a
lower bound whenever a case's CI asks for more.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from results.format import number
from vocab.case import Case
from vocab.runtimes import RUNTIMES, runtime
from vocab.spec import gmacs
from vocab.stats import TRAINING_MAC_FACTOR

if TYPE_CHECKING:
    from results.store import Store
    from suite.session import Plan

# Nominal values for a case this machine has never measured (deliberately round numbers).
GUESS_FLOPS = {"cpu": 150e9, "cuda": 100e12}  # sustained FLOP/s of a ResNet step
GUESS_BUILD_S = 1.0
# First step: compilers trace and compile (each runtime's record guesses its executions');
# on a GPU, eager pays cuDNN autotuning (1.2-6.9 s measured on an H100, issue 10).
GUESS_CUDA_FIRST_STEP_S = 3.0
GUESS_STARTUP_S = {name: r.startup_s for name, r in RUNTIMES.items()}
PROBES_S = 15.0  # framework probes and the matmul ceiling, once per run


@dataclass(frozen=True)
class CaseEstimate:
    case: Case
    step_s: float
    source: str  # "run N" (measured here before) or "guess"
    per_process_s: float  # build + warm-up + timed steps
    processes: int  # the policy's minimum

    @property
    def total_s(self) -> float:
        return self.per_process_s * self.processes


@dataclass(frozen=True)
class PlanEstimate:
    cases: list[CaseEstimate]
    startup_s: float  # worker start-ups over the rounds
    probes_s: float

    @property
    def total_s(self) -> float:
        return sum(c.total_s for c in self.cases) + self.startup_s + self.probes_s

    def line(self) -> str:
        measured = sum(c.source != "guess" for c in self.cases)
        return (
            f"estimated at least {self.total_s / 60:.1f} min for {len(self.cases)} case(s) "
            f"({measured} timed from earlier runs on this machine, "
            f"{len(self.cases) - measured} guessed from their MACs)"
        )


def guess_step_s(case: Case) -> float:
    device = "cuda" if case.is_cuda else "cpu"
    factor = TRAINING_MAC_FACTOR if case.mode == "training" else 1.0
    flops = 2e9 * gmacs(case.depth, case.image_size, case.num_classes) * factor
    return flops * case.batch_size / GUESS_FLOPS[device]


def guess_first_step_s(case: Case, step_s: float, processes: int = 1) -> float:
    """Per process, over `processes`. Compilers trace every layer (their cost grows with
    depth); cuDNN autotunes each distinct conv shape once, and the depths share shapes."""
    record = runtime(case.framework)
    compiled = dict(record.first_step_s)
    if case.execution in compiled:
        first = compiled[case.execution]
        later = dict(record.cached_first_step_s).get(case.execution, first)
        mean = (first + (processes - 1) * later) / max(processes, 1)
        return mean * case.depth / 50 + step_s
    return (GUESS_CUDA_FIRST_STEP_S if case.is_cuda else 0.0) + step_s


def _per_process(plan: Plan, case: Case, step_s: float, setup_s: float | None) -> float:
    """Build + warm-up (`setup_s` as measured, else from the policy) + the timed steps."""
    p = plan.policy
    if setup_s is None:
        warm_steps = max(p.min_warmup, 2 * p.warmup_window + 1) if p.warmup_window else 1
        warm = max((warm_steps - 1) * step_s, p.warmup_time_s(case.device))
        first = guess_first_step_s(case, step_s, p.min_processes)
        setup_s = GUESS_BUILD_S + first + warm
    return setup_s + max(p.min_samples * step_s, p.min_time_s)


def estimate(
    plan: Plan, history: dict[tuple[object, ...], tuple[float, float, int]]
) -> PlanEstimate:
    """`history`: case key -> (step s, build s, run id) measured on this machine."""
    from suite.session import worker_groups

    rows = []
    for case in plan.cases:
        found = history.get(case.key())
        setup: float | None
        if found is not None:
            step, setup, run_id = found
            source = f"run {run_id}"
        else:
            step, setup, source = guess_step_s(case), None, "guess"
        per = _per_process(plan, case, step, setup)
        rows.append(CaseEstimate(case, step, source, per, plan.policy.min_processes))
    startup = plan.policy.min_processes * sum(
        GUESS_STARTUP_S.get(key[0], 3.0) for key in worker_groups(plan.cases)
    )
    return PlanEstimate(rows, startup, PROBES_S)


def history_from(
    store: Store, cases: Sequence[Case]
) -> dict[tuple[object, ...], tuple[float, float, int]]:
    """The latest ok result of each case on this machine: (value s, build + warm-up s per
    process, run id). Build and warm-up come from its processes where they were stored."""
    import results
    from results.metadata import machine_fingerprint
    from runners.host import machine_info
    from vocab.case import CASE_FIELDS

    here = machine_fingerprint(machine_info())
    runs = [r.id for r in store.list_runs() if r.machine["fingerprint"] == here]
    if not runs:
        return {}
    df = results.load(store, runs)  # this machine's runs only: a shared database is large
    df = df[df["status"] == "ok"]
    wanted = {c.key() for c in cases}
    latest: dict[tuple[object, ...], dict[Any, Any]] = {}
    for rec in df.sort_values("run_id").to_dict("records"):
        key = tuple(rec[f] for f in CASE_FIELDS)
        if key in wanted and not math.isnan(number(rec.get("value_s"))):
            latest[key] = rec
    if not latest:
        return {}
    procs = results.load_processes(store, sorted({int(str(r["run_id"])) for r in latest.values()}))
    setup = (
        (procs["build_s"].fillna(0.0) + procs["warmup_s"].fillna(0.0))
        .groupby(procs["result_id"])
        .mean()
    )
    out: dict[tuple[object, ...], tuple[float, float, int]] = {}
    for key, rec in latest.items():
        rid = int(str(rec["result_id"]))
        cost = float(setup[rid]) if rid in setup.index else _or(rec.get("build_s"), GUESS_BUILD_S)
        out[key] = (float(str(rec["value_s"])), cost, int(str(rec["run_id"])))
    return out


def _or(value: object, default: float) -> float:
    x = number(value)
    return default if math.isnan(x) else x
