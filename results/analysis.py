"""Comparisons over stored results: pure functions, DataFrame in, DataFrame out.

Input is `results.load()`'s frame (one row per result) and, where the processes matter,
`results.load_samples()`'s frame (one row per timed step, tagged with its process). Only
results with status 'ok' and a value enter a comparison; failed, skipped and missing cases
are listed, never timed.

The process is the unit of replication: each worker process gives one value (the median of
its steps), and every comparison works on those per-process values, never on raw steps
(steps of one process share its offset; a test on them calls that offset "significant").
Two cases of one run (two frameworks) are compared paired by round: their processes ran
in the same rounds, so the ratio and its 95% CI come from the per-round log differences
(vocab.comparison.paired_ratio_test). A difference is claimed only when the whole CI lies
beyond a practical threshold and, across the compared rows, Benjamini-Hochberg holds the
false discovery rate at 5%.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from results.format import flag_list, flags_line, number
from results.samples import samples_by_result
from vocab import comparison, stats
from vocab.case import FRAMEWORKS, case_fields_without, case_label
from vocab.runtimes import executions_of
from vocab.stats import CONFIDENCE

ALPHA = 1.0 - CONFIDENCE  # CI level of every ratio, and the false discovery rate of compare
FASTER_THRESHOLD = 0.03  # minimum framework time ratio - 1 for "faster"
DEPTH_OUTLIER_THRESHOLD = 0.25  # |measured / fitted - 1| above this flags a depth
DEPTH_FIT_MIN_POINTS = 3  # a line through two points has no residual to judge

# The keys below come from the case's fields (vocab.case.CASE_FIELDS), so a new field of the
# case is a new key everywhere at once.
# What makes a case, in display order: framework and execution first.
CASE_COLUMNS: tuple[str, ...] = (
    "framework",
    "execution",
    *case_fields_without("framework", "execution"),
)
# One framework-comparison row per run and per these; the frameworks share the thread counts.
COMPARISON_KEYS: tuple[str, ...] = case_fields_without("framework", "execution")
# Throughput against batch size, and time per image against depth, per group of these.
SCALING_GROUP: tuple[str, ...] = case_fields_without(
    "batch_size", "num_classes", "interop_threads", fields=CASE_COLUMNS
)
DEPTH_GROUP: tuple[str, ...] = case_fields_without(
    "depth", "num_classes", "interop_threads", fields=CASE_COLUMNS
)


# ---------------------------------------------------------------------------- helpers


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    return df[(df["status"] == "ok") & df["value_s"].notna()]


def of_runs(df: pd.DataFrame, run_ids: Iterable[int]) -> pd.DataFrame:
    """The rows of these runs (run ids are integers everywhere, as the store gives them)."""
    return df[df["run_id"].isin([int(r) for r in run_ids]).to_numpy(dtype=bool, na_value=False)]


def of_run(df: pd.DataFrame, run_id: int) -> pd.DataFrame:
    return of_runs(df, [run_id])


def _ms(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce") * 1000.0


def process_values(samples: pd.DataFrame | None) -> dict[int, np.ndarray]:
    """result_id -> its per-process values (median of each process's steps), seconds,
    recomputed from the raw steps: to check the stored ones (see stored_process_values)."""
    return {rid: s.process_values() for rid, s in samples_by_result(samples).items()}


def round_values(samples: pd.DataFrame | None) -> dict[int, dict[int, float]]:
    """result_id -> {round: its process value in that round}, for paired tests.

    A round normally holds one process of a case; where it holds several (a resumed run),
    their geometric mean. Samples stored without a round (before rounds were recorded)
    give nothing: such results cannot be paired."""
    out: dict[int, dict[int, float]] = {}
    if samples is None or samples.empty:
        return out
    timed = samples[samples["round"].notna()]
    for rid, grp in timed.groupby("result_id", sort=False):
        assert isinstance(rid, int | np.integer)
        procs = grp["process"].astype(int).tolist()
        values = stats.process_values(grp["seconds"].to_numpy(dtype=float), procs)
        rounds = dict(zip(procs, grp["round"].astype(int).tolist(), strict=True))
        logs: dict[int, list[float]] = {}
        for proc, value in values.items():
            logs.setdefault(rounds[proc], []).append(math.log(value))
        out[int(rid)] = {r: math.exp(sum(v) / len(v)) for r, v in sorted(logs.items())}
    return out


def paired_test(
    base_row: Mapping[Any, Any],
    cand_row: Mapping[Any, Any],
    rounds: Mapping[int, Mapping[int, float]],
    threshold: float,
) -> comparison.RatioTest:
    """cand/base of two results of one run, paired by round (vocab.comparison.paired_ratio_test);
    results without rounds (stored before rounds were recorded) give the ratio of their
    values and no CI."""
    b = rounds.get(int(base_row["result_id"]))
    c = rounds.get(int(cand_row["result_id"]))
    if b and c:
        return comparison.paired_ratio_test(b, c, threshold)
    return comparison.ratio_test(None, None, threshold, case_value(base_row), case_value(cand_row))


def stored_process_values(
    df: pd.DataFrame, samples: pd.DataFrame | None = None
) -> dict[int, np.ndarray]:
    """result_id -> the per-process values its case value was computed from, as the store
    keeps them (frames' process_values_s: left-out outliers excluded). Statistics are
    computed once, at the store write; only results stored without process rows (before
    replication by processes) fall back to recomputing from `samples`."""
    import json

    out: dict[int, np.ndarray] = {}
    for rid, text in zip(df["result_id"], df["process_values_s"], strict=True):
        if isinstance(text, str):
            values = json.loads(text)
            if values:
                out[int(rid)] = np.asarray(values, dtype=float)
    if samples is not None:
        missing = samples[~samples["result_id"].isin(list(out))]
        out.update(process_values(missing))
    return out


def stored_round_values(
    df: pd.DataFrame, samples: pd.DataFrame | None = None
) -> dict[int, dict[int, float]]:
    """result_id -> {round: its stored process value in that round} (round_values' shape,
    for paired tests), read from frames' process_values_s / process_rounds: left-out
    outliers are not paired. Results stored without process rows fall back to
    round_values(samples)."""
    import json

    out: dict[int, dict[int, float]] = {}
    columns = (df[c] for c in ("result_id", "process_values_s", "process_rounds"))
    for rid, values, rounds in zip(*columns, strict=True):
        if isinstance(values, str) and isinstance(rounds, str) and json.loads(values):
            logs: dict[int, list[float]] = {}
            for r, v in zip(json.loads(rounds), json.loads(values), strict=True):
                logs.setdefault(int(r), []).append(math.log(v))
            out[int(rid)] = {r: math.exp(sum(v) / len(v)) for r, v in sorted(logs.items())}
    if samples is not None:
        out.update(round_values(samples[~samples["result_id"].isin(list(out))]))
    return out


def execution_rank(framework: str, execution: str) -> tuple[int, int, str, str]:
    """Sort key: frameworks and executions in registry order (defaults first), others after."""
    fw = FRAMEWORKS.index(framework) if framework in FRAMEWORKS else len(FRAMEWORKS)
    execs = executions_of(framework)
    ex = execs.index(execution) if execution in execs else len(execs)
    return fw, ex, framework, execution


def case_value(row: Mapping[Any, Any]) -> float:
    """A result's time per step: value_s, or median_s for rows stored without one."""
    value = number(row.get("value_s"))
    return value if not math.isnan(value) else number(row.get("median_s"))


# -------------------------------------------------------------------------- summary


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per result: the case, its ms/step (value) with the 95% CI between processes,
    throughput, status."""
    out = pd.DataFrame(
        {
            "run_id": df["run_id"],
            "result_id": df["result_id"],
            "case": [case_label(r) for r in df.to_dict("records")],
            **{c: df[c] for c in CASE_COLUMNS},
            "status": df["status"],
            "reason": df["reason"],
            "n_samples": df["n_samples"],
            "processes": df["processes"],
            "value_ms": _ms(df["value_s"]),
            "ci_low_ms": _ms(df["ci_low_s"]),
            "ci_high_ms": _ms(df["ci_high_s"]),
            "iqr_rel": pd.to_numeric(df["iqr_s"], errors="coerce")
            / pd.to_numeric(df["median_s"], errors="coerce"),
            "images_per_s": df["images_per_s"],
            "pipelined_images_per_s": df["pipelined_images_per_s"],
            "pipeline_steps": df["pipeline_steps"],
            "gmacs_per_s": df["gmacs_per_s"],
            "ceiling_share": df["ceiling_share"],
            "first_step_s": df["first_step_s"],
            "ci_rel": df["ci_rel"],
            "ci_target": df["ci_target"],
            # vocab.flags, stored: a list of {kind, process, detail} per result
            "flags": [flag_list(v) for v in df["flags"]],
            "flag_text": [flags_line(v) for v in df["flags"]],
            "process_values_s": df["process_values_s"],  # stored; see stored_process_values
            "throttled": df["throttled"],
        }
    )
    return _sorted_cases(out)


def _sorted_cases(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return df.reset_index(drop=True)
    order = sorted(range(len(df)), key=lambda i: (int(df["run_id"].iloc[i]), *_case_rank(df, i)))
    return df.iloc[order].reset_index(drop=True)


def _case_rank(df: pd.DataFrame, i: int) -> tuple[Any, ...]:
    """Reading order of case i: device, mode, precision, framework/execution, depth, batch."""
    row = df.iloc[i]
    return (
        row["device"],
        row["mode"],
        row["precision"],
        *execution_rank(row["framework"], row["execution"]),
        row["depth"],
        row["batch_size"],
        row["image_size"],
    )


# ------------------------------------------------------------- framework comparison


def compared_execution(framework: str, available: Iterable[str]) -> str | None:
    """The execution that represents a framework in a comparison row.

    Its default execution (first in its vocab.runtimes record) when that has an ok result,
    else the first of its executions, in registry order, that has one.
    """
    have = set(available)
    for ex in (*executions_of(framework), *sorted(have)):
        if ex in have:
            return ex
    return None


def framework_comparison(
    df: pd.DataFrame,
    samples: pd.DataFrame | None = None,
    threshold: float = FASTER_THRESHOLD,
) -> pd.DataFrame:
    """Frameworks side by side, one row per run x case (less framework and execution).

    Columns: the case keys, one ms/step column per 'framework/execution' present, then
    the compared pair and its statistics. Which pair: each framework is represented by its
    default execution (see `compared_execution`); the baseline is the first framework in
    registry order (torch) present in the row, and every other framework present is
    compared with it, one row each (so with two frameworks, one row per case).
    `ratio` = other time / baseline time (above 1: the baseline is faster), paired by round:
    both frameworks' processes ran in the same rounds, so each round gives one log
    difference and the CI is a t-interval on those (vocab.comparison.paired_ratio_test, the
    test `compare RUN --by framework` uses); `pairs` counts the rounds with both.
    `faster` names the faster side only when the whole 95% CI of the ratio lies beyond
    `threshold` AND Benjamini-Hochberg across the run's rows keeps the false discovery
    rate at ALPHA (`significant`); `p_value` tests "within +/- threshold".
    """
    ok = _ok(df)
    keys = ["run_id", *COMPARISON_KEYS]
    pair_cols = [
        "baseline",
        "other",
        "ratio",
        "ratio_ci_low",
        "ratio_ci_high",
        "p_value",
        "pairs",
        "significant",
        "faster",
        "baseline_result_id",  # what produced each side (the report's hover: run, versions)
        "other_result_id",
    ]
    if ok.empty:
        return pd.DataFrame(columns=[*keys, *pair_cols])
    labels = sorted(
        {(str(f), str(e)) for f, e in zip(ok["framework"], ok["execution"], strict=True)},
        key=lambda fe: execution_rank(*fe),
    )
    label_cols = [f"{f}/{e}" for f, e in labels]
    rounds = stored_round_values(df, samples)
    rows: list[dict[str, Any]] = []
    tests: list[tuple[int, comparison.RatioTest]] = []
    for key, grp in ok.groupby(keys, sort=False, dropna=False):
        base: dict[str, Any] = dict(zip(keys, key, strict=True))
        by_label = {f"{r['framework']}/{r['execution']}": r for r in grp.to_dict("records")}
        for col in label_cols:
            r = by_label.get(col)
            base[col] = case_value(r) * 1000.0 if r is not None else math.nan
        present = sorted(set(grp["framework"]), key=lambda f: execution_rank(f, ""))
        reps = {
            fw: f"{fw}/{compared_execution(fw, grp[grp['framework'] == fw]['execution'])}"
            for fw in present
        }
        if len(present) < 2:
            rows.append({**base, **dict.fromkeys(pair_cols), "significant": False})
            continue
        b_label = reps[present[0]]
        for fw in present[1:]:
            o_label = reps[fw]
            t = paired_test(by_label[b_label], by_label[o_label], rounds, threshold)
            tests.append((len(rows), t))
            rows.append(
                {
                    **base,
                    "baseline": b_label,
                    "other": o_label,
                    "ratio": t.ratio,
                    "ratio_ci_low": t.ci_low,
                    "ratio_ci_high": t.ci_high,
                    "p_value": t.p_value,
                    "pairs": t.pairs,
                    "significant": False,
                    "faster": None,
                    "baseline_result_id": by_label[b_label]["result_id"],
                    "other_result_id": by_label[o_label]["result_id"],
                }
            )
    for run in {rows[i]["run_id"] for i, _ in tests}:
        family = [(i, t) for i, t in tests if rows[i]["run_id"] == run]
        rejected = comparison.benjamini_hochberg([t.p_value for _, t in family], ALPHA)
        for (i, t), reject in zip(family, rejected, strict=True):
            if reject and t.beyond:
                rows[i]["significant"] = True
                rows[i]["faster"] = rows[i]["baseline"] if t.ratio > 1.0 else rows[i]["other"]
    out = pd.DataFrame(rows, columns=[*keys, *label_cols, *pair_cols])
    return out.sort_values(
        ["run_id", "device", "mode", "precision", "image_size", "depth", "batch_size"],
        kind="stable",
    ).reset_index(drop=True)


# ------------------------------------------------------------------------- scaling


def scaling(df: pd.DataFrame) -> pd.DataFrame:
    """Throughput against batch size, per run, framework/execution, depth, device, mode...

    `relative_throughput` is images/s over the images/s at the smallest batch measured in
    the same group (1.0 there): how much batching buys.
    """
    ok = _ok(df)
    group = ["run_id", *SCALING_GROUP]
    cols = [*group, "batch_size", "images_per_s", "value_ms", "relative_throughput"]
    if ok.empty:
        return pd.DataFrame(columns=cols)
    out = ok[[*group, "batch_size", "images_per_s"]].copy()
    out["images_per_s"] = pd.to_numeric(out["images_per_s"], errors="coerce")
    out["value_ms"] = _ms(ok["value_s"])
    out = out.sort_values([*group, "batch_size"], kind="stable")
    first = out.groupby(group, sort=False, dropna=False)["images_per_s"].transform("first")
    out["relative_throughput"] = out["images_per_s"] / first
    return out[cols].reset_index(drop=True)


def depth_scaling(df: pd.DataFrame) -> pd.DataFrame:
    """Time per image against forward GMACs per image across depths, with a line fit.

    Per run, framework/execution, batch size, device, mode, precision and image size, a
    Siegel repeated-medians line is fitted through (gmacs_per_image, ms_per_image): with
    four depths, one odd depth drags a least-squares (or Theil-Sen) line far enough to flag
    its neighbours instead; repeated medians ignore it (50% breakdown point). A depth is
    an outlier when it sits more than DEPTH_OUTLIER_THRESHOLD off the line. Groups with
    fewer than DEPTH_FIT_MIN_POINTS depths get no fit and no flag.
    """
    ok = _ok(df)
    ok = ok[pd.to_numeric(ok["gmacs_per_image"], errors="coerce").notna()]
    group = ["run_id", *DEPTH_GROUP]
    cols = [
        *group,
        "depth",
        "result_id",
        "gmacs_per_image",
        "ms_per_image",
        "fit_ms_per_image",
        "residual_rel",
        "outlier",
        "slope_ms_per_gmac",
        "intercept_ms",
    ]
    if ok.empty:
        return pd.DataFrame(columns=cols)
    pts = ok[[*group, "depth", "result_id"]].copy()
    pts["gmacs_per_image"] = pd.to_numeric(ok["gmacs_per_image"], errors="coerce")
    pts["ms_per_image"] = _ms(ok["value_s"]) / pd.to_numeric(ok["batch_size"])
    parts: list[pd.DataFrame] = []
    for _, grp in pts.groupby(group, sort=False, dropna=False):
        grp = grp.sort_values("gmacs_per_image").copy()
        x = grp["gmacs_per_image"].to_numpy(dtype=float)
        y = grp["ms_per_image"].to_numpy(dtype=float)
        if len(grp) >= DEPTH_FIT_MIN_POINTS and np.ptp(x) > 0:
            slope, intercept = stats.robust_line(x, y)
            fitted = slope * x + intercept
            resid = np.divide(y, fitted, out=np.full_like(y, np.nan), where=fitted > 0) - 1.0
            grp["fit_ms_per_image"] = fitted
            grp["residual_rel"] = resid
            grp["outlier"] = np.abs(resid) > DEPTH_OUTLIER_THRESHOLD
            grp["slope_ms_per_gmac"] = slope
            grp["intercept_ms"] = intercept
        else:
            grp["fit_ms_per_image"] = math.nan
            grp["residual_rel"] = math.nan
            grp["outlier"] = False
            grp["slope_ms_per_gmac"] = math.nan
            grp["intercept_ms"] = math.nan
        parts.append(grp)
    out = pd.concat(parts, ignore_index=True)
    out["outlier"] = out["outlier"].astype(bool)
    return out[cols]
