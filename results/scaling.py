"""Data-parallel scaling (issue 14): images/s and efficiency against replicas, stragglers.

Derived from stored results, never stored alone: a case with N replicas is compared with
the one-replica case of the same run and the same other axes (threads included: the same
cores, split N ways). Efficiency = images/s(N) / (N x images/s(1)); images/s counts every
replica's images (vocab.measurement).
"""

from __future__ import annotations

import json
import math

import pandas as pd

from vocab.details import Replication
from vocab.details import decode as decode_details

# A rank whose median forward time is this much above the fastest rank's is a straggler.
# The forward, not the step: DDP's gradient all-reduce makes every rank's step end
# together (runners.ddp.ForwardClock).
STRAGGLER_THRESHOLD = 0.10
GROUP: tuple[str, ...] = (
    "run_id",
    "framework",
    "execution",
    "depth",
    "batch_size",
    "device",
    "mode",
    "precision",
    "image_size",
    "num_classes",
    "threads",
    "interop_threads",
)
COLUMNS: tuple[str, ...] = (
    *GROUP,
    "replicas",
    "global_batch",
    "images_per_s",
    "efficiency",
    "rank_median_ms",
    "rank_forward_ms",
    "straggler",
)


def _replication(value: object) -> Replication | None:
    """A result row's per-rank facts from its details column (a JSON text or object)."""
    if isinstance(value, str) and value:
        value = json.loads(value)
    return decode_details(value).replication if isinstance(value, dict) else None


def straggler(forward_s: list[float], threshold: float = STRAGGLER_THRESHOLD) -> str | None:
    """'rank 1 +23%' when the slowest rank's forward is beyond `threshold` over the
    fastest's; None otherwise (or with fewer than two ranks)."""
    if len(forward_s) < 2 or min(forward_s) <= 0:
        return None
    slow = max(range(len(forward_s)), key=lambda r: forward_s[r])
    excess = forward_s[slow] / min(forward_s) - 1.0
    return f"rank {slow} +{excess:.0%}" if excess > threshold else None


def replica_scaling(df: pd.DataFrame) -> pd.DataFrame:
    """One row per ok training result in a group that has more than one replica count (or
    any case with several replicas), ordered by replicas; efficiency NaN where the group has
    no one-replica result."""
    if df.empty or "replicas" not in df:
        return pd.DataFrame(columns=list(COLUMNS))
    ok = df[(df["status"] == "ok") & (df["mode"] == "training")].copy()
    ok["replicas"] = pd.to_numeric(ok["replicas"]).astype(int)
    key = ok[list(GROUP)].astype(str).agg("|".join, axis=1)
    many = set(key[ok["replicas"] > 1])
    ok = ok[key.isin(many)]
    if ok.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    ok["images_per_s"] = pd.to_numeric(ok["images_per_s"], errors="coerce")
    ok["global_batch"] = ok["batch_size"].astype(int) * ok["replicas"]
    rows = []
    for _, grp in ok.groupby(list(GROUP), sort=True, dropna=False):
        one = grp.loc[grp["replicas"] == 1, "images_per_s"]
        base = float(one.iloc[0]) if len(one) else math.nan
        for _, r in grp.sort_values("replicas").iterrows():
            rep = _replication(r.get("details"))
            per_rank = [] if rep is None else list(rep.rank_median_s)
            forward = [] if rep is None else list(rep.rank_forward_median_s)
            rec = {k: r[k] for k in (*GROUP, "replicas", "global_batch", "images_per_s")}
            rec["efficiency"] = float(r["images_per_s"]) / (r["replicas"] * base)
            rec["rank_median_ms"] = [round(v * 1e3, 3) for v in per_rank]
            rec["rank_forward_ms"] = [round(v * 1e3, 3) for v in forward]
            rec["straggler"] = straggler(forward)
            rows.append(rec)
    return pd.DataFrame(rows, columns=list(COLUMNS)).reset_index(drop=True)
