"""`resnet-bench runs`: the runs in the result database, one line each."""

from __future__ import annotations

import argparse
import json

from rich.table import Table

from results.runinfo import RunInfo
from suite.cli.common import add_storage_options
from suite.cli.storage import console, reading_store, when
from suite.cli.terminal import say

HELP = "list the runs in the result database"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_storage_options(parser)
    parser.add_argument("--json", action="store_true", help="print the runs as a JSON list")
    parser.add_argument("--limit", type=_positive, metavar="N", help="only the N latest runs")


def as_dict(info: RunInfo) -> dict[str, object]:
    return {
        "id": info.id,
        "started_at": info.started_at.isoformat(),
        "finished_at": info.finished_at.isoformat() if info.finished_at else None,
        "label": info.label,
        "source": info.source,
        "profile": info.profile,
        "status": info.state,
        "machine": info.machine_label,
        "machine_fingerprint": info.machine["fingerprint"],
        "ok": info.n_ok,
        "failed": info.n_failed,
        "skipped": info.n_skipped,
    }


def run(args: argparse.Namespace) -> int:
    with reading_store(args) as store:
        runs = store.list_runs()
        url = store.url
    if args.limit:
        runs = runs[-args.limit :]
    if args.json:
        print(json.dumps([as_dict(r) for r in runs], indent=1))
        return 0
    if not runs:
        say(f"no runs in {url} yet")
        return 0
    table = Table(title=f"runs in {url}", title_justify="left")
    for name in ("id", "started", "label", "source", "machine", "ok", "failed", "skipped"):
        table.add_column(
            name, justify="right" if name in ("id", "ok", "failed", "skipped") else "left"
        )
    table.add_column("status")
    for r in runs:
        table.add_row(
            str(r.id),
            when(r.started_at),
            r.label or "",
            r.source,
            r.machine_label,
            str(r.n_ok),
            str(r.n_failed),
            str(r.n_skipped),
            r.state,
        )
    console().print(table)
    return 0
