"""Options and conventions shared by the subcommands."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
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
    return output_folder(getattr(args, "output", None))


def output_folder(output: str | None = None) -> Path:
    """--output, else $RESNET_BENCH_OUTPUT, else ./out."""
    return Path(output or os.environ.get(OUTPUT_ENV) or DEFAULT_OUTPUT)


@contextmanager
def workers_output(args: argparse.Namespace) -> Iterator[None]:
    """The output folder, for the workers started inside (they inherit the environment):
    ONNX Runtime's workers cache the exported model there (runners.ort_runner)."""
    old = os.environ.get(OUTPUT_ENV)
    os.environ[OUTPUT_ENV] = str(output_dir(args).resolve())
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(OUTPUT_ENV, None)
        else:
            os.environ[OUTPUT_ENV] = old


def db_url(args: argparse.Namespace) -> str:
    return default_db_url(getattr(args, "db", None), getattr(args, "output", None))


def default_db_url(db: str | None = None, output: str | None = None) -> str:
    """--db, else $RESNET_BENCH_DB, else OUTPUT/results.sqlite with OUTPUT from --output,
    else $RESNET_BENCH_OUTPUT, else ./out: the CLI's rule, and the pytest plugin's."""
    url = db or os.environ.get(DB_ENV)
    if url:
        return str(url)
    return f"sqlite:///{output_folder(output) / DB_FILENAME}"


def plan_flags_given(args: argparse.Namespace) -> list[str]:
    """The plan flags given on this command line (those whose value is not the default)."""
    actions: list[argparse.Action] = getattr(args, "_plan_actions", [])
    return [
        a.option_strings[-1]
        for a in actions
        if a.option_strings and getattr(args, a.dest, a.default) != a.default
    ]


def refuse_plan_flags(
    args: argparse.Namespace, because: str, allowed: tuple[str, ...] = ()
) -> None:
    """UsageError naming the first plan flag given (beyond `allowed`): `because` says why."""
    given = [flag for flag in plan_flags_given(args) if flag not in allowed]
    if given:
        raise UsageError(f"{given[0]} does not go with {because}")
