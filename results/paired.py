"""Paired comparison inside one run, along one case axis (`resnet-bench compare RUN --by AXIS`).

Every pair of cases of a run that differ only in AXIS (env, framework, execution,
precision, threads, batch_size, ... any case field) is compared, each candidate value with
the base value (the first-named, or the one asked for). The two cases' processes ran in the
same rounds, so the comparison is paired by round (vocab.comparison.paired_ratio_test): each
round with both gives one log difference, and whatever moved the whole round cancels.
A change is claimed when the whole 95% CI of the ratio lies beyond the threshold and
Benjamini-Hochberg over all compared pairs holds the false discovery rate at ALPHA.

The result has the columns of run-vs-run compare (results.compare.compare_runs), so the
same JSON and table shapes serve both, plus the axis, the two values and the pair counts.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from results.analysis import (
    _case_rank,
    case_value,
    compared_execution,
    of_run,
    paired_test,
    stored_round_values,
)
from results.compare import VERDICTS, decide, ratio_fields
from results.format import number
from vocab.case import CASE_FIELDS, case_fields_without, default_execution
from vocab.comparison import PAIRED_THRESHOLD, RatioTest

DEFAULT_THRESHOLD = PAIRED_THRESHOLD  # why this value: vocab.comparison
# An axis whose values bring another field with them: a framework is compared through its
# default execution (each framework has its own executions), as the report does.
DEPENDENT: dict[str, tuple[str, ...]] = {"framework": ("execution",)}
AXES: tuple[str, ...] = CASE_FIELDS


class AxisError(ValueError):
    """A bad --by axis or --base value; the message names it and the allowed ones."""


def _text(value: Any) -> str:
    return str(value)


def axis_values(rows: pd.DataFrame, axis: str, order: Sequence[Any] = ()) -> list[Any]:
    """The run's values of `axis`, first-named first: in `order` (the run's planned cases),
    then in the order the results were stored."""
    seen: dict[str, Any] = {}
    present = {_text(v): v for v in rows[axis].tolist()}
    for v in [*order, *rows.sort_values("result_id")[axis].tolist()]:
        if _text(v) in present:
            seen.setdefault(_text(v), present[_text(v)])
    return list(seen.values())


def _pick(grp: pd.DataFrame, axis: str, value: Any) -> dict[str, Any] | None:
    """The row of `value` in a group of cases; for a framework, its compared execution
    (its default where that finished ok, else the first that did, else the default)."""
    rows = grp[grp[axis].astype(str) == _text(value)]
    if rows.empty:
        return None
    if axis == "framework":
        ok = rows[(rows["status"] == "ok") & rows["value_s"].notna()]
        pool = ok if not ok.empty else rows
        ex = compared_execution(str(value), pool["execution"])
        rows = pool[pool["execution"] == ex]
    return {str(k): v for k, v in rows.iloc[0].to_dict().items()}


def _label(rec: Mapping[str, Any] | None, axis: str) -> str | None:
    if rec is None:
        return None
    if axis in ("framework", "execution"):
        return f"{rec['framework']}/{rec['execution']}"
    return _text(rec[axis])


def _is_ok(rec: Mapping[str, Any] | None) -> bool:
    return rec is not None and rec["status"] == "ok" and not math.isnan(case_value(rec))


def compare_by(
    df: pd.DataFrame,
    samples: pd.DataFrame | None,
    run_id: int,
    axis: str,
    base: str | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    order: Sequence[Any] = (),
) -> pd.DataFrame:
    """Every pair of cases of `run_id` that differ only in `axis`, each candidate value
    against the base value, with a verdict (the VERDICTS of run-vs-run compare).

    `base`: the base value as text (default: the first-named, see `axis_values`); `order`:
    the axis values in the order the run named them. Columns: the base case's fields,
    `axis`, `base_value`, `cand_value`, then compare_runs' columns (ratio = cand / base,
    above 1: the candidate is slower) and `pairs` / `unpaired` (rounds with both sides /
    processes without a partner, which the paired test leaves out). 'undetermined': fewer
    than two rounds with both sides. Raises AxisError for an unknown axis or base value,
    or a run with fewer than two values of the axis.
    """
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0, got {threshold!r}")
    if axis not in AXES:
        raise AxisError(f"unknown --by {axis!r}; allowed: {', '.join(AXES)}")
    rows = of_run(df, run_id)
    values = axis_values(rows, axis, order)
    shown = ", ".join(repr(_text(v)) for v in values) or "none"
    if base is not None and base not in [_text(v) for v in values]:
        raise AxisError(f"--base {base!r} is not a {axis} of run {run_id}; it has: {shown}")
    if len(values) < 2:
        raise AxisError(f"run {run_id} has one {axis} ({shown}): nothing to compare --by {axis}")
    base_value = next(v for v in values if base is None or _text(v) == base)
    cands = [v for v in values if _text(v) != _text(base_value)]
    group = list(case_fields_without(axis, *DEPENDENT.get(axis, ())))
    rounds = stored_round_values(df, samples)  # the stored process values, by round
    out: list[dict[str, Any]] = []
    tests: list[tuple[int, RatioTest, Any]] = []  # row, its test, its candidate value
    for _, grp in rows.groupby(group, sort=False, dropna=False):
        b = _pick(grp, axis, base_value)
        for value in cands:
            c = _pick(grp, axis, value)
            if b is None and c is None:
                continue
            shape = b if b is not None else c
            assert shape is not None
            row: dict[str, Any] = {f: shape[f] for f in CASE_FIELDS}
            if b is None:  # the base's fields, as far as the candidate's row has them
                row[axis] = base_value
                if axis == "framework":
                    row["execution"] = default_execution(str(base_value))
            row.update(_empty_comparison(axis, base_value, value, b, c, threshold))
            if b is None:
                row["verdict"] = "only in cand"
            elif c is None:
                row["verdict"] = "only in base"
            elif not (_is_ok(b) and _is_ok(c)):
                row["verdict"] = "not comparable"
            else:
                t = paired_test(b, c, rounds, threshold)
                row.update(ratio_fields(t), pairs=t.pairs, unpaired=t.unpaired)
                tests.append((len(out), t, value))
            out.append(row)
    # Benjamini-Hochberg per candidate value: each candidate against the base is its own
    # question (does avx2 change anything? does the A/A twin?). One family over all of them
    # would let a candidate with many true changes lower the bar for the others: in a real
    # run with an A/A twin beside a 5-27% setting, the twin's one p = 0.02 passed.
    for value in cands:
        decide(out, [(i, t) for i, t, v in tests if v == value])
    frame = pd.DataFrame(out, columns=[*CASE_FIELDS, *COLUMNS])
    if frame.empty:
        return frame
    for col in ("base_result_id", "cand_result_id"):
        with contextlib.suppress(TypeError, ValueError):
            frame[col] = frame[col].astype("Int64")
    order_ = sorted(
        range(len(frame)),
        key=lambda i: (
            VERDICTS.index(frame["verdict"].iloc[i]),
            *_case_rank(frame, i),
            str(frame["cand_value"].iloc[i]),
        ),
    )
    return frame.iloc[order_].reset_index(drop=True)


COLUMNS: tuple[str, ...] = (
    "axis",
    "base_value",
    "cand_value",
    "base_result_id",
    "cand_result_id",
    "base_status",
    "cand_status",
    "base_ms",
    "cand_ms",
    "base_processes",
    "cand_processes",
    "base_sd",
    "cand_sd",
    "pairs",
    "unpaired",
    "ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "change",
    "p_value",
    "se_log",
    "df",
    "significant",
    "threshold_used",
    "verdict",
)


def _empty_comparison(
    axis: str,
    base_value: Any,
    cand_value: Any,
    b: Mapping[str, Any] | None,
    c: Mapping[str, Any] | None,
    threshold: float,
) -> dict[str, Any]:
    def side(rec: Mapping[str, Any] | None, name: str) -> dict[str, Any]:
        return {
            f"{name}_result_id": None if rec is None else rec["result_id"],
            f"{name}_status": None if rec is None else rec["status"],
            f"{name}_ms": math.nan if rec is None else case_value(rec) * 1000.0,
            f"{name}_processes": None if rec is None else rec["processes"],
            f"{name}_sd": math.nan if rec is None else number(rec.get("sd_log_between")),
        }

    return {
        "axis": axis,
        "base_value": _label(b, axis) or _text(base_value),
        "cand_value": _label(c, axis) or _text(cand_value),
        **side(b, "base"),
        **side(c, "cand"),
        "pairs": 0,
        "unpaired": 0,
        "ratio": math.nan,
        "ratio_ci_low": math.nan,
        "ratio_ci_high": math.nan,
        "change": math.nan,
        "p_value": math.nan,
        "se_log": math.nan,
        "df": math.nan,
        "significant": False,
        "threshold_used": threshold,
    }
