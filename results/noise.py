"""Noise floors: how far a case's value moves between runs of identical code on one machine.

`resnet-bench calibrate` runs a plan several times (A/A) and keeps, per case, the sd of the
log value between those runs and the floor derived from it (runners.stats.noise_floor: the
change two identical runs exceed 5% of the time). The between-process CI of one run cannot
see what changes only from run to run (a reboot, a neighbour that stays for an hour, a
different memory layout of the whole machine); the floor can, and `compare` will not call a
change smaller than it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from results.analysis import of_run
from results.compare import MATCH_KEYS
from results.format import plain
from runners.comparison import noise_floor
from runners.stats import sd_log
from suite.case import case_label

MIN_RUNS = 2


def learn_floors(df: pd.DataFrame, run_ids: Sequence[int]) -> pd.DataFrame:
    """Per case (MATCH_KEYS) ok in at least MIN_RUNS of the runs: n_runs, sd_log, floor."""
    runs = pd.concat([of_run(df, r) for r in run_ids]) if run_ids else df.iloc[0:0]
    ok = runs[(runs["status"] == "ok") & runs["value_s"].notna()]
    rows: list[dict[str, Any]] = []
    for key, grp in ok.groupby(list(MATCH_KEYS), sort=True, dropna=False):
        values = grp["value_s"].to_numpy(dtype=float)
        if len(values) < MIN_RUNS:
            continue
        sd = sd_log(values)
        row = dict(zip(MATCH_KEYS, key, strict=True))
        rows.append(
            {
                **row,
                "case": case_label(row),
                "key": [plain(v) for v in key],
                "n_runs": len(values),
                "sd_log": sd,
                "floor": noise_floor(sd) if math.isfinite(sd) else math.nan,
            }
        )
    return pd.DataFrame(rows, columns=[*MATCH_KEYS, "case", "key", "n_runs", "sd_log", "floor"])
