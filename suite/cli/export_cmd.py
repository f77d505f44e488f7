"""`resnet-bench export`: results as CSV, JSON or Parquet (shapes: results.export)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from results.export import FORMATS, check_format, default_filename, export
from suite.cli.common import add_storage_options, output_dir
from suite.cli.storage import reading_store
from suite.cli.terminal import say

HELP = "write results as CSV, JSON or Parquet (--samples adds every raw sample)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        metavar="FORMAT",
        help=f"{' | '.join(FORMATS)} (default: from -o's suffix, else csv)",
    )
    parser.add_argument(
        "--run", type=int, action="append", metavar="ID", help="only this run (repeatable)"
    )
    parser.add_argument(
        "-o",
        "--out",
        metavar="FILE",
        help="file to write, '-' for standard output (default: OUTPUT/results[-runN].FORMAT)",
    )
    parser.add_argument(
        "--samples",
        action="store_true",
        help="add the raw samples: lists per result in JSON/Parquet, one row per sample in CSV",
    )
    add_storage_options(parser)


def _format(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format).lower()
    suffix = Path(args.out).suffix.lstrip(".").lower() if args.out and args.out != "-" else ""
    return suffix if suffix in FORMATS else "csv"


def run(args: argparse.Namespace) -> int:
    fmt = _format(args)
    check_format(fmt)
    if args.out == "-":
        dest = None
    elif args.out:
        dest = Path(args.out)
    else:
        dest = output_dir(args) / default_filename(fmt, args.run, args.samples)
    with reading_store(args) as store:
        rows = export(store, fmt, dest, run_ids=args.run, samples=args.samples)
    if dest is not None:
        what = "samples" if args.samples and fmt == "csv" else "results"
        say(f"wrote {rows} {what} to {dest}", sys.stderr)
    return 0
