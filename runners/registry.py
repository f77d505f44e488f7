"""Framework name -> runner class. Adding a framework = one module plus one line here."""

from __future__ import annotations

import importlib

from runners.base import Runner
from suite.case import FRAMEWORKS

# "module:Class", imported lazily: a worker loads exactly one framework.
RUNNERS: dict[str, str] = {
    "torch": "runners.torch_runner:TorchRunner",
    "tensorflow": "runners.tf_runner:TFRunner",
}
assert set(RUNNERS) == set(FRAMEWORKS), "runner registry and suite.case.EXECUTIONS disagree"


def get_runner(framework: str) -> Runner:
    if framework not in RUNNERS:
        raise ValueError(f"unknown framework {framework!r}; allowed: {', '.join(RUNNERS)}")
    module_name, _, cls_name = RUNNERS[framework].partition(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    runner: Runner = cls()
    return runner
