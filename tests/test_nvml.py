"""NVIDIA GPUs through a fake NVML: device facts and settings, snapshots, counters, throttling."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from results.metadata import GPU_DELTA_KEYS, GPU_KEYS, GPU_SNAPSHOT_KEYS, validate
from runners import host, nvml
from runners.host import machine_info
from runners.nvml import decode_throttle_reasons, gpu_counters_delta, throttled

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
    [gpu] = nvml.gpu_snapshot() or []
    assert gpu["sm_clock_mhz"] == 1980 and gpu["mem_clock_mhz"] == 2619
    assert gpu["temperature_c"] == 71 and gpu["utilization_pct"] == 97
    assert gpu["power_w"] is None  # unsupported query: None, not an error
    assert gpu["throttle_reasons"] == ["sw_power_cap", "hw_thermal_slowdown"]


def test_no_nvml_means_no_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(fail_init=True))
    assert nvml.gpu_devices() == []
    assert nvml.gpu_snapshot() is None
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
    [gpu] = nvml.gpu_devices()
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
    assert host.system_state(tmp_path, steal_interval_s=0.0)["gpus"] == [gpu]
    assert set(machine_info(hash_hostname=False)["gpus"][0]) == {
        "index", "name", "memory_bytes", "compute_capability",
    }  # fmt: skip


def test_old_binding_leaves_the_new_facts_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(count=1, legacy=True))
    [gpu] = nvml.gpu_devices()
    assert gpu["name"] == "NVIDIA H100 80GB HBM3"
    assert gpu["power_limit_w"] is None and gpu["pcie_link_gen"] is None
    assert gpu["persistence_mode"] is None and gpu["compute_mode"] is None
    [snap] = nvml.gpu_snapshot() or []
    assert snap["energy_mj"] is None and snap["violation_ns"] == {}
    assert nvml.gpu_counters_delta([snap], [snap]) == [
        {"index": 0, "energy_j": None, "violation_ns": {}}
    ]


def test_snapshot_counters_and_their_delta(monkeypatch: pytest.MonkeyPatch) -> None:
    nv = fake_pynvml(count=1, reasons=0x1)  # idle at both edges: no reason says throttled
    monkeypatch.setitem(sys.modules, "pynvml", nv)
    before = nvml.gpu_snapshot()
    assert before is not None
    validate(before[0], GPU_SNAPSHOT_KEYS)
    assert before[0]["energy_mj"] == 1_000_000
    assert before[0]["violation_ns"] == {
        "power": 0, "thermal": 0, "sync_boost": 0, "board_limit": 0, "low_utilization": 5,
    }  # fmt: skip
    nv.counters["energy"] += 250_000  # 250 J during the case
    nv.counters[2] += 10  # sync boost: not a slowdown
    nv.counters[4] += 1_000
    after = nvml.gpu_snapshot()
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
    hot = nvml.gpu_snapshot()
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
    monkeypatch.setattr(host, "gpu_devices", lambda: [gpu])
    info = machine_info(hash_hostname=False)
    assert info["gpu_count"] == 1 and info["gpu_name"] == "Patched"
