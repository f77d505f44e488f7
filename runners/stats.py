"""Statistics derived from raw step times; never stored without the samples they came from."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

Samples = Sequence[float] | np.ndarray[Any, Any]
CONFIDENCE = 0.95
# Named thresholds (torch.utils.benchmark style) so reports and tests share them.
IQR_UNSTABLE_THRESHOLD = 0.10  # IQR / median above this -> unstable
CI_TARGET_REL = 0.02  # the sampler stops once the median's CI is within +/- 2%
TRAINING_MAC_FACTOR = 3.0  # forward + backward (2x forward) per training step


def median_ci_indices(n: int, confidence: float = CONFIDENCE) -> tuple[int, int] | None:
    """0-based order-statistic indices (lo, hi) of a distribution-free CI of the median.

    P(x_(j) <= median < x_(n-j+1)) = 1 - 2 * BinomCDF(j - 1; n, 1/2) for sorted x_(1..n);
    j is the largest index keeping that coverage >= `confidence`. None when n is too small
    for any such interval (n < 6 at 95%).
    """
    if n < 1:
        return None
    alpha = 1.0 - confidence
    j = int(sps.binom.ppf(alpha / 2.0, n, 0.5))
    while j >= 1 and sps.binom.cdf(j - 1, n, 0.5) > alpha / 2.0:
        j -= 1
    if j < 1:
        return None
    return j - 1, n - j


def median_ci(samples: Samples, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Distribution-free CI of the median; (min, max) when too few samples for one."""
    xs = np.sort(np.asarray(samples, dtype=float))
    idx = median_ci_indices(len(xs), confidence)
    if idx is None:
        return (float(xs[0]), float(xs[-1])) if len(xs) else (math.nan, math.nan)
    return float(xs[idx[0]]), float(xs[idx[1]])


def ci_rel_halfwidth(samples: Samples, confidence: float = CONFIDENCE) -> float:
    """Largest distance from the median to a CI bound, relative to the median."""
    xs = np.asarray(samples, dtype=float)
    if len(xs) == 0 or median_ci_indices(len(xs), confidence) is None:
        return math.inf
    med = float(np.median(xs))
    lo, hi = median_ci(xs, confidence)
    return max(med - lo, hi - med) / med if med > 0 else math.inf


@dataclass(frozen=True)
class Stats:
    n: int
    total_s: float
    median_s: float
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
    ci_low_s: float
    ci_high_s: float
    images_per_s: float
    gmacs_per_s: float | None
    gflops_per_s: float | None
    iqr_rel: float
    ci_rel: float
    unstable: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(
    samples_s: Sequence[float],
    batch_size: int,
    gmacs_per_image: float | None = None,
    mode: str = "inference",
    ci_target_met: bool | None = None,
) -> Stats:
    """All statistics of one case from its raw step times in seconds."""
    xs = np.asarray(samples_s, dtype=float)
    if len(xs) == 0:
        raise ValueError("no samples to summarize")
    med = float(np.median(xs))
    p5, p25, p75, p95, p99 = (float(v) for v in np.percentile(xs, [5, 25, 75, 95, 99]))
    lo, hi = median_ci(xs)
    iqr = p75 - p25
    iqr_rel = iqr / med if med > 0 else math.inf
    ci_rel = ci_rel_halfwidth(xs)
    if ci_target_met is None:
        ci_target_met = ci_rel <= CI_TARGET_REL
    macs = None
    if gmacs_per_image is not None:
        factor = TRAINING_MAC_FACTOR if mode == "training" else 1.0
        macs = gmacs_per_image * factor * batch_size / med
    return Stats(
        n=len(xs),
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
        iqr_s=iqr,
        ci_low_s=lo,
        ci_high_s=hi,
        images_per_s=batch_size / med,
        gmacs_per_s=macs,
        gflops_per_s=None if macs is None else 2.0 * macs,
        iqr_rel=iqr_rel,
        ci_rel=ci_rel,
        unstable=bool(iqr_rel > IQR_UNSTABLE_THRESHOLD or not ci_target_met),
    )
