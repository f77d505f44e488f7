"""Machines side by side: the same case measured on several machines (a team's CPU host
and GPU host in one database), with each machine's main facts.

Each machine is represented by its latest run among the report's runs; the primary run's
machine is the base. Cases match on compare.MATCH_KEYS (every case axis but the sweep
order). Runs on two machines share no rounds, so the ratio of two case values is the
unpaired test (vocab.comparison.ratio_test: Welch on log per-process values); a machine is
called faster only when the whole CI lies beyond the threshold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from results.analysis import FASTER_THRESHOLD, case_value, of_run, process_values
from results.compare import MATCH_KEYS
from results.format import fmt_bytes, fmt_ci, is_missing, ms, text
from results.metadata import VERSION_KEYS
from vocab import comparison
from vocab.case import case_label

VERSION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("python", "python_version"),
    # each runtime's versions, as its record names them (results.metadata.VERSION_KEYS)
    *(
        (k.name.removesuffix("_version"), k.name)
        for k in VERSION_KEYS
        if k.name.endswith("_version")
    ),
    ("numpy", "numpy_version"),
    ("resnet-bench", "suite_version"),
)


@dataclass(frozen=True)
class SideBySide:
    machines: list[dict[str, str]]  # name, run, cpu, gpu, cores, memory, os, versions
    columns: list[str]  # one value column per machine, base first
    rows: list[dict[str, Any]]  # case, values (per machine), ratios (per other machine)


def machine_runs(df: pd.DataFrame, order: Sequence[int], primary: int) -> list[int]:
    """The latest run (in `order`, oldest first) of each machine, the primary's first."""
    latest: dict[Any, int] = {}
    for rid in order:
        rows = of_run(df, rid)
        if not rows.empty:
            latest[rows["machine_id"].iloc[0]] = rid
    prim_machine = of_run(df, primary)["machine_id"].iloc[0]
    latest[prim_machine] = primary
    return [primary, *(r for m, r in latest.items() if m != prim_machine)]


def _facts(run: pd.DataFrame) -> dict[str, str]:
    r = run.iloc[0]
    versions = ", ".join(
        f"{name} {r[col]}" for name, col in VERSION_COLUMNS if col in r and not is_missing(r[col])
    )
    commit = text(r.get("git_commit")) + (" (dirty)" if r.get("git_dirty") is True else "")
    return {
        "name": text(r["machine_hostname"]),
        "run": text(r["run_id"]),
        "cpu": text(r["machine_cpu"]),
        "gpu": text(r["machine_gpu"]),
        "cores": f"{text(r['machine_cores_physical'])} physical, "
        f"{text(r['machine_cores_logical'])} logical",
        "memory": fmt_bytes(r["machine_memory_bytes"]),
        "os": text(r["machine_os"]),
        "versions": versions,
        "commit": commit,
        "fingerprint": text(r["machine_fingerprint"]),
    }


def _verdict(t: comparison.RatioTest, base: str, other: str) -> str:
    if math.isnan(t.ci_low):
        return "undetermined (no CI)"
    if not t.beyond:
        return f"no difference beyond ±{t.threshold * 100:g}% shown"
    fast, speed = (other, 1.0 / t.ratio) if t.ratio < 1.0 else (base, t.ratio)
    return f"faster on {fast}: {speed:.2f}x"


def side_by_side(
    df: pd.DataFrame,
    samples: pd.DataFrame | None,
    order: Sequence[int],
    primary: int,
    threshold: float = FASTER_THRESHOLD,
) -> SideBySide | None:
    """None unless the report's runs come from two machines or more."""
    if df["machine_id"].nunique() < 2:
        return None
    runs = machine_runs(df, order, primary)
    facts = [_facts(of_run(df, rid)) for rid in runs]
    names = [f"{f['name']} (run {f['run']})" for f in facts]
    raw = process_values(samples)
    keys = [k for k in MATCH_KEYS if k in df.columns]
    by_run: list[dict[tuple[Any, ...], Mapping[Any, Any]]] = []
    for rid in runs:
        recs = of_run(df, rid)
        ok = recs[(recs["status"] == "ok") & recs["value_s"].notna()]
        by_run.append({tuple(r[k] for k in keys): r for r in ok.to_dict("records")})
    shared = [k for k in by_run[0] if any(k in other for other in by_run[1:])]
    rows = []
    for key in shared:
        base = by_run[0][key]
        values, ratios = [], []
        for side in by_run:
            r = side.get(key)
            values.append(
                "—"
                if r is None
                else fmt_ci(ms(case_value(r)), ms(r["ci_low_s"]), ms(r["ci_high_s"]))
            )
        for side, machine in zip(by_run[1:], names[1:], strict=True):
            r = side.get(key)
            if r is None:
                ratios.append({"machine": machine, "ratio": "—", "verdict": "not run there"})
                continue
            t = comparison.ratio_test(
                raw.get(int(base["result_id"])),
                raw.get(int(r["result_id"])),
                threshold,
                case_value(base),
                case_value(r),
            )
            ratios.append(
                {
                    "machine": machine,
                    "ratio": fmt_ci(t.ratio, t.ci_low, t.ci_high),
                    "verdict": _verdict(
                        t, facts[0]["name"], facts[runs.index(int(r["run_id"]))]["name"]
                    ),
                }
            )
        rows.append({"case": case_label(base), "values": values, "ratios": ratios})
    return SideBySide(facts, names, rows)
