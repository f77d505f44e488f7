"""`resnet-bench report`: write the self-contained HTML report and print its path."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from results.report import CONTEXT_RUNS
from suite.cli.common import UsageError, add_storage_options, output_dir
from suite.cli.storage import reading_store, resolve_run
from suite.cli.terminal import say

HELP = "write the HTML report (latest run, with earlier runs on its machine for context)"
REPORT_FILENAME = "report.html"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_storage_options(parser)
    parser.add_argument(
        "--runs",
        nargs="+",
        metavar="ID",
        help="runs to report (ids or 'latest', space- or comma-separated: --runs 3,7); the "
        "most recent is shown in detail, the others as context, runs of other machines side "
        f"by side (default: the latest run with results and up to {CONTEXT_RUNS - 1} earlier "
        "ones on the same machine)",
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


def run(args: argparse.Namespace) -> int:
    from results.report import report_html, write_report
    from suite.cli.compare_cmd import parse_threshold

    faster = parse_threshold(args.faster_threshold, "--faster-threshold")
    with reading_store(args) as store:
        run_ids = [resolve_run(store, part) for part in run_list(args.runs or ())]
        if args.out_file == "-":
            sys.stdout.write(report_html(store, run_ids, faster_threshold=faster))
            return 0
        out = Path(args.out_file) if args.out_file else output_dir(args) / REPORT_FILENAME
        path = write_report(store, out, run_ids, faster_threshold=faster)
    print_path(path)
    return 0


def run_list(texts: Sequence[str]) -> list[str]:
    """--runs as given: '3,7' and '3 7' alike; an empty part ('3,,7') is bad input."""
    parts = [part.strip() for text in texts for part in text.split(",")]
    if "" in parts:
        bad = next(t for t in texts if "" in [p.strip() for p in t.split(",")])
        raise UsageError(f"--runs: empty run id in {bad!r}; give ids as 3,7 or 3 7")
    return parts


def print_path(path: Path, out: IO[str] | None = None) -> None:
    """Where the report went: absolute for a file, as given for a device (/dev/stdout)."""
    say(str(path.resolve() if path.is_file() else path), out or sys.stdout)
