"""`resnet-bench run`: expand a profile into cases, measure each in a worker, store each."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from results.format import fmt, fmt_ci, fmt_precision, ms
from results.redact import redact_argv
from suite import session
from suite.batch_search import BatchSearch
from suite.cli import common, nodes, show_cmd, storage
from suite.cli.common import UsageError, add_storage_options, db_url, output_dir, workers_output
from suite.cli.terminal import say, stderr_console
from suite.cli.values import _batch_sizes, _csv, _depth, _env, _ints, _seconds
from suite.cli.values import _int as _int  # calibrate takes it from here
from suite.environments import unique
from suite.profiles import DEFAULT_EXECUTION, load_profile, profile_names
from suite.session import Plan
from vocab.case import (
    ALL_EXECUTIONS,
    DEVICE_HELP,
    FRAMEWORKS,
    MODES,
    PRECISIONS,
    Case,
)
from vocab.measurement import Measurement

if TYPE_CHECKING:
    from suite.estimate import PlanEstimate
from vocab.runtimes import RUNTIMES
from vocab.spec import DEPTHS

EXECUTIONS_HELP = "; ".join(f"{n}: {', '.join(r.executions)}" for n, r in RUNTIMES.items())
SEARCH_NOTE = (
    "batch search: each group starts at batch 1 and doubles while throughput gains "
    ">= {gain:.0%} (until oom); the estimate covers the first batch only"
)
HELP = "run benchmark cases (a profile, narrowed or widened by flags) and store the results"


def default_profile() -> str:
    """`gpu` (bounded) where an NVIDIA GPU is visible (NVML), `quick` elsewhere."""
    from runners.nvml import gpu_devices

    return "gpu" if gpu_devices() else "quick"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_plan_arguments(p)
    p.add_argument(
        "--resume",
        type=_int("run id"),
        metavar="RUN_ID",
        help="run only the cases of that run not yet finished, under its stored plan: the "
        "plan flags (--profile, the case axes, --processes, --timeout, --label, ...) are "
        "refused with it; only --max-time applies",
    )
    p.add_argument(
        "--report", action="store_true", help="write the HTML report afterwards and print its path"
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list the cases with an estimated duration and stop (nothing is run or stored)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the measurements as JSON on stdout (logs go to stderr)",
    )
    nodes.add_arguments(p)
    add_storage_options(p)


def add_plan_arguments(p: argparse.ArgumentParser) -> None:
    """What makes a plan: profile, case axes, measurement settings, label (run, calibrate).
    The flags added here are remembered (common.plan_flags_given) so that a command that keeps a
    stored plan can refuse them, whichever are added later."""
    first = len(p._actions)
    _add_plan_arguments(p)
    p.set_defaults(_plan_actions=p._actions[first:])


def _add_plan_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--profile",
        metavar="NAME|PATH",
        help=f"built-in profile ({', '.join(profile_names())}) or a TOML file "
        "(default: gpu on an NVIDIA GPU host, quick elsewhere)",
    )
    axes = p.add_argument_group("case axes (comma lists; each replaces the profile's)")
    axes.add_argument(
        "--frameworks", type=_csv(str, "frameworks"), help=f"allowed: {', '.join(FRAMEWORKS)}"
    )
    axes.add_argument(
        "--depths", type=_csv(_depth, "depths"), help=f"allowed: {', '.join(map(str, DEPTHS))}"
    )
    axes.add_argument(
        "--batch-sizes",
        type=_batch_sizes,
        help="positive integers, or auto: from 1, double while throughput gains >= 3%% (until oom)",
    )
    axes.add_argument("--devices", type=_csv(str, "devices"), help=f"allowed: {DEVICE_HELP}")
    axes.add_argument("--modes", type=_csv(str, "modes"), help=f"allowed: {', '.join(MODES)}")
    axes.add_argument(
        "--precisions", type=_csv(str, "precisions"), help=f"allowed: {', '.join(PRECISIONS)}"
    )
    axes.add_argument(
        "--executions",
        type=_csv(str, "executions"),
        help=f"allowed: {DEFAULT_EXECUTION}, {', '.join(ALL_EXECUTIONS)} ({EXECUTIONS_HELP})",
    )
    axes.add_argument("--image-size", type=_int("image size"), help="pixels per side (default 224)")
    axes.add_argument(
        "--threads",
        type=_int("threads"),
        help="intra-op threads for both frameworks (default: usable cores)",
    )
    axes.add_argument(
        "--replicas",
        type=_ints("replicas"),
        help="data-parallel processes per training case (default 1); the batch size is per "
        "replica and the threads are split across them",
    )
    run = p.add_argument_group("measurement")
    run.add_argument(
        "--processes",
        type=_int("processes"),
        metavar="N",
        help="at least N fresh worker processes per case, in interleaved rounds "
        "(default: the profile's min_processes)",
    )
    run.add_argument(
        "--max-processes",
        type=_int("max processes"),
        metavar="N",
        help="at most N processes per case while its CI misses the target",
    )
    run.add_argument(
        "--timeout",
        type=_seconds("timeout"),
        metavar="SECONDS",
        help="kill a worker when one case runs longer than this",
    )
    run.add_argument(
        "--max-time",
        type=_seconds("max time"),
        metavar="SECONDS",
        help="no more processes for a case once its measured time reaches this "
        "(default: the profile's)",
    )
    p.add_argument(
        "--env",
        action="append",
        type=_env,
        metavar="NAME=SPEC",
        help="an environment to run every case in (repeat for A/B in one run); SPEC is "
        "/path/bin/python, VAR=V[,VAR=V...], or /path/bin/python:VAR=V[,...]; replaces the "
        "profile's [environments]",
    )
    p.add_argument("--label", help="a label stored with the run")


def make_plan(args: argparse.Namespace) -> Plan:
    """The plan of the profile and flags (ProfileError / CaseError on bad input)."""
    search = BatchSearch() if args.batch_sizes == "auto" else None
    profile = load_profile(args.profile or default_profile())
    profile = profile.with_overrides(
        frameworks=args.frameworks,
        depths=args.depths,
        batch_sizes=None if search else args.batch_sizes,
        devices=args.devices,
        modes=args.modes,
        precisions=args.precisions,
        executions=args.executions,
        replicas=args.replicas,
        image_size=args.image_size,
        threads=args.threads,
        min_processes=args.processes,
        max_processes=args.max_processes,
        max_time_s=args.max_time,
        timeout_s=args.timeout,
        environments=None if not getattr(args, "env", None) else unique(args.env),
    )
    cases = profile.cases()
    if search is not None:
        cases = search.first_cases(cases)
    return Plan(
        cases=cases,
        batch_search=search,
        policy=profile.sampling,
        timeout_s=profile.timeout_s,
        profile=profile.name,
        label=args.label,
        command=redact_argv(["resnet-bench", *sys.argv[1:]]),  # no password stored
        environments=list(profile.environments),
    )


def _estimate(plan: Plan, store: Any) -> PlanEstimate:
    from suite.estimate import estimate, history_from

    return estimate(plan, {} if store is None else history_from(store, plan.cases))


def dry_run(plan: Plan, url: str) -> int:
    """The plan's cases with their estimated durations; nothing is run or written."""
    from results.engine import StoreError
    from results.store import open_store

    try:
        store = open_store(url, create=False)
    except StoreError:
        store = None  # no database yet: every case is a guess
    try:
        est = _estimate(plan, store)
    finally:
        if store is not None:
            store.close()
    table = Table(title=f"plan: profile {plan.profile}, {len(plan.cases)} case(s)")
    for col in ("case", "step ms", "from", "s per process", "processes", "s"):
        table.add_column(col, justify="left" if col in ("case", "from") else "right")
    for c in est.cases:
        table.add_row(
            c.case.label(),
            f"{c.step_s * 1e3:.1f}",
            c.source,
            f"{c.per_process_s:.1f}",
            f">= {c.processes}",
            f"{c.total_s:.0f}",
        )
    out = storage.console()
    out.print(table)
    for line in memory_warnings(plan.cases):  # what the real run would warn about, too
        out.print(line)
    out.print(f"{est.line()}; worker start-ups {est.startup_s:.0f} s, probes {est.probes_s:.0f} s")
    if plan.batch_search is not None:
        out.print(SEARCH_NOTE.format(gain=plan.batch_search.min_gain))
    return 0


def refuse_memory_database(url: str) -> None:
    """A run's results must outlive it: `sqlite://` / `sqlite:///:memory:` would vanish."""
    rest = url.split("://", 1)[1] if "://" in url else url
    if url.startswith("sqlite") and rest.lstrip("/") in ("", ":memory:"):
        raise UsageError(
            f"--db {url!r} is an in-memory database: the results would vanish when the run "
            "ends; give a file (sqlite:///path/results.sqlite) or a server URL"
        )


def memory_warnings(cases: list[Case]) -> list[str]:
    """Cases whose activations alone would not fit the device's (or the host's) memory:
    warned about before the run, still run (the worker reports oom honestly)."""
    import psutil

    from runners.nvml import gpu_devices
    from vocab.spec import activation_bytes

    host = int(psutil.virtual_memory().total)
    gpus = {int(g.get("index", 0)): g.get("memory_bytes") for g in gpu_devices()}
    out = []
    for c in cases:
        need = activation_bytes(c.depth, c.image_size, c.batch_size, c.mode, c.precision)
        index = int(c.device.partition(":")[2] or 0)
        have = gpus.get(index) if c.is_cuda else host
        if have and need > have:
            where = c.device if c.is_cuda else "this host"
            out.append(
                f"warning: {c.label()} needs at least {need / 2**30:.0f} GiB of activations, "
                f"more than {where}'s {have / 2**30:.0f} GiB; it will likely end as oom"
            )
    return out


def run(args: argparse.Namespace) -> int:
    from results.report import write_report
    from results.store import open_store
    from suite.cli.report_cmd import REPORT_FILENAME, print_path

    where = nodes.check(args)
    if where is not None and where.node_rank > 0:
        # Another node: it runs whatever node 0 announces; node 0 plans and stores.
        return nodes.command("follow", where.nnodes, where.node_rank, where.rdzv_endpoint)
    if args.resume is not None:
        if args.dry_run:
            raise UsageError("--dry-run lists a new plan; it does not go with --resume")
        common.refuse_plan_flags(
            args,
            "--resume: a resumed run keeps its stored plan (only --max-time applies); "
            "start a new run to change it",
            ("--max-time",),  # what --resume applies to a stored plan
        )
    plan = None if args.resume is not None else make_plan(args)  # bad input: before the DB
    if args.dry_run:
        assert plan is not None
        return dry_run(plan, db_url(args))
    refuse_memory_database(db_url(args))
    if plan is not None:
        session.check_environments(plan)  # a bad interpreter: before anything is written
        for line in memory_warnings(plan.cases):
            say(line, sys.stderr)
    with open_store(db_url(args), create=args.resume is None) as store:
        if plan is None:
            plan = session.resume_plan(store, args.resume)
            session.check_environments(plan)
            # Claimed before anything is printed: a second resume gets one line, naming
            # the owner (execute claims again, a no-op for the owner).
            session.claim(store, plan, args.resume)
        if args.max_time is not None:
            plan.policy = dataclasses.replace(plan.policy, max_time_s=args.max_time)
        plan.nodes = where
        console = stderr_console()
        console.print(_estimate(plan, store).line(), markup=False, highlight=False)
        if plan.batch_search is not None:
            console.print(
                SEARCH_NOTE.format(gain=plan.batch_search.min_gain), markup=False, highlight=False
            )
        try:
            with workers_output(args):
                run_id, measurements = session.execute(
                    store, plan, resume=args.resume, ui=RichProgress(console)
                )
        finally:
            if where is not None:
                nodes.command("end", where.nnodes, where.rdzv_endpoint)
        if args.json:
            json.dump([session.measurement_record(m) for m in measurements], sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            show_cmd.print_run_answer(storage.console(), store, run_id)  # as `show` leads
            storage.console().print(summary_table(measurements))
        if args.report and run_id is not None:
            # This run in detail, earlier runs on this machine as context.
            path = write_report(store, output_dir(args) / REPORT_FILENAME, anchor=run_id)
            print_path(path, sys.stderr if args.json else sys.stdout)
    return 0


class RichProgress:
    """Progress bar with the current case and an ETA, on stderr."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task: TaskID | None = None

    def log(self, message: str) -> None:
        self.console.print(message, markup=False, highlight=False)

    def start(self, total: int) -> None:
        self.progress.start()
        self.task = self.progress.add_task("starting", total=total)

    def case_started(self, case: Case) -> None:
        assert self.task is not None
        self.progress.update(self.task, description=case.label())

    def add_cases(self, count: int) -> None:
        assert self.task is not None
        total = self.progress.tasks[0].total or 0
        self.progress.update(self.task, total=total + count)

    def case_done(self, m: Measurement) -> None:
        assert self.task is not None
        self.progress.advance(self.task)
        if m.status != "ok":
            self.log(f"{m.case.label()}: {m.status}: {m.reason}")

    def stop(self) -> None:
        self.progress.update(self.task or TaskID(0), description="done")
        self.progress.stop()


def summary_table(measurements: list[Measurement]) -> Table:
    table = Table(
        title="resnet-bench results (ms/step: geometric mean of per-process medians, "
        "95% CI between processes)"
    )
    cols = ("case", "status", "ms/step [95% CI]", "+/-", "img/s", "GMAC/s", "procs", "note")
    for col in cols:
        left = col in ("case", "status", "note")
        table.add_column(col, justify="left" if left else "right", no_wrap=col != "note")
    for m in measurements:
        s = m.stats()
        if s is None:
            table.add_row(m.case.label(), m.status, "", "", "", "", "", m.reason or "")
            continue
        table.add_row(
            m.case.label(),
            m.status,
            fmt_ci(ms(s.value_s), ms(s.ci_low_s), ms(s.ci_high_s)),
            fmt_precision(s.ci_rel, m.ci_target),
            fmt(s.images_per_s),
            fmt(s.gmacs_per_s),
            str(s.processes),
            "; ".join(f.text() for f in s.flags),
        )
    return table
