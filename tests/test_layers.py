"""The house runs one way: the import-linter contract in pyproject.toml holds (no package
imports one above it), and no module reaches itself through its imports (no file cycle,
lazy imports inside functions included)."""

from __future__ import annotations

import graphlib
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def test_the_layer_contract_is_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_file_level_import_cycle() -> None:
    graph = grimp.build_graph(*CONFIG["root_packages"])
    edges = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    try:
        tuple(graphlib.TopologicalSorter(edges).static_order())
    except graphlib.CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None


def test_a_cycle_is_found() -> None:
    # the check above can fail: a graph with a circle is refused
    sorter = graphlib.TopologicalSorter({"a": {"b"}, "b": {"a"}})
    try:
        tuple(sorter.static_order())
    except graphlib.CycleError:
        return
    raise AssertionError("graphlib accepted a cycle")
