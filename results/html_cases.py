"""The report's per-case views: badges only for what needs a look (a failed status, a
throttled device, a specific flag from vocab.flags), a legacy `unstable` said quietly in
the note, the summary rows, the "Needs attention" list and the best-batch rows."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from results.format import (
    MISSING,
    flag,
    flag_list,
    fmt,
    fmt_ci,
    fmt_images,
    fmt_pct,
    fmt_precision,
    is_missing,
    number,
    text,
)
from vocab.flags import FLAG_KINDS
from vocab.measurement import FAILED_STATUSES

LEGACY = "legacy"  # vocab.flags: `unstable` from before flags; it fired on most clean cases


def real_flags(row: Mapping[Any, Any] | pd.Series) -> list[dict[str, Any]]:
    """The case's specific flags (vocab.flags: outlier process, drift, warm-up not
    finished), as the summary holds them; a legacy `unstable` is not one: it is said
    quietly in the case's note, never as a badge or in "Needs attention"."""
    value = row.get("flags")
    flags = value if isinstance(value, list) else flag_list(value)
    return [f for f in flags if f.get("kind") != LEGACY]


def _badges(row: pd.Series) -> list[dict[str, str]]:
    """A badge only for what needs a look: a failed status, a throttled device, a real flag."""
    status = str(row["status"])
    badges = []
    if status in (*FAILED_STATUSES, "skipped"):
        badges.append({"cls": status, "text": status})
    if flag(row["throttled"]):
        badges.append({"cls": "throttled", "text": "throttled"})
    kinds = dict.fromkeys(
        FLAG_KINDS.get(str(f.get("kind")), str(f.get("kind"))) for f in real_flags(row)
    )
    badges += [{"cls": "flag", "text": k} for k in kinds]
    return badges


def _row_class(row: pd.Series) -> str:
    status = str(row["status"])
    classes = [f"status-{status}" if status in (*FAILED_STATUSES, "skipped", "ok") else "status"]
    if status in FAILED_STATUSES:
        classes.append("failed")
    if real_flags(row):
        classes.append("flagged")
    return " ".join(classes)


def _note(row: pd.Series) -> str:
    """The status reason and the flags in words (a legacy `unstable` among them, quietly);
    '' when neither."""
    notes = [] if is_missing(row["reason"]) else [str(row["reason"])]
    flag_text = row.get("flag_text")
    if isinstance(flag_text, str) and flag_text:
        notes.append(flag_text)
    return "; ".join(notes)


def _value_text(row: pd.Series) -> str:
    """ms/step with its CI; a CI that missed its target says so: '+/-7.9% (target +/-2%)'."""
    value = fmt_ci(row["value_ms"], row["ci_low_ms"], row["ci_high_ms"])
    rel, target = number(row.get("ci_rel")), number(row.get("ci_target"))
    if not math.isnan(target) and rel > target:
        value += f" {fmt_precision(rel, target)}"
    return value


def best_batch_rows(best: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {
            "group": r["group"],
            "batches": r["batches"],
            "best": text(r["best_batch"]),
            "images": fmt(r["images_per_s"]),
            "gain": fmt_pct(r["gain_over_half"]),
            "largest": r["largest_status"],
        }
        for _, r in best.iterrows()
    ]


def summary_rows(summary: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for _, r in summary.iterrows():
        ok = r["status"] == "ok"
        rows.append(
            {
                "cls": _row_class(r),
                "case": text(r["case"]),
                "badges": _badges(r),
                "n": text(r["n_samples"]) if ok else MISSING,
                "processes": text(r["processes"]) if ok else MISSING,
                # the case value (geometric mean of per-process values), CI between processes
                "value": _value_text(r),
                "iqr": fmt_pct(r["iqr_rel"]),
                "images": fmt_images(r.to_dict()),
                "gmacs": fmt(r["gmacs_per_s"]),
                "ceiling": fmt_pct(r["ceiling_share"]),
                "first_step": fmt(r["first_step_s"]),
                "reason": _note(r),
            }
        )
    return rows


def attention_rows(summary: pd.DataFrame) -> list[dict[str, Any]]:
    """Failed and throttled cases and cases with a real flag, each with its reason; a
    skipped case (by design: no CUDA here) and a legacy `unstable` one are not listed."""
    rows = []
    for _, r in summary.iterrows():
        badges = [b for b in _badges(r) if b["cls"] != "skipped"]
        if badges:
            rows.append({"case": text(r["case"]), "badges": badges, "note": _note(r)})
    return rows
