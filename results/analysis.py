"""Comparisons over stored results: pure functions, DataFrame in, DataFrame out.

Input is `results.load()`'s frame (one row per result) and, where the processes matter,
`results.load_samples()`'s frame (one row per timed step, tagged with its process). Only
results with status 'ok' and a value enter a comparison; failed, skipped and missing cases
are listed, never timed.

The process is the unit of replication: each worker process gives one value (the median of
its steps), and every comparison works on those per-process values, never on raw steps
(steps of one process share its offset; a test on them calls that offset "significant").
A ratio is the ratio of the two cases' values (geometric means of their per-process
values), its 95% CI a Welch t-interval of the difference of mean logs
(runners.stats.log_ratio_test). A difference is claimed only when the whole CI lies beyond
a practical threshold; across the cases of a run comparison, the false discovery rate is
held at 5% (Benjamini-Hochberg).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from runners.stats import CONFIDENCE, RatioTest, benjamini_hochberg, log_ratio_test
from suite.case import EXECUTIONS, FRAMEWORKS

ALPHA = 1.0 - CONFIDENCE  # CI level of every ratio, and the false discovery rate of compare
DEFAULT_THRESHOLD = 0.05  # minimum |cand/base - 1| for a regression or improvement
FASTER_THRESHOLD = 0.03  # minimum framework time ratio - 1 for "faster"
DEPTH_OUTLIER_THRESHOLD = 0.25  # |measured / fitted - 1| above this flags a depth
DEPTH_FIT_MIN_POINTS = 3  # a line through two points has no residual to judge

# What makes a case, in display order.
CASE_COLUMNS: tuple[str, ...] = (
    "framework",
    "execution",
    "depth",
    "batch_size",
    "device",
    "mode",
    "precision",
    "image_size",
    "num_classes",
    "threads",
    "interop_threads",
)
# Runs are matched on these; thread counts are added only when a run holds several results
# per key (a thread sweep), since threads may legitimately differ between two machines.
MATCH_KEYS: tuple[str, ...] = (
    "framework",
    "depth",
    "batch_size",
    "device",
    "mode",
    "precision",
    "execution",
    "image_size",
)
SWEEP_KEYS: tuple[str, ...] = ("num_classes", "threads", "interop_threads")
# One framework-comparison row per run and per these; the frameworks share the thread counts.
COMPARISON_KEYS: tuple[str, ...] = (
    "depth",
    "batch_size",
    "device",
    "mode",
    "precision",
    "image_size",
    "num_classes",
    "threads",
    "interop_threads",
)
SCALING_GROUP: tuple[str, ...] = (
    "framework",
    "execution",
    "depth",
    "device",
    "mode",
    "precision",
    "image_size",
    "threads",
)
DEPTH_GROUP: tuple[str, ...] = (
    "framework",
    "execution",
    "batch_size",
    "device",
    "mode",
    "precision",
    "image_size",
    "threads",
)

# Settings compared between runs: the same for every result of a run...
RUN_SETTINGS: tuple[str, ...] = (
    "machine_fingerprint",
    "machine_hostname",
    "machine_cpu",
    "machine_gpu",
    "machine_cores_physical",
    "machine_cores_logical",
    "machine_memory_bytes",
    "machine_os",
    "machine_kernel",
    "machine_arch",
    "machine_isa_flags",
    "machine_gpu_driver",
    "python_version",
    "torch_version",
    "tensorflow_version",
    "numpy_version",
    "suite_version",
    "git_commit",
    "git_dirty",
    "run_profile",
    "run_source",
)
# ...and per result (a run lists every distinct value).
RESULT_SETTINGS: tuple[str, ...] = (
    "threads",
    "interop_threads",
    "threads_intra",
    "threads_inter",
    "sync",
    "ci_target",
    "memory_kind",
)

VERDICTS: tuple[str, ...] = (
    "regression",
    "improvement",
    "same",
    "undetermined",
    "not comparable",
    "only in base",
    "only in cand",
)


# ---------------------------------------------------------------------------- helpers


def case_label(row: Mapping[Any, Any]) -> str:
    """The same short label as suite.case.Case.label(), built without validating."""
    return (
        f"{row['framework']}/{row['execution']} r{row['depth']} b{row['batch_size']} "
        f"{row['device']} {row['mode']} {row['precision']} {row['image_size']}px"
    )


def run_key(value: Any) -> str:
    """Run ids compared as text, so '3' from a command line matches 3 from the database."""
    return str(value)


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    return df[(df["status"] == "ok") & df["value_s"].notna()]


def of_run(df: pd.DataFrame, run_id: Any) -> pd.DataFrame:
    return df[df["run_id"].map(run_key) == run_key(run_id)]


def _ms(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce") * 1000.0


def _float(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def process_values(samples: pd.DataFrame | None) -> dict[Any, np.ndarray]:
    """result_id -> its per-process values (median of each process's steps), seconds."""
    if samples is None or samples.empty:
        return {}
    medians = samples.groupby(["result_id", "process"], sort=False)["seconds"].median()
    return {
        rid: grp.to_numpy(dtype=float)
        for rid, grp in medians.groupby(level="result_id", sort=False)
    }


def execution_rank(framework: str, execution: str) -> tuple[int, int, str, str]:
    """Sort key: frameworks and executions in registry order (defaults first), others after."""
    fw = FRAMEWORKS.index(framework) if framework in FRAMEWORKS else len(FRAMEWORKS)
    execs = EXECUTIONS.get(framework, ())
    ex = execs.index(execution) if execution in execs else len(execs)
    return fw, ex, framework, execution


# ------------------------------------------------------------------ ratio statistics


def ratio_test(
    base_row: Mapping[Any, Any],
    cand_row: Mapping[Any, Any],
    base_values: np.ndarray | None,
    cand_values: np.ndarray | None,
    threshold: float,
) -> RatioTest:
    """cand/base from per-process values; without them, the ratio of the stored values and
    no CI (nothing can be claimed)."""
    if (
        base_values is not None
        and cand_values is not None
        and len(base_values)
        and len(cand_values)
    ):
        return log_ratio_test(base_values, cand_values, threshold)
    b, c = _value(base_row), _value(cand_row)
    ratio = c / b if b > 0 else math.nan
    return RatioTest(ratio, math.nan, math.nan, math.nan, math.nan, threshold)


def _value(row: Mapping[Any, Any]) -> float:
    """A result's time per step: value_s, or median_s for rows without one."""
    value = _float(row.get("value_s"))
    return value if not math.isnan(value) else _float(row.get("median_s"))


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
            "unstable": df["unstable"].fillna(False).astype(bool),
            "unstable_reason": df["unstable_reason"],
            "throttled": df["throttled"],
        }
    )
    return _sorted_cases(out)


def _sorted_cases(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return df.reset_index(drop=True)
    order = sorted(
        range(len(df)), key=lambda i: (run_key(df["run_id"].iloc[i]), *_case_rank(df, i))
    )
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

    Its default execution (first in suite.case.EXECUTIONS) when that has an ok result,
    else the first of its executions, in registry order, that has one.
    """
    have = set(available)
    for ex in (*EXECUTIONS.get(framework, ()), *sorted(have)):
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
    `ratio` = other time / baseline time (above 1: the baseline is faster), from the two
    cases' per-process values (their processes ran interleaved, in the same rounds);
    `faster` names the faster side only when the whole 95% CI of the ratio lies beyond
    `threshold` (`significant`); `p_value` tests "within +/- threshold".
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
        "significant",
        "faster",
    ]
    if ok.empty:
        return pd.DataFrame(columns=[*keys, *pair_cols])
    labels = sorted(
        {(str(f), str(e)) for f, e in zip(ok["framework"], ok["execution"], strict=True)},
        key=lambda fe: execution_rank(*fe),
    )
    label_cols = [f"{f}/{e}" for f, e in labels]
    raw = process_values(samples)
    rows: list[dict[str, Any]] = []
    for key, grp in ok.groupby(keys, sort=False, dropna=False):
        base: dict[str, Any] = dict(zip(keys, key, strict=True))
        by_label = {f"{r['framework']}/{r['execution']}": r for r in grp.to_dict("records")}
        for col in label_cols:
            r = by_label.get(col)
            base[col] = _value(r) * 1000.0 if r is not None else math.nan
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
            b_row, o_row = by_label[b_label], by_label[o_label]
            t = ratio_test(
                b_row, o_row, raw.get(b_row["result_id"]), raw.get(o_row["result_id"]), threshold
            )
            faster = None
            if t.beyond:
                faster = b_label if t.ratio > 1.0 else o_label
            rows.append(
                {
                    **base,
                    "baseline": b_label,
                    "other": o_label,
                    "ratio": t.ratio,
                    "ratio_ci_low": t.ci_low,
                    "ratio_ci_high": t.ci_high,
                    "p_value": t.p_value,
                    "significant": t.beyond,
                    "faster": faster,
                }
            )
    out = pd.DataFrame(rows, columns=[*keys, *label_cols, *pair_cols])
    return out.sort_values(
        ["run_id", "device", "mode", "precision", "image_size", "depth", "batch_size"],
        key=lambda s: s.map(run_key) if s.name == "run_id" else s,
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
    pts = ok[[*group, "depth"]].copy()
    pts["gmacs_per_image"] = pd.to_numeric(ok["gmacs_per_image"], errors="coerce")
    pts["ms_per_image"] = _ms(ok["value_s"]) / pd.to_numeric(ok["batch_size"])
    parts: list[pd.DataFrame] = []
    for _, grp in pts.groupby(group, sort=False, dropna=False):
        grp = grp.sort_values("gmacs_per_image").copy()
        x = grp["gmacs_per_image"].to_numpy(dtype=float)
        y = grp["ms_per_image"].to_numpy(dtype=float)
        if len(grp) >= DEPTH_FIT_MIN_POINTS and np.ptp(x) > 0:
            fit = sps.siegelslopes(y, x)
            slope, intercept = float(fit.slope), float(fit.intercept)
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


# ------------------------------------------------------------------ run comparison


def _match_keys(base: pd.DataFrame, cand: pd.DataFrame) -> list[str]:
    keys = list(MATCH_KEYS)
    for side in (base, cand):
        if side.duplicated(keys).any():
            return [*keys, *SWEEP_KEYS]
    return keys


def compare_runs(
    df: pd.DataFrame,
    samples: pd.DataFrame | None,
    base_run: Any,
    cand_run: Any,
    threshold: float = DEFAULT_THRESHOLD,
    floors: Mapping[tuple[Any, ...], float] | None = None,
) -> pd.DataFrame:
    """Every case of two runs, matched, with a verdict.

    `ratio` = cand value / base value (above 1: cand is slower), from both runs'
    per-process values. A case's threshold (`threshold_used`) is the larger of `threshold`
    and its noise floor (`floors`, keyed by MATCH_KEYS values: what A/A runs of it moved on
    this machine, `resnet-bench calibrate`). Verdict: 'regression' / 'improvement' when the
    whole 95% CI of the ratio lies beyond that threshold AND Benjamini-Hochberg over all
    compared cases keeps the false discovery rate at ALPHA; 'same' otherwise;
    'undetermined' with one process on each side (no spread to judge by); 'not comparable'
    when either side did not finish ok (see base_status / cand_status); 'only in base' /
    'only in cand' for cases the other run lacks. Cases are matched on MATCH_KEYS, plus
    SWEEP_KEYS when a run holds several results per key.
    """
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0, got {threshold!r}")
    base = of_run(df, base_run)
    cand = of_run(df, cand_run)
    keys = _match_keys(base, cand)
    fields = ["result_id", "status", "value_s", "median_s", "unstable"]
    merged = pd.merge(
        base[[*keys, *fields]],
        cand[[*keys, *fields]],
        on=keys,
        how="outer",
        suffixes=("_base", "_cand"),
        indicator=True,
    )
    raw = process_values(samples)
    floors = floors or {}
    rows: list[dict[str, Any]] = []
    tests: list[tuple[int, RatioTest]] = []
    for rec in merged.to_dict("records"):
        row: dict[str, Any] = {k: rec[k] for k in keys}
        side = {s: {f: rec[f"{f}_{s}"] for f in fields} for s in ("base", "cand")}
        floor = floors.get(tuple(rec[k] for k in MATCH_KEYS), math.nan)
        row.update(
            base_result_id=rec["result_id_base"],
            cand_result_id=rec["result_id_cand"],
            base_status=rec["status_base"],
            cand_status=rec["status_cand"],
            base_ms=_value(side["base"]) * 1000.0,
            cand_ms=_value(side["cand"]) * 1000.0,
            base_processes=len(raw.get(rec["result_id_base"], ())),
            cand_processes=len(raw.get(rec["result_id_cand"], ())),
            ratio=math.nan,
            ratio_ci_low=math.nan,
            ratio_ci_high=math.nan,
            change=math.nan,
            p_value=math.nan,
            significant=False,
            noise_floor=floor,
            threshold_used=max(threshold, 0.0 if math.isnan(floor) else floor),
            base_unstable=bool(rec["unstable_base"]) if _present(rec["unstable_base"]) else None,
            cand_unstable=bool(rec["unstable_cand"]) if _present(rec["unstable_cand"]) else None,
        )
        if rec["_merge"] == "left_only":
            row["verdict"] = "only in base"
        elif rec["_merge"] == "right_only":
            row["verdict"] = "only in cand"
        elif not (_is_ok(rec, "_base") and _is_ok(rec, "_cand")):
            row["verdict"] = "not comparable"
        else:
            t = ratio_test(
                side["base"],
                side["cand"],
                raw.get(rec["result_id_base"]),
                raw.get(rec["result_id_cand"]),
                row["threshold_used"],
            )
            row.update(
                ratio=t.ratio,
                ratio_ci_low=t.ci_low,
                ratio_ci_high=t.ci_high,
                change=t.ratio - 1.0,
                p_value=t.p_value,
                verdict="undetermined" if math.isnan(t.p_value) else "same",
            )
            tests.append((len(rows), t))
        rows.append(row)
    rejected = benjamini_hochberg([t.p_value for _, t in tests], ALPHA)
    for (i, t), reject in zip(tests, rejected, strict=True):
        if reject and t.beyond:
            rows[i]["significant"] = True
            rows[i]["verdict"] = "regression" if t.ratio > 1.0 else "improvement"
    cols = [
        *keys,
        "base_result_id",
        "cand_result_id",
        "base_status",
        "cand_status",
        "base_ms",
        "cand_ms",
        "base_processes",
        "cand_processes",
        "ratio",
        "ratio_ci_low",
        "ratio_ci_high",
        "change",
        "p_value",
        "significant",
        "noise_floor",
        "threshold_used",
        "verdict",
        "base_unstable",
        "cand_unstable",
    ]
    out = pd.DataFrame(rows, columns=cols)
    if out.empty:
        return out
    for col in ("base_result_id", "cand_result_id"):
        # The outer merge turned integer ids into floats around the gaps.
        with contextlib.suppress(TypeError, ValueError):
            out[col] = out[col].astype("Int64")
    order = sorted(
        range(len(out)), key=lambda i: (VERDICTS.index(out["verdict"].iloc[i]), *_case_rank(out, i))
    )
    return out.iloc[order].reset_index(drop=True)


def is_missing(value: Any) -> bool:
    """None, NaN, pd.NA or NaT (a scalar the frame holds no value in)."""
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def _present(value: Any) -> bool:
    return not is_missing(value)


def _is_ok(rec: Mapping[Any, Any], suffix: str) -> bool:
    return bool(rec[f"status{suffix}"] == "ok") and not math.isnan(_float(rec[f"value_s{suffix}"]))


# ------------------------------------------------------------ environment settings


def _text(value: Any) -> str | None:
    """A setting's value as text; None when missing."""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if is_missing(value):
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _json_obj(value: Any) -> dict[str, Any]:
    if not isinstance(value, str) or not value:
        return {}
    try:
        parsed = json.loads(value)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def run_settings(df: pd.DataFrame, run_ids: Sequence[Any]) -> pd.DataFrame:
    """Every setting of each run as text: index = setting, one column per run id (as text).

    Per-result settings list each distinct value of the run, joined by ', '. Environment
    variables appear as 'env:NAME', framework build facts as 'build:FRAMEWORK:KEY'.
    A run that lacks a setting has None.
    """
    columns: dict[str, dict[str, str | None]] = {}
    for rid in run_ids:
        rows = of_run(df, rid)
        values: dict[str, set[str]] = {}

        def add(name: str, value: Any, into: dict[str, set[str]] = values) -> None:
            text = _text(value)
            if text is not None:
                into.setdefault(name, set()).add(text)

        first = rows.iloc[0] if not rows.empty else None
        if first is not None:
            for col in RUN_SETTINGS:
                if col in rows.columns:
                    add(col, first[col])
            for name, value in _system_settings(_json_obj(first.get("run_system"))).items():
                add(f"system:{name}", value)
        for rec in rows.to_dict("records"):
            for col in RESULT_SETTINGS:
                if col in rec:
                    add(col, rec[col])
            for name, value in _json_obj(rec.get("env_vars")).items():
                add(f"env:{name}", value)
            for name, value in _json_obj(rec.get("framework_build")).items():
                add(f"build:{rec['framework']}:{name}", value)
        columns[run_key(rid)] = {
            name: ", ".join(sorted(vals, key=natural_key)) for name, vals in values.items()
        }
    names = sorted({n for col in columns.values() for n in col}, key=_setting_order)
    out = pd.DataFrame(
        {rid: [col.get(n) for n in names] for rid, col in columns.items()},
        index=pd.Index(names, name="setting"),
        dtype=object,
    )
    return out


def _system_settings(system: Mapping[str, Any]) -> dict[str, Any]:
    """The run's CPU/GPU state (runners.host.system_state) as flat settings; per GPU its
    persistence mode, clocks, power limit, ECC, MIG, compute mode and PCIe link."""
    out: dict[str, Any] = {}
    for key, value in system.items():
        if key == "gpus" and isinstance(value, list):
            for gpu in value:
                if not isinstance(gpu, dict):
                    continue
                index = gpu.get("index", len(out))
                for name, v in gpu.items():
                    if name not in ("index", "name", "uuid", "memory_bytes"):
                        out[f"gpu{index}:{name}"] = v
        else:
            out[key] = value
    return out


def natural_key(text: str) -> tuple[int, float, str]:
    try:
        return 0, float(text), text
    except ValueError:
        return 1, 0.0, text


def _setting_order(name: str) -> tuple[int, int, str]:
    fixed = (*RUN_SETTINGS, *RESULT_SETTINGS)
    if name in fixed:
        return 0, fixed.index(name), name
    group = {"system:": 1, "env:": 2}
    return next((g for p, g in group.items() if name.startswith(p)), 3), 0, name


def settings_differences(df: pd.DataFrame, run_ids: Sequence[Any]) -> pd.DataFrame:
    """The rows of `run_settings` whose values are not all equal across the runs."""
    table = run_settings(df, run_ids)
    if table.empty or len(table.columns) < 2:
        return table.iloc[0:0]
    differs = table.apply(lambda r: len({v for v in r}) > 1, axis=1)
    return table[differs.astype(bool)]


def environment_diff(df: pd.DataFrame, base_run: Any, cand_run: Any) -> pd.DataFrame:
    """Settings that differ between two runs: columns setting, base, cand (None = unset)."""
    if run_key(base_run) == run_key(cand_run):
        return pd.DataFrame(columns=["setting", "base", "cand"])
    table = settings_differences(df, [base_run, cand_run])
    return pd.DataFrame(
        {
            "setting": table.index.to_list(),
            "base": table[run_key(base_run)].to_list(),
            "cand": table[run_key(cand_run)].to_list(),
        },
        dtype=object,  # keep None for unset, which a string column would turn into NaN
    )
