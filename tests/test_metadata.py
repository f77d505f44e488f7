"""Machine and environment metadata: matches what the OS reports; GPUs through a fake NVML."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path
from typing import Any

import pytest

from results import environment, metadata
from results.environment import environment_info
from results.metadata import (
    ENVIRONMENT_KEYS,
    GPU_KEYS,
    MACHINE_KEYS,
    SYSTEM_KEYS,
    MetadataError,
    machine_fingerprint,
    validate,
)
from runners import host
from runners.host import busy_warning, machine_info

linux_only = pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="needs Linux /proc")


@pytest.fixture(scope="module")
def machine() -> dict[str, Any]:
    return machine_info(hash_hostname=False)


@linux_only
def test_cpu_model_matches_proc_cpuinfo(machine: dict[str, Any]) -> None:
    text = Path("/proc/cpuinfo").read_text()
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    if found is None:  # e.g. some ARM kernels have no model name
        pytest.skip("/proc/cpuinfo has no 'model name'")
    assert machine["cpu_model"] == found.group(1).strip()


def test_core_counts_match_the_os(machine: dict[str, Any]) -> None:
    assert machine["cores_logical"] == os.cpu_count()
    assert 1 <= machine["cores_physical"] <= machine["cores_logical"]


@linux_only
def test_memory_matches_proc_meminfo(machine: dict[str, Any]) -> None:
    found = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
    assert found is not None
    assert abs(machine["memory_bytes"] - int(found.group(1)) * 1024) < 1024  # kB rounding


def test_os_and_arch_match_platform(machine: dict[str, Any]) -> None:
    assert machine["os"].startswith(platform.system())
    assert machine["kernel"] == platform.release()
    assert machine["arch"] == platform.machine()


@linux_only
def test_isa_flags_are_the_cpus(machine: dict[str, Any]) -> None:
    found = re.search(r"^flags\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
    if found is None:
        pytest.skip("/proc/cpuinfo has no flags line")
    proc = set(found.group(1).split())
    # py-cpuinfo names a few flags its own way (avx512_vnni for avx512vnni...): compare those
    # spelled alike.
    for flag in host.ISA_FLAGS:
        if flag in proc:
            assert flag in machine["isa_flags"], flag
    assert machine["isa_flags"] == sorted(machine["isa_flags"])


def test_machine_info_fits_its_key_table(machine: dict[str, Any]) -> None:
    validate(machine, MACHINE_KEYS)
    assert machine_fingerprint(machine) == machine_fingerprint(machine_info(hash_hostname=False))


def test_hostname_can_be_hashed(monkeypatch: pytest.MonkeyPatch, machine: dict[str, Any]) -> None:
    monkeypatch.setenv(host.HASH_HOSTNAME_ENV, "1")
    hashed = machine_info()
    assert hashed["hostname_hashed"] is True
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", hashed["hostname"])
    assert machine["hostname"] not in hashed["hostname"]
    assert machine_fingerprint(hashed) != machine_fingerprint(machine)


def test_validate_names_the_bad_key() -> None:
    good = {k.name: None for k in MACHINE_KEYS}
    validate(good, MACHINE_KEYS)
    with pytest.raises(MetadataError, match=r"unknown metadata key.* colour"):
        validate({**good, "colour": "red"}, MACHINE_KEYS)
    with pytest.raises(MetadataError, match=r"missing metadata key.* cpu_model"):
        validate({k: v for k, v in good.items() if k != "cpu_model"}, MACHINE_KEYS)
    with pytest.raises(MetadataError, match=r"cores_logical=True should be int"):
        validate({**good, "cores_logical": True}, MACHINE_KEYS)
    validate({**good, "freq_base_mhz": 2000}, MACHINE_KEYS)  # an int is a fine float


def test_describe_keys_lists_every_key() -> None:
    table = metadata.describe_keys()
    for key in (*MACHINE_KEYS, *ENVIRONMENT_KEYS):
        assert f"| {key.name} |" in table
    for group, keys in (("system", SYSTEM_KEYS), ("gpu", GPU_KEYS)):
        for key in keys:
            assert f"| {group} | {key.name} |" in table
    assert "| gpu_snapshot | violation_ns | dict | ns |" in table


def test_environment_info(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.setenv("TORCH_LOGS", "+dynamo")
    monkeypatch.setenv("TF_VAR_region", "eu")  # Terraform, not TensorFlow
    monkeypatch.setenv("TF_API_TOKEN", "s3cret")
    monkeypatch.setenv("RESNET_BENCH_DB", "postgresql://u:s3cret@h/db")
    env = environment_info({"torch": {"cuda": None, "mkldnn": True}})
    validate(env, ENVIRONMENT_KEYS)
    assert env["env_vars"]["OMP_NUM_THREADS"] == "3"
    assert env["env_vars"]["TORCH_LOGS"] == "+dynamo"
    assert not {"TF_VAR_region", "TF_API_TOKEN", "RESNET_BENCH_DB"} & set(env["env_vars"])
    assert env["framework_info"] == {"torch": {"cuda": None, "mkldnn": True}}
    assert env["python_version"] == platform.python_version()
    import numpy

    assert env["numpy_version"] == numpy.__version__


def test_env_vars_can_be_given() -> None:
    env = environment_info(env={"CUDA_VISIBLE_DEVICES": "1", "HOME": "/root"})
    assert env["env_vars"] == {"CUDA_VISIBLE_DEVICES": "1"}


def test_git_state(tmp_path: Path) -> None:
    commit, dirty = environment.git_state()
    if commit is None:
        pytest.skip("not running from a git checkout")
    assert re.fullmatch(r"[0-9a-f]{40}", commit) and isinstance(dirty, bool)
    assert environment.git_state(tmp_path) == (None, None)  # not a checkout


def test_git_missing_is_tolerated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    assert environment.git_state() == (None, None)


def test_system_state_and_busy_warning() -> None:
    state = host.system_state()
    validate(state, SYSTEM_KEYS)
    assert state["cores_logical"] == os.cpu_count()
    assert state["load_avg_1m"] >= 0
    assert busy_warning({"load_avg_1m": 0.4, "cores_logical": 8}) is None
    warning = busy_warning({"load_avg_1m": 6.0, "cores_logical": 8})
    assert warning is not None and "6.00" in warning and "8 logical cores" in warning


@pytest.mark.parametrize(
    ("typed", "keys"),
    [
        ("runners.host.MachineInfo", MACHINE_KEYS),
        ("results.environment.EnvironmentInfo", ENVIRONMENT_KEYS),
        ("runners.host.SystemState", SYSTEM_KEYS),
        ("runners.nvml.GpuDevice", GPU_KEYS),
    ],
)
def test_typed_dicts_follow_the_key_tables(typed: str, keys: tuple[metadata.Key, ...]) -> None:
    """What mypy checks the capture against is what the store validates: the same keys,
    each of the table's type (or None)."""
    import importlib
    import types
    import typing

    def kinds(hint: object) -> set[object]:
        union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        return {typing.get_origin(a) or a for a in (typing.get_args(hint) if union else [hint])}

    module, _, name = typed.rpartition(".")
    hints = typing.get_type_hints(getattr(importlib.import_module(module), name))
    assert set(hints) == {k.name for k in keys}
    for key in keys:
        assert key.type in kinds(hints[key.name]), key.name
