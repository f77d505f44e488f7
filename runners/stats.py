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
- 95% CI = t-interval on the log per-process values (n - 1 degrees of freedom), exact when
  process offsets are log-normal; one odd process widens it, which is honest.

Within a process, a batch-means CI of the mean stays as a diagnostic (`batch_means_rel`),
and `drift_rel` tests the ordered steps for a trend or a step change (last third against
first third). Comparisons work on per-process values only, never on raw steps:
`paired_ratio_test` for two cases of one run (paired by round), `log_ratio_test` for two
runs (Welch, plus the machine's run-to-run variance where it is known),
`benjamini_hochberg` across cases, `detectable_change` for the power of either design;
`robust_line` fits time against MACs.

Every statistic of the suite lives here (asv's `statistics.py`), below the store and the
reports; `runners.measurement.Measurement` gives a case's as lazy methods.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

Samples = Sequence[float] | np.ndarray[Any, Any]
CONFIDENCE = 0.95
# Named thresholds (torch.utils.benchmark style) so runners, reports and tests share them.
CI_TARGET_REL = 0.02  # processes are added until the CI is within +/- 2% of the value
DRIFT_THRESHOLD = 0.05  # |last third / first third - 1| beyond this (median over processes)
DRIFT_MIN_STEPS = 9  # fewer steps than this in a process: no thirds to compare
BATCH_MEANS_BATCHES = 5  # within-process diagnostic: CI of the mean from 5 batch means
TRAINING_MAC_FACTOR = 3.0  # forward + backward (2x forward) per training step
POWER = 0.80  # the detection probability a stated smallest detectable change is for
# Threshold of a paired comparison inside one run (compare RUN --by AXIS). Its CI shrinks
# with the rounds, not with a second run's noise, so a small threshold keeps the power: in
# the seeded simulations of benchmarks/comparison_sim.py, 1% calls <= 5% of A/A cases
# changed and lets <= 5% of 16-case A/A runs exit 1, while a true 5% change is found in
# >= 80% of cases and a true 10% in >= 99% (README, "Comparing inside a run").
PAIRED_THRESHOLD = 0.01


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


def geometric_interval(values: Samples, confidence: float = CONFIDENCE) -> Interval:
    """Geometric mean of positive `values` with a t-interval on their logs."""
    logs = np.log(np.asarray(values, dtype=float))
    n = len(logs)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, math.nan)
    centre = float(logs.mean())
    if n < 2:
        return Interval(math.exp(centre), math.nan, math.nan, 1, math.nan)
    sd = sd_log(values)
    half = t_quantile(n - 1, confidence) * sd / math.sqrt(n)
    return Interval(math.exp(centre), math.exp(centre - half), math.exp(centre + half), n, sd)


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
    unstable: bool
    unstable_reason: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def instability(
    ci_rel: float,
    ci_target: float,
    drift: float,
    warmup_unstable: Sequence[int] = (),
) -> str | None:
    """Why a case's value should be read as a range; None when nothing is wrong."""
    reasons: list[str] = []
    if not ci_rel <= ci_target:
        got = "undefined with one process" if math.isinf(ci_rel) else f"+/-{ci_rel:.1%}"
        reasons.append(f"CI between processes {got} missed the +/-{ci_target:.0%} target")
    if math.isfinite(drift) and abs(drift) > DRIFT_THRESHOLD:
        reasons.append(f"drift: last third of the steps {drift:+.1%} against the first")
    if warmup_unstable:
        which = ", ".join(str(p) for p in warmup_unstable)
        reasons.append(f"warm-up did not settle in process(es) {which}")
    return "; ".join(reasons) or None


def summarize(
    samples_s: Samples,
    batch_size: int,
    gmacs_per_image: float | None = None,
    mode: str = "inference",
    process_ids: Sequence[int] | None = None,
    ci_target: float = CI_TARGET_REL,
    warmup_unstable: Sequence[int] = (),
    processes: Sequence[ProcessStats] | None = None,
) -> Stats:
    """All statistics of one case from its raw step times in seconds, tagged by process
    (`processes`: their per_process statistics, when the caller has them already)."""
    xs = np.asarray(samples_s, dtype=float)
    if len(xs) == 0:
        raise ValueError("no samples to summarize")
    if processes is None:
        processes = per_process(xs, [0] * len(xs) if process_ids is None else process_ids)
    interval = geometric_interval([p.value_s for p in processes])
    drift = case_drift([p.drift_rel for p in processes])
    med = float(np.median(xs))
    p5, p25, p75, p95, p99 = (float(v) for v in np.percentile(xs, [5, 25, 75, 95, 99]))
    macs = None
    if gmacs_per_image is not None:
        factor = TRAINING_MAC_FACTOR if mode == "training" else 1.0
        macs = gmacs_per_image * factor * batch_size / interval.value
    reason = instability(interval.rel, ci_target, drift, warmup_unstable)
    return Stats(
        n=len(xs),
        processes=interval.n,
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
        unstable=reason is not None,
        unstable_reason=reason,
    )


# ------------------------------------------------------------------------- comparisons


@dataclass(frozen=True)
class RatioTest:
    """cand/base ratio of case values, its CI, and a test against a practical threshold.

    `p_value` tests "the change is within +/- threshold" (two one-sided tests, doubled so
    that p < 1 - confidence exactly when the CI lies wholly beyond the threshold).
    NaN CI / p: too few processes to tell (one process on each side, or fewer than two
    rounds with both sides in a paired test). `se` is the standard error of the log ratio
    (what `detectable_change` needs); `pairs` / `unpaired` count, for a paired test, the
    rounds with both sides and the processes of rounds with one side only (0 / 0 unpaired).
    """

    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    df: float
    threshold: float
    se: float = math.nan
    pairs: int = 0
    unpaired: int = 0

    @property
    def beyond(self) -> bool:
        """The whole CI lies beyond the threshold, in one direction."""
        bound = 1.0 + self.threshold
        return bool(self.ci_low > bound or self.ci_high < 1.0 / bound)


def _t_test(
    d: float, se: float, df: float, threshold: float, confidence: float, **extra: int
) -> RatioTest:
    """The log ratio d with standard error se on df degrees of freedom: its t-interval and
    the two one-sided tests against +/- log(1 + threshold)."""
    delta = math.log1p(threshold)
    if se == 0.0:  # identical values on each side: the difference is exact
        half, p = 0.0, (0.0 if abs(d) > delta else 1.0)
    else:
        half = t_quantile(df, confidence) * se
        p_up = float(_sps().t.sf((d - delta) / se, df))  # H0: change <= +threshold
        p_down = float(_sps().t.cdf((d + delta) / se, df))  # H0: change >= -threshold
        p = min(1.0, 2.0 * min(p_up, p_down))
    return RatioTest(
        math.exp(d), math.exp(d - half), math.exp(d + half), p, df, threshold, se, **extra
    )


def satterthwaite(terms: Sequence[tuple[float, float]]) -> float:
    """Welch-Satterthwaite degrees of freedom of a sum of variance terms (var, its df);
    a term with infinite df (a known variance) adds nothing to the denominator."""
    total = sum(v for v, _ in terms)
    denom = sum(v * v / df for v, df in terms if math.isfinite(df) and df > 0)
    return total * total / denom if denom > 0 else math.inf


def log_ratio_test(
    base: Samples,
    cand: Samples,
    threshold: float,
    confidence: float = CONFIDENCE,
    run_var: float = 0.0,
    run_df: float = math.inf,
) -> RatioTest:
    """Welch t-interval of mean(log cand) - mean(log base) from per-process values of two
    separate runs.

    With one process on one side its variance is unknown: the other side's is used for both
    (equal variances, df of that side). With one on each side nothing can be said.
    `run_var`: the variance of one run's log shift on this machine (what moves a whole run
    and that its processes cannot show; results.noise, from A/A runs, estimated on `run_df`
    degrees of freedom). Each run carries one such shift, so 2 x run_var joins the squared
    standard error, and the t quantile takes the Welch-Satterthwaite df of all terms."""
    lb = np.log(np.asarray(base, dtype=float))
    lc = np.log(np.asarray(cand, dtype=float))
    nb, nc = len(lb), len(lc)
    if nb == 0 or nc == 0:
        raise ValueError("log_ratio_test needs at least one value on each side")
    d = float(lc.mean() - lb.mean())
    vb = float(lb.var(ddof=1)) if nb > 1 else math.nan
    vc = float(lc.var(ddof=1)) if nc > 1 else math.nan
    if nb > 1 and nc > 1:
        terms = [(vb / nb, nb - 1.0), (vc / nc, nc - 1.0)]
    elif nb > 1 or nc > 1:
        var, df = (vb, nb - 1.0) if nb > 1 else (vc, nc - 1.0)
        terms = [(var * (1.0 / nb + 1.0 / nc), df)]
    else:
        return RatioTest(math.exp(d), math.nan, math.nan, math.nan, math.nan, threshold)
    if run_var > 0.0:
        terms.append((2.0 * run_var, run_df))
    se2 = sum(v for v, _ in terms)
    df = satterthwaite(terms)
    if not math.isfinite(df):  # every term exact (all zero): the pooled df
        df = float(nb + nc - 2)
    return _t_test(d, math.sqrt(se2), df, threshold, confidence)


def paired_ratio_test(
    base: Mapping[int, float],
    cand: Mapping[int, float],
    threshold: float,
    confidence: float = CONFIDENCE,
) -> RatioTest:
    """cand/base of two cases measured in the same rounds, paired by round.

    `base` / `cand`: round -> that case's process value in the round. Each round with both
    gives one log difference; the ratio is exp of their mean and its CI a t-interval on
    them (n - 1 df), so whatever moved the whole round (drift, a neighbour, the machine's
    state) cancels. Rounds with one side only (one case stopped earlier, or failed in that
    round) are left out of the test and counted in `unpaired`: using them unpaired would
    bring back the round effects the pairing removes. Fewer than two pairs: no CI."""
    rounds = sorted(set(base) & set(cand))
    unpaired = len(set(base) ^ set(cand))
    diffs = np.array([math.log(cand[r]) - math.log(base[r]) for r in rounds], dtype=float)
    n = len(diffs)
    if n < 2:
        ratio = math.exp(float(diffs[0])) if n else math.nan
        nan = math.nan
        return RatioTest(ratio, nan, nan, nan, nan, threshold, nan, n, unpaired)
    se = float(diffs.std(ddof=1)) / math.sqrt(n)
    return _t_test(
        float(diffs.mean()), se, n - 1.0, threshold, confidence, pairs=n, unpaired=unpaired
    )


def ratio_test(
    base_values: Samples | None,
    cand_values: Samples | None,
    threshold: float,
    base_value: float = math.nan,
    cand_value: float = math.nan,
) -> RatioTest:
    """cand/base from per-process values; without them on either side (results stored
    before replication), the ratio of the stored case values and no CI: nothing can be
    claimed."""
    if (
        base_values is not None
        and cand_values is not None
        and len(base_values)
        and len(cand_values)
    ):
        return log_ratio_test(base_values, cand_values, threshold)
    ratio = cand_value / base_value if base_value > 0 else math.nan
    return RatioTest(ratio, math.nan, math.nan, math.nan, math.nan, threshold)


def benjamini_hochberg(p_values: Sequence[float], q: float = 1.0 - CONFIDENCE) -> list[bool]:
    """Which hypotheses to reject with the false discovery rate held at q (NaN: never)."""
    ps = np.asarray(p_values, dtype=float)
    finite = np.flatnonzero(np.isfinite(ps))
    reject = [False] * len(ps)
    m = len(finite)
    if m == 0:
        return reject
    order = finite[np.argsort(ps[finite], kind="stable")]
    passed = ps[order] <= q * np.arange(1, m + 1) / m
    if passed.any():
        k = int(np.flatnonzero(passed).max())
        for i in order[: k + 1]:
            reject[int(i)] = True
    return reject


def noise_floor(sd_log_between_runs: float) -> float:
    """The change two runs of identical code exceed 5% of the time, given the sd of a case's
    log value between runs: exp(z_0.975 * sqrt(2) * sd) - 1."""
    return math.expm1(float(_sps().norm.ppf(0.975)) * math.sqrt(2.0) * sd_log_between_runs)


def detectable_change(
    se: float,
    df: float,
    threshold: float,
    power: float = POWER,
    confidence: float = CONFIDENCE,
) -> float:
    """The smallest true change (cand/base - 1) that a test with this standard error of the
    log ratio on df degrees of freedom calls beyond `threshold` with probability `power`.

    The test calls a slowdown when (d - log(1 + threshold)) / se exceeds the t quantile of
    the CI; for a true log change delta that statistic is noncentral t with noncentrality
    (delta - log(1 + threshold)) / se, so delta follows from the noncentrality at which the
    statistic exceeds the quantile with probability `power`. Per case, before the
    false-discovery control across cases (which asks more of a case changed alone)."""
    if not (se > 0 and math.isfinite(se) and df > 0):
        return math.nan
    sps = _sps()
    crit = t_quantile(df, confidence)
    nct_df = min(df, 1e6)  # nct has no infinite df; 1e6 is the normal to many digits

    def shortfall(ncp: float) -> float:
        return float(sps.nct.sf(crit, nct_df, ncp)) - power

    ncp = float(_brentq(shortfall, 0.0, 100.0))
    return math.expm1(math.log1p(threshold) + ncp * se)


def _brentq(f: Any, low: float, high: float) -> float:
    from scipy.optimize import brentq

    return float(brentq(f, low, high, xtol=1e-9))


def robust_line(x: Samples, y: Samples) -> tuple[float, float]:
    """(slope, intercept) of Siegel's repeated-medians line through the points: one odd
    point cannot drag it (50% breakdown), where least squares or Theil-Sen would flag its
    neighbours instead."""
    fit = _sps().siegelslopes(np.asarray(y, dtype=float), np.asarray(x, dtype=float))
    return float(fit.slope), float(fit.intercept)
