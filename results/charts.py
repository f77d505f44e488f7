"""Report charts: matplotlib figures rendered to inline SVG, one string per chart.

SVG keeps the report one small offline file with no JavaScript. Text stays text
(svg.fonttype 'none': a fraction of the size of glyph outlines; the browser draws it in
its own sans-serif) and matplotlib XML-escapes it; math parsing is off so a '$' in a
database string is shown, not interpreted. pyplot is never imported: Figure objects are
created directly, so no GUI backend or global figure state is involved.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib import colormaps, rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from results.analysis import FASTER_THRESHOLD, execution_rank, process_values, run_key

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

MAX_CHARTS_PER_KIND = 8  # a sweep over many devices/precisions must not bury the report
MAX_CASES_PER_CHART = 40  # rows of one box/bar chart before it is split
RC: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "resnet-bench",  # stable ids, so equal inputs give equal files
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial"],
    "font.size": 9,
    "text.parse_math": False,
    "axes.grid": True,
    "grid.alpha": 0.35,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
}
# Latency chart rows (one per case, 1 apart): the box of every step below the centre, the
# per-process dots and the case value with its CI above it, so the two never overlap.
BOX_SHIFT = -0.17
BOX_WIDTH = 0.36
STRIP_SHIFT = 0.22
STRIP_HALF = 0.1  # dots spread over STRIP_SHIFT +/- this, in process order
# SVG group ids (gid) of a case's marks, '{chart id}-{prefix}-{result_id}' once inlined.
PROCESS_GID = "processes"  # one marker per process: that process's value (median of its steps)
VALUE_GID = "value"  # the case value (geometric mean of the per-process values)
CI_GID = "ci"  # its 95% CI between processes
# The same colour for a framework/execution on every chart.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
GROUP_KEYS: tuple[str, ...] = ("device", "mode", "precision", "image_size", "threads")


@dataclass(frozen=True)
class Chart:
    kind: str  # throughput | ratio | latency | ceiling | depth
    title: str
    svg: str  # an <svg> element, ids prefixed so several charts share one page


def _colors(labels: Sequence[str]) -> dict[str, str]:
    ordered = sorted(set(labels), key=lambda lab: execution_rank(*lab.split("/", 1)))
    return {lab: PALETTE[i % len(PALETTE)] for i, lab in enumerate(ordered)}


def _group_title(key: Sequence[Any]) -> str:
    device, mode, precision, image_size, threads = key
    return (
        f"{device} {mode} {precision} {image_size}px, {threads} thread{'' if threads == 1 else 's'}"
    )


def _groups(df: pd.DataFrame, extra: Sequence[str] = ()) -> Iterator[tuple[Any, pd.DataFrame]]:
    keys = [*GROUP_KEYS, *extra]
    yield from df.groupby(keys, sort=True, dropna=False)


def to_svg(fig: Figure, chart_id: str) -> str:
    """The figure as an <svg> element ready to inline into HTML."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buf.getvalue()
    text = text[text.index("<svg") :]  # drop the XML declaration and DOCTYPE
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    # Namespace declarations: implied for SVG inside HTML, and they are the only URLs left.
    text = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)
    # Ids must be unique across the page: prefix every id and every reference to one.
    ids = set(re.findall(r'\bid="([^"]+)"', text))
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{chart_id}-{m[1]}"', text)
    return re.sub(
        r'(href="#|url\(#)([^")]+)',
        lambda m: f"{m[1]}{chart_id}-{m[2]}" if m[2] in ids else m[0],
        text,
    )


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _plain_log_axis(ax: Axes, axis: str = "x") -> None:
    """Log scale with plain numbers: the default labels are mathtext, which is off here."""
    target = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    # 1-2-5 ticks: a range inside one decade still gets several labelled ticks
    target.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    target.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    target.set_minor_formatter(NullFormatter())


def _add(charts: list[Chart], kind: str, title: str, fig: Figure) -> bool:
    """Append the figure as the next chart of its kind; True once the kind's cap is reached."""
    charts.append(Chart(kind, title, to_svg(fig, f"{kind}{len(charts) + 1}")))
    return len(charts) >= MAX_CHARTS_PER_KIND


def _case_labels(rows: pd.DataFrame) -> list[str]:
    """'torch/eager r50 b8' per row: the axis labels of the per-case charts."""
    return [
        f"{f}/{e} r{d} b{b}"
        for f, e, d, b in zip(
            rows["framework"], rows["execution"], rows["depth"], rows["batch_size"], strict=True
        )
    ]


def _panel_grid(n: int) -> tuple[Figure, Any]:
    """A figure with n small panels, at most four to a row; unused cells hidden."""
    ncols = min(4, n)
    nrows = math.ceil(n / ncols)
    fig = _figure(2.6 * ncols + 0.6, 2.3 * nrows + 0.5)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def _figure_legend(fig: Figure, axes: Sequence[Axes]) -> None:
    """One legend below the panels, naming every line drawn in any of them."""
    seen: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    labels = sorted(seen, key=lambda lab: execution_rank(*lab.split("/", 1)))
    fig.legend(
        [seen[lab] for lab in labels], labels, loc="outside lower center", ncols=max(1, len(labels))
    )


def throughput_charts(scaling: pd.DataFrame) -> list[Chart]:
    """Images/s against batch size, one panel per depth, one line per framework/execution."""
    charts: list[Chart] = []
    if scaling.empty:
        return charts
    data = scaling.assign(label=scaling["framework"] + "/" + scaling["execution"])
    colors = _colors(list(data["label"]))
    with rc_context(RC):
        for key, grp in _groups(data):
            depths = sorted(grp["depth"].unique())
            fig, axes = _panel_grid(len(depths))
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
            _figure_legend(fig, list(axes.flat))
            if _add(charts, "throughput", f"Throughput vs batch size: {_group_title(key)}", fig):
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
        for key, grp in _groups(data, ("baseline", "other")):
            *case_key, baseline, other = key
            depths = sorted(grp["depth"].unique())
            batches = sorted(grp["batch_size"].unique())
            width = 0.8 / len(batches)
            fig = _figure(max(4.0, 1.1 * len(depths) * max(1, len(batches)) ** 0.5 + 2), 3.0)
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
            if _add(
                charts, "ratio", f"{other} vs {baseline} per depth: {_group_title(case_key)}", fig
            ):
                break
    return charts


def _chunks(df: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(df), size):
        yield df.iloc[start : start + size]


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
    by_result = {
        rid: g.to_numpy(dtype=float) * 1000.0
        for rid, g in samples.groupby("result_id", sort=False)["seconds"]
    }
    per_process = {rid: v * 1000.0 for rid, v in process_values(samples).items()}
    colors = _colors([f"{f}/{e}" for f, e in zip(ok["framework"], ok["execution"], strict=True)])
    with rc_context(RC):
        for key, grp in _groups(ok):
            for part in _chunks(grp, MAX_CASES_PER_CHART):
                rows = part.iloc[::-1]  # first case at the top
                fig = _figure(7.5, 0.34 * len(rows) + 1.5)
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
                ax.set_yticks(y, _case_labels(rows))
                ax.set_ylim(0.5, len(rows) + 0.5)
                _plain_log_axis(ax, "x")
                ax.set_xlabel("step time (ms)")
                _latency_legend(fig)
                if _add(charts, "latency", f"Step times and processes: {_group_title(key)}", fig):
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
    colors = _colors([f"{f}/{e}" for f, e in zip(ok["framework"], ok["execution"], strict=True)])
    with rc_context(RC):
        for key, grp in _groups(ok):
            for part in _chunks(grp, MAX_CASES_PER_CHART):
                rows = part.iloc[::-1]
                fig = _figure(7.5, 0.22 * len(rows) + 1.1)
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
                    _case_labels(rows),
                )
                ax.set_xlabel("% of the machine's measured peak GFLOP/s")
                ax.set_xlim(left=0)
                if _add(
                    charts, "ceiling", f"Share of the machine's ceiling: {_group_title(key)}", fig
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
    colors = _colors(list(data["label"]))
    with rc_context(RC):
        for key, grp in _groups(data):
            batches = sorted(grp["batch_size"].unique())
            fig, axes = _panel_grid(len(batches))
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
            _figure_legend(fig, list(axes.flat))
            if _add(
                charts, "depth", f"Time per image vs GMACs across depths: {_group_title(key)}", fig
            ):
                break
    return charts


def all_charts(
    summary: pd.DataFrame,
    comparison: pd.DataFrame,
    scaling: pd.DataFrame,
    depth: pd.DataFrame,
    samples: pd.DataFrame | None,
    run_id: Any,
    faster_threshold: float = FASTER_THRESHOLD,
) -> list[Chart]:
    """Every chart for one run, in report order."""

    def of_run(df: pd.DataFrame) -> pd.DataFrame:
        return df[df["run_id"].map(run_key) == run_key(run_id)]

    run_samples = None if samples is None else of_run(samples)
    charts = [
        *throughput_charts(of_run(scaling)),
        *ratio_charts(of_run(comparison), faster_threshold),
        *latency_charts(of_run(summary), run_samples),
        *ceiling_charts(of_run(summary)),
        *depth_charts(of_run(depth)),
    ]
    return charts
