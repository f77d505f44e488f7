"""The statistics of comparisons, beside vocab.stats (which gives a case its value and CI).

They work on per-process values only, never on raw steps (steps of one process share its
offset; a test on them calls that offset a change):

- `paired_ratio_test`: two cases of ONE run, paired by round (their processes ran in the
  same rounds): a t-interval on the per-round log differences, n - 1 df. What moved the
  whole round (drift, a neighbour, the machine's state) cancels.
- `log_ratio_test`: two separate runs: a Welch t-interval of the difference of mean logs,
  plus the machine's run-to-run variance where calibration measured it (a shift of a whole
  run that its processes cannot show), with Welch-Satterthwaite degrees of freedom.
- `benjamini_hochberg`: the false discovery rate across the compared cases.
- `detectable_change`: the power of either design, as the smallest change found at 80%.

A change is claimed when the whole CI of the ratio lies beyond a practical threshold
(`RatioTest.beyond`) and Benjamini-Hochberg rejects its p-value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vocab.stats import CONFIDENCE, Samples, _sps, t_quantile

POWER = 0.80  # the detection probability a stated smallest detectable change is for
# Threshold of a paired comparison inside one run (compare RUN --by AXIS): none, the CI
# itself decides. A pair's CI holds only its rounds' noise, and at the default replication
# (5-10 processes) any practical threshold costs the power: in the seeded simulations of
# benchmarks/comparison_sim.py (per-process sd 2%, AR(1) steps, 16 cases a run) 0% calls
# 0.3% of A/A cases changed and 2.3% of 16-case A/A runs exit 1, and finds a true 5% change
# in 89% of cases (10%: 99.9%), where 1% found 65% (README, "Comparing inside a run").
# Benjamini-Hochberg across the pairs keeps the false discoveries at 5%.
PAIRED_THRESHOLD = 0.0


@dataclass(frozen=True)
class RunShift:
    """The variance of one run's log shift on a machine, beyond its processes' spread, and
    its degrees of freedom (learnt from A/A runs: results.noise)."""

    var: float
    df: float
    n_runs: int = 0


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
    shift: RunShift | None = None,
) -> RatioTest:
    """cand/base of two runs from per-process values, with the machine's run-to-run
    `shift` where it is known; without values on either side (results stored before
    replication), the ratio of the stored case values and no CI: nothing can be claimed."""
    if (
        base_values is not None
        and cand_values is not None
        and len(base_values)
        and len(cand_values)
    ):
        if shift is None:
            return log_ratio_test(base_values, cand_values, threshold)
        return log_ratio_test(
            base_values, cand_values, threshold, run_var=shift.var, run_df=shift.df
        )
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
