"""How values are shown: one place for every label and number the terminal, the HTML
report and `compare` print."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

MISSING = "—"


def is_missing(value: Any) -> bool:
    """None, NaN, pd.NA or NaT (a scalar the frame holds no value in)."""
    import pandas as pd

    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def short_cpu(model: str | None) -> str:
    if not model:
        return "unknown CPU"
    text = re.sub(r"\((R|TM|tm)\)", "", model).split(" @ ")[0]
    text = re.sub(r"\b(CPU|Processor|\d+-Core)\b", "", text)
    return " ".join(text.split())


def gpu_label(machine: Mapping[str, Any]) -> str | None:
    count, name = machine.get("gpu_count") or 0, machine.get("gpu_name")
    if not count or not name:
        return None
    return f"{count}x {name}" if count > 1 else str(name)


def machine_label(machine: Mapping[str, Any]) -> str:
    gpu = gpu_label(machine)
    cpu = short_cpu(machine.get("cpu_model"))
    return f"{cpu} / {gpu}" if gpu else cpu


def number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def fmt(value: Any, digits: int = 3) -> str:
    """A number with `digits` significant digits (no exponent for ordinary sizes)."""
    x = number(value)
    if math.isnan(x):
        return MISSING
    if x == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(x)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{x:,.{decimals}f}"


def fmt_ci(value: Any, low: Any, high: Any, digits: int = 3) -> str:
    if math.isnan(number(value)):
        return MISSING
    if math.isnan(number(low)) or math.isnan(number(high)):
        return fmt(value, digits)
    return f"{fmt(value, digits)} [{fmt(low, digits)}, {fmt(high, digits)}]"


def fmt_pct(value: Any, digits: int = 2) -> str:
    x = number(value)
    return MISSING if math.isnan(x) else f"{fmt(x * 100.0, digits)}%"


def fmt_change(ratio: Any) -> str:
    """cand/base ratio as a signed change: 1.07 -> '+7.0%'."""
    x = number(ratio)
    return MISSING if math.isnan(x) else f"{(x - 1.0) * 100.0:+.1f}%"


def fmt_p(value: Any) -> str:
    x = number(value)
    if math.isnan(x):
        return MISSING
    return "<0.001" if x < 0.001 else f"{x:.3f}"


def fmt_bytes(value: Any) -> str:
    x = number(value)
    if math.isnan(x):
        return MISSING
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(x) < 1024 or unit == "TiB":
            return f"{fmt(x)} {unit}"
        x /= 1024.0
    return MISSING  # unreachable: the loop returns at TiB


def fmt_time(value: Any) -> str:
    import pandas as pd

    if is_missing(value):
        return MISSING
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        return str(value)
    return str(ts.strftime("%Y-%m-%d %H:%M:%S %Z")).strip()


def text(value: Any) -> str:
    return MISSING if is_missing(value) else str(value)


def flag(value: Any) -> bool:
    return False if is_missing(value) else bool(value)
