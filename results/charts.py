"""Report charts, one function per kind: the throughput-latency trade-off (Pareto front),
throughput against batch (results.chart_batches); framework ratio, latency (steps and
processes), share of the ceiling (results.chart_cases); time per image across depths,
data-parallel scaling (results.chart_scaling). Each returns Charts (results.plotting): an
interactive Plotly figure plus its table as the text equivalent."""

from __future__ import annotations

import pandas as pd

from results.analysis import FASTER_THRESHOLD, of_run
from results.chart_batches import PARETO_NAME, pareto_front, throughput_charts, tradeoff_charts
from results.chart_cases import (
    PROCESS_NAME,
    STEPS_NAME,
    ceiling_charts,
    latency_charts,
    ratio_charts,
)
from results.chart_scaling import depth_charts, replica_charts
from results.plotting import Chart, Context, report_template

__all__ = [
    "PARETO_NAME",
    "PROCESS_NAME",
    "STEPS_NAME",
    "Chart",
    "all_charts",
    "ceiling_charts",
    "depth_charts",
    "latency_charts",
    "pareto_front",
    "ratio_charts",
    "replica_charts",
    "throughput_charts",
    "tradeoff_charts",
]


def all_charts(
    summary: pd.DataFrame,
    comparison: pd.DataFrame,
    depth: pd.DataFrame,
    samples: pd.DataFrame | None,
    run_id: int,
    ctx: Context,
    faster_threshold: float = FASTER_THRESHOLD,
) -> list[Chart]:
    """Every chart for one run, in report order."""
    run_summary = of_run(summary, run_id)
    run_samples = None if samples is None else of_run(samples, run_id)
    with report_template():
        return [
            *tradeoff_charts(run_summary, ctx),
            *throughput_charts(run_summary, ctx),
            *ratio_charts(of_run(comparison, run_id), ctx, faster_threshold),
            *latency_charts(run_summary, run_samples, ctx),
            *ceiling_charts(run_summary, ctx),
            *depth_charts(of_run(depth, run_id), ctx),
        ]
