"""Change points in one case's series of run values: where its level stepped, and by how much.

Locations come from ruptures' kernel change-point detection with a linear kernel (the
least-squares cost of a mean shift, solved by its compiled PELT) on the log values,
standardised by the series' own run-to-run scatter. Whether a located step is real is
decided here, with the per-run CIs: each run's log value has its own standard error (from
its CI between processes) plus a between-run variance tau^2 that the processes of one run
cannot show (another day, another neighbour), estimated from the scatter around the
segment means. The step between two neighbouring segments is the difference of their
inverse-variance weighted means, with a t-interval; its p is Bonferroni-corrected for the
n - 1 places a step could have been found. Steps that are not significant at STEP_ALPHA
are merged away and the rest re-tested, until every remaining one is. The false alerts
and the detection this gives, and why ruptures rather than E-divisive means or Apache
Otava: benchmarks/history_sim.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from vocab.stats import CONFIDENCE, Samples, t_quantile

# A step must have p below this (two-sided t on the segments' weighted means). Chosen with
# the simulations so that a nightly gate raises at most 0.1% false alerts per case and run.
STEP_ALPHA = 0.001
# ruptures' penalty per change point, in units of the standardised series' variance,
# times log(n): low enough to offer every plausible step; the t-test above decides.
PENALTY_PER_LOG_N = 2.0
MIN_POINTS = 3  # fewer runs leave no scatter to judge a step by
# A run's standard error from its 5-6 processes has 4-5 df: a run whose processes happened
# to agree would get a weight it has not earned (the simulations' false alerts came from
# those). Each run's variance is shrunk towards the series' median with this weight.
SE_SHRINK = 0.5


@dataclass(frozen=True)
class Step:
    """One real step: at point `index` (the first run of the new level)."""

    index: int
    before_log: float  # weighted mean of the log values of the segment before
    after_log: float
    se: float  # standard error of after_log - before_log
    df: float
    p_value: float
    n_before: int
    n_after: int

    @property
    def ratio(self) -> float:
        """after / before (above 1: the case got slower, for a time per step)."""
        return math.exp(self.after_log - self.before_log)

    def ci(self, confidence: float = CONFIDENCE) -> tuple[float, float]:
        """The ratio's CI."""
        half = t_quantile(self.df, confidence) * self.se
        d = self.after_log - self.before_log
        return math.exp(d - half), math.exp(d + half)

    def to_dict(self) -> dict[str, Any]:
        low, high = self.ci()
        return {
            "index": self.index,
            "ratio": self.ratio,
            "ratio_ci_low": low,
            "ratio_ci_high": high,
            "p_value": self.p_value,
            "n_before": self.n_before,
            "n_after": self.n_after,
        }


def run_se(
    value: Samples, ci_low: Samples, ci_high: Samples, processes: Samples,
) -> np.ndarray:  # fmt: skip
    """Each run's standard error of its log value, from its CI between processes (a t
    interval on the logs with processes - 1 df); 0 where a run has no CI (one process, a
    pytest-benchmark run): its uncertainty is then all in the between-run tau^2."""
    lo = np.asarray(ci_low, dtype=float)
    hi = np.asarray(ci_high, dtype=float)
    n = np.asarray(processes, dtype=float)
    ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(n) & (n >= 2) & (lo > 0) & (hi > lo)
    out = np.zeros(len(value))
    quantiles = {k: t_quantile(k - 1.0) for k in np.unique(n[ok])}  # one per process count
    for k, q in quantiles.items():
        at = ok & (n == k)
        out[at] = (np.log(hi[at]) - np.log(lo[at])) / (2.0 * q)
    return out


def locate(y: np.ndarray, penalty_per_log_n: float = PENALTY_PER_LOG_N) -> list[int]:
    """Candidate change points of `y` (indexes of the first point of each new segment)."""
    import ruptures

    n = len(y)
    if n < MIN_POINTS:
        return []
    scale = _noise_scale(y)
    signal = ((y - np.median(y)) / scale).reshape(-1, 1)
    algo = ruptures.KernelCPD(kernel="linear", min_size=1, jump=1).fit(signal)
    ends = algo.predict(pen=penalty_per_log_n * math.log(n))
    return [int(e) for e in ends[:-1]]


def _noise_scale(y: np.ndarray) -> float:
    """The run-to-run scatter, robust to the steps themselves: MAD of first differences."""
    diffs = np.abs(np.diff(y))
    mad = 1.4826 * float(np.median(diffs)) / math.sqrt(2.0) if len(diffs) else 0.0
    if mad > 0:
        return mad
    sd = float(np.std(y))
    return sd if sd > 0 else 1e-6


def _tau2(y: np.ndarray, se: np.ndarray, starts: np.ndarray) -> tuple[float, float]:
    """Between-run variance beyond the runs' own standard errors, from the residuals
    around the segment means (method of moments), and its degrees of freedom."""
    n = np.diff(np.append(starts, len(y)))
    sums = np.add.reduceat(y, starts)
    squares = np.add.reduceat(y * y, starts)
    resid2 = float(np.sum(squares - sums * sums / n))
    df = float(len(y) - len(starts))
    if df <= 0:
        return 0.0, 0.0
    return max(0.0, resid2 / df - float(np.mean(se**2))), df


def _steps(y: np.ndarray, se: np.ndarray, cps: list[int]) -> list[Step]:
    """Every change point's step between its two neighbouring segments (vectorised: a
    1,000-run series may offer a hundred candidates, re-tested after each merge)."""
    from scipy import stats as sps

    starts = np.array([0, *cps])
    tau2, df = _tau2(y, se, starts)
    if df <= 0:
        return []
    var = se**2 + tau2
    if not np.all(var > 0):
        var = np.where(var > 0, var, max(float(np.max(var)), 1e-12))
    w = 1.0 / var
    weight = np.add.reduceat(w, starts)
    mean = np.add.reduceat(w * y, starts) / weight
    sizes = np.diff(np.append(starts, len(y)))
    se_step = np.sqrt(1.0 / weight[:-1] + 1.0 / weight[1:])
    t = np.abs(mean[1:] - mean[:-1]) / se_step
    # The place was chosen where a step looks largest: Bonferroni over the n - 1 places
    # it could have been, or a flat series would show steps 5% of the time.
    p = np.minimum(1.0, 2.0 * sps.t.sf(t, df) * (len(y) - 1))
    return [
        Step(k, float(mean[i]), float(mean[i + 1]), float(se_step[i]), df, float(p[i]),
             int(sizes[i]), int(sizes[i + 1]))
        for i, k in enumerate(cps)
    ]  # fmt: skip


def find_steps(y: Samples, se: Samples | None = None) -> list[Step]:
    """The real steps of a series of log values (`se`: each point's standard error)."""
    values = np.asarray(y, dtype=float)
    errors = np.zeros(len(values)) if se is None else np.asarray(se, dtype=float)
    if len(errors):
        var = errors**2
        errors = np.sqrt((1.0 - SE_SHRINK) * var + SE_SHRINK * float(np.median(var)))
    cps = locate(values)
    while cps:
        steps = _steps(values, errors, cps)
        if not steps:
            return []
        weakest = max(steps, key=lambda s: s.p_value)
        if weakest.p_value < STEP_ALPHA:
            return steps
        cps.remove(weakest.index)
    return []
