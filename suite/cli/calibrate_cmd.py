"""`resnet-bench calibrate`: learn each case's noise floor on this machine from A/A runs.

    resnet-bench calibrate --profile quick --repeats 3     # run the plan 3 times, learn
    resnet-bench calibrate --from-runs 4,5,6               # learn from runs already stored

Runs of identical code still differ from run to run by more than one run's CI between
processes shows (what changes only between runs: a neighbour that stays for an hour, the
machine's memory layout after a reboot). The spread of each case's value across the A/A
runs is kept per machine (results.noise); `compare` then uses the larger of its threshold
and that floor for the case, and says so.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from rich.table import Table

from results.format import fmt_pct
from suite.cli.common import (
    UsageError,
    add_storage_options,
    db_url,
    refuse_plan_flags,
    workers_output,
)
from suite.cli.storage import console
from suite.cli.terminal import stderr_console

HELP = "run a plan several times (A/A) and store each case's noise floor for compare"
MIN_REPEATS = 2
DEFAULT_REPEATS = 3


def add_arguments(p: argparse.ArgumentParser) -> None:
    from suite.cli import run_cmd

    run_cmd.add_plan_arguments(p)
    p.add_argument(
        "--repeats",
        type=run_cmd._int("repeats"),
        metavar="N",
        help=f"runs of the plan (at least {MIN_REPEATS}; default {DEFAULT_REPEATS})",
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
    if len(ids) < MIN_REPEATS:
        raise UsageError(f"--from-runs needs at least {MIN_REPEATS} different runs, got {text!r}")
    return ids


def run(args: argparse.Namespace) -> int:
    import results
    from results.noise import learn_floors
    from results.store import open_store
    from suite import session
    from suite.cli import run_cmd

    if args.from_runs is not None:
        # Stored runs are learnt from as they are: a flag that shapes a plan would be ignored.
        if args.repeats is not None:
            raise UsageError("--repeats does not go with --from-runs: the runs are already made")
        refuse_plan_flags(args, "--from-runs: the runs are learnt from as stored")
    repeats = DEFAULT_REPEATS if args.repeats is None else args.repeats
    if repeats < MIN_REPEATS:
        raise UsageError(f"--repeats must be at least {MIN_REPEATS}, got {repeats}")
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
        floors = learn_floors(df, ids)
        if floors.empty:
            raise UsageError(f"runs {ids} share no case that finished ok in two of them")
        rows: list[dict[str, Any]] = [
            {str(k): v for k, v in r.items()} for r in floors.to_dict("records")
        ]
        store.add_noise_floors(machines.pop(), ids, rows)
    console().print(_table(rows, ids))
    return 0


def _table(rows: list[dict[str, Any]], ids: list[int]) -> Table:
    table = Table(
        title=f"noise floors from runs {', '.join(map(str, ids))} "
        "(compare will not call a smaller change)",
        title_justify="left",
    )
    for col in ("case", "runs", "sd between runs", "floor"):
        table.add_column(col, justify="left" if col == "case" else "right")
    for r in rows:
        table.add_row(
            str(r["case"]),
            str(r["n_runs"]),
            fmt_pct(r["sd_log"]),
            fmt_pct(r["floor"]),
        )
    return table
