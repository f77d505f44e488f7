"""Sessions: bench (the main job), tests (what CI runs), lint, report.

nox -s bench                      # default profile for this machine -> DB + HTML report
nox -s bench -- --depths 50 --batch-sizes 1,32
nox -s tests                      # the test suite (benchmarks skipped)
RESNET_BENCH_CUDA=1 nox -s bench  # GPU host: the CUDA builds of the runtimes
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True


def _runtimes() -> ModuleType:
    """vocab/runtimes.py, the one table of runtimes, loaded by its path: it imports only the
    standard library, and nox's own Python has neither this project nor its frameworks."""
    path = Path(__file__).parent / "vocab" / "runtimes.py"
    spec = importlib.util.spec_from_file_location("_resnet_bench_runtimes", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


# The frameworks this host gets (the records' extras): the CPU builds, or with
# RESNET_BENCH_CUDA=1 the CUDA builds. torch comes from RESNET_BENCH_TORCH_INDEX where set
# (README "GPU hosts": which wheel a host gets).
CUDA = os.environ.get("RESNET_BENCH_CUDA", "") not in ("", "0")
FRAMEWORKS: tuple[str, ...] = _runtimes().extras(cuda=CUDA)


def install(session: nox.Session, *extras: str) -> None:
    """The project with these extras (none: the core, no framework)."""
    args = ["-e", f".[{','.join(extras)}]" if extras else "."]
    index = os.environ.get("RESNET_BENCH_TORCH_INDEX")
    if index and "torch" in extras:
        args += ["--extra-index-url", index]
    session.install(*args)


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite; pytest-benchmark benchmarks are skipped (see `pytest --benchmark-only`)."""
    install(session, *FRAMEWORKS, "postgres", "test")
    # pytest exit 5 (nothing collected) fails the session like any other non-zero status.
    # Two files at once (pytest-xdist, by file): most tests wait on worker processes, and one
    # at a time leaves a core idle; a file keeps its own order.
    session.run("pytest", "--benchmark-skip", "-n", "auto", "--dist", "loadfile", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Run the default profile for this machine, store it, write the HTML report."""
    install(session, *FRAMEWORKS)
    session.run("resnet-bench", "run", "--report", *session.posargs)


@nox.session
def report(session: nox.Session) -> None:
    """Rebuild the HTML report from the existing result database (the core: no framework)."""
    install(session)
    session.run("resnet-bench", "report", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint + format check), mypy --strict on the packages, and the import layers
    (import-linter: the contract in pyproject.toml)."""
    install(session, "lint")  # the typed frameworks mypy reads, not every runtime
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run("lint-imports")
