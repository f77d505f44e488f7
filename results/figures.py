"""The matplotlib plumbing of the report's charts: style, SVG rendering, panel grids,
legends, one colour per framework/execution, and the cap on charts per kind.

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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from results.analysis import execution_rank
from results.format import CHART_LABEL
from suite.case import case_fields_without, case_label

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

# The same colour for a framework/execution on every chart.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
# One chart per group of these (its title); inside it, one mark per framework/depth/batch.
GROUP_KEYS: tuple[str, ...] = case_fields_without(
    "framework", "execution", "depth", "batch_size", "num_classes", "interop_threads"
)


@dataclass(frozen=True)
class Chart:
    kind: str  # throughput | ratio | latency | ceiling | depth
    title: str
    svg: str  # an <svg> element, ids prefixed so several charts share one page


def label_colors(labels: Sequence[str]) -> dict[str, str]:
    ordered = sorted(set(labels), key=lambda lab: execution_rank(*lab.split("/", 1)))
    return {lab: PALETTE[i % len(PALETTE)] for i, lab in enumerate(ordered)}


def group_title(key: Sequence[Any]) -> str:
    device, mode, precision, image_size, threads, replicas, env = key
    return (
        f"{device} {mode} {precision} {image_size}px, {threads} thread{'' if threads == 1 else 's'}"
        + (f", {replicas} replicas" if replicas > 1 else "")
        + (f", environment {env}" if env else "")
    )


def groups(df: pd.DataFrame, extra: Sequence[str] = ()) -> Iterator[tuple[Any, pd.DataFrame]]:
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


def figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def plain_log_axis(ax: Axes, axis: str = "x") -> None:
    """Log scale with plain numbers: the default labels are mathtext, which is off here."""
    target = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    # 1-2-5 ticks: a range inside one decade still gets several labelled ticks
    target.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    target.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    target.set_minor_formatter(NullFormatter())


def add(charts: list[Chart], kind: str, title: str, fig: Figure) -> bool:
    """Append the figure as the next chart of its kind; True once the kind's cap is reached."""
    charts.append(Chart(kind, title, to_svg(fig, f"{kind}{len(charts) + 1}")))
    return len(charts) >= MAX_CHARTS_PER_KIND


def case_labels(rows: pd.DataFrame) -> list[str]:
    """'torch/eager r50 b8' per row: the axis labels of the per-case charts."""
    return [case_label(r, CHART_LABEL) for r in rows.to_dict("records")]


def panel_grid(n: int) -> tuple[Figure, Any]:
    """A figure with n small panels, at most four to a row; unused cells hidden."""
    ncols = min(4, n)
    nrows = math.ceil(n / ncols)
    fig = figure(2.6 * ncols + 0.6, 2.3 * nrows + 0.5)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def figure_legend(fig: Figure, axes: Sequence[Axes]) -> None:
    """One legend below the panels, naming every line drawn in any of them."""
    seen: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    labels = sorted(seen, key=lambda lab: execution_rank(*lab.split("/", 1)))
    fig.legend(
        [seen[lab] for lab in labels], labels, loc="outside lower center", ncols=max(1, len(labels))
    )


def chunks(df: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(df), size):
        yield df.iloc[start : start + size]
