"""The answer first: one headline per case group and the decision table, for the HTML report
and the terminal (`show`, `run`'s summary) alike.

A headline reads framework_comparison's rows (its ratio, CI and `significant` verdict: the
comparison's test, not a second one): per case group and compared pair, the case whose ratio
is the median of the group's stands for it, with how many of the group's cases went which way.

The decision table: per section (every case axis but framework, execution, precision and
batch), one row per framework/execution/precision with its best throughput and its best
latency and the batch where each was reached. Rows are ranked by best throughput; a row whose
best case the comparison's paired test (per-round log differences of the time per image, the
same threshold) cannot tell apart from the leader of its tier joins that tier:
"indistinguishable".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from results.analysis import FASTER_THRESHOLD, execution_rank, stored_round_values
from results.format import fmt_ci, number
from vocab import comparison
from vocab.case import case_fields_without

# One headline per group of these (a chart's group): every axis but the compared and swept.
GROUP_KEYS: tuple[str, ...] = case_fields_without(
    "framework", "execution", "depth", "batch_size", "num_classes", "interop_threads"
)
# One decision section per these; its rows are framework/execution/precision.
SECTION_KEYS: tuple[str, ...] = case_fields_without(
    "framework", "execution", "precision", "batch_size", "num_classes", "interop_threads"
)


def group_title(values: Mapping[Any, Any]) -> str:
    """'cpu inference fp32 224px, 2 threads' (and the other axes where they are set)."""
    threads = values.get("threads")
    parts = [
        f"{values.get('device')} {values.get('mode')} {values.get('precision')} "
        f"{values.get('image_size')}px, {threads} thread{'' if threads == 1 else 's'}"
    ]
    replicas = values.get("replicas")
    if isinstance(replicas, int | float) and not math.isnan(replicas) and replicas > 1:
        parts.append(f"{int(replicas)} replicas")
    # axes added to the case later (an environment name, ...) are named where set
    for key in GROUP_KEYS:
        if key not in ("device", "mode", "precision", "image_size", "threads", "replicas"):
            value = values.get(key)
            if value not in (None, "", "default") and not pd.isna(value):
                parts.append(f"environment {value}" if key == "env" else f"{key} {value}")
    return ", ".join(parts)


def section_title(values: Mapping[Any, Any]) -> str:
    return f"ResNet-{values.get('depth')} " + group_title({**values, "precision": ""}).replace(
        "  ", " "
    )


def _name(label: str) -> str:
    """'FRAMEWORK/EXECUTION' -> 'FRAMEWORK EXECUTION'."""
    return label.replace("/", " ")


def _times(ratio: float, low: float, high: float) -> str:
    if math.isnan(low) or math.isnan(high):
        return f"{ratio:.2f}x"
    return f"{ratio:.2f}x [{low:.2f}, {high:.2f}]"


@dataclass(frozen=True)
class Headline:
    group: str
    baseline: str
    other: str
    text: str  # one sentence: who is faster, by how much, how sure, and how often


def _oriented(row: Mapping[Any, Any]) -> tuple[str, str, float, float, float]:
    """(faster side, slower side, speed-up, CI low, CI high) from other/baseline time."""
    ratio = number(row["ratio"])
    low, high = number(row["ratio_ci_low"]), number(row["ratio_ci_high"])
    b, o = str(row["baseline"]), str(row["other"])
    if ratio >= 1.0:
        return b, o, ratio, low, high
    return o, b, 1.0 / ratio, 1.0 / high, 1.0 / low


def headlines(
    comparison: pd.DataFrame, machine: str = "this machine", threshold: float = FASTER_THRESHOLD
) -> list[Headline]:
    """One per case group and compared pair of framework_comparison's rows."""
    rows = comparison[comparison["baseline"].notna() & comparison["ratio"].notna()]
    out: list[Headline] = []
    if rows.empty:
        return out
    band = f"±{threshold * 100:g}%"
    keys = [k for k in GROUP_KEYS if k in rows.columns]
    for key, grp in rows.groupby([*keys, "baseline", "other"], sort=False, dropna=False):
        values: dict[str, Any] = dict(zip([*keys, "baseline", "other"], key, strict=True))
        grp = grp.sort_values("ratio", kind="stable").reset_index(drop=True)
        mid = grp.iloc[(len(grp) - 1) // 2].to_dict()
        fast, _slow, speed, low, high = _oriented(mid)
        where = f"ResNet-{mid['depth']} batch {mid['batch_size']} {mid['mode']}"
        pair = f"{_name(values['baseline'])} vs {_name(values['other'])} on {machine}"
        if bool(mid.get("significant")):
            said = f"{fast.split('/')[0]} {_times(speed, low, high)} faster at {where}"
        elif math.isnan(number(mid["ratio_ci_low"])):
            said = f"{_times(speed, low, high)} at {where}, no CI (one process each)"
        else:
            said = f"no difference beyond {band} shown at {where} ({_times(speed, low, high)})"
        sig = grp[grp["significant"].fillna(False).astype(bool)]
        faster_b = int((sig["faster"] == values["baseline"]).sum())
        faster_o = int((sig["faster"] == values["other"]).sum())
        tally = (
            f"{len(grp)} case{'s' if len(grp) != 1 else ''}: "
            f"{_name(values['baseline']).split()[0]} faster in {faster_b}, "
            f"{_name(values['other']).split()[0]} faster in {faster_o}, "
            f"not told apart in {len(grp) - faster_b - faster_o}"
        )
        group = group_title(values)
        out.append(
            Headline(
                group,
                str(values["baseline"]),
                str(values["other"]),
                f"{pair} ({group}): {said}; {tally}.",
            )
        )
    return out


# ------------------------------------------------------------------- decision table


@dataclass(frozen=True)
class Decision:
    section: str
    label: str  # 'torch/eager fp32'
    throughput: str  # images/s [CI]
    throughput_batch: int
    latency: str  # ms/step [CI]
    latency_batch: int
    tier: int  # 1: the fastest and what cannot be told apart from it; 2: the next ...
    indistinguishable_from: str  # the tier's leader ('' for the leader itself)


def _throughput(row: Mapping[Any, Any]) -> tuple[float, float, float]:
    """images/s with its CI, from the case value and its CI between processes."""
    batch = float(row["batch_size"])

    def per_s(ms: Any) -> float:
        x = number(ms)
        return batch * 1000.0 / x if x > 0 else math.nan

    return per_s(row["value_ms"]), per_s(row["ci_high_ms"]), per_s(row["ci_low_ms"])


def _per_image(
    row: Mapping[Any, Any], rounds: Mapping[int, Mapping[int, float]]
) -> dict[int, float]:
    """round -> the case's time per image in that round (its best batches may differ)."""
    batch = float(row["batch_size"])
    return {r: v / batch for r, v in rounds.get(int(row["result_id"]), {}).items()}


def _tiers(
    best: Sequence[Mapping[Any, Any]], rounds: Mapping[int, Mapping[int, float]], threshold: float
) -> list[tuple[int, str]]:
    """(tier, leader) per entry of `best` (sorted fastest first): an entry joins the open
    tier when the paired test (the framework comparison's: per-round log differences of
    the time per image) does not put the whole CI of its ratio to the tier's leader beyond
    the threshold. Without rounds (results stored before them): the unpaired test on the
    per-process values."""
    out: list[tuple[int, str]] = []
    leader: Mapping[Any, Any] | None = None
    tier = 0
    for row in best:
        if leader is not None:
            base, cand = _per_image(leader, rounds), _per_image(row, rounds)
            if base and cand:
                t = comparison.paired_ratio_test(base, cand, threshold)
            else:
                t = comparison.ratio_test(
                    None,
                    None,
                    threshold,
                    number(leader["value_ms"]) / float(leader["batch_size"]),
                    number(row["value_ms"]) / float(row["batch_size"]),
                )
            # no CI (fewer than two rounds with both) cannot tell them apart either
            if not t.beyond:
                out.append((tier, str(leader["label"])))
                continue
        tier += 1
        leader = row
        out.append((tier, ""))
    return out


def decisions(
    summary: pd.DataFrame,
    rounds: Mapping[int, Mapping[int, float]],
    threshold: float = FASTER_THRESHOLD,
) -> list[Decision]:
    """The decision table of one run's summary (analysis.summary rows); `rounds`: the
    per-round process values as stored (analysis.stored_round_values)."""
    ok = summary[(summary["status"] == "ok") & summary["value_ms"].notna()]
    if ok.empty:
        return []
    keys = [k for k in SECTION_KEYS if k in ok.columns]
    out: list[Decision] = []
    for key, grp in ok.groupby(keys, sort=True, dropna=False):
        values = dict(zip(keys, key, strict=True))
        entries = []
        for (fw, ex, prec), rows in grp.groupby(
            ["framework", "execution", "precision"], sort=False
        ):
            records = rows.to_dict("records")
            fastest = max(records, key=lambda r: _throughput(r)[0])
            quickest = min(records, key=lambda r: number(r["value_ms"]))
            entries.append(
                {
                    **fastest,
                    "label": f"{fw}/{ex} {prec}",
                    "rank": execution_rank(str(fw), str(ex)),
                    "quickest": quickest,
                }
            )
        entries.sort(key=lambda r: (-_throughput(r)[0], r["rank"]))
        section = section_title(values)
        for e, (tier, lead) in zip(entries, _tiers(entries, rounds, threshold), strict=True):
            q = e["quickest"]
            ips, ips_low, ips_high = _throughput(e)
            out.append(
                Decision(
                    section,
                    str(e["label"]),
                    fmt_ci(ips, ips_low, ips_high),
                    int(e["batch_size"]),
                    fmt_ci(q["value_ms"], q["ci_low_ms"], q["ci_high_ms"]),
                    int(q["batch_size"]),
                    tier,
                    lead,
                )
            )
    return out


# ------------------------------------------------------------------------ terminal


def answer_lines(heads: Iterable[Headline], table: Iterable[Decision]) -> list[str]:
    """The headline and decision lines as plain text: what `show` and `run` lead with."""
    lines = [h.text for h in heads]
    section = None
    for d in table:
        if d.section != section:
            section = d.section
            lines.append(f"{section}: best throughput (images/s) / best latency (ms/step)")
        lead = d.indistinguishable_from
        same = f"  (indistinguishable from {lead})" if lead else ""
        lines.append(
            f"  {d.tier}. {d.label}: {d.throughput} at batch {d.throughput_batch}; "
            f"{d.latency} ms at batch {d.latency_batch}{same}"
        )
    return lines


def machine_name(df: pd.DataFrame) -> str:
    """The hostname of a run's machine, as its headlines name it."""
    names: Sequence[Any] = (
        list(df["machine_hostname"].dropna().unique()) if "machine_hostname" in df else []
    )
    return str(names[0]) if len(names) == 1 else "this machine"


def run_answer(
    df: pd.DataFrame, samples: pd.DataFrame | None, threshold: float = FASTER_THRESHOLD
) -> tuple[list[Headline], list[Decision]]:
    """Headlines and decision table of one run's results.load() frame (and its samples)."""
    from results import analysis

    comparison = analysis.framework_comparison(df, samples, threshold=threshold)
    return (
        headlines(comparison, machine_name(df), threshold),
        decisions(analysis.summary(df), stored_round_values(df, samples), threshold),
    )
