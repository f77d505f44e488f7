"""Machine and environment metadata: matches what the OS reports; GPUs through a fake NVML."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from results import metadata
from results.metadata import (
    ENVIRONMENT_KEYS,
    GPU_DELTA_KEYS,
    GPU_KEYS,
    GPU_SNAPSHOT_KEYS,
    MACHINE_KEYS,
    SYSTEM_KEYS,
    MetadataError,
    busy_warning,
    decode_throttle_reasons,
    environment_info,
    gpu_counters_delta,
    machine_fingerprint,
    machine_info,
    throttled,
    validate,
)

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
    for flag in metadata.ISA_FLAGS:
        if flag in proc:
            assert flag in machine["isa_flags"], flag
    assert machine["isa_flags"] == sorted(machine["isa_flags"])


def test_machine_info_fits_its_key_table(machine: dict[str, Any]) -> None:
    validate(machine, MACHINE_KEYS)
    assert machine_fingerprint(machine) == machine_fingerprint(machine_info(hash_hostname=False))


def test_hostname_can_be_hashed(monkeypatch: pytest.MonkeyPatch, machine: dict[str, Any]) -> None:
    monkeypatch.setenv(metadata.HASH_HOSTNAME_ENV, "1")
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


def test_no_framework_is_imported() -> None:
    code = (
        "import sys, results, results.store, results.frames, results.export\n"
        "from results import metadata\n"
        "metadata.environment_info(); metadata.machine_info()\n"
        "loaded = {'torch', 'tensorflow'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_git_state(tmp_path: Path) -> None:
    commit, dirty = metadata.git_state()
    if commit is None:
        pytest.skip("not running from a git checkout")
    assert re.fullmatch(r"[0-9a-f]{40}", commit) and isinstance(dirty, bool)
    assert metadata.git_state(tmp_path) == (None, None)  # not a checkout


def test_git_missing_is_tolerated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    assert metadata.git_state() == (None, None)


def test_system_state_and_busy_warning() -> None:
    state = metadata.system_state()
    validate(state, SYSTEM_KEYS)
    assert state["cores_logical"] == os.cpu_count()
    assert state["load_avg_1m"] >= 0
    assert busy_warning({"load_avg_1m": 0.4, "cores_logical": 8}) is None
    warning = busy_warning({"load_avg_1m": 6.0, "cores_logical": 8})
    assert warning is not None and "6.00" in warning and "8 logical cores" in warning


# --- GPUs through a fake NVML -----------------------------------------------------------


class FakeNVMLError(Exception):
    pass


def fake_pynvml(
    count: int = 2, reasons: int = 0x1, fail_init: bool = False, legacy: bool = False
) -> Any:
    """A pynvml stand-in. `nv.counters` holds the energy (mJ) and violation (ns, by policy
    number) counters a test may raise between snapshots; `legacy` leaves out the settings,
    energy and violation functions, as an old binding or driver would."""
    nv = types.ModuleType("pynvml")
    calls = {"init": 0, "shutdown": 0}
    counters: dict[Any, int] = {"energy": 1_000_000, 0: 0, 1: 0, 2: 0, 3: 0, 4: 5}

    def init() -> None:
        calls["init"] += 1
        if fail_init:
            raise FakeNVMLError("NVML Shared Library Not Found")

    def shutdown() -> None:
        calls["shutdown"] += 1

    def unsupported(*_args: Any) -> Any:
        raise FakeNVMLError("Not Supported")

    ns: dict[str, Any] = {
        "calls": calls,
        "nvmlInit": init,
        "nvmlShutdown": shutdown,
        "nvmlDeviceGetCount": lambda: count,
        "nvmlSystemGetDriverVersion": lambda: "550.54.15",
        "nvmlSystemGetCudaDriverVersion": lambda: 12040,
        "nvmlDeviceGetHandleByIndex": lambda i: f"handle{i}",
        "nvmlDeviceGetName": lambda h: b"NVIDIA H100 80GB HBM3",  # old bindings: bytes
        "nvmlDeviceGetMemoryInfo": lambda h: types.SimpleNamespace(total=80 * 2**30),
        "nvmlDeviceGetCudaComputeCapability": lambda h: (9, 0),
        "nvmlDeviceGetClockInfo": lambda h, kind: {1: 1980, 2: 2619}[kind],
        "nvmlDeviceGetTemperature": lambda h, sensor: 71,
        "nvmlDeviceGetPowerUsage": unsupported,  # not every board reports power
        "nvmlDeviceGetUtilizationRates": lambda h: types.SimpleNamespace(gpu=97),
        "nvmlDeviceGetCurrentClocksEventReasons": lambda h: reasons,
    }
    if not legacy:
        ns.update(
            {
                "counters": counters,
                "nvmlDeviceGetPersistenceMode": lambda h: 1,
                "nvmlDeviceGetApplicationsClock": lambda h, kind: {0: 1755, 2: 2619}[kind],
                "nvmlDeviceGetEnforcedPowerLimit": lambda h: 700_000,  # mW
                "nvmlDeviceGetEccMode": lambda h: [1, 1],
                "nvmlDeviceGetMigMode": lambda h: [0, 1],  # off now, on after a reset
                "nvmlDeviceGetComputeMode": lambda h: 3,
                "nvmlDeviceGetCurrPcieLinkGeneration": lambda h: 1,  # idle: trained down
                "nvmlDeviceGetCurrPcieLinkWidth": lambda h: 16,
                "nvmlDeviceGetMaxPcieLinkGeneration": lambda h: 5,
                "nvmlDeviceGetMaxPcieLinkWidth": unsupported,
                "nvmlDeviceGetTotalEnergyConsumption": lambda h: counters["energy"],
                "nvmlDeviceGetViolationStatus": lambda h, policy: types.SimpleNamespace(
                    referenceTime=123, violationTime=counters[policy]
                ),
                # this binding predates NVML_PERF_POLICY_RELIABILITY: not queried
                "NVML_PERF_POLICY_POWER": 0,
                "NVML_PERF_POLICY_THERMAL": 1,
                "NVML_PERF_POLICY_SYNC_BOOST": 2,
                "NVML_PERF_POLICY_BOARD_LIMIT": 3,
                "NVML_PERF_POLICY_LOW_UTILIZATION": 4,
            }
        )
    for name, value in ns.items():
        setattr(nv, name, value)
    return nv


def test_gpus_through_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    nv = fake_pynvml()
    monkeypatch.setitem(sys.modules, "pynvml", nv)
    info = machine_info(hash_hostname=False)
    assert info["gpu_count"] == 2
    assert info["gpu_name"] == "NVIDIA H100 80GB HBM3"
    assert info["gpu_driver"] == "550.54.15" and info["gpu_cuda_driver"] == "12.4"
    assert info["gpus"][1] == {
        "index": 1,
        "name": "NVIDIA H100 80GB HBM3",
        "memory_bytes": 80 * 2**30,
        "compute_capability": "9.0",
    }
    assert nv.calls["init"] == nv.calls["shutdown"] >= 1


def test_snapshot_decodes_throttle_reasons(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(count=1, reasons=0x4 | 0x40))
    [gpu] = metadata.gpu_snapshot() or []
    assert gpu["sm_clock_mhz"] == 1980 and gpu["mem_clock_mhz"] == 2619
    assert gpu["temperature_c"] == 71 and gpu["utilization_pct"] == 97
    assert gpu["power_w"] is None  # unsupported query: None, not an error
    assert gpu["throttle_reasons"] == ["sw_power_cap", "hw_thermal_slowdown"]


def test_no_nvml_means_no_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(fail_init=True))
    assert metadata.gpu_devices() == []
    assert metadata.gpu_snapshot() is None
    assert machine_info(hash_hostname=False)["gpu_count"] == 0


def test_decode_and_throttled() -> None:
    assert decode_throttle_reasons(0) == []
    assert decode_throttle_reasons(0x1 | 0x10) == ["gpu_idle", "sync_boost"]
    assert decode_throttle_reasons(0x8 | 0x10000) == ["hw_slowdown", "unknown_0x10000"]
    idle = [{"index": 0, "throttle_reasons": ["gpu_idle"]}]
    hot = [{"index": 0, "throttle_reasons": ["sw_thermal_slowdown"]}]
    capped = [{"index": 0, "throttle_reasons": ["applications_clocks_setting"]}]
    assert throttled(idle, hot) is True
    assert throttled(hot, idle) is True
    assert throttled(idle, capped) is False
    assert throttled(None, None) is None  # no NVML: unknown


# --- GPU settings, energy and throttle-violation counters -------------------------------


def test_gpu_devices_record_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(count=1))
    [gpu] = metadata.gpu_devices()
    validate(gpu, GPU_KEYS)
    assert {k: gpu[k] for k in list(gpu)[6:]} == {
        "persistence_mode": True,
        "app_clock_graphics_mhz": 1755,
        "app_clock_memory_mhz": 2619,
        "power_limit_w": 700.0,
        "ecc_mode": True,
        "mig_mode": False,  # the current mode, not the pending one
        "compute_mode": "exclusive_process",
        "pcie_link_gen": 1,
        "pcie_link_width": 16,
        "pcie_link_gen_max": 5,
        "pcie_link_width_max": None,  # unsupported query
    }
    # ...stored per run (system["gpus"]); the machine keeps only the identity fields.
    assert metadata.system_state(tmp_path, steal_interval_s=0.0)["gpus"] == [gpu]
    assert set(machine_info(hash_hostname=False)["gpus"][0]) == {
        "index", "name", "memory_bytes", "compute_capability",
    }  # fmt: skip


def test_old_binding_leaves_the_new_facts_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(count=1, legacy=True))
    [gpu] = metadata.gpu_devices()
    assert gpu["name"] == "NVIDIA H100 80GB HBM3"
    assert gpu["power_limit_w"] is None and gpu["pcie_link_gen"] is None
    assert gpu["persistence_mode"] is None and gpu["compute_mode"] is None
    [snap] = metadata.gpu_snapshot() or []
    assert snap["energy_mj"] is None and snap["violation_ns"] == {}
    assert metadata.gpu_counters_delta([snap], [snap]) == [
        {"index": 0, "energy_j": None, "violation_ns": {}}
    ]


def test_snapshot_counters_and_their_delta(monkeypatch: pytest.MonkeyPatch) -> None:
    nv = fake_pynvml(count=1, reasons=0x1)  # idle at both edges: no reason says throttled
    monkeypatch.setitem(sys.modules, "pynvml", nv)
    before = metadata.gpu_snapshot()
    assert before is not None
    validate(before[0], GPU_SNAPSHOT_KEYS)
    assert before[0]["energy_mj"] == 1_000_000
    assert before[0]["violation_ns"] == {
        "power": 0, "thermal": 0, "sync_boost": 0, "board_limit": 0, "low_utilization": 5,
    }  # fmt: skip
    nv.counters["energy"] += 250_000  # 250 J during the case
    nv.counters[2] += 10  # sync boost: not a slowdown
    nv.counters[4] += 1_000
    after = metadata.gpu_snapshot()
    [delta] = gpu_counters_delta(before, after)
    validate(delta, GPU_DELTA_KEYS)
    assert delta == {
        "index": 0,
        "energy_j": 250.0,
        "violation_ns": {
            "board_limit": 0,
            "low_utilization": 1_000,
            "power": 0,
            "sync_boost": 10,
            "thermal": 0,
        },
    }
    assert throttled(before, after) is False
    nv.counters[1] += 3_000_000  # 3 ms of thermal throttling inside the case
    hot = metadata.gpu_snapshot()
    assert gpu_counters_delta(before, hot)[0]["violation_ns"]["thermal"] == 3_000_000
    assert hot is not None and hot[0]["throttle_reasons"] == ["gpu_idle"]
    assert throttled(before, hot) is True  # seen only through the counter


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("power", True), ("thermal", True), ("board_limit", True), ("reliability", True),
     ("sync_boost", False), ("low_utilization", False)],
)  # fmt: skip
def test_throttled_by_a_violation_counter(policy: str, expected: bool) -> None:
    def snap(ns: int) -> list[dict[str, Any]]:
        return [{"index": 0, "throttle_reasons": [], "violation_ns": {policy: ns}}]

    assert throttled(snap(100), snap(100)) is False
    assert throttled(snap(100), snap(101)) is expected
    assert throttled(snap(100), snap(0)) is False  # counter reset (driver reload): unknown


def test_counter_delta_edge_cases() -> None:
    a = [{"index": 0, "energy_mj": 5_000, "violation_ns": {"power": 7}}]
    b = [{"index": 0, "energy_mj": 4_000, "violation_ns": {"power": None}}]
    assert gpu_counters_delta(a, None) == gpu_counters_delta(None, a) == []
    assert gpu_counters_delta(a, b) == [
        {"index": 0, "energy_j": None, "violation_ns": {"power": None}}
    ]
    assert gpu_counters_delta(a, [{"index": 1, "energy_mj": 9}]) == []  # no match on index


def test_monkeypatched_metadata_names_are_the_ones_used(monkeypatch: pytest.MonkeyPatch) -> None:
    gpu = {"index": 0, "name": "Patched", "memory_bytes": 1, "compute_capability": "8.0",
           "driver": "1", "cuda_driver": "12.0"}  # fmt: skip
    monkeypatch.setattr(metadata, "gpu_devices", lambda: [gpu])
    info = machine_info(hash_hostname=False)
    assert info["gpu_count"] == 1 and info["gpu_name"] == "Patched"
