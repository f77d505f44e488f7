"""What the commands that read the result database share (runs, show, export)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.text import Text

from results.store import Store, open_store
from suite.cli.common import UsageError, db_url

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


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe(text: str) -> str:
    """A database string fit for a terminal: control characters (ESC sequences that retitle
    the window or clear the screen, bells, carriage returns) shown as '?', not obeyed."""
    return _CONTROL.sub("?", text)


class SafeConsole(Console):
    """Every plain string it renders passes through safe(); styled Text is the caller's."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(safe(text), **kwargs)


def console() -> Console:
    # Piped output keeps whole rows: rich would otherwise wrap at 80 columns. No markup:
    # labels, hostnames and error messages from the database are printed as they are.
    out = SafeConsole(markup=False, highlight=False)
    return out if out.is_terminal else SafeConsole(width=200, markup=False, highlight=False)
