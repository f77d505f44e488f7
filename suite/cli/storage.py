"""What the commands that read the result database share (runs, show, export)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from results.store import Store, open_store
from suite.cli.common import UsageError, db_url
from suite.cli.terminal import SafeConsole, console, safe

__all__ = ["LATEST", "SafeConsole", "console", "reading_store", "resolve_run", "safe", "when"]

LATEST = ("latest", "last")


@contextmanager
def reading_store(args: argparse.Namespace) -> Iterator[Store]:
    """The store named by --db/--output, never created; closed after the block."""
    with open_store(db_url(args), create=False) as store:
        yield store


def resolve_run(store: Store, text: str) -> int:
    """A run id from 'N' or 'latest'; unknown ones -> UsageError naming the known range."""
    if text.strip().lower() in LATEST:
        runs = store.list_runs()
        if not runs:
            raise UsageError(f"no runs in {store.url} yet")
        return runs[-1].id
    try:
        run_id = int(text)
    except ValueError:
        raise UsageError(f"bad run {text!r}; give a run id (a number) or 'latest'") from None
    store.check_runs([run_id])  # UnknownRunError: one line and exit 2 (suite.cli.main)
    return run_id


def when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")
