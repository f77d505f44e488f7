"""Flags: each names one specific trouble with a case's measurement, or says nothing.

A flag is not a precision verdict: how precise a value is, is its CI (a missed CI target
is shown beside the CI, "+/-7.9% (target +/-2%)"). The kinds (FLAG_KINDS, the one registry):

- ``outlier``: one process off the median of the others by more than
  max(OUTLIER_MIN_REL, OUTLIER_SDS x the sd of the others), in log terms. Such a process
  is *left out* of the case value and CI when at most a quarter of the processes are
  outliers and at least MIN_KEPT processes remain (`left_out`); otherwise it is kept, and
  the flag says so. A left-out process stays in the store, shown as left out.
- ``drift``: the steps inside the processes move (last third against the first, median
  over the processes) by more than DRIFT_THRESHOLD.
- ``drift_rounds``: the process values move across the run's rounds (a least-squares line
  of log value on round) by more than DRIFT_THRESHOLD over the rounds, with p < DRIFT_P.
  This is the drift test of the heavy cases whose processes have too few steps for thirds.
- ``warmup``: the last warm-up steps sit above the level of the timed steps (median over
  the processes) by more than WARMUP_LEVEL_REL: the warm-up had not finished when timing
  began, whatever the adjacent-window rule said.
- ``legacy``: a result stored before flags existed, which was marked ``unstable``.

Each flag is a small JSON object {kind, process, detail}: `process` is the case's process
index the flag is about (None: the whole case), `detail` one line with the numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

FLAG_KINDS: dict[str, str] = {
    "outlier": "outlier process",
    "drift": "drift inside processes",
    "drift_rounds": "drift across rounds",
    "warmup": "warm-up not finished",
    "legacy": "unstable (stored before flags)",
}
# Outlier process: off the others' median by more than max(8%, 4 sd of the others). 8% is
# 4 sd of the project's between-process noise model (sd 2%); 4 sd keeps a noisier machine
# from flagging every case. Fewer than OUTLIER_MIN_OTHERS others: no judgement.
OUTLIER_MIN_REL = 0.08
OUTLIER_SDS = 4.0
OUTLIER_MIN_OTHERS = 2
MIN_KEPT = 3  # processes a case keeps after leaving outliers out (a CI with >= 2 df)
DRIFT_THRESHOLD = 0.05
DRIFT_P = 0.01  # the across-rounds line must be this clear of noise (few processes)
DRIFT_MIN_ROUNDS = 4  # fewer processes than this: no line across rounds
WARMUP_LEVEL_REL = 0.03  # last warm-up steps above the timed steps' median by this
WARMUP_TAIL = 3  # that many last warm-up steps (the first step never counts)


@dataclass(frozen=True)
class Flag:
    kind: str
    detail: str
    process: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in FLAG_KINDS:
            raise ValueError(f"unknown flag kind {self.kind!r}; allowed: {', '.join(FLAG_KINDS)}")

    @property
    def label(self) -> str:
        return FLAG_KINDS[self.kind]

    def text(self) -> str:
        """One line: "outlier process 3: +14.0% off the others' median (left out)"."""
        where = "" if self.process is None or self.kind != "outlier" else f" {self.process}"
        return f"{self.label}{where}: {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "process": self.process, "detail": self.detail}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Flag:
        process = data.get("process")
        return cls(str(data["kind"]), str(data.get("detail") or ""), process)


def _logs(values: Sequence[float] | np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    logs: np.ndarray[Any, Any] = np.log(np.asarray(values, dtype=float))
    return logs


def outlier_offsets(values: Sequence[float]) -> dict[int, float]:
    """Position -> its offset from the others' median (ratio - 1), for each value off the
    median of the others by more than max(OUTLIER_MIN_REL, OUTLIER_SDS sd of the others)."""
    logs = _logs(values)
    out: dict[int, float] = {}
    if len(logs) < OUTLIER_MIN_OTHERS + 1:
        return out
    floor = math.log1p(OUTLIER_MIN_REL)
    for i in range(len(logs)):
        others = np.delete(logs, i)
        off = float(logs[i] - np.median(others))
        if abs(off) > max(floor, OUTLIER_SDS * float(others.std(ddof=1))):
            out[i] = math.expm1(off)
    return out


def left_out_positions(n: int, outliers: Mapping[int, float]) -> tuple[int, ...]:
    """Which outliers leave the case value: all of them when they are at most a quarter of
    the n processes and MIN_KEPT remain; none otherwise (then the spread is the case's)."""
    if outliers and len(outliers) <= n // 4 and n - len(outliers) >= MIN_KEPT:
        return tuple(sorted(outliers))
    return ()


def outlier_flags(
    outliers: Mapping[int, float], left_out: Sequence[int], indices: Sequence[int]
) -> list[Flag]:
    """One flag per outlier position, named by its process index (`indices`)."""
    flags = []
    for pos, off in sorted(outliers.items()):
        fate = "left out of the value" if pos in left_out else "kept: too many outliers"
        detail = f"{off:+.1%} off the others' median ({fate})"
        flags.append(Flag("outlier", detail, indices[pos]))
    return flags


def drift_flag(case_drift: float, processes: int) -> Flag | None:
    if math.isfinite(case_drift) and abs(case_drift) > DRIFT_THRESHOLD:
        detail = (
            f"last third of the steps {case_drift:+.1%} against the first "
            f"(median over {processes} processes)"
        )
        return Flag("drift", detail)
    return None


def rounds_drift(values: Sequence[float], rounds: Sequence[int]) -> tuple[float, float]:
    """(change over the rounds as a ratio - 1, p-value of the slope) of a least-squares
    line of log value on round; NaN with fewer than DRIFT_MIN_ROUNDS distinct rounds."""
    x = np.asarray(rounds, dtype=float)
    if len(values) < DRIFT_MIN_ROUNDS or len(set(rounds)) < DRIFT_MIN_ROUNDS:
        return math.nan, math.nan
    from scipy import stats  # lazily: workers import this module and never need it

    fit = stats.linregress(x, _logs(values))
    return math.expm1(float(fit.slope) * float(np.ptp(x))), float(fit.pvalue)


def rounds_drift_flag(values: Sequence[float], rounds: Sequence[int]) -> Flag | None:
    change, p = rounds_drift(values, rounds)
    if math.isfinite(change) and abs(change) > DRIFT_THRESHOLD and p < DRIFT_P:
        detail = (
            f"process values {change:+.1%} from round {min(rounds)} to {max(rounds)} "
            f"(line over {len(values)} processes, p={p:.3f})"
        )
        return Flag("drift_rounds", detail)
    return None


def warmup_excess(warmup_s: Sequence[float], timed_median_s: float) -> float:
    """How far the median of the last WARMUP_TAIL warm-up steps (never the first step) sits
    above the timed steps' median, as a ratio - 1; NaN without such steps."""
    tail = list(warmup_s[1:])[-WARMUP_TAIL:]
    if not tail or not timed_median_s > 0:
        return math.nan
    return float(np.median(tail)) / timed_median_s - 1.0


def warmup_flag(excess: Sequence[float], capped: Sequence[int]) -> Flag | None:
    """The case's warm-up had not finished: the median over processes of `excess`
    (warmup_excess per process) beyond WARMUP_LEVEL_REL. `capped`: processes whose
    warm-up hit its cap without settling (named in the detail)."""
    finite = [e for e in excess if math.isfinite(e)]
    if not finite:
        return None
    level = float(np.median(finite))
    if level <= WARMUP_LEVEL_REL:
        return None
    detail = (
        f"the last warm-up steps {level:+.1%} against the timed steps "
        f"(median over {len(finite)} processes)"
    )
    if capped:
        detail += f"; capped unsettled in process(es) {', '.join(map(str, capped))}"
    return Flag("warmup", detail)


class ProcessValue(Protocol):
    """What the flags need of a process (vocab.stats.ProcessStats)."""

    @property
    def index(self) -> int: ...
    @property
    def value_s(self) -> float: ...
    @property
    def drift_rel(self) -> float: ...


def case_flags(
    processes: Sequence[ProcessValue],
    outliers: Mapping[int, float],
    left_out: Sequence[int],
    drift: float,
    rounds: Sequence[int] | None = None,
    warmup_s: Mapping[int, Sequence[float]] | None = None,
    capped: Sequence[int] = (),
) -> tuple[Flag, ...]:
    """The flags of a case, from its processes in order (`outliers`, `left_out`: positions,
    as vocab.stats.case_interval found them): outliers, drift inside processes or
    (without the steps for it) across `rounds`, warm-up against the level of the timed
    steps (`warmup_s`: each process's warm-up steps, seconds)."""
    indices = [p.index for p in processes]
    out = outlier_flags(outliers, left_out, indices)
    kept = [p for i, p in enumerate(processes) if i not in left_out]
    found = drift_flag(drift, sum(math.isfinite(p.drift_rel) for p in processes))
    if found is None and not math.isfinite(drift) and rounds is not None:
        by_index = dict(zip(indices, rounds, strict=True))
        found = rounds_drift_flag([p.value_s for p in kept], [by_index[p.index] for p in kept])
    if found is not None:
        out.append(found)
    if warmup_s:
        excess = [warmup_excess(warmup_s.get(p.index, ()), p.value_s) for p in kept]
        warm = warmup_flag(excess, capped)
        if warm is not None:
            out.append(warm)
    return tuple(out)


def flags_text(flags: Sequence[Mapping[str, Any]] | None) -> str:
    """Stored flags ({kind, process, detail}) as one line; '' when none."""
    return "; ".join(Flag.from_dict(f).text() for f in flags or ())
