"""A measurement as database rows: its Result columns (statistics derived from the samples)
and one Process row per worker process."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from results.db import STAT_COLUMNS, Ceiling
from results.format import plain
from vocab.case import CASE_FIELDS
from vocab.details import encode as encode_details
from vocab.measurement import Measurement


def _seconds(ns: int | None) -> float | None:
    return None if ns is None else ns / 1e9


def result_values(m: Measurement) -> dict[str, Any]:
    """A Result row's columns for one measurement, statistics derived from its samples."""
    values: dict[str, Any] = dict(zip(CASE_FIELDS, m.case.key(), strict=True))
    values.update(
        status=m.status,
        reason=m.reason,
        n_samples=len(m.samples_ns),
        warmup_steps=m.warmup_steps,
        first_step_s=_seconds(m.first_step_ns),
        build_s=_seconds(m.build_ns),
        threads_intra=m.threads_intra,
        threads_inter=m.threads_inter,
        sync=m.sync,
        processes=m.processes,
        peak_memory_bytes=m.peak_memory_bytes,
        memory_kind=m.memory_kind,
        ci_target_met=m.ci_target_met,
        ci_target=m.ci_target,
        stop_reason=m.stop_reason,
        throttled=m.throttled,
        gmacs_per_image=m.gmacs_per_image,
        framework_version=m.framework_version,
        details=encode_details(m.details) or None,
        gpu_before=m.gpu_before,
        gpu_after=m.gpu_after,
    )
    stats = m.stats()
    if stats is not None:
        data = stats.to_dict()
        # Undefined statistics (inf, nan: the CI with one process) are stored as NULL.
        values.update({name: plain(data[name]) for name in STAT_COLUMNS})
    pipelined = m.pipelined_s()
    if pipelined is not None:
        values.update(
            pipeline_steps=m.pipeline_steps,
            pipelined_s=pipelined,
            pipelined_images_per_s=m.case.global_batch / pipelined,
        )
    return values


def _epoch(ns: int | None) -> datetime | None:
    return None if ns is None else datetime.fromtimestamp(ns / 1e9, tz=UTC)


def process_rows(result_id: int, m: Measurement) -> list[dict[str, Any]]:
    """The Process rows of a measurement: each worker process's costs and its value."""
    stats = {p.index: p for p in m.process_stats()}
    summary = m.stats()
    left_out = set(summary.left_out) if summary is not None else set()
    rows = []
    for rec in m.process_records:
        p = stats.get(rec.index)
        rows.append(
            {
                "result_id": result_id,
                "idx": rec.index,
                "round": rec.round,
                "pid": rec.pid,
                "position": rec.position,
                "started_at": _epoch(rec.started_ns),
                "startup_s": _seconds(rec.startup_ns),
                "build_s": _seconds(rec.build_ns),
                "warmup_steps": rec.warmup_steps,
                "warmup_s": _seconds(rec.warmup_ns),
                "warmup_stable": rec.warmup_stable,
                "warmup_times_s": [ns / 1e9 for ns in rec.warmup_step_ns] or None,
                "first_step_s": _seconds(rec.first_step_ns),
                "n_samples": 0 if p is None else p.n,
                "value_s": None if p is None else p.value_s,
                "pipelined_s": _seconds(rec.pipelined_ns),
                "batch_means_rel": None if p is None else plain(p.batch_means_rel),
                "drift_rel": None if p is None else plain(p.drift_rel),
                "left_out": None if summary is None else rec.index in left_out,
                "peak_memory_bytes": rec.peak_memory_bytes,
                "throttled": rec.throttled,
                "gpu_before": rec.gpu_before,
                "gpu_after": rec.gpu_after,
            }
        )
    return rows


def case_key_text(case: Any) -> str:
    """A case as canonical JSON: the pending table's key. Without an environment the key
    has no `env`, as pending rows stored before environments have none."""
    data = case.to_dict()
    if not data.get("env"):
        data.pop("env", None)
    return json.dumps(data, sort_keys=True)


def ceiling_row(values: Mapping[str, Any]) -> Ceiling:
    unknown = sorted(set(values) - {"device", "precision", "gflops", "details", "env"})
    if unknown:
        raise ValueError(f"unknown ceiling field(s) {', '.join(unknown)}")
    try:
        return Ceiling(
            device=str(values["device"]),
            precision=str(values["precision"]),
            gflops=float(values["gflops"]),
            details=values.get("details"),
            env=str(values.get("env") or ""),
        )
    except KeyError as exc:
        raise ValueError(f"a ceiling needs device, precision and gflops; {exc} missing") from None
