"""The plumbing of the report's interactive charts (Plotly): the palette, hover text, the
figure-to-HTML step, and the table every chart carries as its text equivalent.

Why Plotly: one library gives hover, legend toggling and zoom with no hand-written script,
its figures are plain JSON (safe for database strings: plotly.io escapes '<', '>' and '/'
in it), and plotly.js is inlined once per document (results.html puts it in <head>); each
chart is a <div> fragment with include_plotlyjs=False, so other sections (history) can add
fragments of their own. MathJax is off, so a '$' in a database string stays a '$'.
"""

from __future__ import annotations

import contextlib
import functools
import html
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd
from markupsafe import Markup

from results.analysis import execution_rank
from results.answer import GROUP_KEYS
from results.format import fmt, fmt_ci, is_missing, number, text

if TYPE_CHECKING:
    import plotly.graph_objects as go

MAX_CHARTS_PER_KIND = 8  # a sweep over many devices/precisions must not bury the report
MAX_CASES_PER_CHART = 40  # rows of one per-case chart before it is split
# Okabe & Ito (2008): distinguishable with every common colour-vision deficiency; the
# yellow last, as it is faint on white.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
CONFIG: dict[str, Any] = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["toImage", "sendDataToCloud", "select2d", "lasso2d"],
}
FONT = "system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', sans-serif"


@dataclass(frozen=True)
class Table:
    """A chart's data as text: its columns and rows of formatted cells."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Chart:
    kind: str  # throughput | tradeoff | ratio | latency | ceiling | depth | replicas
    title: str
    html: Markup  # a <div> with the figure and the script that draws it
    table: Table
    notes: tuple[str, ...] = field(default=())
    figure: Any = field(default=None, compare=False, repr=False)  # the plotly Figure


def label_colors(labels: Iterable[str]) -> dict[str, str]:
    """The same colour for a framework/execution on every chart, in registry order."""

    def rank(lab: str) -> tuple[int, int, str, str]:
        framework, _, execution = lab.partition("/")
        return execution_rank(framework, execution)

    ordered = sorted(set(labels), key=rank)
    return {lab: PALETTE[i % len(PALETTE)] for i, lab in enumerate(ordered)}


def esc(value: Any) -> str:
    """A database string as Plotly text: Plotly reads a subset of HTML in labels and hover
    text, so markup is escaped to show as typed."""
    return html.escape(text(value), quote=False)


def label_of(row: Mapping[Any, Any]) -> str:
    return f"{row['framework']}/{row['execution']}"


@dataclass(frozen=True)
class Context:
    """Per result: what produced it (run, commit, versions), for hover text."""

    by_result: Mapping[int, str]

    @classmethod
    def of(cls, df: pd.DataFrame) -> Context:
        out: dict[int, str] = {}
        for r in df.to_dict("records"):
            if is_missing(r.get("result_id")):
                continue
            commit = text(r.get("git_commit"))[:12]  # as git abbreviates it
            if r.get("git_dirty") is True:
                commit += " (dirty)"
            version = r.get("framework_version")
            if is_missing(version):
                version = r.get(f"{r.get('framework')}_version")
            parts = [
                f"run {text(r.get('run_id'))} ({esc(r.get('run_label'))}), commit {esc(commit)}",
                f"{esc(r.get('framework'))} {esc(version)}, python {esc(r.get('python_version'))}",
                f"machine {esc(r.get('machine_hostname'))}",
            ]
            out[int(r["result_id"])] = "<br>".join(parts)
        return cls(out)

    def of_result(self, result_id: Any) -> str:
        return "" if is_missing(result_id) else self.by_result.get(int(result_id), "")


def hover_case(row: Mapping[Any, Any], ctx: Context, lines: Sequence[str]) -> str:
    """The hover text of a case: its label, the chart's lines (value, CI ...), processes,
    and what produced it."""
    parts = [f"<b>{esc(row.get('case', label_of(row)))}</b>", *lines]
    if not is_missing(row.get("processes")):
        parts.append(f"processes: {text(row.get('processes'))}")
    produced = ctx.of_result(row.get("result_id"))
    return "<br>".join([*parts, produced] if produced else parts)


def value_ci(value: Any, low: Any, high: Any, unit: str) -> str:
    return f"{fmt_ci(value, low, high)} {unit}" + (
        "" if not math.isnan(number(low)) else " (no CI: one process)"
    )


def error_bars(
    values: Sequence[float], lows: Sequence[float], highs: Sequence[float]
) -> dict[str, Any]:
    """Asymmetric error bars for Plotly from a value and its CI (0 where there is none)."""

    def gap(a: float, b: float) -> float:
        d = abs(a - b)
        return d if math.isfinite(d) else 0.0

    return {
        "type": "data",
        "symmetric": False,
        "array": [gap(h, v) for v, h in zip(values, highs, strict=True)],
        "arrayminus": [gap(v, lo) for v, lo in zip(values, lows, strict=True)],
        "thickness": 1.2,
        "width": 4,
    }


TEMPLATE = "plotly_white"


@contextlib.contextmanager
def report_template() -> Iterator[None]:
    """TEMPLATE as Plotly's default while a report's figures are made: a new figure takes
    the default template as already checked, while one given to each figure is checked
    and copied again, figure by figure (most of the time a small chart takes to make)."""
    import plotly.io as pio

    before = pio.templates.default
    pio.templates.default = TEMPLATE
    try:
        yield
    finally:
        pio.templates.default = before


def in_template() -> dict[str, Any]:
    """The layout that gives a figure TEMPLATE: nothing inside report_template."""
    import plotly.io as pio

    return {} if pio.templates.default == TEMPLATE else {"template": TEMPLATE}


def style(fig: go.Figure, height: int, **layout: Any) -> go.Figure:
    fig.update_layout(
        **in_template(),
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 80},
        font={"family": FONT, "size": 12},
        # at the foot of the figure: above the plot it runs into the panels' titles
        legend={"orientation": "h", "yanchor": "bottom", "y": 0, "x": 0, "yref": "container"},
        hoverlabel={"align": "left"},
        **layout,
    )
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    return fig


def to_html(fig: go.Figure, chart_id: str) -> Markup:
    """The figure as a <div> and its drawing script; plotly.js itself is in the page once."""
    import plotly.io as pio

    return Markup(
        pio.to_html(
            fig,
            full_html=False,
            include_plotlyjs=False,
            include_mathjax=False,
            div_id=chart_id,
            config=CONFIG,
            default_width="100%",
            default_height=f"{fig.layout.height or 400}px",
        )
    )


@functools.cache
def plotly_js() -> Markup:
    """plotly.js, minified, to inline once in the page's head (no CDN, no request)."""
    from plotly.offline import get_plotlyjs

    return Markup(get_plotlyjs())


class Charts:
    """Collects charts per kind, each with a unique element id, up to the cap per kind."""

    def __init__(self) -> None:
        self.items: list[Chart] = []

    def full(self, kind: str) -> bool:
        return sum(c.kind == kind for c in self.items) >= MAX_CHARTS_PER_KIND

    def add(
        self, kind: str, title: str, fig: go.Figure, table: Table, notes: Sequence[str] = ()
    ) -> bool:
        """Append the next chart of its kind; True once the kind's cap is reached."""
        n = sum(c.kind == kind for c in self.items) + 1
        chart_id = f"chart-{kind}-{n}"
        self.items.append(Chart(kind, title, to_html(fig, chart_id), table, tuple(notes), fig))
        return self.full(kind)


def cells(*values: Any) -> tuple[str, ...]:
    """Table cells: numbers with the report's rule, strings as they are."""
    return tuple(v if isinstance(v, str) else fmt(v) for v in values)


def log_ticks(values: Iterable[float]) -> dict[str, Any]:
    """Axis settings for a log axis with plain 1-2-5 tick labels over `values` (Plotly's
    own label the minor ticks with their first digit only: '2' for 20)."""
    xs = [v for v in values if math.isfinite(v) and v > 0]
    if not xs:
        return {"type": "log"}
    lo, hi = math.floor(math.log10(min(xs))), math.ceil(math.log10(max(xs)))
    ticks = [m * 10.0**e for e in range(lo, hi + 1) for m in (1, 2, 5)]
    ticks = [t for t in ticks if min(xs) / 2.5 <= t <= max(xs) * 2.5]
    return {"type": "log", "tickvals": ticks, "ticktext": [fmt(t) for t in ticks]}


# ------------------------------------------------------------ shared by the kinds


def groups(
    df: pd.DataFrame, extra: Sequence[str] = ()
) -> Iterator[tuple[dict[str, Any], pd.DataFrame]]:
    keys = [k for k in GROUP_KEYS if k in df.columns] + list(extra)
    for key, grp in df.groupby(keys, sort=True, dropna=False):
        yield dict(zip(keys, key, strict=True)), grp


def sorted_labels(labels: Sequence[str]) -> list[str]:
    return sorted(set(labels), key=lambda lab: execution_rank(*lab.split("/", 1)))


def subplots(n: int, titles: Sequence[str], cols: int = 4, **kw: Any) -> Any:
    from plotly.subplots import make_subplots

    ncols = min(cols, n)
    nrows = math.ceil(n / ncols)
    return make_subplots(
        rows=nrows,
        cols=ncols,
        subplot_titles=list(titles),
        horizontal_spacing=0.06,
        vertical_spacing=0.18 / max(1, nrows - 1) if nrows > 1 else 0.1,
        **kw,
    ), ncols


def images_ci(row: Mapping[Any, Any]) -> tuple[float, float, float]:
    """images/s with its CI, from ms/step and its CI between processes."""
    batch = float(row["batch_size"])

    def per_s(ms: Any) -> float:
        x = number(ms)
        return batch * 1000.0 / x if x > 0 else math.nan

    return per_s(row["value_ms"]), per_s(row["ci_high_ms"]), per_s(row["ci_low_ms"])


def ms_ci(row: Mapping[Any, Any]) -> str:
    return fmt_ci(row["value_ms"], row["ci_low_ms"], row["ci_high_ms"])


def ratio_ci(row: Mapping[Any, Any]) -> str:
    return fmt_ci(row["ratio"], row["ratio_ci_low"], row["ratio_ci_high"])


def ok_cases(summary: pd.DataFrame) -> pd.DataFrame:
    ok = summary[(summary["status"] == "ok") & summary["value_ms"].notna()]
    return ok.assign(label=[label_of(r) for r in ok.to_dict("records")])
