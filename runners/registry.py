"""Framework name -> runner class, and what installs it. Adding a framework = one module
plus one line in each table here (and its extra in pyproject.toml)."""

from __future__ import annotations

import importlib
import importlib.util

from runners.base import Runner
from suite.case import FRAMEWORKS

# "module:Class", imported lazily: a worker loads exactly one framework.
RUNNERS: dict[str, str] = {
    "torch": "runners.torch_runner:TorchRunner",
    "tensorflow": "runners.tf_runner:TFRunner",
    "jax": "runners.jax_runner:JaxRunner",
    "onnxruntime": "runners.ort_runner:OrtRunner",
}
# The package each runner imports, and the resnet-bench extra that installs it: the core
# install (store, reports, CLI) has no framework.
PACKAGES: dict[str, tuple[str, str]] = {
    "torch": ("torch", "torch"),
    "tensorflow": ("tensorflow", "tensorflow"),
    "jax": ("jax", "jax"),
    "onnxruntime": ("onnxruntime", "onnxruntime"),
}
assert set(RUNNERS) == set(FRAMEWORKS), "runner registry and suite.case.EXECUTIONS disagree"
assert set(PACKAGES) == set(RUNNERS), "every runner names its package and extra"


def missing(framework: str) -> str | None:
    """Why `framework` cannot run here, naming the extra to install; None when its package
    is installed (finding it imports nothing)."""
    package, extra = PACKAGES[framework]
    try:
        found = importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # an import hook refused it; a broken install
        found = False
    return None if found else f"{framework} is not installed: pip install 'resnet-bench[{extra}]'"


def get_runner(framework: str) -> Runner:
    if framework not in RUNNERS:
        raise ValueError(f"unknown framework {framework!r}; allowed: {', '.join(RUNNERS)}")
    module_name, _, cls_name = RUNNERS[framework].partition(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    runner: Runner = cls()
    return runner
