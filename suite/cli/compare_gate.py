"""compare as a CI gate: a candidate that lost what the base measured does not pass.

A candidate whose every case crashed (killed, timeout, oom, error), or that holds no
result at all (interrupted before its first), would otherwise show as 'not comparable' /
'only in base' with exit status 0: a candidate where everything broke would pass. It exits
1 instead, unless --allow-missing. A candidate that lost only some cases keeps its
verdicts ('not comparable' for those) and exit status: the others were compared.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from vocab.measurement import FAILED_STATUSES


def add_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-missing",
        action="store_true",
        help="exit 0 although every case of the candidate crashed (killed, timeout, oom, "
        "error) or it holds no result at all (default: exit 1, said in the summary)",
    )


@dataclass(frozen=True)
class Lost:
    crashed: int  # candidate killed / timeout / oom / error
    cand_results: int  # the candidate's results among the compared cases
    base_cases: int

    @property
    def failing(self) -> bool:
        """Nothing of the candidate finished: no result, or every one crashed."""
        return self.base_cases > 0 and self.crashed == self.cand_results

    def line(self, allowed: bool) -> str:
        if self.cand_results == 0:
            what = "the candidate run has no results"
        else:
            what = f"all {self.crashed} case(s) of the candidate crashed"
        verdict = "accepted (--allow-missing)" if allowed else "exit 1 (--allow-missing accepts)"
        return f"{what}: {verdict}"

    def to_dict(self) -> dict[str, Any]:
        return {"crashed": self.crashed, "cand_results": self.cand_results}


def lost(cases: Any) -> Lost:
    """What the candidate lost, from compare_runs' frame (base_status, cand_status)."""
    crashed = int(cases["cand_status"].isin(FAILED_STATUSES).sum())
    cand_results = int(cases["cand_status"].notna().sum())
    return Lost(crashed, cand_results, int(cases["base_status"].notna().sum()))


def exit_status(regressions: int, gate: Lost, allowed: bool) -> int:
    return 1 if regressions or (gate.failing and not allowed) else 0
