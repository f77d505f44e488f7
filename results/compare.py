"""Run-to-run comparison: every case of two runs matched, with a verdict, and the settings
that differ between the runs.

Like results.analysis, pure functions over `results.load()` / `results.load_samples()`
frames. A case's ratio and its 95% CI come from both runs' per-process values (never raw
steps); a change is claimed only when the whole CI lies beyond the threshold and
Benjamini-Hochberg over all compared cases keeps the false discovery rate at ALPHA.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from results.analysis import (
    ALPHA,
    _case_rank,
    case_value,
    of_run,
    stored_process_values,
)
from results.format import flags_line, is_missing, number, plain
from results.keys import MATCH_KEYS as MATCH_KEYS  # re-exported: their old home
from results.keys import SWEEP_KEYS as SWEEP_KEYS
from results.metadata import VERSION_KEYS
from vocab import comparison as stats
from vocab.comparison import RatioTest, RunShift, benjamini_hochberg

DEFAULT_THRESHOLD = 0.05  # minimum |cand/base - 1| for a regression or improvement

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
    *(k.name for k in VERSION_KEYS if k.name.endswith("_version")),  # the runtimes'
    "numpy_version",
    "suite_version",
    "git_commit",
    "git_dirty",
    "run_profile",
    "run_source",
)
# ...and per result (a run lists every distinct value).
RESULT_SETTINGS: tuple[str, ...] = (
    "env_python",
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
    base_run: int,
    cand_run: int,
    threshold: float = DEFAULT_THRESHOLD,
    run_variance: Mapping[tuple[Any, ...], RunShift] | None = None,
) -> pd.DataFrame:
    """Every case of two runs, matched, with a verdict.

    `ratio` = cand value / base value (above 1: cand is slower), from both runs'
    per-process values (Welch t on their logs). Where `run_variance` (keyed by
    VARIANCE_KEYS values, with the candidate's threads: `resnet-bench calibrate`, results.noise)
    has the case, its run-to-run variance joins the standard error (`run_sd`, `run_df`;
    vocab.comparison.log_ratio_test); without it (`run_sd` NaN) the CI holds only the
    processes' spread and cannot see a shift of the whole machine between the runs.
    Verdict: 'regression' / 'improvement' when the
    whole 95% CI of the ratio lies beyond `threshold` AND Benjamini-Hochberg over all
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
    fields = ["result_id", "status", "value_s", "median_s", "sd_log_between", "flags"]
    if "threads" not in keys:
        fields.append("threads")
    merged = pd.merge(
        base[[*keys, *fields]],
        cand[[*keys, *fields]],
        on=keys,
        how="outer",
        suffixes=("_base", "_cand"),
        indicator=True,
    )
    raw = stored_process_values(df, samples)
    run_variance = run_variance or {}
    rows: list[dict[str, Any]] = []
    tests: list[tuple[int, RatioTest]] = []
    for rec in merged.to_dict("records"):
        row: dict[str, Any] = {k: rec[k] for k in keys}
        side = {s: {f: rec[f"{f}_{s}"] for f in fields} for s in ("base", "cand")}
        threads = rec["threads"] if "threads" in keys else rec["threads_cand"]
        shift = run_variance.get((*(plain(rec[k]) for k in MATCH_KEYS), plain(threads)))
        row.update(
            base_result_id=rec["result_id_base"],
            cand_result_id=rec["result_id_cand"],
            base_status=rec["status_base"],
            cand_status=rec["status_cand"],
            base_ms=case_value(side["base"]) * 1000.0,
            cand_ms=case_value(side["cand"]) * 1000.0,
            base_processes=len(raw.get(rec["result_id_base"], ())),
            cand_processes=len(raw.get(rec["result_id_cand"], ())),
            ratio=math.nan,
            ratio_ci_low=math.nan,
            ratio_ci_high=math.nan,
            change=math.nan,
            p_value=math.nan,
            se_log=math.nan,
            df=math.nan,
            base_sd=number(rec["sd_log_between_base"]),
            cand_sd=number(rec["sd_log_between_cand"]),
            run_sd=math.sqrt(shift.var) if shift is not None else math.nan,
            run_df=shift.df if shift is not None else math.nan,
            significant=False,
            threshold_used=threshold,
            base_flags=flags_line(rec["flags_base"]),
            cand_flags=flags_line(rec["flags_cand"]),
        )
        if rec["_merge"] == "left_only":
            row["verdict"] = "only in base"
        elif rec["_merge"] == "right_only":
            row["verdict"] = "only in cand"
        elif not (_is_ok(rec, "_base") and _is_ok(rec, "_cand")):
            row["verdict"] = "not comparable"
        else:
            t = stats.ratio_test(
                raw.get(rec["result_id_base"]),
                raw.get(rec["result_id_cand"]),
                threshold,
                case_value(side["base"]),
                case_value(side["cand"]),
                shift,
            )
            row.update(ratio_fields(t))
            tests.append((len(rows), t))
        rows.append(row)
    decide(rows, tests)
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
        "se_log",
        "df",
        "base_sd",
        "cand_sd",
        "run_sd",
        "run_df",
        "significant",
        "threshold_used",
        "verdict",
        "base_flags",
        "cand_flags",
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


def ratio_fields(t: Any) -> dict[str, Any]:
    """A compared row's ratio, CI and test columns; 'same' until `decide` says otherwise."""
    return {
        "ratio": t.ratio,
        "ratio_ci_low": t.ci_low,
        "ratio_ci_high": t.ci_high,
        "change": t.ratio - 1.0,
        "p_value": t.p_value,
        "se_log": t.se,
        "df": t.df,
        "verdict": "undetermined" if math.isnan(t.p_value) else "same",
    }


def decide(rows: list[dict[str, Any]], tests: Sequence[tuple[int, Any]]) -> None:
    """Benjamini-Hochberg over the tested rows (run-vs-run and paired alike): a rejected
    test whose CI lies beyond the threshold is a regression or an improvement."""
    rejected = benjamini_hochberg([t.p_value for _, t in tests], ALPHA)
    for (i, t), reject in zip(tests, rejected, strict=True):
        if reject and t.beyond:
            rows[i]["significant"] = True
            rows[i]["verdict"] = "regression" if t.ratio > 1.0 else "improvement"


def _is_ok(rec: Mapping[Any, Any], suffix: str) -> bool:
    return bool(rec[f"status{suffix}"] == "ok") and not math.isnan(number(rec[f"value_s{suffix}"]))


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


def run_settings(df: pd.DataFrame, run_ids: Sequence[int]) -> pd.DataFrame:
    """Every setting of each run as text: index = setting, one column per run id.

    Per-result settings list each distinct value of the run, joined by ', '. Environment
    variables appear as 'env:NAME', framework build facts as 'build:FRAMEWORK:KEY'.
    A run that lacks a setting has None.
    """
    return group_settings({int(rid): of_run(df, rid) for rid in run_ids})


def env_settings(df: pd.DataFrame, run_id: int, order: Sequence[str] = ()) -> pd.DataFrame:
    """run_settings for the environments of one A/B run: one column per environment
    name, those in `order` (the names as the run gave them) first (each result row
    carries its environment's software, probed inside it)."""
    rows = of_run(df, run_id)
    found = [str(e) for e in rows["env"] if isinstance(e, str) and e]
    names = list(dict.fromkeys([*(n for n in order if n in found), *found]))
    return group_settings({name: rows[rows["env"] == name] for name in names})


def env_differences(df: pd.DataFrame, run_id: int, order: Sequence[str] = ()) -> pd.DataFrame:
    """The rows of env_settings whose values differ between the run's environments
    (empty for a run of one environment)."""
    return _differing(env_settings(df, run_id, order))


def group_settings(groups: Mapping[Any, pd.DataFrame]) -> pd.DataFrame:
    """Every setting of each group of result rows (a run, an environment) as text:
    index = setting, one column per group key."""
    columns = {key: _settings(rows.to_dict("records")) for key, rows in groups.items()}
    names = sorted({n for col in columns.values() for n in col}, key=_setting_order)
    out = pd.DataFrame(
        {key: [col.get(n) for n in names] for key, col in columns.items()},
        index=pd.Index(names, name="setting"),
        dtype=object,
    )
    return out


def record_differences(
    groups: Mapping[Any, Sequence[Mapping[Any, Any]]],
) -> list[tuple[str, dict[Any, str | None]]]:
    """group_settings' rows whose values are not all equal, from result records (rows
    as dicts) without building frames: (setting, {group key: text}), in its order. Cheap
    enough to call for every step of a long history."""
    columns = {key: _settings(records) for key, records in groups.items()}
    if len(columns) < 2:
        return []
    names = sorted({n for col in columns.values() for n in col}, key=_setting_order)
    out = []
    for name in names:
        values = {key: col.get(name) for key, col in columns.items()}
        if len(set(values.values())) > 1:
            out.append((name, values))
    return out


def _settings(records: Sequence[Mapping[Any, Any]]) -> dict[str, str]:
    """The settings of one group of result records as text (a per-result setting lists
    each distinct value, joined by ', '); the run's own from its first record."""
    values: dict[str, set[str]] = {}

    def add(name: str, value: Any) -> None:
        text = _text(value)
        if text is not None:
            values.setdefault(name, set()).add(text)

    if records:
        first = records[0]
        for col in RUN_SETTINGS:
            if col in first:
                add(col, first[col])
        for name, value in _system_settings(_json_obj(first.get("run_system"))).items():
            add(f"system:{name}", value)
    for rec in records:
        for col in RESULT_SETTINGS:
            if col in rec:
                add(col, rec[col])
        for name, value in _json_obj(rec.get("env_vars")).items():
            add(f"env:{name}", value)
        for name, value in _json_obj(rec.get("framework_build")).items():
            add(f"build:{rec['framework']}:{name}", value)
    return {name: ", ".join(sorted(vals, key=natural_key)) for name, vals in values.items()}


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


def settings_differences(df: pd.DataFrame, run_ids: Sequence[int]) -> pd.DataFrame:
    """The rows of `run_settings` whose values are not all equal across the runs."""
    return _differing(run_settings(df, run_ids))


def _differing(table: pd.DataFrame) -> pd.DataFrame:
    if table.empty or len(table.columns) < 2:
        return table.iloc[0:0]
    differs = table.apply(lambda r: len({v for v in r}) > 1, axis=1)
    return table[differs.astype(bool)]


def environment_diff(df: pd.DataFrame, base_run: int, cand_run: int) -> pd.DataFrame:
    """Settings that differ between two runs: columns setting, base, cand (None = unset)."""
    if base_run == cand_run:
        return pd.DataFrame(columns=["setting", "base", "cand"])
    table = settings_differences(df, [base_run, cand_run])
    return pd.DataFrame(
        {
            "setting": table.index.to_list(),
            "base": table[base_run].to_list(),
            "cand": table[cand_run].to_list(),
        },
        dtype=object,  # keep None for unset, which a string column would turn into NaN
    )
