"""Per-case charts: the framework time ratio, step times with the per-process values, and
the share of the machine's ceiling."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from results.analysis import FASTER_THRESHOLD
from results.answer import group_title
from results.format import CHART_LABEL, fmt, fmt_ci, fmt_pct, number, text
from results.plotting import (
    MAX_CASES_PER_CHART,
    PALETTE,
    Chart,
    Charts,
    Context,
    Table,
    cells,
    error_bars,
    esc,
    groups,
    hover_case,
    label_colors,
    log_ticks,
    ok_cases,
    ratio_ci,
    sorted_labels,
    style,
    value_ci,
)
from results.samples import samples_by_result
from vocab.case import case_label

PROCESS_NAME = "processes"  # trace name suffix: one marker per process (median of its steps)
STEPS_NAME = "steps"  # a box of every timed step


# ------------------------------------------------------------------------- ratio


def ratio_charts(
    comparison: pd.DataFrame, ctx: Context, threshold: float = FASTER_THRESHOLD
) -> list[Chart]:
    """other/baseline time ratio per depth and batch, with its 95% CI. The grey band is
    the practical threshold (+/- `threshold`, symmetric in log); a filled mark has its
    whole CI beyond it (framework_comparison's `significant`), an open one does not."""
    import plotly.graph_objects as go

    out = Charts()
    data = comparison[comparison["ratio"].notna() & comparison["baseline"].notna()]
    if data.empty:
        return out.items
    band = f"±{threshold * 100:g}%"
    for values, grp in groups(data, ("baseline", "other")):
        baseline, other = str(values["baseline"]), str(values["other"])
        batches = sorted(grp["batch_size"].unique())
        fig = go.Figure()
        rows: list[tuple[str, ...]] = []
        for i, batch in enumerate(batches):
            sub = grp[grp["batch_size"] == batch].sort_values("depth")
            recs = sub.to_dict("records")
            ratio = [number(r["ratio"]) for r in recs]
            sig = [bool(r["significant"]) for r in recs]
            color = PALETTE[i % len(PALETTE)]
            fig.add_trace(
                go.Scatter(
                    x=[f"ResNet-{r['depth']}" for r in recs],
                    y=ratio,
                    error_y=error_bars(
                        ratio,
                        [number(r["ratio_ci_low"]) for r in recs],
                        [number(r["ratio_ci_high"]) for r in recs],
                    ),
                    mode="markers",
                    name=f"batch {batch}",
                    marker={
                        "size": 11,
                        "color": color,
                        "symbol": ["circle" if s else "circle-open" for s in sig],
                        "line": {"width": 2, "color": color},
                    },
                    hovertext=[
                        "<br>".join(
                            [
                                f"<b>{esc(other)} / {esc(baseline)}, "
                                f"ResNet-{r['depth']} b{batch}</b>",
                                f"time ratio: {ratio_ci(r)}, {text(r['pairs'])} rounds paired",
                                f"{esc(r['faster'])} faster" if s else f"not beyond {band}",
                                *_sides(r, ctx),
                            ]
                        )
                        for r, s in zip(recs, sig, strict=True)
                    ],
                    hoverinfo="text",
                )
            )
            rows += [
                cells(
                    f"ResNet-{r['depth']}",
                    text(batch),
                    fmt_ci(r["ratio"], r["ratio_ci_low"], r["ratio_ci_high"]),
                    text(r["faster"]) if s else f"not beyond {band}",
                )
                for r, s in zip(recs, sig, strict=True)
            ]
        fig.add_hrect(
            y0=1.0 / (1.0 + threshold),
            y1=1.0 + threshold,
            fillcolor="#888",
            opacity=0.2,
            line_width=0,
        )
        fig.add_hline(y=1.0, line={"color": "#333", "width": 1})
        fig.update_xaxes(type="category")
        # the band and every CI in view, not the axis from 0 (the band would be a hairline)
        ends = [number(v) for v in (*grp["ratio_ci_low"], *grp["ratio_ci_high"], *grp["ratio"])]
        ends = [v for v in ends if math.isfinite(v) and v > 0]
        low = min([1.0 / (1.0 + threshold), *ends])
        high = max([1.0 + threshold, *ends])
        pad = (high - low) * 0.08
        fig.update_yaxes(
            title_text=f"{esc(other)} time / {esc(baseline)} time", range=[low - pad, high + pad]
        )
        style(fig, 340, scattermode="group")
        table = Table(
            ("depth", "batch", f"{other} / {baseline} time [95% CI]", "faster"), tuple(rows)
        )
        notes = (
            f"Above 1: {baseline} faster. Grey band: within {band}. Filled: the whole CI lies "
            "beyond it; open: it does not.",
        )
        title = f"{other} vs {baseline} per depth: {group_title(values)}"
        if out.add("ratio", title, fig, table, notes):
            break
    return out.items


def _sides(row: Mapping[Any, Any], ctx: Context) -> list[str]:
    """What produced each side of a ratio (run, commit, versions), where known."""
    out = []
    for side in ("baseline", "other"):
        produced = ctx.of_result(row.get(f"{side}_result_id"))
        if produced:
            out.append(f"<i>{esc(row[side])}</i>: {produced}")
    return out


# ----------------------------------------------------------------------- latency


def latency_charts(
    summary: pd.DataFrame, samples: pd.DataFrame | None, ctx: Context
) -> list[Chart]:
    """Per ok case: a box of every raw step time (ms), one dot per worker process (its
    value: the median of its steps) and the case value (their geometric mean) with its 95%
    CI between processes; log scale. The dots are the replicates: the CI comes from them."""
    import plotly.graph_objects as go

    out = Charts()
    if samples is None or samples.empty:
        return out.items
    ok = ok_cases(summary)
    ok = ok[ok["result_id"].isin(samples["result_id"])]
    if ok.empty:
        return out.items
    grouped = samples_by_result(samples)
    colors = label_colors(ok["label"])
    for values, grp in groups(ok):
        for start in range(0, len(grp), MAX_CASES_PER_CHART):
            part = grp.iloc[start : start + MAX_CASES_PER_CHART]
            fig = go.Figure()
            rows: list[tuple[str, ...]] = []
            steps_all: list[float] = []
            names = {
                int(r["result_id"]): esc(case_label(r, CHART_LABEL))
                for r in part.to_dict("records")
            }
            for label in sorted_labels(list(part["label"])):
                recs = part[part["label"] == label].to_dict("records")
                steps_x: list[float] = []
                steps_y: list[str] = []
                dots_x: list[float] = []
                dots_y: list[str] = []
                dots_hover: list[str] = []
                for r in recs:
                    rid = int(r["result_id"])
                    g = grouped[rid]
                    steps_x += list(np.asarray(g.seconds) * 1000.0)
                    steps_all += steps_x[-len(g.seconds) :]
                    steps_y += [names[rid]] * len(g.seconds)
                    per = g.process_values() * 1000.0
                    dots_x += list(per)
                    dots_y += [names[rid]] * len(per)
                    dots_hover += [
                        f"<b>{esc(r['case'])}</b><br>process {k + 1} of {len(per)}: {fmt(v)} ms "
                        "(median of its steps)"
                        for k, v in enumerate(per)
                    ]
                    rows.append(
                        cells(
                            r["case"],
                            fmt_ci(r["value_ms"], r["ci_low_ms"], r["ci_high_ms"]),
                            ", ".join(fmt(v) for v in per),
                            fmt(np.median(g.seconds) * 1000.0),
                            text(len(g.seconds)),
                        )
                    )
                color = colors[label]
                common = {"legendgroup": label, "orientation": "h"}
                fig.add_trace(
                    go.Box(
                        x=steps_x,
                        y=steps_y,
                        name=f"{esc(label)} {STEPS_NAME}",
                        marker={"color": color, "size": 3},
                        line={"width": 1},
                        boxpoints="outliers",
                        hoverinfo="x",
                        offsetgroup=label,
                        showlegend=False,
                        **common,
                    )
                )
                fig.add_trace(
                    go.Scatter(
                        x=dots_x,
                        y=dots_y,
                        mode="markers",
                        name=f"{esc(label)} {PROCESS_NAME}",
                        marker={"color": color, "size": 8, "line": {"color": "#111", "width": 1}},
                        hovertext=dots_hover,
                        hoverinfo="text",
                        legendgroup=label,
                        showlegend=False,
                    )
                )
                vals = [number(r["value_ms"]) for r in recs]
                fig.add_trace(
                    go.Scatter(
                        x=vals,
                        y=[names[int(r["result_id"])] for r in recs],
                        error_x=error_bars(
                            vals,
                            [number(r["ci_low_ms"]) for r in recs],
                            [number(r["ci_high_ms"]) for r in recs],
                        ),
                        mode="markers",
                        name=esc(label),
                        marker={
                            "color": "#000",
                            "symbol": "line-ns",
                            "size": 16,
                            "line": {"width": 3, "color": "#000"},
                        },
                        hovertext=[
                            hover_case(
                                r,
                                ctx,
                                [
                                    "value: "
                                    + value_ci(
                                        r["value_ms"], r["ci_low_ms"], r["ci_high_ms"], "ms/step"
                                    )
                                ],
                            )
                            for r in recs
                        ],
                        hoverinfo="text",
                        legendgroup=label,
                    )
                )
            n = len(part)
            fig.update_xaxes(title_text="step time (ms)", **log_ticks(steps_all))
            fig.update_yaxes(type="category", autorange="reversed")
            style(fig, 44 * n + 140, boxmode="overlay")
            table = Table(
                ("case", "ms/step [95% CI]", "per-process values, ms", "median step, ms", "steps"),
                tuple(rows),
            )
            notes = (
                "Box: every timed step of a case. Dots: its worker processes, one each (the median "
                "of that process's steps). Black tick and bar: the case value (geometric mean "
                "of the "
                "dots) with its 95% CI between processes. A legend entry toggles a framework.",
            )
            if out.add(
                "latency", f"Step times and processes: {group_title(values)}", fig, table, notes
            ):
                return out.items
    return out.items


# ----------------------------------------------------------------------- ceiling


def ceiling_charts(summary: pd.DataFrame, ctx: Context) -> list[Chart]:
    """Share of the machine's measured peak (GFLOP/s) each ok case reached, in percent."""
    import plotly.graph_objects as go

    out = Charts()
    ok = ok_cases(summary)
    ok = ok[ok["ceiling_share"].notna()]
    if ok.empty:
        return out.items
    colors = label_colors(ok["label"])
    for values, grp in groups(ok):
        for start in range(0, len(grp), MAX_CASES_PER_CHART):
            part = grp.iloc[start : start + MAX_CASES_PER_CHART]
            fig = go.Figure()
            for label in sorted_labels(list(part["label"])):
                recs = part[part["label"] == label].to_dict("records")
                share = [number(r["ceiling_share"]) * 100.0 for r in recs]
                fig.add_trace(
                    go.Bar(
                        x=share,
                        y=[esc(case_label(r, CHART_LABEL)) for r in recs],
                        orientation="h",
                        name=esc(label),
                        marker={"color": colors[label]},
                        hovertext=[
                            hover_case(
                                r, ctx, [f"{fmt_pct(r['ceiling_share'])} of the measured peak"]
                            )
                            for r in recs
                        ],
                        hoverinfo="text",
                    )
                )
            fig.update_xaxes(
                title_text="% of the machine's measured peak GFLOP/s", rangemode="tozero"
            )
            fig.update_yaxes(type="category", autorange="reversed")
            style(fig, 26 * len(part) + 140)
            table = Table(
                ("case", "of ceiling", "GMAC/s"),
                tuple(
                    cells(r["case"], fmt_pct(r["ceiling_share"]), fmt(r["gmacs_per_s"]))
                    for r in part.to_dict("records")
                ),
            )
            if out.add(
                "ceiling", f"Share of the machine's ceiling: {group_title(values)}", fig, table
            ):
                return out.items
    return out.items
