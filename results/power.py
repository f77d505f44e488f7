"""The power of a comparison on this machine: per case, the smallest change a design finds
with probability 80% (vocab.comparison.detectable_change), given the measured spread
between processes, the replication, and the calibrated run-to-run variance.

- run vs run: two separate runs; the squared standard error of the log ratio is
  sd_base^2 / n_base + sd_cand^2 / n_cand + 2 run_var (each run has its own shift;
  results.noise), on the Welch-Satterthwaite df. Without calibration the run variance is
  unknown and the figure is a lower bound (the shift between runs is left out).
- paired: the two sides in the same run, paired by round: sd of the per-round log
  differences / sqrt(pairs), on pairs - 1 df; projected from the processes' spread as
  sqrt(sd_base^2 + sd_cand^2) when no pairs were measured.

The figures are per case, before the false-discovery control across cases: a change that
hits one case of many must clear a stricter level than one that hits them all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from results.format import number
from vocab.comparison import RunShift, detectable_change, satterthwaite


def run_vs_run(
    sd_base: float,
    n_base: float,
    sd_cand: float,
    n_cand: float,
    shift: RunShift | None,
    threshold: float,
) -> float:
    """Smallest change two separate runs find at 80% (NaN: too few processes)."""
    if not (n_base > 1 and n_cand > 1):
        return math.nan
    terms = [(sd_base**2 / n_base, n_base - 1.0), (sd_cand**2 / n_cand, n_cand - 1.0)]
    if shift is not None and shift.var > 0:
        terms.append((2.0 * shift.var, shift.df))
    se = math.sqrt(sum(v for v, _ in terms))
    return detectable_change(se, satterthwaite(terms), threshold)


def paired(sd_diff: float, pairs: float, threshold: float) -> float:
    """Smallest change a paired comparison over `pairs` rounds finds at 80%."""
    if not pairs > 1:
        return math.nan
    return detectable_change(sd_diff / math.sqrt(pairs), pairs - 1.0, threshold)


def of_compared(
    rec: Mapping[str, Any],
    shift: RunShift | None,
    run_threshold: float,
    paired_threshold: float,
) -> tuple[float, float]:
    """(run vs run, paired) smallest detectable changes for one compared case of
    compare_runs or compare_by (their base_sd / cand_sd / processes, and for a paired row
    its se_log and pairs)."""
    sb, sc = number(rec.get("base_sd")), number(rec.get("cand_sd"))
    nb, nc = number(rec.get("base_processes")), number(rec.get("cand_processes"))
    runs = run_vs_run(sb, nb, sc, nc, shift, run_threshold)
    pairs = number(rec.get("pairs"))
    se = number(rec.get("se_log"))
    if pairs > 1 and math.isfinite(se):
        return runs, paired(se * math.sqrt(pairs), pairs, paired_threshold)
    return runs, paired(math.hypot(sb, sc), min(nb, nc), paired_threshold)
