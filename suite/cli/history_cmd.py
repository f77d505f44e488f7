"""`resnet-bench history`: each case's value over the runs of one machine, and its change
points; `--check` is the nightly gate (exit 1 on a fresh regression).

A series is one case on one machine (its fingerprint), ordered by run start (or `--by
commit`); a thread count, a version, a variable or the commit that changed is named at the
run where it changed. A change point is a step that ruptures locates and a t-test on the
runs' values (with their CIs between processes) calls real (results.changepoints);
`--check` exits 1 when a regression step beyond --threshold lies among a series' last K
runs (--last K, default 5), 0 otherwise, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from results.format import fmt, fmt_change, fmt_change_ci, fmt_ci, fmt_pct, fmt_time
from suite.cli.common import UsageError, add_storage_options
from suite.cli.compare_cmd import parse_threshold
from suite.cli.storage import console, reading_store, safe
from vocab.case import ALL_EXECUTIONS, DEVICE_HELP, DEVICE_RE, FRAMEWORKS, MODES, PRECISIONS
from vocab.spec import DEPTHS

if TYPE_CHECKING:
    from results.history import ChangePoint, Series
    from results.history_query import MachineRow

HELP = "each case's value over runs, its change points; --check: exit 1 on a fresh regression"
EXIT_REGRESSION = 1
SPARK = "▁▂▃▄▅▆▇█"
SPARK_POINTS = 40  # the sparkline shows a series' latest points


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1 or str(value) != text.strip():
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _listed(
    axis: str, allowed: Sequence[Any] | None = None, kind: Callable[[str], Any] = str,
    check: Callable[[Any], bool] | None = None, help_allowed: str | None = None,
) -> Callable[[str], list[Any]]:  # fmt: skip
    """A comma list of one case axis, each value checked: one line naming a bad one."""
    shown = help_allowed or ", ".join(map(str, allowed or ()))

    def parse(text: str) -> list[Any]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"{axis}: empty list")
        out = []
        for item in items:
            try:
                value = kind(item)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"unknown {axis} {item!r}; allowed: {shown}"
                ) from None
            ok = check(value) if check else (allowed is None or value in allowed)
            if not ok:
                raise argparse.ArgumentTypeError(f"unknown {axis} {item!r}; allowed: {shown}")
            out.append(value)
        return out

    return parse


# option -> (case field, parser)
AXES: dict[str, tuple[str, Callable[[str], list[Any]]]] = {
    "--frameworks": ("framework", _listed("framework", FRAMEWORKS)),
    "--depths": ("depth", _listed("depth", tuple(DEPTHS), int)),
    "--batch-sizes": (
        "batch_size",
        _listed("batch size", kind=int, check=lambda v: v > 0, help_allowed="positive integers"),
    ),
    "--devices": (
        "device",
        _listed("device", check=lambda v: bool(DEVICE_RE.match(v)), help_allowed=DEVICE_HELP),
    ),
    "--modes": ("mode", _listed("mode", MODES)),
    "--precisions": ("precision", _listed("precision", PRECISIONS)),
    "--executions": ("execution", _listed("execution", ALL_EXECUTIONS)),
    "--image-sizes": (
        "image_size",
        _listed("image size", kind=int, check=lambda v: v > 0, help_allowed="positive integers"),
    ),
    "--threads": (
        "threads",
        _listed("threads", kind=int, check=lambda v: v > 0, help_allowed="positive integers"),
    ),
    "--replicas": (
        "replicas",
        _listed("replicas", kind=int, check=lambda v: v > 0, help_allowed="positive integers"),
    ),
}


def _since(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"bad date {text!r}; give an ISO date or time like 2026-11-30 or 2026-11-30T18:00"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    axes = parser.add_argument_group("which cases (comma lists)")
    for option, (field, parse) in AXES.items():
        axes.add_argument(option, type=parse, dest=f"axis_{field}", metavar="LIST")
    parser.add_argument(
        "--machine",
        metavar="ID|HOST|FINGERPRINT",
        help="the machine's id, hostname or fingerprint prefix (default: the latest run's)",
    )
    parser.add_argument(
        "--since", type=_since, metavar="DATE", help="only runs started at or after DATE (UTC)"
    )
    parser.add_argument(
        "--last",
        type=_positive,
        metavar="N",
        help="only the N latest runs; with --check: the runs a regression must lie in "
        "(default 5, over the whole history)",
    )
    parser.add_argument(
        "--by",
        choices=("time", "commit"),
        default="time",
        help="order runs by start time, or by git commit (runs without one left out)",
    )
    parser.add_argument(
        "--threshold",
        default="5%",
        metavar="T",
        help="smallest step that counts as a regression, as 5%% or 0.05 (default: 5%%)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="the gate: exit 1 when a regression step lies in the last K runs (--last)",
    )
    parser.add_argument("--points", action="store_true", help="print every point of each series")
    parser.add_argument("--json", action="store_true", help="print only JSON on stdout")
    add_storage_options(parser)


def _axes(args: argparse.Namespace) -> dict[str, list[Any]]:
    return {
        field: getattr(args, f"axis_{field}")
        for field, _ in AXES.values()
        if getattr(args, f"axis_{field}") is not None
    }


def load_history(
    args: argparse.Namespace, threshold: float
) -> tuple[MachineRow, list[Series], int]:
    """The machine and its analysed series, and how many runs they span."""
    import results
    from results.history import analyse
    from results.history_query import HistoryError, load_points, resolve_machine

    window = None if args.check else args.last
    with reading_store(args) as store:
        try:
            machine = resolve_machine(store, args.machine)
            points = load_points(store, machine.id, _axes(args), args.since, window)
            if points.empty:
                raise HistoryError(
                    f"no finished cases on machine {machine.label} match the filters: "
                    "an empty series"
                )
            series = analyse(points, threshold, lambda ids: results.load(store, ids), args.by)
        except HistoryError as exc:
            raise UsageError(str(exc)) from None
    if not series:
        raise UsageError(f"no run of machine {machine.label} has a commit to order by")
    return machine, series, int(points["run_id"].nunique())


def run(args: argparse.Namespace) -> int:
    from results.history import DEFAULT_CHECK_RUNS, ranked

    threshold = parse_threshold(args.threshold)
    machine, series, n_runs = load_history(args, threshold)
    last = (args.last or DEFAULT_CHECK_RUNS) if args.check else None
    found = [(s, r) for s in series for r in s.regressions(last or len(s))]
    failing = bool(args.check and found)
    if args.json:
        doc: dict[str, Any] = {
            "machine": {"id": machine.id, "fingerprint": machine.fingerprint,
                        "hostname": machine.hostname, "cpu": machine.cpu},
            "runs": n_runs,
            "threshold": threshold,
            "order": args.by,
            "series": [s.to_dict() for s in ranked(series, last)],
        }  # fmt: skip
        if args.check:
            doc["check"] = {
                "last": last,
                "regressions": [{"case": s.label, **r.to_dict()} for s, r in found],
                "exit": EXIT_REGRESSION if failing else 0,
            }
        print(json.dumps(doc, indent=1))
        return EXIT_REGRESSION if failing else 0
    out = console()
    out.print(
        Text(
            safe(
                f"machine {machine.label}: {len(series)} series over {n_runs} run(s), "
                f"ordered by {args.by}"
            )
        )
    )
    if args.check:
        assert last is not None
        _print_check(out, found, len(series), last, threshold)
        return EXIT_REGRESSION if failing else 0
    _print_series(out, ranked(series), threshold)
    _print_steps(out, ranked(series))
    if args.points:
        for s in ranked(series):
            _print_points(out, s)
    return 0


def spark(values: Sequence[float]) -> str:
    """A series as a line of block characters, low to high."""
    vals = [v for v in values if v == v][-SPARK_POINTS:]
    if not vals:
        return ""
    lo, hi = min(vals), max(vals)
    span = hi - lo
    if span <= 0:
        return SPARK[len(SPARK) // 2] * len(vals)
    return "".join(SPARK[min(len(SPARK) - 1, int((v - lo) / span * len(SPARK)))] for v in vals)


def _print_series(out: Any, series: Sequence[Series], threshold: float) -> None:
    table = Table(
        title=f"series (ms per step; a step counts as a regression beyond {fmt_pct(threshold)})",
        title_justify="left",
    )
    table.add_column("case")
    table.add_column("runs", justify="right")
    table.add_column(f"latest {SPARK_POINTS} runs")
    table.add_column("latest ms [95% CI]", justify="right")
    table.add_column("steps", justify="right")
    table.add_column("last step")
    for s in series:
        pts = s.points
        latest = pts.iloc[-1]
        step = s.steps[-1] if s.steps else None
        table.add_row(
            Text(safe(s.label)),
            str(len(s)),
            spark((pts["value_s"] * 1000.0).tolist()),
            fmt_ci(latest["value_s"] * 1000.0, latest["ci_low_s"] * 1000.0,
                   latest["ci_high_s"] * 1000.0),
            str(len(s.steps)),
            Text(f"{step.kind} {fmt_change(step.ratio)} at run {step.run_id}", style=_style(step))
            if step
            else Text(""),
        )  # fmt: skip
    out.print(table)


def _style(step: ChangePoint) -> str:
    return {"regression": "bold red", "improvement": "bold green"}.get(step.kind, "yellow")


def _differences_text(step: ChangePoint) -> str:
    if not step.differences:
        return "no recorded setting differs"
    return "; ".join(str(d) for d in step.differences)


def _print_steps(out: Any, series: Sequence[Series]) -> None:
    steps = [(s, c) for s in series for c in s.steps]
    if not steps:
        out.print("change points: none (no step is significant in any series)")
        return
    table = Table(title="change points", title_justify="left")
    table.add_column("case")
    table.add_column("kind")
    table.add_column("runs")
    for name in ("before ms", "after ms", "change", "95% CI"):
        table.add_column(name, justify="right")
    table.add_column("what differed at the step")
    for s, c in steps:
        table.add_row(
            Text(safe(s.label)),
            Text(c.kind, style=_style(c)),
            f"{c.prev_run_id} -> {c.run_id}",
            fmt(c.before_s * 1000.0),
            fmt(c.after_s * 1000.0),
            fmt_change(c.ratio),
            fmt_change_ci(c.ratio_ci_low, c.ratio_ci_high),
            Text(safe(_differences_text(c))),
        )
    out.print(table)


def _print_points(out: Any, s: Series) -> None:
    table = Table(title=safe(s.label), title_justify="left")
    for name in ("run", "started", "commit", "ms [95% CI]", "processes", "step", "changed"):
        table.add_column(name, justify="right" if name in ("run", "processes") else "left")
    steps = {c.index: c for c in s.steps}
    for i, rec in enumerate(s.points.to_dict("records")):
        step = steps.get(i)
        commit = rec["git_commit"]
        table.add_row(
            str(rec["run_id"]),
            fmt_time(rec["run_started_at"]),
            safe(str(commit)[:10]) if isinstance(commit, str) else "",
            fmt_ci(rec["value_s"] * 1000.0, rec["ci_low_s"] * 1000.0, rec["ci_high_s"] * 1000.0),
            str(rec["processes"]),
            Text(f"{step.kind} {fmt_change(step.ratio)}", style=_style(step)) if step else "",
            Text(safe("; ".join(str(d) for d in s.changed.get(i, ())))),
        )
    out.print(table)


def _print_check(
    out: Any, found: Sequence[tuple[Series, ChangePoint]], n_series: int, last: int,
    threshold: float,
) -> None:  # fmt: skip
    if not found:
        out.print(
            f"ok: no regression step beyond {fmt_pct(threshold)} in the last {last} run(s) "
            f"of {n_series} series"
        )
        return
    for s, c in found:
        out.print(
            Text(
                safe(
                    f"REGRESSION {s.label}: {fmt(c.before_s * 1000.0)} ms -> "
                    f"{fmt(c.after_s * 1000.0)} ms ({fmt_change(c.ratio)}, 95% CI "
                    f"{fmt_change_ci(c.ratio_ci_low, c.ratio_ci_high)}), from run "
                    f"{c.prev_run_id} to run {c.run_id} ({c.runs_after} run(s) since); "
                    f"changed: {_differences_text(c)}"
                ),
                style="bold red",
            )
        )
    out.print(
        Text(
            f"{len(found)} regression step(s) beyond {fmt_pct(threshold)} in the last {last} "
            f"run(s) of {n_series} series",
            style="bold red",
        )
    )
