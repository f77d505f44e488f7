"""Statistics derived from raw step times; never stored without the samples they came from.

The process is the unit of replication. Steps inside one worker process are correlated and
share that process's offset (memory layout, thread placement, clocks, neighbours), so they
give the process ONE value: the median of its steps. A case's value and its confidence
interval come from the spread between its processes:

- value = geometric mean of the per-process values. Step times are a ratio scale and
  processes differ by factors, so the natural centre is the mean of the logs. It is the
  centre of the t-interval below (a median of 3-10 values is inefficient, and its
  distribution-free CI needs at least 6 processes), and the log-ratio of two geometric means
  is exactly the difference of mean logs that `log_ratio_test` tests.
- 95% CI = t-interval on the log per-process values, n - 1 degrees of freedom for a fixed
  number of processes (exact when process offsets are log-normal), n - 2 when processes
  were added until the CI looked narrow enough (ADAPTIVE_DF_LOSS): stopping on a narrow
  interval picks samples whose sd happens to be small, and one degree of freedom fewer
  brings the coverage back to the nominal level (benchmarks/replication_sim.py).
- An outlier process (vocab.flags) is left out of value and CI by that module's stated
  rule; `case_interval` applies it, for the stop rule and the stored statistics alike.

Within a process, a batch-means CI of the mean stays as a diagnostic (`batch_means_rel`),
and `drift_rel` tests the ordered steps for a trend or a step change (last third against
first third); `robust_line` fits time against MACs. The statistics of comparisons (ratio
tests, the false discovery rate, power) are in vocab.comparison, beside this module.

Every statistic of the suite lives here (asv's `statistics.py`), below the store and the
reports; `vocab.measurement.Measurement` gives a case's as lazy methods.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from vocab import flags as fl
from vocab.flags import Flag

Samples = Sequence[float] | np.ndarray[Any, Any]
CONFIDENCE = 0.95
# Named thresholds (torch.utils.benchmark style) so runners, reports and tests share them.
CI_TARGET_REL = 0.02  # processes are added until the CI is within +/- 2% of the value
DRIFT_THRESHOLD = fl.DRIFT_THRESHOLD  # |last third / first third - 1| (median over processes)
ADAPTIVE_DF_LOSS = 1  # degrees of freedom an adaptive stop costs the CI (see the top)
DRIFT_MIN_STEPS = 9  # fewer steps than this in a process: no thirds to compare
BATCH_MEANS_BATCHES = 5  # within-process diagnostic: CI of the mean from 5 batch means
TRAINING_MAC_FACTOR = 3.0  # forward + backward (2x forward) per training step


def by_process(samples: Samples, process_ids: Sequence[int]) -> dict[int, np.ndarray]:
    """Process index -> its steps in order, processes in order of first appearance."""
    xs = np.asarray(samples, dtype=float)
    ids = np.asarray(process_ids)
    if len(xs) != len(ids):
        raise ValueError("process_ids must tag every sample")
    return {int(p): xs[ids == p] for p in dict.fromkeys(ids.tolist())}


def process_values(samples: Samples, process_ids: Sequence[int]) -> dict[int, float]:
    """Process index -> median of its steps, in order of first appearance."""
    return {p: float(np.median(s)) for p, s in by_process(samples, process_ids).items()}


@dataclass(frozen=True)
class ProcessStats:
    """One worker process's part of a case: its value and its within-process diagnostics."""

    index: int
    n: int  # steps
    value_s: float  # median of its steps: the process's one value
    drift_rel: float  # drift_rel of its ordered steps (NaN: too few)
    batch_means_rel: float  # batch-means CI half-width / mean (inf: too few)


def per_process(samples: Samples, process_ids: Sequence[int]) -> list[ProcessStats]:
    """Each process's statistics, in order of first appearance."""
    return [
        ProcessStats(p, len(s), float(np.median(s)), drift_rel(s), batch_means_rel(s))
        for p, s in by_process(samples, process_ids).items()
    ]


def sd_log(values: Samples) -> float:
    """Sample sd of the logs of positive `values` (NaN below 2): a spread in ratio terms."""
    logs = np.log(np.asarray(values, dtype=float))
    return float(logs.std(ddof=1)) if len(logs) > 1 else math.nan


@dataclass(frozen=True)
class Interval:
    """A value with its CI; `rel` is the larger distance to a bound over the value."""

    value: float
    low: float
    high: float
    n: int
    sd_log: float  # sample sd of the log values (NaN below 2)

    @property
    def rel(self) -> float:
        if not (self.value > 0 and math.isfinite(self.low) and math.isfinite(self.high)):
            return math.inf
        return max(self.high / self.value - 1.0, 1.0 - self.low / self.value)


def _sps() -> Any:
    # scipy takes ~2 s to import; workers import this module and never need it.
    from scipy import stats

    return stats


def t_quantile(df: float, confidence: float = CONFIDENCE) -> float:
    return float(_sps().t.ppf(0.5 + confidence / 2.0, df))


def geometric_interval(
    values: Samples, confidence: float = CONFIDENCE, df_loss: int = 0
) -> Interval:
    """Geometric mean of positive `values` with a t-interval on their logs, on n - 1 -
    `df_loss` degrees of freedom (no CI when that is below 1)."""
    logs = np.log(np.asarray(values, dtype=float))
    n = len(logs)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, math.nan)
    centre = float(logs.mean())
    sd = sd_log(values)
    df = n - 1 - df_loss
    if df < 1:
        return Interval(math.exp(centre), math.nan, math.nan, n, sd)
    half = t_quantile(df, confidence) * sd / math.sqrt(n)
    return Interval(math.exp(centre), math.exp(centre - half), math.exp(centre + half), n, sd)


@dataclass(frozen=True)
class CaseInterval:
    """THE case value and CI from its per-process values, outliers judged and left out by
    vocab.flags' rule; what the stop rule checks and what the store keeps."""

    interval: Interval  # of the kept processes
    df: int  # degrees of freedom of its CI (0: none)
    outliers: dict[int, float]  # position -> offset from the others' median
    left_out: tuple[int, ...]  # positions left out of the interval


def ci_df(n: int, adaptive: bool) -> int:
    return max(0, n - 1 - (ADAPTIVE_DF_LOSS if adaptive else 0))


def case_interval(values: Samples, adaptive: bool = False) -> CaseInterval:
    """The case's value and CI from its per-process values, in process order. `adaptive`:
    processes were added until the CI met its target (then ADAPTIVE_DF_LOSS applies)."""
    vals = [float(v) for v in values]
    outliers = fl.outlier_offsets(vals)
    left = fl.left_out_positions(len(vals), outliers)
    kept = [v for i, v in enumerate(vals) if i not in left]
    loss = ADAPTIVE_DF_LOSS if adaptive else 0
    interval = geometric_interval(kept, df_loss=loss)
    df = ci_df(len(kept), adaptive) if math.isfinite(interval.low) else 0
    return CaseInterval(interval, df, outliers, left)


def batch_means_rel(samples: Samples, confidence: float = CONFIDENCE) -> float:
    """Within-process diagnostic: CI half-width of the mean from BATCH_MEANS_BATCHES
    consecutive batch means (which tames autocorrelation), relative to the mean."""
    xs = np.asarray(samples, dtype=float)
    k = BATCH_MEANS_BATCHES
    if len(xs) < 2 * k:
        return math.inf
    size = len(xs) // k
    means = xs[: size * k].reshape(k, size).mean(axis=1)
    mean = float(means.mean())
    half = t_quantile(k - 1, confidence) * float(means.std(ddof=1)) / math.sqrt(k)
    return half / mean if mean > 0 else math.inf


def drift_rel(samples: Samples) -> float:
    """median(last third) / median(first third) - 1 of the ordered steps; NaN when too few.

    A practical size, not a p-value: steps are autocorrelated, so a trend test on them
    (Mann-Kendall) calls noise a trend; a real drift (heat, a neighbour arriving, a warm-up
    that had not ended) moves the thirds apart by more than noise does.
    """
    xs = np.asarray(samples, dtype=float)
    if len(xs) < DRIFT_MIN_STEPS:
        return math.nan
    third = len(xs) // 3
    first = float(np.median(xs[:third]))
    return float(np.median(xs[-third:])) / first - 1.0 if first > 0 else math.nan


def case_drift(per_process: Sequence[float]) -> float:
    """The drift of a case: the median of its processes' drifts (NaN when none has one).

    A drift every process shows is the case's; one process's drift is that process's noise,
    which the between-process CI already carries."""
    finite = [d for d in per_process if math.isfinite(d)]
    return float(np.median(finite)) if finite else math.nan


@dataclass(frozen=True)
class Stats:
    """A case's statistics. value/CI from processes; the rest describe the pooled steps."""

    n: int  # steps
    processes: int
    value_s: float  # geometric mean of per-process medians: THE case's time per step
    ci_low_s: float  # 95% CI of value_s, between processes
    ci_high_s: float
    ci_rel: float  # larger CI half-width / value_s (inf with one process)
    sd_log_between: float  # sd of log per-process values
    total_s: float
    median_s: float  # pooled steps (diagnostic)
    mean_s: float
    stdev_s: float
    min_s: float
    max_s: float
    p5_s: float
    p25_s: float
    p75_s: float
    p95_s: float
    p99_s: float
    iqr_s: float
    iqr_rel: float
    images_per_s: float
    gmacs_per_s: float | None
    gflops_per_s: float | None
    drift_rel: float  # case_drift of the processes (NaN: too few steps to tell)
    ci_df: int  # degrees of freedom of the CI (0: no CI)
    left_out: tuple[int, ...]  # process indices left out of value and CI (outliers)
    flags: tuple[Flag, ...]  # vocab.flags: each names one trouble; () when none

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["flags"] = [f.to_dict() for f in self.flags]
        out["left_out"] = list(self.left_out)
        return out

    @property
    def flag_kinds(self) -> tuple[str, ...]:
        return tuple(f.kind for f in self.flags)


def summarize(
    samples_s: Samples,
    batch_size: int,
    gmacs_per_image: float | None = None,
    mode: str = "inference",
    process_ids: Sequence[int] | None = None,
    processes: Sequence[ProcessStats] | None = None,
    *,
    adaptive: bool = False,
    rounds: Sequence[int] | None = None,
    warmup_s: Mapping[int, Sequence[float]] | None = None,
    capped: Sequence[int] = (),
) -> Stats:
    """All statistics of one case from its raw step times in seconds, tagged by process
    (`processes`: their per_process statistics, when the caller has them already).

    `adaptive`: processes were added by the stop rule (the CI loses ADAPTIVE_DF_LOSS df);
    `rounds`: each process's round, in process order (drift across rounds); `warmup_s`:
    process index -> its warm-up steps; `capped`: processes whose warm-up never settled."""
    xs = np.asarray(samples_s, dtype=float)
    if len(xs) == 0:
        raise ValueError("no samples to summarize")
    if processes is None:
        processes = per_process(xs, [0] * len(xs) if process_ids is None else process_ids)
    ci = case_interval([p.value_s for p in processes], adaptive)
    interval = ci.interval
    drift = case_drift([p.drift_rel for p in processes])
    med = float(np.median(xs))
    p5, p25, p75, p95, p99 = (float(v) for v in np.percentile(xs, [5, 25, 75, 95, 99]))
    macs = None
    if gmacs_per_image is not None:
        factor = TRAINING_MAC_FACTOR if mode == "training" else 1.0
        macs = gmacs_per_image * factor * batch_size / interval.value
    return Stats(
        n=len(xs),
        processes=len(processes),
        value_s=interval.value,
        ci_low_s=interval.low,
        ci_high_s=interval.high,
        ci_rel=interval.rel,
        sd_log_between=interval.sd_log,
        total_s=float(xs.sum()),
        median_s=med,
        mean_s=float(xs.mean()),
        stdev_s=float(xs.std(ddof=1)) if len(xs) > 1 else 0.0,
        min_s=float(xs.min()),
        max_s=float(xs.max()),
        p5_s=p5,
        p25_s=p25,
        p75_s=p75,
        p95_s=p95,
        p99_s=p99,
        iqr_s=p75 - p25,
        iqr_rel=(p75 - p25) / med if med > 0 else math.inf,
        images_per_s=batch_size / interval.value,
        gmacs_per_s=macs,
        gflops_per_s=None if macs is None else 2.0 * macs,
        drift_rel=drift,
        ci_df=ci.df,
        left_out=tuple(processes[i].index for i in ci.left_out),
        flags=fl.case_flags(processes, ci.outliers, ci.left_out, drift, rounds, warmup_s, capped),
    )


def robust_line(x: Samples, y: Samples) -> tuple[float, float]:
    """(slope, intercept) of Siegel's repeated-medians line through the points: one odd
    point cannot drag it (50% breakdown), where least squares or Theil-Sen would flag its
    neighbours instead."""
    fit = _sps().siegelslopes(np.asarray(y, dtype=float), np.asarray(x, dtype=float))
    return float(fit.slope), float(fit.intercept)
