"""The replication statistics under a seeded two-level noise model (tests/support/replication_sim):
a per-process offset with sd 2% and AR(1) step noise with phi 0.5, processes added by the
suite's own stopping rule with the default policy."""

from __future__ import annotations

import pytest

from tests.support.replication_sim import changed_share, coverage
from vocab.sampling import SamplingPolicy

pytestmark = pytest.mark.slow  # seeded simulations: seconds in all

DEFAULT = SamplingPolicy()
COMPARE_THRESHOLD = 0.05  # results.compare.DEFAULT_THRESHOLD


def test_ci_between_processes_covers_the_true_value() -> None:
    share = coverage(600, seed=1, policy=DEFAULT)
    assert 0.92 <= share <= 0.98, share


def test_a_a_comparison_calls_almost_nothing_changed() -> None:
    # 40 runs of the 16 quick cases, each compared with a run of identical code.
    assert changed_share(40, 16, 0.0, COMPARE_THRESHOLD, seed=2, policy=DEFAULT) <= 0.05


def test_a_true_ten_percent_slowdown_is_detected() -> None:
    # Every case slowed (a regression in the code), and one slowed case on its own.
    assert changed_share(40, 16, 0.10, COMPARE_THRESHOLD, seed=3, policy=DEFAULT) >= 0.80
    assert changed_share(300, 1, 0.10, COMPARE_THRESHOLD, seed=4, policy=DEFAULT) >= 0.80
