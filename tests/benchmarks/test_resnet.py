"""The suite's cases through pytest-benchmark: `pytest --benchmark-only [--resnet-...]`.

Parametrized from a profile by suite.pytest_plugin; skipped without --benchmark-only.
The session measures its cases in the suite's worker processes (the profile's sampling
policy, stored as one run with source 'pytest'); resnet_benchmark() hands pytest-benchmark
the case's worker steps. A case that cannot run is skipped with its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.resnet_benchmark


def test_resnet_step(resnet_benchmark: Callable[[], Any]) -> None:
    resnet_benchmark()
