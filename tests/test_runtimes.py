"""The runtime records (vocab.runtimes), tested from the table: a new runtime's record is
covered without editing this file."""

from __future__ import annotations

import importlib.util
import runpy
import sys
import tomllib
import types
from pathlib import Path
from typing import Any

import pytest

from runners.registry import unsupported
from vocab.case import Case
from vocab.runtimes import RUNTIMES, Runtime, UnknownRuntime, extras, runtime

ROOT = Path(__file__).resolve().parent.parent
EXTRAS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
RECORDS = [pytest.param(r, id=name) for name, r in RUNTIMES.items()]


class NothingToSay:
    """A runner that finds no reason of its own to skip (the record's skips are tested)."""

    def unsupported(self, case: Case) -> str | None:
        return None


@pytest.mark.parametrize("record", RECORDS)
def test_a_record_names_modules_that_exist_and_extras_that_pyproject_has(record: Runtime) -> None:
    for target in (record.runner, record.builder, record.replicas):
        if target is None:
            continue
        module = target.partition(":")[0]
        assert importlib.util.find_spec(module) is not None, target  # found, not imported
    assert record.extra in EXTRAS and record.cuda_extra in EXTRAS, record.name
    assert record.executions and len(set(record.executions)) == len(record.executions)
    assert Case(record.name, 50, 1).execution == record.default_execution


@pytest.mark.parametrize("record", RECORDS)
def test_every_skip_is_a_skipped_case_with_its_reason(record: Runtime) -> None:
    runner: Any = NothingToSay()
    for skip in record.skips:
        values = {"device": "cpu", "mode": "inference", "precision": "fp32", skip.axis: skip.value}
        assert unsupported(runner, Case(record.name, 50, 1, **values)) == skip.why
    for device in ("cpu", "cuda", "cuda:1"):
        reason = unsupported(runner, Case(record.name, 50, 1, device=device))
        if device.partition(":")[0] not in record.devices:
            assert reason is not None, device  # its own skip, or "runs on cpu here, not ..."


def test_an_unknown_runtime_lists_the_known_ones() -> None:
    with pytest.raises(UnknownRuntime, match="unknown framework 'mxnet'; allowed: torch, "):
        runtime("mxnet")
    with pytest.raises(ValueError, match=", ".join(RUNTIMES)):
        Case("mxnet", 50, 1)


def test_nox_installs_the_records_extras_without_importing_the_project(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # nox itself is not in the test environment: a stand-in with what the noxfile touches
    fake = types.ModuleType("nox")
    fake.options = types.SimpleNamespace()  # type: ignore[attr-defined]
    fake.session = lambda f=None, **_k: f if f is not None else (lambda g: g)  # type: ignore[attr-defined]
    fake.Session = object  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "nox", fake)
    names = runpy.run_path(str(ROOT / "noxfile.py"))
    assert names["FRAMEWORKS"] == extras(cuda=names["CUDA"])
    assert set(extras()) == {r.extra for r in RUNTIMES.values()}


def test_the_fifth_runtime_is_named_in_at_most_five_files() -> None:
    # issue 21's measure of one record per runtime: files outside tests/ and the migrations
    # that name it (scripts/runtime_mentions.py prints every runtime's count)
    count = runpy.run_path(str(ROOT / "scripts" / "runtime_mentions.py"))["mentions"]
    where = count("openvino")
    assert len(where) <= 5, where
    assert "vocab/runtimes.py" in where or "vocab/runtimes.py" in where
