"""Options and conventions shared by the subcommands."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

DB_ENV = "RESNET_BENCH_DB"
OUTPUT_ENV = "RESNET_BENCH_OUTPUT"
DEFAULT_OUTPUT = "out"  # git-ignored, at the repo root when run from there (nox does)
DB_FILENAME = "results.sqlite"


class UsageError(Exception):
    """Bad input from the user: main() prints the message as one line and exits 2."""


def add_storage_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        help=f"SQLAlchemy database URL (default: ${DB_ENV}, else sqlite:///OUTPUT/{DB_FILENAME})",
    )
    parser.add_argument(
        "--output",
        metavar="DIR",
        help="folder for the database, reports and exports "
        f"(default: ${OUTPUT_ENV}, else ./{DEFAULT_OUTPUT})",
    )


def output_dir(args: argparse.Namespace) -> Path:
    return Path(getattr(args, "output", None) or os.environ.get(OUTPUT_ENV) or DEFAULT_OUTPUT)


def db_url(args: argparse.Namespace) -> str:
    url = getattr(args, "db", None) or os.environ.get(DB_ENV)
    if url:
        return str(url)
    return f"sqlite:///{output_dir(args) / DB_FILENAME}"
