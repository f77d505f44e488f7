"""A framework's runner, loaded from its record (vocab.runtimes) only when asked for: a
worker imports exactly one framework, and the core install none."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from runners.base import Runner
from vocab.case import Case
from vocab.runtimes import runtime


def load(target: str) -> Any:
    """The object a "module:attr" string names (importing the module)."""
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def missing(framework: str) -> str | None:
    """Why `framework` cannot run here, naming the extra to install; None when its package
    is installed (finding it imports nothing)."""
    record = runtime(framework)
    try:
        found = importlib.util.find_spec(record.package) is not None
    except (ImportError, ValueError):  # an import hook refused it; a broken install
        found = False
    return None if found else record.install_hint()


def get_runner(framework: str) -> Runner:
    runner: Runner = load(runtime(framework).runner)()
    return runner


def unsupported(runner: Runner, case: Case) -> str | None:
    """Why the case is skipped: its record's skips, its replicas, then what the runner
    finds on this machine (no CUDA device...); None when it runs."""
    from runners import distributed

    record = runtime(case.framework)
    static = record.skip_reason(case.device, case.mode, case.precision)
    return static or distributed.unsupported(case) or runner.unsupported(case)
