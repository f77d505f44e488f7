"""The replication statistics under the two-level noise model of tests/support/replication_sim.py,
with more simulated cases than the tests use, for the figures quoted in the README.

    python benchmarks/replication_sim.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runners.timing import SamplingPolicy
from tests.support.replication_sim import PHI, PROCESS_SD, changed_share, coverage


def main() -> None:
    print(f"noise model: per-process offset sd {PROCESS_SD:.0%}, AR(1) steps phi {PHI}")
    for name, policy in (
        ("default (5-10 processes)", SamplingPolicy()),
        ("fixed 5 processes", SamplingPolicy(min_processes=5, max_processes=5)),
        ("fixed 3 processes", SamplingPolicy(min_processes=3, max_processes=3)),
    ):
        cov = coverage(2000, seed=11, policy=policy)
        aa = changed_share(100, 16, 0.0, 0.05, seed=12, policy=policy)
        p16 = changed_share(100, 16, 0.10, 0.05, seed=13, policy=policy)
        p1 = changed_share(1000, 1, 0.10, 0.05, seed=14, policy=policy)
        print(
            f"{name:26s} CI coverage {cov:.1%} (2000 cases); A/A called changed {aa:.1%} "
            f"(1600 cases); 10% slowdown detected {p16:.1%} (all 16 slowed), "
            f"{p1:.1%} (one case alone)"
        )


if __name__ == "__main__":
    main()
