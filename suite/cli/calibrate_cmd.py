"""`resnet-bench calibrate`: learn each case's run-to-run variance on this machine from A/A runs.

    resnet-bench calibrate --profile quick --repeats 10    # run the plan 10 times, learn
    resnet-bench calibrate --from-runs 4,5,6,7,8           # learn from runs already stored

Runs of identical code differ from run to run by more than one run's CI between processes
shows (a neighbour that stays for an hour, the machine's memory layout after a reboot).
From at least MIN_RUNS checked A/A runs (the same commit, settings, threads, environment)
the variance of each case's run shift is kept per machine and thread count (results.noise);
run-vs-run `compare` then adds it to the ratio's standard error. It prints per case the
smallest change found at 80% at the runs' replication: run vs run and paired in one run.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from typing import Any

from rich.table import Table

from results.format import fmt_pct
from results.keys import MIN_RUNS, WARN_RUNS
from suite.cli.common import (
    UsageError,
    add_storage_options,
    db_url,
    refuse_plan_flags,
    workers_output,
)
from suite.cli.storage import console
from suite.cli.terminal import stderr_console

HELP = "run a plan several times (A/A) and store each case's run-to-run variance for compare"
DEFAULT_REPEATS = 10


def add_arguments(p: argparse.ArgumentParser) -> None:
    from suite.cli import run_cmd

    run_cmd.add_plan_arguments(p)
    p.add_argument(
        "--repeats",
        type=run_cmd._int("repeats"),
        metavar="N",
        help=f"runs of the plan (at least {MIN_RUNS}; default {DEFAULT_REPEATS})",
    )
    p.add_argument(
        "--from-runs",
        metavar="IDS",
        help="learn from these stored runs (comma list) instead of running a plan: the plan "
        "flags and --repeats are refused with it",
    )
    add_storage_options(p)


def _run_ids(text: str) -> list[int]:
    if not text.replace(",", "").strip():
        raise UsageError(f"--from-runs {text!r} is an empty list; give run ids like 3,4,5")
    try:
        ids = sorted({int(t) for t in text.split(",") if t.strip()})
    except ValueError:
        raise UsageError(f"bad --from-runs {text!r}; give run ids like 3,4,5") from None
    if len(ids) < MIN_RUNS:
        raise UsageError(f"--from-runs needs at least {MIN_RUNS} different runs, got {text!r}")
    return ids


def run(args: argparse.Namespace) -> int:
    import results
    from results.noise import NotAA, check_a_a, learn_run_variance
    from results.store import open_store
    from results.variances import store_run_variances
    from suite import session
    from suite.cli import run_cmd

    if args.from_runs is not None:
        # Stored runs are learnt from as they are: a flag that shapes a plan would be ignored.
        if args.repeats is not None:
            raise UsageError("--repeats does not go with --from-runs: the runs are already made")
        refuse_plan_flags(args, "--from-runs: the runs are learnt from as stored")
    repeats = DEFAULT_REPEATS if args.repeats is None else args.repeats
    if repeats < MIN_RUNS:
        raise UsageError(f"--repeats must be at least {MIN_RUNS}, got {repeats}")
    if args.batch_sizes == "auto":
        raise UsageError(
            "--batch-sizes auto searches; calibrate repeats fixed cases: give the batch sizes"
        )
    ids = _run_ids(args.from_runs) if args.from_runs is not None else None
    plan = None if ids is not None else run_cmd.make_plan(args)  # bad input: before the DB
    if plan is not None:
        run_cmd.refuse_memory_database(db_url(args))
    with open_store(db_url(args), create=ids is None) as store:
        if ids is None:
            assert plan is not None
            ids = []
            ui = run_cmd.RichProgress(stderr_console())
            for k in range(repeats):
                label = f"calibrate {k + 1}/{repeats}" + (f" {plan.label}" if plan.label else "")
                one = dataclasses.replace(plan, label=label, seed=plan.seed + k)
                with workers_output(args):
                    run_id, _ = session.execute(store, one, ui)
                if run_id is None:
                    raise UsageError("the plan has no cases to run")
                ids.append(run_id)
        store.check_runs(ids)
        machines = {store.get_run(r).machine["id"] for r in ids}
        if len(machines) != 1:
            raise UsageError(f"runs {ids} were measured on different machines")
        df = results.load(store, ids)
        try:
            check_a_a(df, ids)
        except NotAA as exc:
            raise UsageError(str(exc)) from None
        learnt = learn_run_variance(df, ids)
        if learnt.empty:
            raise UsageError(f"runs {ids} share no case that finished ok in {MIN_RUNS} of them")
        rows: list[dict[str, Any]] = [
            {str(k): v for k, v in r.items()} for r in learnt.to_dict("records")
        ]
        store_run_variances(store, machines.pop(), ids, rows)
    if len(ids) < WARN_RUNS:
        stderr_console().print(
            f"warning: {len(ids)} runs give each run variance {len(ids) - 1} degrees of freedom; "
            f"{WARN_RUNS} or more make the run-vs-run CIs tighter"
        )
    console().print(_table(rows, ids))
    return 0


def _table(rows: list[dict[str, Any]], ids: list[int]) -> Table:
    from results import power
    from suite.cli.compare_cmd import RUN_THRESHOLD, parse_threshold
    from vocab.comparison import PAIRED_THRESHOLD, RunShift

    run_threshold = parse_threshold(RUN_THRESHOLD)
    table = Table(
        title=f"run-to-run variance from runs {', '.join(map(str, ids))} (compare adds it to "
        "the CI); smallest change found at 80% at this replication, per case: run vs run "
        f"(threshold {fmt_pct(run_threshold)}) and paired in one run "
        f"(threshold {fmt_pct(PAIRED_THRESHOLD)})",
        title_justify="left",
    )
    for col in ("case", "runs", "processes", "sd processes", "sd between runs",
                "run shift sd", "run vs run", "paired"):  # fmt: skip
        table.add_column(col, justify="left" if col == "case" else "right")
    for r in rows:
        n, sd = float(r["processes"]), float(r["sd_process"])
        shift = RunShift(float(r["run_var"]), float(r["run_df"]), int(r["n_runs"]))
        table.add_row(
            str(r["case"]),
            str(r["n_runs"]),
            f"{n:g}",
            fmt_pct(sd),
            fmt_pct(r["sd_log"]),
            fmt_pct(math.sqrt(shift.var)),
            fmt_pct(power.run_vs_run(sd, n, sd, n, shift, run_threshold)),
            fmt_pct(power.paired(math.sqrt(2.0) * sd, n, PAIRED_THRESHOLD)),
        )
    return table
