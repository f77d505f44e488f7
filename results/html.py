"""The self-contained HTML report: one file, inline CSS, plotly.js inlined once, no request
of any kind.

The answer comes first (results.answer: headlines, the decision table), then the charts
(results.charts, each with its table), then the detail, and "what ran and on what"
collapsed at the end. Every value is formatted to text here and handed to a Jinja2
template with autoescape on, so any string from the database (labels, hostnames, error
messages, env var values) is escaped; only the chart fragments (plotly.io's JSON, which
escapes '<', '>' and '/', of strings results.plotting.esc escaped) and plotly.js itself are
inserted as markup.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from results import analysis, answer, charts, compare, machines
from results.batches import best_batches
from results.files import atomic_write
from results.format import (
    MISSING,
    PAIR_LABEL,
    fmt,
    fmt_bytes,
    fmt_change,
    fmt_change_ci,
    fmt_ci,
    fmt_outcome,
    fmt_p,
    fmt_pct,
    fmt_time,
    is_missing,
    number,
    text,
)
from results.history_report import HistorySection
from results.html_cases import attention_rows, best_batch_rows, real_flags, summary_rows
from results.plotting import Context, plotly_js
from results.scaling import STRAGGLER_THRESHOLD, replica_scaling
from vocab.case import case_label
from vocab.comparison import RunShift
from vocab.measurement import FAILED_STATUSES
from vocab.stats import CI_TARGET_REL

TEMPLATE = "report.html.j2"


# ------------------------------------------------------------------------ view model


def _runs_table(df: pd.DataFrame, order: Sequence[int], primary: int) -> list[dict[str, Any]]:
    rows = []
    for rid in order:
        r = analysis.of_run(df, rid)
        first = r.iloc[0]
        start, end = pd.Timestamp(first["run_started_at"]), pd.Timestamp(first["run_finished_at"])
        duration = (end - start).total_seconds() if not (pd.isna(start) or pd.isna(end)) else None
        rows.append(
            {
                "id": rid,
                "primary": rid == primary,
                "label": text(first["run_label"]),
                "started": fmt_time(first["run_started_at"]),
                "duration": MISSING if duration is None else f"{fmt(duration / 60.0)} min",
                "source": text(first["run_source"]),
                "profile": text(first["run_profile"]),
                "status": text(first["run_status"]),
                "command": text(first["run_command"]),
                "ok": int((r["status"] == "ok").sum()),
                "total": len(r),
                "machine": text(first["machine_hostname"]),
            }
        )
    return rows


def _machines(df: pd.DataFrame) -> list[dict[str, str]]:
    out = []
    for _, r in df.drop_duplicates("machine_id").iterrows():
        out.append(
            {
                "hostname": text(r["machine_hostname"]),
                "cpu": text(r["machine_cpu"]),
                "gpu": text(r["machine_gpu"]),
                "cores": f"{text(r['machine_cores_physical'])} physical, "
                f"{text(r['machine_cores_logical'])} logical",
                "memory": fmt_bytes(r["machine_memory_bytes"]),
                "os": text(r["machine_os"]),
                "fingerprint": text(r["machine_fingerprint"]),
            }
        )
    return out


def _within(low: Any, high: Any, threshold: float) -> bool:
    """The whole CI of a ratio lies inside the band +/- threshold (symmetric in log)."""
    lo, hi = number(low), number(high)
    return lo >= 1.0 / (1.0 + threshold) and hi <= 1.0 + threshold


def _comparison_view(comparison: pd.DataFrame, threshold: float) -> dict[str, Any]:
    """Verdicts: faster (the whole CI of the ratio beyond +/- threshold), within (the whole
    CI inside it), undetermined (one process each: no CI), else not resolved."""
    label_cols = [c for c in comparison.columns if "/" in str(c)]
    band = fmt_pct(threshold)
    rows: list[dict[str, Any]] = []
    for _, r in comparison.iterrows():
        if is_missing(r["baseline"]):
            verdict, cls = "only one framework", "na"
        elif r["significant"]:
            slower = r["other"] if r["faster"] == r["baseline"] else r["baseline"]
            gain = max(number(r["ratio"]), 1.0 / number(r["ratio"])) - 1.0
            verdict, cls = f"{r['faster']} faster than {slower} by {gain * 100:.1f}%", "sig"
        elif math.isnan(number(r["ratio_ci_low"])):
            verdict, cls = "undetermined (one process each, no CI)", "ns"
        elif _within(r["ratio_ci_low"], r["ratio_ci_high"], threshold):
            verdict, cls = f"same within ±{band}", "ns"
        else:
            verdict, cls = f"no difference beyond ±{band} shown", "ns"
        rows.append(
            {
                "cls": cls,
                "case": case_label(r.to_dict(), PAIR_LABEL),
                "times": [fmt(r[c]) for c in label_cols],
                "pair": MISSING if cls == "na" else f"{r['other']} / {r['baseline']}",
                "ratio": fmt_ci(r["ratio"], r["ratio_ci_low"], r["ratio_ci_high"]),
                "p": fmt_p(r["p_value"]),
                "verdict": verdict,
            }
        )
    # A case compared with several frameworks: its label and times once, over its pairs.
    for i, row in enumerate(rows):
        same = i > 0 and rows[i - 1]["case"] == row["case"] and rows[i - 1]["times"] == row["times"]
        row["span"] = 0 if same else 1
        if same:
            first = next(r for r in reversed(rows[:i]) if r["span"])
            first["span"] += 1
    return {"labels": label_cols, "rows": rows}


def _side(r: pd.Series, side: str) -> tuple[str, str]:
    """A side of a run comparison: its ms/step (or its status) and its process count."""
    status = r[f"{side}_status"]
    processes = text(r[f"{side}_processes"]) if status == "ok" else MISSING
    return fmt_outcome(status, r[f"{side}_ms"]), processes


def _changes_view(changes: pd.DataFrame, threshold: float) -> list[dict[str, Any]]:
    """One row per case of compare_runs."""
    rows = []
    for _, r in changes.iterrows():
        base, base_n = _side(r, "base")
        cand, cand_n = _side(r, "cand")
        compared = not math.isnan(number(r["ratio"]))
        used = number(r["threshold_used"])
        rows.append(
            {
                "verdict": str(r["verdict"]),
                "cls": str(r["verdict"]).replace(" ", "-"),
                "case": case_label(r.to_dict()),
                "base": base,
                "cand": cand,
                "processes": f"{base_n} / {cand_n}",
                "change": fmt_change(r["ratio"]),
                "ci": fmt_change_ci(r["ratio_ci_low"], r["ratio_ci_high"]),
                "threshold": f"±{fmt_pct(used)}" if compared else MISSING,
                "p": fmt_p(r["p_value"]),
            }
        )
    return rows


def _history(summary: pd.DataFrame, order: Sequence[int]) -> dict[str, Any]:
    """ms/step (the case value) per case (rows) and run (columns); a failed case shows its
    status."""
    cells: dict[str, dict[int, str]] = {}
    for _, r in summary.iterrows():
        value = fmt_outcome(r["status"], r["value_ms"])
        cells.setdefault(str(r["case"]), {})[int(r["run_id"])] = value
    rows = [
        {"case": case, "cells": [by_run.get(rid, "") for rid in order]}
        for case, by_run in cells.items()
    ]
    return {"runs": list(order), "rows": rows}


def _settings_rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {"setting": str(name), "values": ["(unset)" if v is None else str(v) for v in values]}
        for name, values in zip(table.index, table.itertuples(index=False), strict=True)
    ]


def _depth_outliers(depth: pd.DataFrame) -> list[str]:
    out = depth[depth["outlier"]]
    return [
        f"{case_label(r)}: {fmt_change(1.0 + r['residual_rel'])} off the line through the "
        "other depths"
        for r in out.to_dict("records")
    ]


def _start_key(value: Any) -> float:
    ts = pd.Timestamp(value) if value is not None else pd.NaT
    return -math.inf if pd.isna(ts) else float(ts.value)


def order_runs(df: pd.DataFrame, run_ids: Sequence[int]) -> list[int]:
    """Run ids that have results, oldest first: by start time, then id."""
    first = analysis.of_runs(df, run_ids).drop_duplicates("run_id")
    found = sorted((_start_key(r["run_started_at"]), int(r["run_id"])) for _, r in first.iterrows())
    return [rid for _start, rid in found]


def report_context(
    df: pd.DataFrame,
    samples: pd.DataFrame | None,
    run_ids: Sequence[int],
    generated_at: datetime | None = None,
    floors: Mapping[tuple[Any, ...], RunShift] | None = None,
    faster_threshold: float | None = None,
) -> dict[str, Any]:
    """Everything the template shows, already formatted as text.

    `floors`: run-to-run variances per case (Store.run_variances of the primary run's
    machine), which join the CIs of the comparison with the previous run.
    `faster_threshold`: how far beyond 1 the CI of a framework ratio must lie for "faster"."""
    order = order_runs(df, run_ids)
    missing = sorted({int(r) for r in run_ids} - set(order))
    if missing:
        raise ValueError(f"no results for run(s) {', '.join(map(str, missing))}")
    df = analysis.of_runs(df, order)
    if samples is not None:
        samples = analysis.of_runs(samples, order)
    primary = order[-1]
    prim = analysis.of_run(df, primary)
    summary = analysis.summary(df)
    prim_summary = analysis.of_run(summary, primary)
    faster = analysis.FASTER_THRESHOLD if faster_threshold is None else faster_threshold
    comparison = analysis.framework_comparison(prim, samples, threshold=faster)
    depth = analysis.depth_scaling(prim)
    ctx = Context.of(df)
    chart_list = charts.all_charts(summary, comparison, depth, samples, primary, ctx, faster)
    status = prim_summary["status"]
    counts = {
        "ok": int((status == "ok").sum()),
        "failed": int(status.isin(FAILED_STATUSES).sum()),
        "skipped": int((status == "skipped").sum()),
        "flagged": int(sum(bool(real_flags(r)) for _, r in prim_summary.iterrows())),
    }
    heads = answer.headlines(comparison, answer.machine_name(prim), faster)
    decisions = answer.decisions(prim_summary, analysis.stored_round_values(prim, samples), faster)
    replicas = replica_scaling(prim)
    context: dict[str, Any] = {
        "title": f"resnet-bench report: run {primary} ({text(prim['run_label'].iloc[0])})",
        "generated_at": (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S %Z"),
        "plotly_js": plotly_js(),
        "primary": primary,
        "machine": answer.machine_name(prim),
        "headlines": [h.text for h in heads],
        "decisions": _decision_sections(decisions),
        "runs": _runs_table(df, order, primary),
        "machines": _machines(df),
        "side_by_side": machines.side_by_side(df, samples, order, primary, faster),
        "environment": _settings_rows(
            compare.run_settings(df, [primary]).filter(regex=r"^(?!machine_|build:)", axis=0)
        ),
        "builds": _settings_rows(
            compare.run_settings(df, [primary]).filter(regex=r"^build:", axis=0)
        ),
        # An A/B run: what differs between its environments (each probed inside itself).
        "env_names": [str(n) for n in compare.env_settings(df, primary).columns],
        "env_differences": _settings_rows(compare.env_differences(df, primary)),
        "counts": counts,
        "attention": attention_rows(prim_summary),
        "summary": summary_rows(prim_summary),
        "best_batches": best_batch_rows(best_batches(prim)),
        "comparison": _comparison_view(comparison, faster),
        "charts": {
            kind: [c for c in chart_list if c.kind == kind]
            for kind in ("tradeoff", "throughput", "ratio", "latency", "ceiling", "depth")
        },
        "replicas": _replica_rows(replicas),
        "replica_charts": charts.replica_charts(replicas),
        "straggler_threshold": fmt_pct(STRAGGLER_THRESHOLD, 2),
        "depth_outliers": _depth_outliers(depth),
        "depth_threshold": fmt_pct(analysis.DEPTH_OUTLIER_THRESHOLD, 2),
        "confidence": fmt_pct(1.0 - analysis.ALPHA),
        "fdr": fmt_pct(analysis.ALPHA),
        "faster_threshold": fmt_pct(faster),
        "ci_target": fmt_pct(CI_TARGET_REL),
        "previous": None,
        "changes": [],
        "history": None,
        "differences": [],
    }
    if len(order) > 1:
        context.update(
            history=_history(summary, order),
            differences=_settings_rows(compare.settings_differences(df, order)),
        )
        # Changes against the previous run of the same machine: another machine's run is
        # shown side by side, not as a change.
        machine = prim["machine_id"].iloc[0]
        same = [r for r in order[:-1] if (analysis.of_run(df, r)["machine_id"] == machine).any()]
        if same:
            previous = same[-1]
            changes = compare.compare_runs(
                df, samples, previous, primary, compare.DEFAULT_THRESHOLD, floors
            )
            context.update(
                previous=previous,
                threshold=fmt_pct(compare.DEFAULT_THRESHOLD),
                changes=_changes_view(changes, compare.DEFAULT_THRESHOLD),
            )
    return context


def _decision_sections(decisions: Sequence[answer.Decision]) -> list[dict[str, Any]]:
    """The decision table per section, in order; rows keep their tier."""
    sections: list[dict[str, Any]] = []
    for d in decisions:
        if not sections or sections[-1]["title"] != d.section:
            sections.append({"title": d.section, "rows": []})
        sections[-1]["rows"].append(d)
    return sections


def _replica_rows(scaling: pd.DataFrame) -> list[dict[str, Any]]:
    def ms(values: Any) -> str:
        return ", ".join(f"{v:.1f}" for v in values) if values else MISSING

    return [
        {
            "case": f"{r['framework']}/{r['execution']} r{r['depth']} b{r['batch_size']} "
            f"{r['device']} {r['precision']} {r['image_size']}px, {r['threads']} threads",
            "replicas": int(r["replicas"]),
            "global_batch": int(r["global_batch"]),
            "images": fmt(r["images_per_s"]),
            "efficiency": MISSING if math.isnan(r["efficiency"]) else f"{r['efficiency']:.0%}",
            "rank_ms": ms(r["rank_median_ms"]),
            "forward_ms": ms(r["rank_forward_ms"]),
            "straggler": r["straggler"] or "",
        }
        for _, r in scaling.iterrows()
    ]


@functools.cache
def _environment() -> jinja2.Environment:
    """One per process: an Environment compiles each template once, on first use."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("results", "templates"),
        autoescape=True,  # every template, whatever its file name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_report(
    df: pd.DataFrame,
    samples: pd.DataFrame | None,
    run_ids: Sequence[int],
    generated_at: datetime | None = None,
    floors: Mapping[tuple[Any, ...], RunShift] | None = None,
    faster_threshold: float | None = None,
    history: HistorySection | None = None,
) -> str:
    """The report for `run_ids` (the most recent one in detail, the others as context);
    `history`: the History section (results.history_report), its charts drawn by the
    plotly.js the page inlines once."""
    if not run_ids:
        raise ValueError("no runs to report")
    context = report_context(df, samples, run_ids, generated_at, floors, faster_threshold)
    context["history_section"] = history
    return _environment().get_template(TEMPLATE).render(**context)


def write_html(path: str | os.PathLike[str], html: str) -> Path:
    """Write atomically: a reader never sees half a report, a failure leaves the old one
    (results.files; raises FileWriteError with one line)."""
    return atomic_write(path, lambda p: p.write_text(html, encoding="utf-8"))
