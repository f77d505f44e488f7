"""Markers that need something installed: a test marked with a framework (torch,
tensorflow) skips where that framework is not installed, saying which extra to install;
in CI (CI=true) it fails, because CI installs everything."""

from __future__ import annotations

import pytest

from runners.registry import missing
from tests.support.services import skip_or_fail_in_ci
from vocab.runtimes import RUNTIMES


def pytest_configure(config: pytest.Config) -> None:
    # one marker per runtime record, so a new runtime's tests need no marker line
    for name, r in RUNTIMES.items():
        config.addinivalue_line(
            "markers",
            f"{name}: needs {r.title} (the {r.extra} extra); skipped where not installed, "
            "outside CI",
        )


def pytest_runtest_setup(item: pytest.Item) -> None:
    for framework in RUNTIMES:
        reason = missing(framework) if item.get_closest_marker(framework) else None
        if reason is not None:
            skip_or_fail_in_ci(reason)
