"""`resnet-bench compare BASE CAND`: case-by-case run comparison; exit 1 on a regression.
`resnet-bench compare RUN --by AXIS [--base NAME]`: the cases of one run that differ only
in AXIS, paired by round (results.paired); exit 1 on a regression of a candidate.

A regression is a case whose candidate is slower than the base with the whole 95% CI of
the ratio (from both runs' per-process values, plus the run-to-run variance `resnet-bench
calibrate` learnt on the candidate's machine, where it did) beyond --threshold, and the
false discovery rate across cases held at 5% (results.compare.compare_runs). The exit
status can gate CI.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from results.format import fmt_change, fmt_change_ci, fmt_outcome, fmt_p, fmt_pct, plain
from results.runinfo import RunInfo
from suite.cli import compare_gate
from suite.cli.common import UsageError, add_storage_options
from suite.cli.storage import console, reading_store, resolve_run, safe, when
from vocab.case import CASE_FIELDS, LABEL_FIELDS, case_label
from vocab.comparison import PAIRED_THRESHOLD
from vocab.messages import PlanRecord

HELP = "compare two runs case by case (exit 1 when a significant regression is found)"
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


RUN_THRESHOLD = "5%"  # run-vs-run default (results.compare.DEFAULT_THRESHOLD)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "base",
        metavar="BASE",
        help="run id of the baseline (or 'latest'); with --by, the run to compare inside",
    )
    parser.add_argument(
        "cand",
        metavar="CAND",
        nargs="?",
        help="run id of the candidate (or 'latest'); not with --by",
    )
    parser.add_argument(
        "--by",
        metavar="AXIS",
        help="compare inside one run: each pair of cases that differ only in AXIS, paired by "
        f"round ({', '.join(CASE_FIELDS)})",
    )
    parser.add_argument(
        "--base",
        dest="base_value",
        metavar="NAME",
        help="with --by: the value the others are compared with (default: the first named)",
    )
    parser.add_argument(
        "--threshold",
        metavar="T",
        help="smallest slow-down (or speed-up) that counts, as 5%% or 0.05 (default: "
        f"{RUN_THRESHOLD}% between runs, {PAIRED_THRESHOLD:.0%}% with --by: the CI decides)",
    )
    parser.add_argument(
        "--no-calibration",
        action="store_true",
        help="leave out the run-to-run variance `resnet-bench calibrate` stored for this machine",
    )
    parser.add_argument(
        "--power",
        action="store_true",
        help="also print per case the smallest change found at 80%%, run vs run and paired",
    )
    parser.add_argument("--json", action="store_true", help="print only JSON on stdout")
    compare_gate.add_argument(parser)
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
    """Which side carries flags (vocab.flags), too few processes to judge."""
    notes = [f"{s}: {rec[f'{s}_flags']}" for s in ("base", "cand") if rec[f"{s}_flags"]]
    if rec["verdict"] == "undetermined":
        notes.append("one process per side: no spread to judge by")
    return Text("; ".join(notes), style="yellow")


def _describe(info: RunInfo) -> Text:
    label = f" ({info.label})" if info.label else ""
    return Text(safe(f"run {info.id}{label}, {when(info.started_at)}, {info.machine_label}"))


def run(args: argparse.Namespace) -> int:
    if args.by is not None:
        return run_by(args)
    if args.base_value is not None:
        raise UsageError("--base names a value of the --by axis; give --by AXIS with it")
    if args.cand is None:
        raise UsageError("compare needs two runs (BASE CAND), or one run with --by AXIS")
    return run_runs(args)


def run_runs(args: argparse.Namespace) -> int:
    import results
    from results.analysis import ALPHA
    from results.compare import compare_runs, environment_diff
    from results.variances import stored_run_variances

    threshold = parse_threshold(args.threshold or RUN_THRESHOLD)
    with reading_store(args) as store:
        base = resolve_run(store, args.base)
        cand = resolve_run(store, args.cand)
        infos = {base: store.get_run(base), cand: store.get_run(cand)}
        ids = sorted({base, cand})
        df = results.load(store, ids)
        samples = results.load_samples(store, ids)
        shifts = (
            {} if args.no_calibration else stored_run_variances(store, infos[cand].machine["id"])
        )
    cases = compare_runs(df, samples, base, cand, threshold, shifts)
    compared = cases[cases["ratio"].notna()]
    calibrated = int(compared["run_sd"].notna().sum())
    if args.power:
        _add_power(cases, shifts, threshold)
    env = environment_diff(df, base, cand)
    found = cases["verdict"].value_counts().to_dict()
    counts = {v: int(found[v]) for v in VERDICT_STYLES if v in found}
    regressions = int(counts.get("regression", 0))
    gate = compare_gate.lost(cases)  # a candidate that lost cases does not pass
    code = compare_gate.exit_status(regressions, gate, args.allow_missing)

    if args.json:
        doc = {
            "lost": {**gate.to_dict(), "allowed": args.allow_missing},
            "base": _run_json(infos[base]),
            "cand": _run_json(infos[cand]),
            "threshold": threshold,
            "alpha": ALPHA,
            "calibrated_cases": calibrated,
            "compared_cases": len(compared),
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
        return code

    out = console()
    out.print(Text.assemble("base: ", _describe(infos[base])))
    out.print(Text.assemble("cand: ", _describe(infos[cand])))
    table = Table(
        title=f"cand vs base: a change counts when its 95% CI lies beyond {fmt_pct(threshold)} "
        f"(run-to-run variance in the CI where calibrated), false discovery rate "
        f"{fmt_pct(ALPHA)}",
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
    out.print(_calibration_line(calibrated, len(compared), args.no_calibration))
    if args.power:
        out.print(_power_table(cases, args.by))
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
    compare_gate.say(out, gate, args.allow_missing)
    return code


def _axis_order(plan: PlanRecord | None, axis: str) -> list[Any]:
    """The axis values in the order the run's plan named its cases (none without a plan)."""
    return [] if plan is None else [getattr(c, axis) for c in plan.cases if hasattr(c, axis)]


def run_by(args: argparse.Namespace) -> int:
    import results
    from results.analysis import ALPHA
    from results.paired import DEFAULT_THRESHOLD, AxisError, compare_by
    from results.variances import stored_run_variances

    if args.cand is not None:
        raise UsageError(f"--by compares inside one run; give one run, not {args.cand!r} too")
    threshold = parse_threshold(args.threshold) if args.threshold is not None else DEFAULT_THRESHOLD
    with reading_store(args) as store:
        run_id = resolve_run(store, args.base)
        info = store.get_run(run_id)
        order = _axis_order(store.get_plan(run_id), args.by)
        df = results.load(store, [run_id])
        samples = results.load_samples(store, [run_id])
        shifts = {} if args.no_calibration else stored_run_variances(store, info.machine["id"])
    try:
        cases = compare_by(df, samples, run_id, args.by, args.base_value, threshold, order)
    except AxisError as exc:
        raise UsageError(str(exc)) from None
    if args.power:
        _add_power(cases, shifts, parse_threshold(RUN_THRESHOLD))
    found = cases["verdict"].value_counts().to_dict()
    counts = {v: int(found[v]) for v in VERDICT_STYLES if v in found}
    regressions = int(counts.get("regression", 0))
    base_value = str(cases["base_value"].iloc[0]) if not cases.empty else args.base_value
    cand_values = sorted({str(v) for v in cases["cand_value"]}) if not cases.empty else []
    env = _env_differences(df, run_id, order) if args.by == "env" else None
    gate = compare_gate.lost(cases)  # a candidate value's case that crashed does not pass
    code = compare_gate.exit_status(regressions, gate, args.allow_missing)

    if args.json:
        doc = {
            "base": _run_json(info),
            "cand": _run_json(info),
            "by": args.by,
            "base_value": base_value,
            "cand_values": cand_values,
            "paired": True,
            "lost": {**gate.to_dict(), "allowed": args.allow_missing},
            "threshold": threshold,
            "alpha": ALPHA,
            "regressions": regressions,
            "verdicts": counts,
            "cases": [
                {str(k): plain(v) for k, v in rec.items()} for rec in cases.to_dict("records")
            ],
        }
        if env is not None:  # what differs between the environments: {setting, values}
            doc["environment"] = [
                {"setting": str(name), "values": {str(k): v for k, v in row.items()}}
                for name, row in env.iterrows()
            ]
        print(json.dumps(doc, indent=1))
        return code

    out = console()
    out.print(Text.assemble("run: ", _describe(info)))
    table = Table(
        title=f"--by {args.by}, each against {base_value}, paired by round: a change counts "
        f"when its 95% CI lies beyond {fmt_pct(threshold)}, false discovery rate "
        f"{fmt_pct(ALPHA)}",
        title_justify="left",
    )
    table.add_column("verdict")
    table.add_column("case")
    table.add_column(args.by)
    for name in ("base ms", "cand ms", "change", "95% CI", "p", "pairs"):
        table.add_column(name, justify="right")
    table.add_column("note")
    label_fields = [f for f in LABEL_FIELDS if f != args.by]
    for rec in cases.to_dict("records"):
        verdict = str(rec["verdict"])
        table.add_row(
            Text(verdict, style=VERDICT_STYLES.get(verdict, "")),
            Text(safe(case_label({k: v for k, v in rec.items() if k != args.by}, label_fields))),
            Text(safe(f"{rec['cand_value']} vs {rec['base_value']}")),
            Text(safe(fmt_outcome(rec["base_status"], rec["base_ms"]))),
            Text(safe(fmt_outcome(rec["cand_status"], rec["cand_ms"]))),
            fmt_change(rec["ratio"]),
            fmt_change_ci(rec["ratio_ci_low"], rec["ratio_ci_high"]),
            fmt_p(rec["p_value"]),
            str(rec["pairs"]),
            _pair_note(rec),
        )
    out.print(table)
    out.print(", ".join(f"{n} {v}" for v, n in counts.items()) or "no pairs of cases")
    if env is not None:
        _print_env_differences(out, env)
    if args.power:
        out.print(_power_table(cases, args.by))
    if regressions:
        out.print(
            Text(f"{regressions} significant regression(s) beyond {fmt_pct(threshold)}", "bold red")
        )
    compare_gate.say(out, gate, args.allow_missing)
    return code


def _env_differences(df: Any, run_id: int, order: Sequence[Any]) -> Any:
    from results.compare import env_differences

    return env_differences(df, run_id, [str(v) for v in order])


def _print_env_differences(out: Any, env: Any) -> None:
    """What differs between an A/B run's environments (results.compare.env_differences)."""
    if env.empty:
        out.print("environments: no recorded setting differs")
        return
    table = Table(title="environment differences", title_justify="left")
    table.add_column("setting")
    for name in env.columns:
        table.add_column(safe(str(name)))
    for setting, row in env.iterrows():
        table.add_row(safe(str(setting)), *(Text(_env_cell(v)) for v in row))
    out.print(table)


ENV_CELL_CHARS = 60  # a build dump (torch's config) is summarised: --json has it whole


def _env_cell(value: Any) -> str:
    from results.format import is_missing

    if value is None or is_missing(value):
        return "(unset)"
    text = safe(" ".join(str(value).split()))
    return text if len(text) <= ENV_CELL_CHARS else f"{text[: ENV_CELL_CHARS - 1]}…"


def _pair_note(rec: Mapping[Any, Any]) -> Text:
    notes = []
    if rec["verdict"] == "undetermined":
        notes.append("fewer than 2 rounds with both: no spread to judge by")
    unpaired = plain(rec["unpaired"]) or 0
    if unpaired:
        notes.append(f"{unpaired} process(es) without a partner in their round left out")
    return Text("; ".join(notes), style="yellow")


def _calibration_line(calibrated: int, compared: int, ignored: bool) -> Text:
    """Whether the CIs hold the shift of the whole machine between the two runs."""
    if compared and calibrated == compared:
        return Text(
            f"run-to-run variance (resnet-bench calibrate) in the CI of all {compared} case(s)"
        )
    missing = "any case" if not calibrated else f"{compared - calibrated} of {compared} case(s)"
    why = "left out (--no-calibration)" if ignored else "not calibrated on this machine"
    return Text(
        f"run-to-run variance {why} for {missing}: their CIs cannot see a shift of the whole "
        "machine between the two runs; compare inside one run (`--by env`) or run "
        "`resnet-bench calibrate`",
        style="yellow",
    )


def _add_power(cases: Any, shifts: Mapping[Any, Any], run_threshold: float) -> None:
    """Add the smallest detectable changes (results.power) as columns of `cases`: the run
    variance is the row's own (run-vs-run compare) or looked up for its case (--by)."""
    from results import power
    from results.noise import KEY, key_of
    from vocab.comparison import RunShift

    runs, paired, calibrated = [], [], []
    for rec in cases.to_dict("records"):
        sd, df = plain(rec.get("run_sd")), plain(rec.get("run_df"))
        shift: RunShift | None
        if sd is not None and df is not None:
            shift = RunShift(float(sd) ** 2, float(df))
        else:
            shift = shifts.get(key_of(rec)) if all(k in rec for k in KEY) else None
        r, p = math.nan, math.nan
        if plain(rec["ratio"]) is not None:
            r, p = power.of_compared(rec, shift, run_threshold, PAIRED_THRESHOLD)
        runs.append(r)
        paired.append(p)
        calibrated.append(shift is not None)
    cases["detectable_run_vs_run"] = runs
    cases["detectable_paired"] = paired
    cases["detectable_calibrated"] = calibrated


def _power_table(cases: Any, axis: str | None) -> Table:
    table = Table(
        title="smallest change found at 80% per case (before the false-discovery control), "
        "at this replication: run vs run (two separate runs) and paired (one run, by round)",
        title_justify="left",
    )
    for name in ("case", "processes", "run vs run", "paired"):
        table.add_column(name, justify="left" if name == "case" else "right")
    fields = [f for f in LABEL_FIELDS if f != axis]
    for rec in cases.to_dict("records"):
        if math.isnan(float(plain(rec["detectable_paired"]) or math.nan)):
            continue
        runs = fmt_pct(rec["detectable_run_vs_run"])
        if not rec["detectable_calibrated"] and runs != fmt_pct(math.nan):
            runs = f">= {runs} (not calibrated)"
        label = case_label(rec, fields)
        if axis is not None:
            label += f" {rec['cand_value']} vs {rec['base_value']}"
        table.add_row(
            Text(safe(label)),
            f"{plain(rec['base_processes'])} / {plain(rec['cand_processes'])}",
            runs,
            fmt_pct(rec["detectable_paired"]),
        )
    return table
