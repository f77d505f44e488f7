"""Which case fields match results across runs (no pandas: the store needs them too)."""

from __future__ import annotations

from vocab.case import case_fields_without

# Runs are matched on MATCH_KEYS; thread counts are added only when a run holds several
# results per key (a thread sweep), since threads may legitimately differ between machines.
SWEEP_KEYS: tuple[str, ...] = ("num_classes", "threads", "interop_threads")
MATCH_KEYS: tuple[str, ...] = case_fields_without(*SWEEP_KEYS)
# A case's run-to-run variance (results.noise) is per machine, case and thread count.
VARIANCE_KEYS: tuple[str, ...] = (*MATCH_KEYS, "threads")

# A run variance (results.noise) needs this many A/A runs (its df: runs - 1); calibrate
# warns below WARN_RUNS.
MIN_RUNS = 5
WARN_RUNS = 10
