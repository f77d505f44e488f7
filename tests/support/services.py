"""Services the tests need (PostgreSQL, a browser): skipped locally, required in CI."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def skip_or_fail_in_ci(reason: str) -> NoReturn:
    """Skip locally, saying why; in CI (CI=true) a missing service is a failure, because
    .ci/run installs and starts everything the tests need."""
    if in_ci():
        pytest.fail(f"CI must provide this: {reason}")
    pytest.skip(reason)
