"""Scaling charts: time per image across depths (the fitted line), and data-parallel
scaling against replicas."""

from __future__ import annotations

import math

import pandas as pd

from results.answer import group_title
from results.format import fmt, fmt_pct, text
from results.plotting import (
    Chart,
    Charts,
    Context,
    Table,
    cells,
    esc,
    groups,
    hover_case,
    label_colors,
    label_of,
    sorted_labels,
    style,
    subplots,
)

# ------------------------------------------------------------------------- depth


def depth_charts(depth: pd.DataFrame, ctx: Context) -> list[Chart]:
    """ms per image against GMACs per image: points per depth, the fitted line (dashed),
    outliers ringed."""
    import plotly.graph_objects as go

    out = Charts()
    data = depth[depth["fit_ms_per_image"].notna()]
    if data.empty:
        return out.items
    data = data.assign(label=[label_of(r) for r in data.to_dict("records")])
    colors = label_colors(data["label"])
    for values, grp in groups(data):
        batches = sorted(grp["batch_size"].unique())
        fig, ncols = subplots(len(batches), [f"batch {b}" for b in batches])
        rows: list[tuple[str, ...]] = []
        for i, batch in enumerate(batches):
            sub = grp[grp["batch_size"] == batch]
            where = {"row": i // ncols + 1, "col": i % ncols + 1}
            for label in sorted_labels(list(sub["label"])):
                pts = sub[sub["label"] == label].sort_values("gmacs_per_image")
                recs = pts.to_dict("records")
                c = colors[label]
                fig.add_trace(
                    go.Scatter(
                        x=pts["gmacs_per_image"],
                        y=pts["ms_per_image"],
                        mode="markers",
                        name=esc(label),
                        legendgroup=label,
                        showlegend=i == 0,
                        marker={
                            "color": c,
                            "size": [16 if r["outlier"] else 9 for r in recs],
                            "line": {
                                "width": [3 if r["outlier"] else 0 for r in recs],
                                "color": "#D55E00",
                            },
                        },
                        hovertext=[
                            hover_case(
                                {"case": f"{label} ResNet-{r['depth']} b{batch}", **r},
                                ctx,
                                [
                                    f"{fmt(r['ms_per_image'])} ms per image, "
                                    f"{fmt(r['gmacs_per_image'])} GMACs",
                                    f"off the line by {fmt_pct(r['residual_rel'])}"
                                    + (" (outlier)" if r["outlier"] else ""),
                                ],
                            )
                            for r in recs
                        ],
                        hoverinfo="text",
                    ),
                    **where,
                )
                fig.add_trace(
                    go.Scatter(
                        x=pts["gmacs_per_image"],
                        y=pts["fit_ms_per_image"],
                        mode="lines",
                        line={"color": c, "dash": "dash", "width": 1},
                        legendgroup=label,
                        showlegend=False,
                        hoverinfo="skip",
                        name=f"{esc(label)} fit",
                    ),
                    **where,
                )
                rows += [
                    cells(
                        label,
                        text(batch),
                        f"ResNet-{r['depth']}",
                        fmt(r["gmacs_per_image"]),
                        fmt(r["ms_per_image"]),
                        fmt(r["fit_ms_per_image"]),
                        "outlier" if r["outlier"] else "",
                    )
                    for r in recs
                ]
        fig.update_xaxes(title_text="GMACs per image")
        fig.update_yaxes(title_text="ms per image")
        style(fig, 300 * math.ceil(len(batches) / ncols) + 60)
        table = Table(
            (
                "framework/execution",
                "batch",
                "depth",
                "GMACs per image",
                "ms per image",
                "fitted",
                "",
            ),
            tuple(rows),
        )
        if out.add(
            "depth",
            f"Time per image against GMACs across depths: {group_title(values)}",
            fig,
            table,
        ):
            break
    return out.items


# ---------------------------------------------------------------------- replicas


def replica_charts(scaling: pd.DataFrame) -> list[Chart]:
    """Data-parallel scaling (results.scaling): per case group, images/s against replicas
    and scaling efficiency (1 = linear) per depth, one line per framework/execution."""
    import plotly.graph_objects as go

    out = Charts()
    if scaling.empty:
        return out.items
    data = scaling.assign(label=[label_of(r) for r in scaling.to_dict("records")])
    colors = label_colors(data["label"])
    keys = ["device", "mode", "precision", "image_size", "threads", "batch_size"]
    for key, grp in data.groupby(keys, sort=True, dropna=False):
        depths = sorted(grp["depth"].unique())
        titles = [
            t
            for d in depths
            for t in (f"ResNet-{d}: images/s (all replicas)", f"ResNet-{d}: efficiency")
        ]
        fig, _ncols = subplots(2 * len(depths), titles, cols=2)
        rows: list[tuple[str, ...]] = []
        for i, depth in enumerate(depths):
            for label, line in grp[grp["depth"] == depth].groupby("label", sort=False):
                line = line.sort_values("replicas")
                for col, y in ((1, "images_per_s"), (2, "efficiency")):
                    fig.add_trace(
                        go.Scatter(
                            x=[str(r) for r in line["replicas"]],
                            y=line[y],
                            mode="lines+markers",
                            name=esc(label),
                            legendgroup=str(label),
                            showlegend=i == 0 and col == 1,
                            line={"color": colors[str(label)]},
                            hovertemplate=f"{esc(label)} ResNet-{depth}<br>"
                            "%{x} replicas: %{y:.3g}<extra></extra>",
                        ),
                        row=i + 1,
                        col=col,
                    )
                rows += [
                    cells(
                        str(label),
                        f"ResNet-{depth}",
                        text(r["replicas"]),
                        fmt(r["images_per_s"]),
                        fmt_pct(r["efficiency"]),
                    )
                    for r in line.to_dict("records")
                ]
            fig.add_hline(
                y=1.0, line={"color": "grey", "dash": "dash", "width": 1}, row=i + 1, col=2
            )
        fig.update_xaxes(title_text="replicas", type="category")
        style(fig, 280 * len(depths) + 60)
        device, mode, precision, image_size, threads, batch = key
        title = (
            f"Scaling with replicas: {device} {mode} {precision} {image_size}px, batch "
            f"{batch} per replica, {threads} threads split across the replicas"
        )
        table = Table(
            ("framework/execution", "depth", "replicas", "images/s", "efficiency"), tuple(rows)
        )
        if out.add("replicas", title, fig, table):
            break
    return out.items
