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
from suite.profiles import PROFILES_DIR, load_profile, profile_names
from vocab.case import Case
from vocab.runtimes import (
    REFERENCE,
    RUNTIMES,
    Runtime,
    UnknownRuntime,
    extras,
    joining,
    runtime,
)

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


# issue 21's measure of one record per runtime: the files outside tests/ and the
# migrations that name a runtime (as a word, scripts/runtime_mentions.py counts them)
MOST_FILES = 8
MOST_FILES_FIFTH = 5  # openvino, the runtime added on the record


@pytest.mark.parametrize("record", RECORDS)
def test_a_runtime_is_named_in_few_files(record: Runtime) -> None:
    script = runpy.run_path(str(ROOT / "scripts" / "runtime_mentions.py"))
    where = script["mentions"](record.name)
    assert "vocab/runtimes.py" in where
    if record.reference:
        # The reference network is named wherever another runtime is derived from it or
        # checked against it (their builders, the benchmarks that time against its own
        # tools): the count is printed, not held.
        pytest.skip(f"{record.name} is the reference runtime: {len(where)} files")
    most = MOST_FILES_FIFTH if record.name == "openvino" else MOST_FILES
    assert len(where) <= most, where


@pytest.mark.parametrize("name", profile_names())
def test_a_built_in_profile_runs_the_runtimes_whose_records_join_it(name: str) -> None:
    table = tomllib.loads((PROFILES_DIR / f"{name}.toml").read_text())
    assert "frameworks" not in table["cases"], "a built-in profile takes them from the records"
    assert joining(name), f"no runtime record joins profile {name!r}"
    assert load_profile(name).axes["frameworks"] == list(joining(name))


def test_a_record_joins_only_profiles_that_exist() -> None:
    named = {p for r in RUNTIMES.values() for p in r.profiles}
    assert named <= set(profile_names()), named - set(profile_names())


def test_exactly_one_runtime_is_the_reference() -> None:
    assert [n for n, r in RUNTIMES.items() if r.reference] == [REFERENCE]
