"""The best batch of each case group: where throughput stops growing with the batch.

A group is every case axis but the batch (SCALING_GROUP). Throughput is images/s with one
sync per k steps where that was timed (CUDA: what the device sustains), else at one sync
per step, as `--batch-sizes auto` compares them (suite.batch_search).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from results.analysis import SCALING_GROUP
from results.format import BATCHLESS_LABEL
from vocab.case import case_label

BEST_COLUMNS = (
    "run_id", *SCALING_GROUP, "group", "batches", "best_batch", "images_per_s",
    "gain_over_half", "largest_status",
)  # fmt: skip


def group_label(row: Mapping[Any, Any]) -> str:
    """A case label without its batch."""
    return case_label(row, BATCHLESS_LABEL)


def throughput(row: Mapping[Any, Any]) -> float:
    pipelined = row.get("pipelined_images_per_s")
    if isinstance(pipelined, float) and math.isfinite(pipelined):
        return pipelined
    value = row.get("images_per_s")
    return float(value) if isinstance(value, int | float) else math.nan


def best_batches(df: pd.DataFrame) -> pd.DataFrame:
    """Per run and group with at least two batch sizes: the batch with the highest
    throughput, that throughput, its gain over half that batch (NaN where not measured),
    and the status of the largest batch tried (oom: memory ended the search there)."""
    rows = []
    if df.empty:
        return pd.DataFrame(columns=BEST_COLUMNS)
    group = ["run_id", *SCALING_GROUP]
    for _key, part in df.groupby(group, sort=False, dropna=False):
        records = sorted(part.to_dict("records"), key=lambda r: int(r["batch_size"]))
        ok = [r for r in records if r["status"] == "ok" and math.isfinite(throughput(r))]
        if len({int(r["batch_size"]) for r in records}) < 2 or not ok:
            continue
        best = max(ok, key=throughput)
        half = next((r for r in ok if int(r["batch_size"]) * 2 == int(best["batch_size"])), None)
        gain = throughput(best) / throughput(half) - 1.0 if half is not None else math.nan
        rows.append(
            {
                **{name: best[name] for name in group},
                "group": group_label(best),
                "batches": ", ".join(str(int(r["batch_size"])) for r in records),
                "best_batch": int(best["batch_size"]),
                "images_per_s": throughput(best),
                "gain_over_half": gain,
                "largest_status": records[-1]["status"],
            }
        )
    return pd.DataFrame(rows, columns=BEST_COLUMNS)
