"""compare as a CI gate: a candidate that lost what the base measured does not pass.

A candidate case that crashed (killed, timeout, oom, error) where the base measured it,
or a candidate that holds no result at all (interrupted before its first), would otherwise
show as 'not comparable' / 'only in base' with exit status 0: a candidate where something
broke would pass a CI gate. It exits 1 instead, unless --allow-missing: a crash is the worst
regression. The same gate holds for a paired `compare RUN --by AXIS` (a candidate value's
case crashed where the base value's was measured). A case that crashed on both sides, or
that only one run planned, is not the candidate's loss.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.text import Text

from vocab.measurement import FAILED_STATUSES


def add_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-missing",
        action="store_true",
        help="exit 0 although candidate cases crashed (killed, timeout, oom, error) where "
        "the base measured them, or the candidate holds no result at all (default: exit 1, "
        "said in the summary)",
    )


@dataclass(frozen=True)
class Lost:
    crashed: int  # candidate killed / timeout / oom / error where the base measured the case
    cand_results: int  # the candidate's results among the compared cases
    base_cases: int

    @property
    def failing(self) -> bool:
        """The candidate lost what the base measured: no result, or a case crashed."""
        return self.base_cases > 0 and (self.cand_results == 0 or self.crashed > 0)

    def line(self, allowed: bool) -> str:
        if self.cand_results == 0:
            what = "the candidate run has no results"
        else:
            what = f"{self.crashed} case(s) the base measured crashed in the candidate"
        verdict = "accepted (--allow-missing)" if allowed else "exit 1 (--allow-missing accepts)"
        return f"{what}: {verdict}"

    def to_dict(self) -> dict[str, Any]:
        return {"crashed": self.crashed, "cand_results": self.cand_results}


def lost(cases: Any) -> Lost:
    """What the candidate lost, from compare_runs' or compare_by's frame (base_status,
    cand_status)."""
    crashed = int(
        (cases["cand_status"].isin(FAILED_STATUSES) & (cases["base_status"] == "ok")).sum()
    )
    cand_results = int(cases["cand_status"].notna().sum())
    return Lost(crashed, cand_results, int(cases["base_status"].notna().sum()))


def exit_status(regressions: int, gate: Lost, allowed: bool) -> int:
    return 1 if regressions or (gate.failing and not allowed) else 0


def say(out: Console, gate: Lost, allowed: bool) -> None:
    """The summary's line when the gate holds (nothing when the candidate lost nothing)."""
    if gate.failing:
        out.print(Text(gate.line(allowed), "yellow" if allowed else "bold red"))
