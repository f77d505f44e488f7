"""Charts for choosing a batch size: throughput against batch, and the throughput-latency
trade-off with its Pareto front."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from results.answer import group_title
from results.format import fmt, fmt_ci, number, text
from results.plotting import (
    Chart,
    Charts,
    Context,
    Table,
    cells,
    error_bars,
    esc,
    groups,
    hover_case,
    images_ci,
    label_colors,
    log_ticks,
    ms_ci,
    ok_cases,
    sorted_labels,
    style,
    subplots,
)

PARETO_NAME = "Pareto front"


# ----------------------------------------------------------------- throughput/batch


def throughput_charts(summary: pd.DataFrame, ctx: Context) -> list[Chart]:
    """Images/s against batch size, one panel per depth, one line per framework/execution;
    error bars: the 95% CI between processes."""
    import plotly.graph_objects as go

    out = Charts()
    ok = ok_cases(summary)
    if ok.empty:
        return out.items
    colors = label_colors(ok["label"])
    for values, grp in groups(ok):
        depths = sorted(grp["depth"].unique())
        fig, ncols = subplots(len(depths), [f"ResNet-{d}" for d in depths])
        rows: list[tuple[str, ...]] = []
        for i, depth in enumerate(depths):
            sub = grp[grp["depth"] == depth]
            for label in sorted_labels(list(sub["label"])):
                line = sub[sub["label"] == label].sort_values("batch_size")
                recs = line.to_dict("records")
                ips = [images_ci(r) for r in recs]
                hover = [
                    hover_case(
                        r, ctx, [f"images/s: {fmt_ci(*v)}", f"ms/step: {fmt(r['value_ms'])}"]
                    )
                    for r, v in zip(recs, ips, strict=True)
                ]
                fig.add_trace(
                    go.Scatter(
                        x=[str(b) for b in line["batch_size"]],
                        y=[v[0] for v in ips],
                        error_y=error_bars(
                            [v[0] for v in ips], [v[1] for v in ips], [v[2] for v in ips]
                        ),
                        mode="lines+markers",
                        name=esc(label),
                        legendgroup=label,
                        showlegend=i == 0,
                        line={"color": colors[label]},
                        hovertext=hover,
                        hoverinfo="text",
                    ),
                    row=i // ncols + 1,
                    col=i % ncols + 1,
                )
                rows += [
                    cells(
                        f"ResNet-{depth}",
                        label,
                        text(r["batch_size"]),
                        fmt_ci(*v),
                        text(r["processes"]),
                    )
                    for r, v in zip(recs, ips, strict=True)
                ]
        fig.update_xaxes(title_text="batch size", type="category")
        fig.update_yaxes(title_text="images/s", rangemode="tozero")
        style(fig, 300 * math.ceil(len(depths) / ncols) + 60)
        table = Table(
            ("depth", "framework/execution", "batch", "images/s [95% CI]", "processes"), tuple(rows)
        )
        if out.add(
            "throughput", f"Throughput against batch size: {group_title(values)}", fig, table
        ):
            break
    return out.items


# ------------------------------------------------------------ throughput-latency


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points (ms/step, images/s) that no other point beats on both: none
    is at most as slow per step and at least as fast in images/s, and better in one."""
    front = []
    for i, (ms_i, ips_i) in enumerate(points):
        dominated = any(
            ms_j <= ms_i and ips_j >= ips_i and (ms_j < ms_i or ips_j > ips_i)
            for j, (ms_j, ips_j) in enumerate(points)
            if j != i
        )
        if not dominated and math.isfinite(ms_i) and math.isfinite(ips_i):
            front.append(i)
    return sorted(front, key=lambda i: points[i][0])


def tradeoff_charts(summary: pd.DataFrame, ctx: Context) -> list[Chart]:
    """Per case group and depth: every framework/execution's batch sizes as points,
    images/s against ms/step, with the Pareto front (the batches worth choosing) marked."""
    import plotly.graph_objects as go

    out = Charts()
    ok = ok_cases(summary)
    if ok.empty:
        return out.items
    colors = label_colors(ok["label"])
    for values, grp in groups(ok):
        depths = sorted(grp["depth"].unique())
        fig, ncols = subplots(len(depths), [f"ResNet-{d}" for d in depths], cols=2)
        rows: list[tuple[str, ...]] = []
        for i, depth in enumerate(depths):
            sub = grp[grp["depth"] == depth]
            recs = sub.to_dict("records")
            points = [(number(r["value_ms"]), images_ci(r)[0]) for r in recs]
            front = set(pareto_front(points))
            where = {"row": i // ncols + 1, "col": i % ncols + 1}
            for label in sorted_labels(list(sub["label"])):
                mine = sorted(
                    (j for j, r in enumerate(recs) if r["label"] == label),
                    key=lambda j: int(recs[j]["batch_size"]),
                )
                fig.add_trace(
                    go.Scatter(
                        x=[points[j][0] for j in mine],
                        y=[points[j][1] for j in mine],
                        text=[f"b{recs[j]['batch_size']}" for j in mine],
                        textposition="top center",
                        mode="lines+markers+text",
                        name=esc(label),
                        legendgroup=label,
                        showlegend=i == 0,
                        line={"color": colors[label], "width": 1},
                        marker={"size": 8},
                        hovertext=[
                            hover_case(
                                recs[j],
                                ctx,
                                [
                                    f"ms/step: {ms_ci(recs[j])}",
                                    f"images/s: {fmt(points[j][1])}",
                                    "on the Pareto front" if j in front else "dominated",
                                ],
                            )
                            for j in mine
                        ],
                        hoverinfo="text",
                    ),
                    **where,
                )
            order = sorted(front, key=lambda j: points[j][0])
            fig.add_trace(
                go.Scatter(
                    x=[points[j][0] for j in order],
                    y=[points[j][1] for j in order],
                    mode="lines+markers",
                    name=PARETO_NAME,
                    legendgroup=PARETO_NAME,
                    showlegend=i == 0,
                    line={"color": "#555", "dash": "dot", "width": 1.5},
                    marker={
                        "size": 16,
                        "symbol": "circle-open",
                        "color": "#000",
                        "line": {"width": 2},
                    },
                    hoverinfo="skip",
                ),
                **where,
            )
            rows += [
                cells(
                    f"ResNet-{depth}",
                    r["label"],
                    text(r["batch_size"]),
                    fmt_ci(r["value_ms"], r["ci_low_ms"], r["ci_high_ms"]),
                    fmt(p[1]),
                    "yes" if j in front else "",
                )
                for j, (r, p) in enumerate(zip(recs, points, strict=True))
            ]
        fig.update_xaxes(title_text="ms/step (latency)", **log_ticks(grp["value_ms"]))
        fig.update_yaxes(title_text="images/s (throughput)", rangemode="tozero")
        style(fig, 340 * math.ceil(len(depths) / ncols) + 60)
        table = Table(
            (
                "depth",
                "framework/execution",
                "batch",
                "ms/step [95% CI]",
                "images/s",
                "Pareto front",
            ),
            tuple(rows),
        )
        if out.add("tradeoff", f"Throughput against latency: {group_title(values)}", fig, table):
            break
    return out.items
