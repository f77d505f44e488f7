"""`resnet-bench show RUN`: one run's metadata, machine, environment, ceilings and results."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from results.format import (
    MISSING,
    THREADS_LABEL,
    flag_list,
    flags_line,
    fmt,
    fmt_bytes,
    fmt_ci,
    fmt_images,
    fmt_pct,
    fmt_precision,
    ms,
    text,
)
from results.frames import load
from results.runinfo import RunInfo
from suite.cli.common import add_storage_options
from suite.cli.storage import console, reading_store, resolve_run, when
from vocab.case import case_label
from vocab.runtimes import RUNTIMES

HELP = "show one run: metadata, machine, environment, ceilings and results"
COMPACT_TEXT = 80  # longer framework build texts are summarised as their line count


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="run id, or 'latest'")
    add_storage_options(parser)


def _facts(title: str, rows: list[tuple[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, MISSING if value in (None, "", [], {}) else str(value))
    return table


def _run_facts(info: RunInfo) -> Table:
    counts = ", ".join(f"{n} {status}" for status, n in sorted(info.counts.items())) or "none"
    duration = None
    if info.finished_at is not None:
        duration = f"{(info.finished_at - info.started_at).total_seconds():.0f} s"
    system: Mapping[str, Any] = info.system or {}  # runs stored before a key have no value
    load_avg = system.get("load_avg_1m")
    quota, steal = system.get("cgroup_cpu_limit"), system.get("cpu_steal_share")
    return _facts(
        f"run {info.id}",
        [
            ("label", info.label),
            ("status", info.state),
            ("started", when(info.started_at)),
            ("finished", when(info.finished_at) if info.finished_at else None),
            ("duration", duration),
            ("source", info.source),
            ("profile", info.profile),
            ("command", info.command),
            ("results", counts),
            ("cpu governor", system.get("cpu_governor")),
            ("load at start", fmt(load_avg) if load_avg is not None else None),
            ("turbo", system.get("turbo")),
            ("smt", system.get("smt_control")),
            ("cgroup cpu limit", f"{fmt(quota)} CPUs" if quota is not None else None),
            ("virtualized", system.get("virtualized")),
            ("cpu steal at start", fmt_pct(steal) if steal is not None else None),
        ],
    )


def _frequency(m: Mapping[str, Any]) -> str | None:
    parts = [f"{label} {fmt(m[key])} MHz" for label, key in
             (("base", "freq_base_mhz"), ("max", "freq_max_mhz")) if m.get(key)]  # fmt: skip
    return ", ".join(parts) or None


def _machine_facts(m: Mapping[str, Any]) -> Table:
    gpus = "; ".join(
        f"{g.get('index')}: {g.get('name')} {fmt_bytes(g.get('memory_bytes'))}"
        f" cc {g.get('compute_capability')}"
        for g in m.get("gpus") or []
    )
    return _facts(
        "machine",
        [
            ("cpu", f"{m.get('cpu_model')} ({m.get('cpu_vendor')}, {m.get('arch')})"),
            ("cores", f"{m.get('cores_physical')} physical, {m.get('cores_logical')} logical"),
            ("frequency", _frequency(m)),
            ("caches", f"L2 {fmt_bytes(m.get('l2_cache_bytes'))}, "
                       f"L3 {fmt_bytes(m.get('l3_cache_bytes'))}"),
            ("isa", " ".join(m.get("isa_flags") or [])),
            ("memory", fmt_bytes(m.get("memory_bytes"))),
            ("os", f"{m.get('os')}, kernel {m.get('kernel')}"),
            ("hostname", m.get("hostname")),
            ("gpus", gpus or "none"),
            ("gpu driver", m.get("gpu_driver") and
                f"{m.get('gpu_driver')} (CUDA {m.get('gpu_cuda_driver')})"),
            ("fingerprint", m.get("fingerprint")),
        ],
    )  # fmt: skip


def _environment_facts(e: Mapping[str, Any]) -> Table:
    commit = e.get("git_commit")
    if commit and e.get("git_dirty"):
        commit += " (dirty)"
    rows: list[tuple[str, Any]] = [
        ("python", f"{e.get('python_version')} ({e.get('python_implementation')})"),
        *_versions(e.get("versions") or {}),
        ("numpy / scipy / pandas",
            f"{e.get('numpy_version')} / {e.get('scipy_version')} / {e.get('pandas_version')}"),
        ("resnet-bench", e.get("suite_version")),
        ("git commit", commit),
        ("env vars", " ".join(f"{k}={v}" for k, v in (e.get("env_vars") or {}).items())),
    ]  # fmt: skip
    for framework, build in sorted((e.get("framework_info") or {}).items()):
        rows.append((f"{framework} build", _compact(build)))
    return _facts("environment", rows)


def _versions(versions: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """One row per runtime record (its versions joined: 'A / B': '0.10.2 / 0.10.2', a
    distribution in brackets), then any key this release has no record for (an older
    one's)."""
    rows: list[tuple[str, str | None]] = []
    shown: set[str] = set()
    for name, r in RUNTIMES.items():
        keys = [f"{v.key}_version" for v in r.versions]
        dists = [f"{v.key}_distribution" for v in r.versions]
        shown.update(keys, dists)
        if not any(k in versions for k in keys):
            rows.append((name, None))
            continue
        value = " / ".join(versions.get(k) or "-" for k in keys)
        which = [versions[d] for d in dists if d in versions]
        rows.append(
            (" / ".join(v.key for v in r.versions), value + (f" ({which[0]})" if which else ""))
        )
    rows.extend((k, v) for k, v in sorted(versions.items()) if k not in shown)
    return rows


def _named_environments(info: RunInfo, df: Any) -> Table:
    """An A/B run's environments: what each was given, then every setting that differs
    between them (results.compare.env_differences: versions, build info, variables)."""
    from results.compare import env_differences

    names = [e["name"] for e in info.environments]
    table = Table(title="environments (A/B in this run)", title_justify="left")
    table.add_column("")
    for name in names:
        table.add_column(name, overflow="fold")
    table.add_row(
        "interpreter",
        *(e["python"] or "this run's" for e in info.environments),
    )
    table.add_row(
        "sets",
        *(
            " ".join(f"{k}={v}" for k, v in e["variables"].items()) or MISSING
            for e in info.environments
        ),
    )
    differs = env_differences(df, info.id, names) if not df.empty else None
    if differs is None or differs.empty:
        table.add_row("differs", *(["nothing else"] * len(names)))
        return table
    for setting, values in differs.iterrows():
        table.add_row(str(setting), *(_cell(values.get(n)) for n in names))
    return table


def _cell(value: Any) -> str:
    if value is None:
        return MISSING
    text_value = str(value)
    return text_value if len(text_value) <= COMPACT_TEXT else f"<{len(text_value)} chars>"


def _compact(build: Any, prefix: str = "") -> str:
    """key=value pairs, one level of nesting flattened; long texts (torch's config dump)
    abbreviated: `export --format json` has them whole."""
    if not isinstance(build, Mapping):
        return json.dumps(build)
    parts = []
    for key, value in sorted(build.items()):
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and not prefix:
            parts.append(_compact(value, f"{name}."))
        elif isinstance(value, str) and ("\n" in value.strip() or len(value) > COMPACT_TEXT):
            parts.append(f"{name}=<{len(value.strip().splitlines())} lines>")
        else:
            parts.append(f"{name}={value if isinstance(value, str) else json.dumps(value)}")
    return " ".join(p for p in parts if p)


def _ceilings(info: RunInfo) -> Table:
    table = Table(title="measured ceilings", title_justify="left")
    by_env = any(c.get("env") for c in info.ceilings)  # an A/B run: one set per environment
    if by_env:
        table.add_column("env")
    table.add_column("device")
    table.add_column("precision")
    table.add_column("GFLOP/s", justify="right")
    for c in info.ceilings:
        cells = (c["device"], c["precision"], fmt(c["gflops"]))
        table.add_row(*((c.get("env") or "", *cells) if by_env else cells))
    return table


def _results(info: RunInfo, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=f"results of run {info.id}", title_justify="left")
    table.add_column("case")
    table.add_column("status")
    table.add_column("ms/step [95% CI between processes]", justify="right")
    table.add_column("+/-", justify="right")
    table.add_column("procs", justify="right")
    table.add_column("images/s", justify="right")
    table.add_column("GMAC/s", justify="right")
    table.add_column("% ceiling", justify="right")
    table.add_column("flags")
    table.add_column("reason", overflow="fold")
    for row in rows:
        timing = fmt_ci(ms(row["value_s"]), ms(row["ci_low_s"]), ms(row["ci_high_s"]))
        flags = [f["kind"] for f in flag_list(row["flags"])]
        flags += ["throttled"] if row["throttled"] is True else []
        reason = row["reason"] or flags_line(row["flags"])
        table.add_row(
            case_label(row, THREADS_LABEL),
            row["status"],
            timing,
            fmt_precision(row["ci_rel"], row["ci_target"]),
            text(row["processes"]),
            fmt_images(row),
            fmt(row["gmacs_per_s"]),
            fmt_pct(row["ceiling_share"]),
            " ".join(flags),
            reason or "",
        )
    return table


def print_answer(out: Console, df: Any, samples: Any) -> None:
    """The headline and decision lines (results.answer), as the report leads with them."""
    from results.answer import answer_lines, run_answer

    lines = answer_lines(*run_answer(df, samples))
    for line in lines:
        out.print(line, markup=False, highlight=False, soft_wrap=True)
    if lines:
        out.print()


def print_run_answer(out: Console, store: Any, run_id: int | None) -> None:
    """print_answer for a stored run (`run`'s summary); nothing without a run."""
    from results.frames import load_samples

    if run_id is not None:
        print_answer(out, load(store, [run_id]), load_samples(store, [run_id]))


def run(args: argparse.Namespace) -> int:
    from results.export import records
    from results.frames import load_samples

    with reading_store(args) as store:
        run_id = resolve_run(store, args.run)
        info = store.get_run(run_id)
        df = load(store, [run_id])
        samples = load_samples(store, [run_id])
        rows = records(df)
    out: Console = console()
    if rows:
        print_answer(out, df, samples)
    for part in (_run_facts(info), _machine_facts(info.machine),
                 _environment_facts(info.environment)):  # fmt: skip
        out.print(part)
        out.print()
    if info.environments:
        out.print(_named_environments(info, df))
        out.print()
    if info.ceilings:
        out.print(_ceilings(info))
    if rows:
        out.print(_results(info, rows))
    else:
        out.print(f"run {info.id} has no results yet")
    return 0
