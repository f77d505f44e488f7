"""Run-to-run variance: what moves a whole run of a case on one machine, beyond what the
run's own processes show (a neighbour that stays for an hour, the memory layout after a
reboot, the machine's clocks that day).

`resnet-bench calibrate` measures a plan at least MIN_RUNS times (A/A: the same commit,
settings, threads and environment, checked) and keeps per case and thread count:

- sd_log: the sd of the log case value across the runs (n_runs - 1 df);
- run_var: the part of that variance the runs' own CIs do not explain,
  max(0, sd_log^2 - mean over the runs of sd_between_processes^2 / processes): the variance
  of one run's shift, on run_df = n_runs - 1 degrees of freedom (the sd's; the subtracted
  within-run part is estimated far more precisely, from every process of every run).

Run-vs-run `compare` adds 2 x run_var (each run has its own shift) to the squared standard
error of the log ratio and takes the t quantile at the Welch-Satterthwaite df of all terms
(vocab.comparison.log_ratio_test), instead of raising the threshold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from results.analysis import of_run
from results.compare import settings_differences
from results.format import plain
from results.keys import MATCH_KEYS, MIN_RUNS, VARIANCE_KEYS
from vocab.case import case_label
from vocab.comparison import RunShift

KEY: tuple[str, ...] = VARIANCE_KEYS  # what a run variance is looked up by
# Settings that may differ between A/A runs: the machine's passing state (load, steal,
# clocks) is what the run variance is made of.
MAY_DIFFER_PREFIXES: tuple[str, ...] = ("system:",)
COLUMNS: tuple[str, ...] = (
    *KEY,
    "case",
    "key",
    "n_runs",
    "sd_log",
    "run_var",
    "run_df",
    "processes",
    "sd_process",
)


class NotAA(ValueError):
    """Runs given to calibrate that are not A/A; the message names what differs."""


def check_a_a(df: pd.DataFrame, run_ids: Sequence[int]) -> None:
    """Raise NotAA naming the first setting (commit, versions, settings, threads, variables,
    environments) that differs between the runs; the machine's passing state may differ."""
    table = settings_differences(df, run_ids)
    for name, values in table.iterrows():
        if str(name).startswith(MAY_DIFFER_PREFIXES):
            continue
        seen = {int(r): values[r] for r in table.columns}
        first = next(iter(seen))
        other = next(r for r, v in seen.items() if v != seen[first])
        raise NotAA(
            f"runs {first} and {other} are not A/A: {name} differs "
            f"({_shown(seen[first])} / {_shown(seen[other])})"
        )


def _shown(value: Any) -> str:
    return "unset" if value is None else repr(value)


def learn_run_variance(df: pd.DataFrame, run_ids: Sequence[int]) -> pd.DataFrame:
    """Per case (KEY) ok in at least MIN_RUNS of the runs: COLUMNS (see the module)."""
    parts = [of_run(df, r) for r in run_ids]
    runs = pd.concat(parts) if parts else df.iloc[0:0]
    ok = runs[(runs["status"] == "ok") & runs["value_s"].notna()]
    rows: list[dict[str, Any]] = []
    for key, grp in ok.groupby(list(KEY), sort=True, dropna=False):
        if len(grp) < MIN_RUNS:
            continue
        logs = np.log(grp["value_s"].to_numpy(dtype=float))
        sd_proc = pd.to_numeric(grp["sd_log_between"], errors="coerce").to_numpy(dtype=float)
        procs = pd.to_numeric(grp["processes"], errors="coerce").to_numpy(dtype=float)
        within = sd_proc**2 / procs
        total = float(logs.var(ddof=1))
        explained = float(np.nanmean(within)) if np.isfinite(within).any() else 0.0
        row = dict(zip(KEY, key, strict=True))
        rows.append(
            {
                **row,
                "case": f"{case_label(row)} t{row['threads']}",
                "key": {k: plain(row[k]) for k in MATCH_KEYS},
                "n_runs": len(logs),
                "sd_log": math.sqrt(total),
                "run_var": max(0.0, total - explained),
                "run_df": float(len(logs) - 1),
                "processes": float(np.nanmedian(procs)),
                "sd_process": float(np.nanmedian(sd_proc)),
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def run_variances(learnt: pd.DataFrame) -> dict[tuple[Any, ...], RunShift]:
    """learn_run_variance's rows as compare_runs takes them: KEY values -> RunShift."""
    return {
        tuple(plain(r[k]) for k in KEY): RunShift(
            float(r["run_var"]), float(r["run_df"]), int(r["n_runs"])
        )
        for r in learnt.to_dict("records")
    }


def key_of(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """A result row's KEY values, as run_variances and Store.run_variances key them."""
    return tuple(plain(row[k]) for k in KEY)
