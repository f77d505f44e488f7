"""Report charts, one function per kind: throughput, framework ratio, latency (steps and
processes), share of the ceiling, time per image across depths. Each returns Charts whose
SVG results.figures rendered."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib import colormaps, rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import NullFormatter

from results.analysis import FASTER_THRESHOLD, of_run
from results.figures import (
    MAX_CASES_PER_CHART,
    RC,
    Chart,
    add,
    case_labels,
    chunks,
    figure,
    figure_legend,
    group_title,
    groups,
    label_colors,
    panel_grid,
    plain_log_axis,
)
from results.frames import samples_by_result

if TYPE_CHECKING:
    pass

BOX_SHIFT = -0.17
BOX_WIDTH = 0.36
STRIP_SHIFT = 0.22
STRIP_HALF = 0.1  # dots spread over STRIP_SHIFT +/- this, in process order
# SVG group ids (gid) of a case's marks, '{chart id}-{prefix}-{result_id}' once inlined.
PROCESS_GID = "processes"  # one marker per process: that process's value (median of its steps)
VALUE_GID = "value"  # the case value (geometric mean of the per-process values)
CI_GID = "ci"  # its 95% CI between processes


def throughput_charts(scaling: pd.DataFrame) -> list[Chart]:
    """Images/s against batch size, one panel per depth, one line per framework/execution."""
    charts: list[Chart] = []
    if scaling.empty:
        return charts
    data = scaling.assign(label=scaling["framework"] + "/" + scaling["execution"])
    colors = label_colors(list(data["label"]))
    with rc_context(RC):
        for key, grp in groups(data):
            depths = sorted(grp["depth"].unique())
            fig, axes = panel_grid(len(depths))
            for ax, depth in zip(axes.flat, depths, strict=False):
                sub = grp[grp["depth"] == depth]
                for label, line in sub.groupby("label", sort=False):
                    line = line.sort_values("batch_size")
                    ax.plot(
                        line["batch_size"],
                        line["images_per_s"],
                        marker="o",
                        color=colors[str(label)],
                        label=str(label),
                    )
                batches = sorted(sub["batch_size"].unique())
                ax.set_xscale("log", base=2)
                ax.set_xticks(batches, [str(b) for b in batches])
                ax.xaxis.set_minor_formatter(NullFormatter())
                ax.set_title(f"ResNet-{depth}")
                ax.set_xlabel("batch size")
                ax.set_ylabel("images/s")
                ax.set_ylim(bottom=0)
            figure_legend(fig, list(axes.flat))
            if add(charts, "throughput", f"Throughput vs batch size: {group_title(key)}", fig):
                break
    return charts


def ratio_charts(comparison: pd.DataFrame, threshold: float = FASTER_THRESHOLD) -> list[Chart]:
    """other/baseline time ratio per depth, one bar per batch size, 95% CI as error bars.

    The grey band is the practical threshold (+/- `threshold`, symmetric in log); a bar is
    solid only when its whole CI lies beyond it (framework_comparison's `significant`)."""
    charts: list[Chart] = []
    data = comparison[comparison["ratio"].notna()]
    if data.empty:
        return charts
    band = f"{threshold * 100:g}%"
    with rc_context(RC):
        for key, grp in groups(data, ("baseline", "other")):
            *case_key, baseline, other = key
            depths = sorted(grp["depth"].unique())
            batches = sorted(grp["batch_size"].unique())
            width = 0.8 / len(batches)
            fig = figure(max(4.0, 1.1 * len(depths) * max(1, len(batches)) ** 0.5 + 2), 3.0)
            ax = fig.subplots()
            # Batch sizes get shades of one colour map, unlike the framework colours.
            cmap = [
                colormaps["viridis"](0.15 + 0.7 * i / max(1, len(batches) - 1))
                for i in range(len(batches))
            ]
            for i, batch in enumerate(batches):
                sub = grp[grp["batch_size"] == batch].set_index("depth").reindex(depths)
                x = np.arange(len(depths)) + (i - (len(batches) - 1) / 2) * width
                ratio = sub["ratio"].to_numpy(dtype=float)
                lo = ratio - sub["ratio_ci_low"].to_numpy(dtype=float)
                hi = sub["ratio_ci_high"].to_numpy(dtype=float) - ratio
                sig = sub["significant"].fillna(False).to_numpy(dtype=bool)
                bars = ax.bar(x, ratio - 1.0, width, bottom=1.0, color=cmap[i], label=f"b{batch}")
                for bar, s in zip(bars, sig, strict=True):
                    if not s:  # CI not wholly beyond the band: hollow bar
                        bar.set_facecolor("none")
                        bar.set_edgecolor(cmap[i])
                        bar.set_hatch("//")
                ax.errorbar(x, ratio, yerr=np.nan_to_num([lo, hi]), fmt="none", ecolor="#333", lw=1)
            ax.axhspan(
                1.0 / (1.0 + threshold), 1.0 + threshold, color="#888", alpha=0.2, lw=0, zorder=0
            )
            ax.axhline(1.0, color="#333", lw=1)
            ax.set_xticks(np.arange(len(depths)), [f"ResNet-{d}" for d in depths])
            ax.set_ylabel(f"{other} time / {baseline} time")
            ax.set_title(
                f"above 1: {baseline} faster; grey band: within ±{band}; "
                f"hatched: CI not wholly beyond it",
                fontsize=8,
            )
            ax.legend(title="batch", loc="best")
            if add(
                charts, "ratio", f"{other} vs {baseline} per depth: {group_title(case_key)}", fig
            ):
                break
    return charts


def _strip_offsets(n: int) -> np.ndarray:
    """Vertical offsets of a case's n process dots: spread evenly, in process order, so
    equal values stay apart and the order of the rounds reads from bottom to top."""
    if n <= 1:
        return np.zeros(n)
    return np.linspace(-STRIP_HALF, STRIP_HALF, n)


def _latency_legend(fig: Figure) -> None:
    """What the three kinds of mark are; the colours are the frameworks' as elsewhere."""
    handles = [
        Patch(facecolor="#c8c8c8", edgecolor="#000", label="box: every timed step"),
        Line2D(
            [],
            [],
            ls="none",
            marker="o",
            ms=4.5,
            mfc="#c8c8c8",
            mec="#111",
            mew=0.7,
            label="dot: one process (median of its steps)",
        ),
        Line2D(
            [],
            [],
            color="#000",
            lw=1.2,
            marker="|",
            ms=9,
            mew=2,
            label="bar: case value (geometric mean), 95% CI between processes",
        ),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=8)


def latency_charts(summary: pd.DataFrame, samples: pd.DataFrame | None) -> list[Chart]:
    """Per ok case: a box plot of every raw step time (ms), and above it one dot per worker
    process (its value: the median of its steps) with the case value (their geometric mean)
    and its 95% CI between processes; log scale across depths/batches.

    The dots are the case's replicates: the CI comes from their spread, not from the box.
    Each case's marks are SVG groups with ids PROCESS_GID / VALUE_GID / CI_GID-{result_id}.
    """
    charts: list[Chart] = []
    if samples is None or samples.empty:
        return charts
    ok = summary[(summary["status"] == "ok") & summary["result_id"].isin(samples["result_id"])]
    if ok.empty:
        return charts
    grouped = samples_by_result(samples)
    by_result = {rid: np.asarray(g.seconds) * 1000.0 for rid, g in grouped.items()}
    per_process = {rid: g.process_values() * 1000.0 for rid, g in grouped.items()}
    colors = label_colors(
        [f"{f}/{e}" for f, e in zip(ok["framework"], ok["execution"], strict=True)]
    )
    with rc_context(RC):
        for key, grp in groups(ok):
            for part in chunks(grp, MAX_CASES_PER_CHART):
                rows = part.iloc[::-1]  # first case at the top
                fig = figure(7.5, 0.34 * len(rows) + 1.5)
                ax = fig.subplots()
                y = np.arange(1, len(rows) + 1, dtype=float)
                data = [by_result[rid] for rid in rows["result_id"]]
                box = ax.boxplot(
                    data,
                    positions=y + BOX_SHIFT,
                    orientation="horizontal",
                    widths=BOX_WIDTH,
                    patch_artist=True,
                    manage_ticks=False,
                    # outlying steps: small grey points, unlike the outlined process dots
                    flierprops={
                        "marker": ".",
                        "markersize": 2.5,
                        "markerfacecolor": "#777",
                        "markeredgecolor": "none",
                        "alpha": 0.6,
                    },
                    medianprops={"color": "#000"},
                )
                for patch, fw, ex in zip(
                    box["boxes"], rows["framework"], rows["execution"], strict=True
                ):
                    patch.set_facecolor(colors[f"{fw}/{ex}"])
                    patch.set_alpha(0.45)
                for yi, rec in zip(y, rows.to_dict("records"), strict=True):
                    _process_marks(ax, yi + STRIP_SHIFT, rec, per_process, colors)
                ax.set_yticks(y, case_labels(rows))
                ax.set_ylim(0.5, len(rows) + 0.5)
                plain_log_axis(ax, "x")
                ax.set_xlabel("step time (ms)")
                _latency_legend(fig)
                if add(charts, "latency", f"Step times and processes: {group_title(key)}", fig):
                    return charts
    return charts


def _process_marks(
    ax: Axes,
    yc: float,
    rec: Mapping[Any, Any],
    per_process: Mapping[Any, np.ndarray],
    colors: Mapping[str, str],
) -> None:
    """One case's per-process dots, its value tick and its CI bar, centred on height yc."""
    rid = rec["result_id"]
    values = per_process.get(rid, np.empty(0))
    value, low, high = (float(rec[c]) for c in ("value_ms", "ci_low_ms", "ci_high_ms"))
    if math.isfinite(low) and math.isfinite(high):
        ax.plot(
            [low, high],
            [yc, yc],
            color="#000",
            lw=1.2,
            marker="|",
            ms=5,
            mew=1.2,
            zorder=3,
            gid=f"{CI_GID}-{rid}",
        )
    ax.plot(
        values,
        yc + _strip_offsets(len(values)),
        ls="none",
        marker="o",
        ms=4.5,
        mfc=colors[f"{rec['framework']}/{rec['execution']}"],
        mec="#111",
        mew=0.7,
        zorder=4,
        gid=f"{PROCESS_GID}-{rid}",
    )
    if math.isfinite(value):
        ax.plot(
            [value],
            [yc],
            ls="none",
            marker="|",
            ms=11,
            mew=2.2,
            color="#000",
            zorder=5,
            gid=f"{VALUE_GID}-{rid}",
        )


def ceiling_charts(summary: pd.DataFrame) -> list[Chart]:
    """Share of the machine's measured peak (GFLOP/s) each ok case reached, in percent."""
    charts: list[Chart] = []
    ok = summary[(summary["status"] == "ok") & summary["ceiling_share"].notna()]
    if ok.empty:
        return charts
    colors = label_colors(
        [f"{f}/{e}" for f, e in zip(ok["framework"], ok["execution"], strict=True)]
    )
    with rc_context(RC):
        for key, grp in groups(ok):
            for part in chunks(grp, MAX_CASES_PER_CHART):
                rows = part.iloc[::-1]
                fig = figure(7.5, 0.22 * len(rows) + 1.1)
                ax = fig.subplots()
                y = np.arange(len(rows))
                ax.barh(
                    y,
                    rows["ceiling_share"].to_numpy(dtype=float) * 100.0,
                    color=[
                        colors[f"{f}/{e}"]
                        for f, e in zip(rows["framework"], rows["execution"], strict=True)
                    ],
                )
                ax.set_yticks(
                    y,
                    case_labels(rows),
                )
                ax.set_xlabel("% of the machine's measured peak GFLOP/s")
                ax.set_xlim(left=0)
                if add(
                    charts, "ceiling", f"Share of the machine's ceiling: {group_title(key)}", fig
                ):
                    return charts
    return charts


def depth_charts(depth: pd.DataFrame) -> list[Chart]:
    """ms per image against GMACs per image: points per depth, the fitted line, outliers ringed."""
    charts: list[Chart] = []
    data = depth[depth["fit_ms_per_image"].notna()]
    if data.empty:
        return charts
    data = data.assign(label=data["framework"] + "/" + data["execution"])
    colors = label_colors(list(data["label"]))
    with rc_context(RC):
        for key, grp in groups(data):
            batches = sorted(grp["batch_size"].unique())
            fig, axes = panel_grid(len(batches))
            for ax, batch in zip(axes.flat, batches, strict=False):
                sub = grp[grp["batch_size"] == batch]
                for label, pts in sub.groupby("label", sort=False):
                    pts = pts.sort_values("gmacs_per_image")
                    c = colors[str(label)]
                    ax.plot(
                        pts["gmacs_per_image"], pts["ms_per_image"], "o", color=c, label=str(label)
                    )
                    ax.plot(pts["gmacs_per_image"], pts["fit_ms_per_image"], "--", color=c, lw=1)
                    out = pts[pts["outlier"]]
                    ax.plot(
                        out["gmacs_per_image"],
                        out["ms_per_image"],
                        "o",
                        ms=12,
                        mfc="none",
                        mec="#d62728",
                        mew=1.5,
                    )
                ax.set_title(f"batch {batch}")
                ax.set_xlabel("GMACs per image")
                ax.set_ylabel("ms per image")
            figure_legend(fig, list(axes.flat))
            if add(
                charts, "depth", f"Time per image vs GMACs across depths: {group_title(key)}", fig
            ):
                break
    return charts


def all_charts(
    summary: pd.DataFrame,
    comparison: pd.DataFrame,
    scaling: pd.DataFrame,
    depth: pd.DataFrame,
    samples: pd.DataFrame | None,
    run_id: int,
    faster_threshold: float = FASTER_THRESHOLD,
) -> list[Chart]:
    """Every chart for one run, in report order."""

    def this_run(df: pd.DataFrame) -> pd.DataFrame:
        return of_run(df, run_id)

    run_samples = None if samples is None else this_run(samples)
    charts = [
        *throughput_charts(this_run(scaling)),
        *ratio_charts(this_run(comparison), faster_threshold),
        *latency_charts(this_run(summary), run_samples),
        *ceiling_charts(this_run(summary)),
        *depth_charts(this_run(depth)),
    ]
    return charts
