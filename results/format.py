"""How values are shown: one rule for every number the terminal (`show`, `run`, `compare`,
`calibrate`) and the HTML report print, and the labels of cases and machines.

The rule: a measured quantity has 3 significant digits, thousands separated ("12.3",
"1,235", "0.0123"), with its CI as "value [low, high]"; a share is a percentage with 2
significant digits ("4.5%"); a change is signed with one decimal ("+7.0%"); a p-value has
three decimals ("<0.001" below that). Whatever is missing or undefined (None, NaN, NA,
inf) is MISSING. `plain` turns the same values into what JSON holds (NaN -> null).

Case labels are vocab.case.case_label, built from the fields named here for each view.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from vocab.case import LABEL_FIELDS

if TYPE_CHECKING:
    import pandas as pd

MISSING = "—"
SIGNIFICANT_DIGITS = 3
SHARE_DIGITS = 2

# Which fields name a case where its context says the rest (vocab.case.case_label):
CHART_LABEL: tuple[str, ...] = ("framework", "depth", "batch_size")  # a chart's title: the rest
PAIR_LABEL: tuple[str, ...] = LABEL_FIELDS[1:]  # both frameworks of a comparison row
BATCHLESS_LABEL: tuple[str, ...] = tuple(f for f in LABEL_FIELDS if f != "batch_size")
THREADS_LABEL: tuple[str, ...] = (*LABEL_FIELDS, "threads")  # a run may sweep thread counts


def is_missing(value: Any) -> bool:
    """None, NaN, pd.NA or NaT (a scalar the frame holds no value in)."""
    import pandas as pd

    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def number(value: Any) -> float:
    """`value` as a float; NaN for anything that is not a finite number."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return math.nan
    return x if math.isfinite(x) else math.nan


def plain(value: Any) -> Any:
    """A JSON-ready Python value from what pandas or numpy holds: numpy scalars unwrapped,
    times in ISO 8601, NaN / inf / NA / NaT as None; lists kept."""
    if isinstance(value, list | dict | str | bool) or value is None:
        return value
    if hasattr(value, "isoformat"):  # datetime, pandas Timestamp (NaT says "NaT")
        return None if str(value) == "NaT" else value.isoformat()
    if is_missing(value):
        return None
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def plain_column(column: pd.Series) -> list[Any]:
    """[plain(v) for v in column], by whole columns where the dtype allows: a history's
    JSON holds 50,000 points."""
    import numpy as np
    import pandas as pd

    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        return column.tolist()  # Python ints and bools; never missing
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        values = column.to_numpy()
        return [
            None if bad else v for v, bad in zip(values.tolist(), ~np.isfinite(values), strict=True)
        ]
    if dtype.kind == "M":  # times: ISO 8601, NaT as None (plain would format each twice)
        return [None if v is pd.NaT else v.isoformat() for v in column.tolist()]
    return [v if isinstance(v, str) else plain(v) for v in column.tolist()]


def ms(seconds: Any) -> float:
    """Seconds as milliseconds (NaN when missing)."""
    return number(seconds) * 1000.0


def fmt(value: Any, digits: int = SIGNIFICANT_DIGITS) -> str:
    """A number with `digits` significant digits (no exponent for ordinary sizes)."""
    x = number(value)
    if math.isnan(x):
        return MISSING
    if x == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(x)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{x:,.{decimals}f}"


def fmt_ci(value: Any, low: Any, high: Any, digits: int = SIGNIFICANT_DIGITS) -> str:
    """'value [low, high]'; the value alone when the CI is undefined (one process)."""
    if math.isnan(number(value)):
        return MISSING
    if math.isnan(number(low)) or math.isnan(number(high)):
        return fmt(value, digits)
    return f"{fmt(value, digits)} [{fmt(low, digits)}, {fmt(high, digits)}]"


def fmt_pct(value: Any, digits: int = SHARE_DIGITS) -> str:
    """A share as a percentage: 0.045 -> '4.5%'."""
    x = number(value)
    return MISSING if math.isnan(x) else f"{fmt(x * 100.0, digits)}%"


def fmt_precision(ci_rel: Any, ci_target: Any = None) -> str:
    """The achieved precision, the CI's larger half-width: '+/-1.2%', and where it missed
    its target '+/-7.9% (target +/-2%)'. A missed target is said here, not as a flag."""
    rel, target = number(ci_rel), number(ci_target)
    if math.isnan(rel):
        return MISSING
    text = f"±{rel * 100.0:.1f}%"
    if not math.isnan(target) and rel > target:
        text += f" (target ±{fmt(target * 100.0, SHARE_DIGITS)}%)"
    return text


def flag_list(value: Any) -> list[dict[str, Any]]:
    """A result's stored flags (vocab.flags: {kind, process, detail}) from what a frame
    holds (JSON text or a list); [] where none or unknown."""
    import json

    if isinstance(value, str):
        value = json.loads(value)
    return [dict(f) for f in value] if isinstance(value, list) else []


def flags_line(value: Any) -> str:
    """A result's flags as one line ('outlier process 3: +14.0% off ...; drift ...');
    '' when it has none."""
    from vocab.flags import flags_text

    return flags_text(flag_list(value))


def fmt_change(ratio: Any) -> str:
    """cand/base ratio as a signed change: 1.07 -> '+7.0%'."""
    x = number(ratio)
    return MISSING if math.isnan(x) else f"{(x - 1.0) * 100.0:+.1f}%"


def fmt_change_ci(low: Any, high: Any) -> str:
    """The CI of a ratio as changes: '[-1.2%, +3.4%]'."""
    if math.isnan(number(low)) or math.isnan(number(high)):
        return MISSING
    return f"[{fmt_change(low)}, {fmt_change(high)}]"


def fmt_images(row: Mapping[Any, Any]) -> str:
    """images/s at one sync per step; with the pipelined throughput (one sync per k steps)
    where that was timed."""
    k, pipelined = row.get("pipeline_steps"), row.get("pipelined_images_per_s")
    if is_missing(k) or math.isnan(number(pipelined)):
        return fmt(row.get("images_per_s"))
    return f"{fmt(row.get('images_per_s'))} (pipelined {fmt(pipelined)}, k={k})"


def fmt_outcome(status: Any, value: Any) -> str:
    """A case's value where it finished ok, else its status; MISSING where there is no case."""
    if is_missing(status):
        return MISSING
    return fmt(value) if status == "ok" else str(status)


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
    """Short 'CPU / GPU' text, e.g. 'Intel Xeon Platinum 8480+ / 8x NVIDIA H100'."""
    gpu = gpu_label(machine)
    cpu = short_cpu(machine.get("cpu_model"))
    return f"{cpu} / {gpu}" if gpu else cpu
