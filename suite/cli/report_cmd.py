"""`resnet-bench report`: write the self-contained HTML report and print its path."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from results.runinfo import RunInfo
from suite.cli.common import UsageError, add_storage_options, output_dir
from suite.cli.storage import reading_store, resolve_run

HELP = "write the HTML report (latest run, with earlier runs on its machine for context)"
REPORT_FILENAME = "report.html"
CONTEXT_RUNS = 5  # the latest run and up to four earlier ones from the same machine


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_storage_options(parser)
    parser.add_argument(
        "--runs",
        nargs="+",
        metavar="ID",
        help="runs to report (ids or 'latest'); the most recent is shown in detail, "
        f"the others as context (default: the latest run with results and up to "
        f"{CONTEXT_RUNS - 1} earlier ones on the same machine)",
    )
    parser.add_argument(
        "-o",
        "--out",
        dest="out_file",
        metavar="FILE",
        help=f"HTML file to write, '-' for standard output (default: OUTPUT/{REPORT_FILENAME})",
    )
    parser.add_argument(
        "--faster-threshold",
        default="3%",
        metavar="T",
        help="a framework is 'faster' only when the whole 95%% CI of the time ratio lies "
        "beyond this, as 3%% or 0.03 (default: 3%%)",
    )


def default_runs(
    runs: list[RunInfo], limit: int = CONTEXT_RUNS, anchor: int | None = None
) -> list[int]:
    """The latest run that has results (or run `anchor`), plus the runs before it on the
    same machine."""
    with_results = [r for r in runs if sum(r.counts.values()) > 0]
    if anchor is not None:
        with_results = [r for r in with_results if r.id <= anchor]
    if not with_results:
        return []
    latest = max(with_results, key=lambda r: (r.started_at, r.id))
    machine = latest.machine.get("id")
    same = [
        r
        for r in with_results
        if r.machine.get("id") == machine and (r.started_at, r.id) <= (latest.started_at, latest.id)
    ]
    same.sort(key=lambda r: (r.started_at, r.id))
    return [r.id for r in same[-limit:]]


def run(args: argparse.Namespace) -> int:
    import results
    from results.files import FileWriteError
    from results.html import render_report, write_report
    from suite.cli.compare_cmd import parse_threshold

    faster = parse_threshold(args.faster_threshold, "--faster-threshold")
    with reading_store(args) as store:
        runs = store.list_runs()
        if not runs:
            raise UsageError(f"no runs in {store.url}; nothing to report")
        if args.runs:
            run_ids = list(dict.fromkeys(resolve_run(store, text) for text in args.runs))
        else:
            run_ids = default_runs(runs, anchor=getattr(args, "anchor", None))
            if not run_ids:
                raise UsageError(f"no run in {store.url} has results yet; nothing to report")
        df = results.load(store, run_ids)
        samples = results.load_samples(store, run_ids)
        # The primary (most recent) run's machine: its noise floors raise thresholds.
        primary = max(run_ids, key=lambda r: (store.get_run(r).started_at, r))
        floors = store.noise_floors(store.get_run(primary).machine["id"])
    empty = sorted(set(run_ids) - set(df["run_id"].dropna().astype(int)))
    if empty:
        raise UsageError(f"run(s) {', '.join(map(str, empty))} have no results to report")
    html = render_report(df, samples, run_ids, None, floors, faster)
    if args.out_file == "-":
        sys.stdout.write(html)
        return 0
    out = Path(args.out_file) if args.out_file else output_dir(args) / REPORT_FILENAME
    try:
        path = write_report(out, html)
    except FileWriteError as exc:
        raise UsageError(str(exc)) from None
    print(path.resolve() if path.is_file() else path)
    return 0
