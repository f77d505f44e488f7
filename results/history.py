"""History: each case's value over the runs of one machine, its change points, the gate.

A series is one case key (results.compare.MATCH_KEYS: every case field but the thread
counts, so a thread change is named in the series instead of starting a new one; a run
that swept threads keys them too) on one machine, ordered by run start, or by git commit.
Its points are the runs' case values with their CIs between processes. Change points are
results.changepoints' steps; each is told with its runs, the level before and after, the
change with its CI, and the settings that differed between the two runs at the step
(results.compare.record_differences, on that case's rows). The gate (`history --check`)
is a regression step beyond the threshold among a series' last K runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from results.changepoints import STEP_ALPHA, Step, find_steps, run_se
from results.compare import record_differences
from results.format import plain, plain_column
from results.history_query import HistoryError
from results.keys import MATCH_KEYS, SWEEP_KEYS
from vocab.case import CASE_FIELDS, case_label

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_THRESHOLD = 0.05  # a step smaller than this is a shift, not a regression
DEFAULT_CHECK_RUNS = 5  # the gate looks at steps among a series' last K runs
ORDERS: tuple[str, ...] = ("time", "commit")
# Readings of the moment, different in every run: never "what changed" at a step.
VOLATILE_SETTINGS: tuple[str, ...] = (
    "system:load_avg_1m",
    "system:load_avg_5m",
    "system:load_avg_15m",
    "system:memory_available_bytes",
    "system:cpu_steal_share",
)
# Columns of a point whose change between two runs makes the series look up what differed.
MARKERS: tuple[str, ...] = (
    "environment_id",
    "git_commit",
    *SWEEP_KEYS,
    "threads_intra",
    "threads_inter",
    "framework_version",
    "run_source",
)
KINDS: tuple[str, ...] = ("regression", "improvement", "shift")
# The case fields its own settings follow (its framework's build, its threads): cases of
# a run that agree on them share what differed at a pair of runs.
CASE_SETTINGS: tuple[str, ...] = ("framework", "execution", "env", *SWEEP_KEYS, "device")
LONG_SETTING = 80  # longer values (build texts) are told by their differing lines

Loader = Callable[[Sequence[int]], "pd.DataFrame"]  # run ids -> results.load() rows


@dataclass(frozen=True)
class Difference:
    setting: str
    before: str | None
    after: str | None

    def __str__(self) -> str:
        before, after = self.before or "(unset)", self.after or "(unset)"
        if max(len(before), len(after)) > LONG_SETTING:
            # A framework's build text: only the lines that differ.
            old, new = before.splitlines(), after.splitlines()
            pairs = [(a, b) for a, b in zip(old, new, strict=False) if a != b]
            if pairs and len(old) == len(new):
                shown = "; ".join(f"{a.strip()} -> {b.strip()}" for a, b in pairs[:3])
                more = f" (+{len(pairs) - 3} more lines)" if len(pairs) > 3 else ""
                return f"{self.setting}: {shown}{more}"
            return f"{self.setting}: ({len(old)} lines) -> ({len(new)} lines)"
        return f"{self.setting}: {before} -> {after}"


@dataclass(frozen=True)
class ChangePoint:
    """A real step in a series, at `run_id` (the first run at the new level)."""

    index: int
    run_id: int
    prev_run_id: int
    before_s: float
    after_s: float
    ratio: float  # after / before: above 1 = slower
    ratio_ci_low: float
    ratio_ci_high: float
    p_value: float
    runs_before: int
    runs_after: int
    kind: str  # KINDS
    differences: tuple[Difference, ...] = ()
    commit_before: str | None = None
    commit_after: str | None = None

    @property
    def change(self) -> float:
        return self.ratio - 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "prev_run_id": self.prev_run_id,
            "index": self.index,
            "kind": self.kind,
            "before_ms": self.before_s * 1000.0,
            "after_ms": self.after_s * 1000.0,
            "change": self.change,
            "change_ci_low": self.ratio_ci_low - 1.0,
            "change_ci_high": self.ratio_ci_high - 1.0,
            "p_value": self.p_value,
            "runs_before": self.runs_before,
            "runs_after": self.runs_after,
            "commit_before": self.commit_before,
            "commit_after": self.commit_after,
            "differences": [
                {"setting": d.setting, "before": d.before, "after": d.after}
                for d in self.differences
            ],
        }


@dataclass
class Series:
    key: dict[str, Any]
    points: pd.DataFrame  # load_points rows, in series order
    steps: list[ChangePoint] = field(default_factory=list)
    # point index -> what differed from the point before it (where a marker changed)
    changed: dict[int, tuple[Difference, ...]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return case_label(self.key)

    def __len__(self) -> int:
        return len(self.points)

    def regressions(self, last: int, threshold: float | None = None) -> list[ChangePoint]:
        """Its regression steps among its last `last` runs (beyond `threshold` when given,
        else beyond the threshold the series was analysed with)."""
        first = len(self) - last
        return [
            s
            for s in self.steps
            if s.index >= first
            and s.kind == "regression"
            and (threshold is None or s.change > threshold)
        ]

    def to_dict(self) -> dict[str, Any]:
        p = self.points
        columns = {
            "run_id": plain_column(p["run_id"]),
            "started_at": plain_column(p["run_started_at"]),
            "label": plain_column(p["run_label"]),
            "source": plain_column(p["run_source"]),
            "commit": plain_column(p["git_commit"]),
            "threads": plain_column(p["threads"]),
            "value_ms": [v * 1000.0 for v in plain_column(p["value_s"])],
            "ci_low_ms": _ms_column(p["ci_low_s"]),
            "ci_high_ms": _ms_column(p["ci_high_s"]),
            "processes": plain_column(p["processes"]),
        }
        columns["changed"] = [[str(d) for d in self.changed.get(i, ())] for i in range(len(p))]
        names = list(columns)
        pts = [
            dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)
        ]
        return {
            "case": self.label,
            "key": {k: plain(v) for k, v in self.key.items()},
            "points": pts,
            "change_points": [s.to_dict() for s in self.steps],
        }


def _ms_column(seconds: pd.Series) -> list[float | None]:
    return [None if v is None else float(v) * 1000.0 for v in plain_column(seconds)]


def classify(step: Step, threshold: float) -> str:
    """A significant step's kind: slower beyond the threshold is a regression."""
    if step.ratio - 1.0 > threshold:
        return "regression"
    if step.ratio - 1.0 < -threshold:
        return "improvement"
    return "shift"


def gate(steps: Iterable[Step], n: int, last: int, threshold: float) -> bool:
    """What `history --check` says of one series of n points: a regression step among the
    last `last` runs."""
    return any(s.index >= n - last and classify(s, threshold) == "regression" for s in steps)


def order_points(points: pd.DataFrame, by: str) -> pd.DataFrame:
    """Points by run start; by commit: runs without one left out, commits in the order they
    first ran, each commit's runs by start."""
    if by not in ORDERS:
        raise HistoryError(f"unknown order {by!r}; allowed: {', '.join(ORDERS)}")
    if by == "time" or points.empty:
        return points
    has = points[points["git_commit"].notna() & (points["git_commit"] != "")].copy()
    first = has.groupby("git_commit")["run_started_at"].transform("min")
    has["_first"] = first
    has = has.sort_values(["_first", "git_commit", "run_started_at", "run_id"], kind="stable")
    return has.drop(columns="_first")


def split_series(points: pd.DataFrame) -> list[tuple[dict[str, Any], pd.DataFrame]]:
    """The points grouped into series by case key (thread counts too where a run swept
    them), in the points' order; groups in case order."""
    if points.empty:
        return []
    keys = list(MATCH_KEYS)
    out: list[tuple[dict[str, Any], pd.DataFrame]] = []
    for values, group in points.groupby(keys, sort=True, dropna=False):
        key = dict(zip(keys, values, strict=True))
        if group["run_id"].duplicated().any():
            for sweep, sub in group.groupby(list(SWEEP_KEYS), sort=True):
                out.append(({**key, **dict(zip(SWEEP_KEYS, sweep, strict=True))}, sub))
        else:
            out.append((key, group))
    for key, group in out:
        for name in CASE_FIELDS:  # the label needs every field; the first point's for the rest
            key.setdefault(name, group[name].iloc[0])
    return out


def _steps_of(points: pd.DataFrame, threshold: float) -> list[tuple[Step, str]]:
    values = points["value_s"].astype(float).to_numpy()
    if len(values) < 3 or np.any(values <= 0):
        return []
    se = run_se(
        values,
        points["ci_low_s"].astype(float).to_numpy(),
        points["ci_high_s"].astype(float).to_numpy(),
        points["processes"].astype(float).to_numpy(),
    )
    return [(s, classify(s, threshold)) for s in find_steps(np.log(values), se)]


def _marker_codes(points: pd.DataFrame) -> np.ndarray:
    """Each MARKERS column of `points` as integer codes (missing: -1), one column per
    marker: computed once for every series, so that a point differs from the one before
    it where a row of codes does."""
    import pandas as pd

    cols = [c for c in MARKERS if c in points.columns]
    if not cols:
        return np.zeros((len(points), 0), dtype=np.intp)
    return np.column_stack([pd.factorize(points[c])[0] for c in cols])


def _marked(codes: np.ndarray) -> list[int]:
    """Indexes of a series' points that differ from the point before in a MARKERS column
    (`codes`: the series' rows of _marker_codes)."""
    if len(codes) < 2:
        return []
    return (np.flatnonzero((codes[1:] != codes[:-1]).any(axis=1)) + 1).tolist()


def analyse(
    points: pd.DataFrame,
    threshold: float = DEFAULT_THRESHOLD,
    loader: Loader | None = None,
    by: str = "time",
) -> list[Series]:
    """Every series in `points` (history_query.load_points rows) with its change points;
    `loader` (run ids -> results.load rows) names what differed at each step and where a
    point's environment, commit or threads changed (one call for all those runs)."""
    if not (0.0 <= threshold < 1.0):
        raise HistoryError(f"bad threshold {threshold!r}; allowed: 0 <= threshold < 1")
    ordered = order_points(points, by).reset_index(drop=True)
    codes = _marker_codes(ordered)
    found: list[tuple[Series, list[tuple[Step, str]], list[int]]] = []
    for key, group in split_series(ordered):
        marked = _marked(codes[group.index.to_numpy()])
        pts = group.reset_index(drop=True)
        found.append((Series(key, pts), _steps_of(pts, threshold), marked))
    pairs: set[tuple[int, int]] = set()
    for series, steps, marked in found:
        ids = series.points["run_id"].astype(int).tolist()
        pairs.update((ids[s.index - 1], ids[s.index]) for s, _ in steps)
        pairs.update((ids[i - 1], ids[i]) for i in marked)
    full = loader(sorted({r for p in pairs for r in p})) if loader and pairs else None
    told = _Differences(full)
    out = []
    for series, steps, marked in found:
        ids = series.points["run_id"].astype(int).tolist()
        commits = series.points["git_commit"].tolist()
        for i in marked:
            series.changed[i] = told(series.key, ids[i - 1], ids[i])
        for step, kind in steps:
            k = step.index
            low, high = step.ci()
            series.steps.append(
                ChangePoint(
                    index=k,
                    run_id=ids[k],
                    prev_run_id=ids[k - 1],
                    before_s=math.exp(step.before_log),
                    after_s=math.exp(step.after_log),
                    ratio=step.ratio,
                    ratio_ci_low=low,
                    ratio_ci_high=high,
                    p_value=step.p_value,
                    runs_before=step.n_before,
                    runs_after=step.n_after,
                    kind=kind,
                    differences=told(series.key, ids[k - 1], ids[k]),
                    commit_before=plain(commits[k - 1]),
                    commit_after=plain(commits[k]),
                )
            )
        out.append(series)
    return out


class _Differences:
    """What differed between two runs for one case: its own rows' settings (its threads,
    its framework's build), the runs' versions, commit, variables and system state.
    Cases whose rows carry the same settings share one answer (50 series stepping at one
    pair of runs cost one comparison per framework, not 50)."""

    def __init__(self, full: pd.DataFrame | None) -> None:
        # As records once: pandas' per-column cost of to_dict on ~100 columns would
        # otherwise be paid at every pair.
        self.records = [] if full is None else full.to_dict("records")
        self.known: dict[tuple[Any, ...], tuple[Difference, ...]] = {}
        self.at: dict[tuple[Any, ...], int] = {}  # (run id, case key) -> record position
        for pos, rec in enumerate(self.records):
            self.at.setdefault(tuple(plain(rec[c]) for c in ("run_id", *MATCH_KEYS)), pos)

    def __call__(self, key: dict[str, Any], before: int, after: int) -> tuple[Difference, ...]:
        # What a case's own rows add to the runs' settings depends on these alone.
        cache = (before, after, *(plain(key.get(f)) for f in CASE_SETTINGS))
        if cache in self.known:
            return self.known[cache]
        case = tuple(plain(key[name]) for name in MATCH_KEYS)
        found = [self.at.get((run, *case)) for run in (before, after)]
        records = [self.records[p] for p in found if p is not None]
        if len(records) < 2:
            return ()
        groups = {run: [r for r in records if r["run_id"] == run] for run in (before, after)}
        self.known[cache] = tuple(
            Difference(name, values[before], values[after])
            for name, values in record_differences(groups)
            if name not in VOLATILE_SETTINGS
        )
        return self.known[cache]


def ranked(series: Sequence[Series], last: int | None = None) -> list[Series]:
    """Series with a regression step first (among the last `last` runs when given; the
    largest first), then those with any step, then the rest, in case order."""

    def rank(s: Series) -> tuple[int, float]:
        regs = s.regressions(last if last is not None else len(s))
        if regs:
            return 0, -max(r.change for r in regs)
        return (1, 0.0) if s.steps else (2, 0.0)

    return sorted(series, key=rank)


__all__ = [
    "DEFAULT_CHECK_RUNS",
    "DEFAULT_THRESHOLD",
    "STEP_ALPHA",
    "ChangePoint",
    "Difference",
    "HistoryError",
    "Series",
    "analyse",
    "classify",
    "gate",
    "ranked",
]
