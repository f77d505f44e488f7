"""The HTML report from a store: which runs it shows, loaded, rendered and written.

`resnet-bench report` and `resnet-bench run --report` both come here. By default the report
shows the latest run that has results in detail (or run `anchor`: the run just measured),
with up to CONTEXT_RUNS - 1 earlier runs of the same machine as context.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from results.runinfo import RunInfo
from results.store import Store

CONTEXT_RUNS = 5  # the latest run and up to four earlier ones from the same machine


class ReportError(ValueError):
    """Nothing to report (no runs, no results); the message says which."""


def default_runs(
    runs: Sequence[RunInfo], limit: int = CONTEXT_RUNS, anchor: int | None = None
) -> list[int]:
    """The latest run that has results (or run `anchor`), plus the runs before it on the
    same machine, oldest first."""
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


def report_html(
    store: Store,
    run_ids: Sequence[int] | None = None,
    *,
    anchor: int | None = None,
    faster_threshold: float | None = None,
) -> str:
    """The report of `run_ids` (default: default_runs(anchor=...)), the most recent in
    detail; the run-to-run variance calibrated on its machine joins the run comparison's CIs.
    `faster_threshold`: results.html's default (analysis.FASTER_THRESHOLD) when None."""
    import results
    from results.history_report import history_section
    from results.html import render_report
    from results.variances import stored_run_variances

    runs = store.list_runs()
    if not runs:
        raise ReportError(f"no runs in {store.url}; nothing to report")
    ids = list(dict.fromkeys(run_ids)) if run_ids else default_runs(runs, anchor=anchor)
    if not ids:
        raise ReportError(f"no run in {store.url} has results yet; nothing to report")
    df = results.load(store, ids)
    samples = results.load_samples(store, ids)
    empty = sorted(set(ids) - set(df["run_id"].dropna().astype(int)))
    if empty:
        raise ReportError(f"run(s) {', '.join(map(str, empty))} have no results to report")
    infos = {r.id: r for r in runs}
    primary = max(ids, key=lambda r: (infos[r].started_at, r))
    floors = stored_run_variances(store, infos[primary].machine["id"])
    history = history_section(store, infos[primary].machine["id"])
    return render_report(df, samples, ids, None, floors, faster_threshold, history)


def write_report(
    store: Store,
    path: str | os.PathLike[str],
    run_ids: Sequence[int] | None = None,
    *,
    anchor: int | None = None,
    faster_threshold: float | None = None,
) -> Path:
    """report_html written atomically to `path` (results.files: FileWriteError on failure)."""
    from results.html import write_html

    html = report_html(store, run_ids, anchor=anchor, faster_threshold=faster_threshold)
    return write_html(path, html)
