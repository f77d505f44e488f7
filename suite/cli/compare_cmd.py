"""`resnet-bench compare BASE CAND`: case-by-case run comparison; exit 1 on a regression.

A regression is a case whose candidate is slower than the base with the whole 95% CI of
the ratio (from both runs' per-process values) beyond the case's threshold, and the false
discovery rate across cases held at 5% (results.compare.compare_runs). The threshold of a
case is --threshold, or its noise floor where `resnet-bench calibrate` learnt a larger one
on the candidate's machine. The exit status can gate CI.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping
from typing import Any

from rich.table import Table
from rich.text import Text

from results.format import fmt_change, fmt_change_ci, fmt_outcome, fmt_p, fmt_pct, plain
from results.runinfo import RunInfo
from suite.case import case_label
from suite.cli.common import UsageError, add_storage_options
from suite.cli.storage import console, reading_store, resolve_run, safe, when

HELP = "compare two runs case by case (exit 1 when a significant regression is found)"
EXIT_REGRESSION = 1
VERDICT_STYLES = {
    "regression": "bold red",
    "improvement": "bold green",
    "same": "",
    "undetermined": "yellow",
    "not comparable": "yellow",
    "only in base": "dim",
    "only in cand": "dim",
}


def parse_threshold(text: str, flag: str = "--threshold") -> float:
    """'5%' or '0.05' -> 0.05; anything else (or outside [0, 100%)) -> UsageError."""
    raw = text.strip()
    percent = raw.endswith("%")
    try:
        value = float(raw[:-1] if percent else raw)
    except ValueError:
        value = math.nan
    if percent:
        value /= 100.0
    if not (0.0 <= value < 1.0):  # also rejects NaN and inf
        raise UsageError(f"bad {flag} {text!r}; give a percentage like 5% or a fraction like 0.05")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", metavar="BASE", help="run id of the baseline (or 'latest')")
    parser.add_argument("cand", metavar="CAND", help="run id of the candidate (or 'latest')")
    parser.add_argument(
        "--threshold",
        default="5%",
        metavar="T",
        help="smallest slow-down (or speed-up) that counts, as 5%% or 0.05 (default: 5%%)",
    )
    parser.add_argument(
        "--no-floor",
        action="store_true",
        help="ignore the noise floors `resnet-bench calibrate` stored for this machine",
    )
    parser.add_argument("--json", action="store_true", help="print only JSON on stdout")
    add_storage_options(parser)


def _run_json(info: RunInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "label": info.label,
        "started_at": info.started_at.isoformat(),
        "machine": info.machine_label,
        "status": info.status,
    }


def _note(rec: Mapping[Any, Any], threshold: float) -> Text:
    """Which side was unstable, a raised threshold, too few processes to judge."""
    notes = []
    sides = [s for s in ("base", "cand") if plain(rec[f"{s}_unstable"]) is True]
    if sides:
        notes.append(f"unstable in {' and '.join(sides)}")
    used = plain(rec["threshold_used"])
    if used is not None and used > threshold:
        notes.append(f"noise floor {fmt_pct(used)}")
    if rec["verdict"] == "undetermined":
        notes.append("one process per side: no spread to judge by")
    return Text("; ".join(notes), style="yellow")


def _describe(info: RunInfo) -> Text:
    label = f" ({info.label})" if info.label else ""
    return Text(safe(f"run {info.id}{label}, {when(info.started_at)}, {info.machine_label}"))


def run(args: argparse.Namespace) -> int:
    import results
    from results.analysis import ALPHA
    from results.compare import compare_runs, environment_diff

    threshold = parse_threshold(args.threshold)
    with reading_store(args) as store:
        base = resolve_run(store, args.base)
        cand = resolve_run(store, args.cand)
        infos = {base: store.get_run(base), cand: store.get_run(cand)}
        ids = sorted({base, cand})
        df = results.load(store, ids)
        samples = results.load_samples(store, ids)
        floors = {} if args.no_floor else store.noise_floors(infos[cand].machine["id"])
    cases = compare_runs(df, samples, base, cand, threshold, floors)
    raised = cases[cases["threshold_used"] > threshold]
    env = environment_diff(df, base, cand)
    found = cases["verdict"].value_counts().to_dict()
    counts = {v: int(found[v]) for v in VERDICT_STYLES if v in found}
    regressions = int(counts.get("regression", 0))

    if args.json:
        doc = {
            "base": _run_json(infos[base]),
            "cand": _run_json(infos[cand]),
            "threshold": threshold,
            "alpha": ALPHA,
            "noise_floor_cases": len(raised),
            "regressions": regressions,
            "verdicts": counts,
            "cases": [
                {str(k): plain(v) for k, v in rec.items()} for rec in cases.to_dict("records")
            ],
            "environment": [
                {str(k): plain(v) for k, v in rec.items()} for rec in env.to_dict("records")
            ],
        }
        print(json.dumps(doc, indent=1))
        return EXIT_REGRESSION if regressions else 0

    out = console()
    out.print(Text.assemble("base: ", _describe(infos[base])))
    out.print(Text.assemble("cand: ", _describe(infos[cand])))
    table = Table(
        title=f"cand vs base: a change counts when its 95% CI lies beyond {fmt_pct(threshold)} "
        f"(or the case's noise floor), false discovery rate {fmt_pct(ALPHA)}",
        title_justify="left",
    )
    table.add_column("verdict")
    table.add_column("case")
    for name in ("base ms", "cand ms", "change", "95% CI", "p"):
        table.add_column(name, justify="right")
    table.add_column("note")
    for rec in cases.to_dict("records"):
        verdict = str(rec["verdict"])
        table.add_row(
            Text(verdict, style=VERDICT_STYLES.get(verdict, "")),
            Text(safe(case_label(rec))),
            Text(safe(fmt_outcome(rec["base_status"], rec["base_ms"]))),
            Text(safe(fmt_outcome(rec["cand_status"], rec["cand_ms"]))),
            fmt_change(rec["ratio"]),
            fmt_change_ci(rec["ratio_ci_low"], rec["ratio_ci_high"]),
            fmt_p(rec["p_value"]),
            _note(rec, threshold),
        )
    out.print(table)
    out.print(", ".join(f"{n} {v}" for v, n in counts.items()) or "no cases in either run")
    if not raised.empty:
        out.print(
            f"noise floor (resnet-bench calibrate) above {fmt_pct(threshold)} for {len(raised)} "
            f"case(s), up to {fmt_pct(raised['threshold_used'].max())}: used as their threshold"
        )
    if env.empty:
        out.print("environment: no recorded setting differs")
    else:
        diff = Table(title="environment differences", title_justify="left")
        for name in ("setting", "base", "cand"):
            diff.add_column(name)
        for rec in env.to_dict("records"):
            diff.add_row(*(Text("(unset)" if v is None else safe(str(v))) for v in rec.values()))
        out.print(diff)
    if regressions:
        out.print(
            Text(f"{regressions} significant regression(s) beyond {fmt_pct(threshold)}", "bold red")
        )
    return EXIT_REGRESSION if regressions else 0
