"""Markers that need something installed: a test marked with a framework (torch,
tensorflow) skips where that framework is not installed, saying which extra to install;
in CI (CI=true) it fails, because CI installs everything.

Hypothesis profiles: "dev" (the default) tries a few examples per property, so the inner
loop stays fast; "ci" (CI=true, or HYPOTHESIS_PROFILE=ci) tries many. New SQLite stores
are copies of one migrated store (tests/support/migrated.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from runners.registry import missing
from tests.support.migrated import from_template
from tests.support.services import in_ci, skip_or_fail_in_ci
from vocab.runtimes import RUNTIMES

settings.register_profile("dev", max_examples=20, deadline=None)
settings.register_profile("ci", max_examples=150, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if in_ci() else "dev"))


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


@pytest.fixture(autouse=True, scope="session")
def _new_stores_from_a_template() -> Iterator[None]:
    """A new SQLite store is a copy of one migrated in this process (tests/support/migrated.py)."""
    with from_template():
        yield
