"""The report's History section: each case group's values over the machine's runs, with
their CIs, the change points marked, regressions first; one Plotly chart per group and a
text table of the change points.

A case group is one workload (depth, batch, device, mode, precision, image size, threads
sweep and environment alike) with one line per framework/execution, so that a step of one
framework shows against the others measured on the same nights. Charts are fragments
without plotly.js: the report inlines it once (results.html), so the file makes no request.
Runs from `pytest --benchmark-only` are points like any other (their CI, where they have
one process, is absent).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

from results.format import fmt, fmt_change, fmt_change_ci, fmt_time, plain
from results.history import DEFAULT_THRESHOLD, ChangePoint, Series, analyse, ranked
from results.history_query import load_points
from results.plotting import in_template, label_colors, report_template
from vocab.case import case_label

if TYPE_CHECKING:
    from results.store import Store

HISTORY_RUNS = 60  # the report shows the machine's latest runs, not its whole past
MIN_RUNS = 2  # a single run has no history to show
GROUP_FIELDS: tuple[str, ...] = (
    "depth", "batch_size", "device", "mode", "precision", "image_size", "replicas",
)  # fmt: skip
LABEL_FIELDS: tuple[str, ...] = ("depth", "batch_size", "device", "mode", "precision", "image_size")
KIND_COLOURS = {"regression": "#c62828", "improvement": "#1a7f37", "shift": "#b26a00"}


@dataclass(frozen=True)
class HistorySection:
    """What the template shows: charts (HTML fragments) and the change points as rows."""

    runs: int
    charts: list[dict[str, Any]]
    steps: list[dict[str, str]]
    threshold: str


def history_section(
    store: Store, machine_id: int, runs: int = HISTORY_RUNS, threshold: float = DEFAULT_THRESHOLD
) -> HistorySection | None:
    """The section for one machine's latest `runs` runs; None with fewer than MIN_RUNS."""
    import results

    points = load_points(store, machine_id, last=runs)
    if points.empty or points["run_id"].nunique() < MIN_RUNS:
        return None
    series = analyse(points, threshold, lambda ids: results.load(store, ids))
    return build_section(series, int(points["run_id"].nunique()), threshold)


def _group_key(s: Series) -> tuple[Any, ...]:
    return (*(s.key.get(f) for f in GROUP_FIELDS), s.key.get("threads"), s.key.get("env"))


def build_section(series: Sequence[Series], n_runs: int, threshold: float) -> HistorySection:
    groups: dict[tuple[Any, ...], list[Series]] = {}
    for s in ranked(series):  # regressions first; a group ranks by its first series
        groups.setdefault(_group_key(s), []).append(s)
    charts = []
    with report_template():
        for members in groups.values():
            steps = [c for s in members for c in s.steps]
            title = case_label(members[0].key, LABEL_FIELDS)
            env = members[0].key.get("env")
            if env:
                title += f" env {env}"
            charts.append(
                {
                    "title": title,
                    "regressions": sum(c.kind == "regression" for c in steps),
                    "steps": len(steps),
                    "html": _figure(members, title),
                }
            )
    rows = [_step_row(s, c) for s in ranked(series) for c in sorted(s.steps, key=_kind_rank)]
    rows.sort(key=lambda r: ("regression", "improvement", "shift").index(r["kind"]))
    return HistorySection(n_runs, charts, rows, f"{threshold:.0%}")


def _kind_rank(c: ChangePoint) -> int:
    return ("regression", "improvement", "shift").index(c.kind)


def _step_row(s: Series, c: ChangePoint) -> dict[str, str]:
    return {
        "case": s.label,
        "kind": c.kind,
        "runs": f"{c.prev_run_id} → {c.run_id}",
        "before": fmt(c.before_s * 1000.0),
        "after": fmt(c.after_s * 1000.0),
        "change": fmt_change(c.ratio),
        "ci": fmt_change_ci(c.ratio_ci_low, c.ratio_ci_high),
        "differed": "; ".join(str(d) for d in c.differences) or "no recorded setting differs",
    }


def _hover(rec: Mapping[Any, Any], changed: str) -> str:
    """One point's hover text, escaped (it comes from the database)."""
    commit = rec.get("git_commit")
    parts = [
        f"run {rec['run_id']}" + (f" ({rec['run_label']})" if rec.get("run_label") else ""),
        fmt_time(rec["run_started_at"]),
        f"commit {str(commit)[:12]}" if isinstance(commit, str) and commit else "no commit",
        f"{rec['framework']} {rec.get('framework_version') or ''}".strip(),
        f"source {rec.get('run_source')}",
    ]
    if changed:
        parts.append(f"changed: {changed}")
    return "<br>".join(str(escape(p)) for p in parts)


def _figure(members: Sequence[Series], title: str) -> Markup:
    import plotly.graph_objects as go

    fig = go.Figure()
    # One x position per run of the group, in time order (a run may lack some cases).
    started: dict[int, Any] = {}
    for s in members:
        for rid, at in zip(s.points["run_id"], s.points["run_started_at"], strict=True):
            started.setdefault(int(rid), at)
    order = sorted(started, key=lambda r: (started[r], r))
    position = {rid: i for i, rid in enumerate(order)}
    # the report's colour per framework/execution (Okabe-Ito, results.plotting)
    colors = label_colors(f"{s.key['framework']}/{s.key['execution']}" for s in members)
    for s in members:
        recs = s.points.to_dict("records")
        x = [position[int(r["run_id"])] for r in recs]
        y = [float(r["value_s"]) * 1000.0 for r in recs]
        hi = [_plus(r, "ci_high_s", r["value_s"]) for r in recs]
        lo = [_plus(r, "ci_low_s", r["value_s"]) for r in recs]
        name = f"{s.key['framework']}/{s.key['execution']}"
        texts = [
            _hover(r, "; ".join(str(d) for d in s.changed.get(i, ()))) for i, r in enumerate(recs)
        ]
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines+markers",
                name=name,
                line={"color": colors[name]},
                error_y={"type": "data", "symmetric": False, "array": hi, "arrayminus": lo},
                text=texts,
                hovertemplate="%{y:.3g} ms<br>%{text}<extra>" + str(escape(name)) + "</extra>",
            )
        )
        for c in s.steps:
            fig.add_vline(
                x=position[c.run_id] - 0.5,  # between the last run before and the first after
                line_dash="dash",
                line_color=KIND_COLOURS[c.kind],
                annotation_text=f"{name} {fmt_change(c.ratio)}",
                annotation_font_color=KIND_COLOURS[c.kind],
            )
    fig.update_layout(
        title={"text": str(escape(title)), "font": {"size": 13}},
        yaxis_title="ms per step (95% CI)",
        xaxis={
            "tickvals": list(range(len(order))),
            "ticktext": [f"run {r}" for r in order],
            "title": "run",
        },
        height=320,
        margin={"l": 60, "r": 20, "t": 40, "b": 40},
        **in_template(),
        legend={"orientation": "h", "y": -0.2},
    )
    html = fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})
    return Markup(html)  # plotly's own JSON; every database string above was escaped


def _plus(rec: Mapping[Any, Any], col: str, value: Any) -> float | None:
    bound = plain(rec.get(col))
    if bound is None:
        return None
    return abs(float(bound) - float(value)) * 1000.0


def plotly_js() -> Markup:
    """plotly.js itself, for one inline <script> in the page (no network request)."""
    from plotly.offline import get_plotlyjs

    return Markup(get_plotlyjs())
