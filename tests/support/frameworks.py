"""Test parameters per framework, each marked with its framework's marker (`-m "not
tensorflow"` leaves its tests out; where it is not installed they skip, in CI they fail)."""

from __future__ import annotations

from typing import Any

import pytest
from _pytest.mark.structures import ParameterSet


def framework_param(
    framework: str, *values: Any, id: str | None = None, slow: bool = False
) -> ParameterSet:
    """`framework` (with `values`, as one tuple) as a parameter marked `framework` (and
    `slow` if asked)."""
    value = (framework, *values) if values else framework
    marks = [getattr(pytest.mark, framework), *([pytest.mark.slow] if slow else [])]
    return pytest.param(value, marks=marks, id=id or framework)
