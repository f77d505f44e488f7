"""NVIDIA GPUs through NVML (nvidia-ml-py): static facts per device, snapshots around a case.

The measuring side captures; results.metadata keeps the key tables and validates what is
stored. Imports nothing from `results` and no framework; `pynvml` is imported lazily, and a
missing library, driver or GPU reads as "no NVIDIA GPUs". Every single query goes through
`_try`: what a board, driver or binding version does not support is None, never an error.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any, TypedDict

# NVML clock-event ("throttle") reason bits; values are NVML's ABI (nvml.h).
THROTTLE_REASONS: dict[int, str] = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
    0x200: "board_limit",
    0x400: "reliability",
}
# Reasons that mean the clocks were held down by heat, power or hardware protection.
SLOWDOWN_REASONS: frozenset[str] = frozenset(
    {
        "sw_power_cap",
        "hw_slowdown",
        "sw_thermal_slowdown",
        "hw_thermal_slowdown",
        "hw_power_brake_slowdown",
        "board_limit",
        "reliability",
    }
)
# nvmlDeviceGetViolationStatus policies: our name -> the pynvml constant naming it. Only
# those the installed pynvml defines are queried.
VIOLATION_POLICIES: dict[str, str] = {
    "power": "NVML_PERF_POLICY_POWER",
    "thermal": "NVML_PERF_POLICY_THERMAL",
    "sync_boost": "NVML_PERF_POLICY_SYNC_BOOST",
    "board_limit": "NVML_PERF_POLICY_BOARD_LIMIT",
    "low_utilization": "NVML_PERF_POLICY_LOW_UTILIZATION",
    "reliability": "NVML_PERF_POLICY_RELIABILITY",
}
# Violation counters whose increase means the case itself was slowed by heat, power or
# hardware protection (sync boost and low utilisation are not the board holding back).
SLOWDOWN_VIOLATIONS: frozenset[str] = frozenset({"power", "thermal", "board_limit", "reliability"})
COMPUTE_MODES: dict[int, str] = {
    0: "default",
    1: "exclusive_thread",
    2: "prohibited",
    3: "exclusive_process",
}
# NVML enum values (nvml.h ABI), so that a fake or old binding without the constants works.
_NVML_CLOCK_GRAPHICS, _NVML_CLOCK_SM, _NVML_CLOCK_MEM, _NVML_TEMPERATURE_GPU = 0, 1, 2, 0


class GpuIdentity(TypedDict):
    """What a machine records of each GPU (results.metadata.MACHINE_KEYS `gpus`)."""

    index: int
    name: str | None
    memory_bytes: int | None
    compute_capability: str | None


class GpuDevice(GpuIdentity):
    """Facts and settings of one GPU that hold for a run (results.metadata.GPU_KEYS)."""

    driver: str | None
    cuda_driver: str | None
    persistence_mode: bool | None
    app_clock_graphics_mhz: int | None
    app_clock_memory_mhz: int | None
    power_limit_w: float | None
    ecc_mode: bool | None
    mig_mode: bool | None
    compute_mode: str | None
    pcie_link_gen: int | None
    pcie_link_width: int | None
    pcie_link_gen_max: int | None
    pcie_link_width_max: int | None


def decode_throttle_reasons(mask: int) -> list[str]:
    """Names of the bits set in an NVML clock-event reason mask (unknown bits as hex)."""
    names = [name for bit, name in THROTTLE_REASONS.items() if mask & bit]
    rest = mask & ~sum(THROTTLE_REASONS)
    if rest:
        names.append(f"unknown_{rest:#x}")
    return names


@contextmanager
def _nvml() -> Iterator[Any | None]:
    """pynvml initialised, or None when the library or the driver is absent."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # no NVML library, no driver, no GPU: all mean "no NVIDIA GPUs"
        yield None
        return
    try:
        yield pynvml
    finally:
        with suppress(Exception):
            pynvml.nvmlShutdown()


def _try(fn: Any, *args: Any) -> Any:
    """One NVML query; None where this GPU or driver does not support it.

    `fn` may be None (a function this pynvml version does not have): that is None too.
    """
    try:
        return fn(*args)
    except Exception:
        return None


def _query(nv: Any, name: str, *args: Any) -> Any:
    """`nv.<name>(*args)` through `_try`; None when the binding lacks the function."""
    return _try(getattr(nv, name, None), *args)


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):  # older nvidia-ml-py returns bytes
        return value.decode(errors="replace")
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _enabled(value: Any) -> bool | None:
    """An NVML enable state (0/1), or the current half of a [current, pending] pair."""
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return bool(value) if isinstance(value, int) else None


def _watts(milliwatts: Any) -> float | None:
    return milliwatts / 1000.0 if isinstance(milliwatts, (int, float)) else None


def gpu_devices() -> list[GpuDevice]:
    """Facts per NVIDIA GPU that hold for a run (identity, driver, settings); [] w/o NVML.

    Per GPU: index, name, memory_bytes, compute_capability, driver, cuda_driver,
    persistence_mode, application clocks (app_clock_graphics_mhz, app_clock_memory_mhz),
    power_limit_w (enforced), ecc_mode and mig_mode (current), compute_mode (name), and the
    PCIe link: pcie_link_gen / pcie_link_width (current; an idle GPU may train down) and
    pcie_link_gen_max / pcie_link_width_max (what device and system allow).
    """
    with _nvml() as nv:
        if nv is None:
            return []
        count = _try(nv.nvmlDeviceGetCount) or 0
        driver = _text(_query(nv, "nvmlSystemGetDriverVersion"))
        cuda = _query(nv, "nvmlSystemGetCudaDriverVersion")
        cuda_text = f"{cuda // 1000}.{cuda % 1000 // 10}" if isinstance(cuda, int) else None
        out: list[GpuDevice] = []
        for index in range(count):
            handle = nv.nvmlDeviceGetHandleByIndex(index)
            memory = _query(nv, "nvmlDeviceGetMemoryInfo", handle)
            cc = _query(nv, "nvmlDeviceGetCudaComputeCapability", handle)
            mode = _int(_query(nv, "nvmlDeviceGetComputeMode", handle))
            out.append(
                {
                    "index": index,
                    "name": _text(_query(nv, "nvmlDeviceGetName", handle)),
                    "memory_bytes": int(memory.total) if memory is not None else None,
                    "compute_capability": f"{cc[0]}.{cc[1]}" if cc else None,
                    "driver": driver,
                    "cuda_driver": cuda_text,
                    "persistence_mode": _enabled(
                        _query(nv, "nvmlDeviceGetPersistenceMode", handle)
                    ),
                    "app_clock_graphics_mhz": _int(
                        _query(nv, "nvmlDeviceGetApplicationsClock", handle, _NVML_CLOCK_GRAPHICS)
                    ),
                    "app_clock_memory_mhz": _int(
                        _query(nv, "nvmlDeviceGetApplicationsClock", handle, _NVML_CLOCK_MEM)
                    ),
                    "power_limit_w": _watts(_query(nv, "nvmlDeviceGetEnforcedPowerLimit", handle)),
                    "ecc_mode": _enabled(_query(nv, "nvmlDeviceGetEccMode", handle)),
                    "mig_mode": _enabled(_query(nv, "nvmlDeviceGetMigMode", handle)),
                    "compute_mode": None if mode is None else COMPUTE_MODES.get(mode, str(mode)),
                    "pcie_link_gen": _int(
                        _query(nv, "nvmlDeviceGetCurrPcieLinkGeneration", handle)
                    ),
                    "pcie_link_width": _int(_query(nv, "nvmlDeviceGetCurrPcieLinkWidth", handle)),
                    "pcie_link_gen_max": _int(
                        _query(nv, "nvmlDeviceGetMaxPcieLinkGeneration", handle)
                    ),
                    "pcie_link_width_max": _int(
                        _query(nv, "nvmlDeviceGetMaxPcieLinkWidth", handle)
                    ),
                }
            )
        return out


def _violations(nv: Any, handle: Any) -> dict[str, int | None]:
    """Throttle-violation time (ns, a counter since driver load) per policy pynvml knows."""
    out: dict[str, int | None] = {}
    for name, constant in VIOLATION_POLICIES.items():
        policy = getattr(nv, constant, None)
        if policy is None:
            continue
        status = _query(nv, "nvmlDeviceGetViolationStatus", handle, policy)
        out[name] = _int(getattr(status, "violationTime", None))
    return out


def gpu_snapshot() -> list[dict[str, Any]] | None:
    """State per GPU now; None without NVML.

    Per GPU: index, sm_clock_mhz, mem_clock_mhz, temperature_c, power_w, utilization_pct,
    throttle_mask and throttle_reasons (the clock-event reasons in force), energy_mj (total
    energy counter, mJ since the driver loaded) and violation_ns (per VIOLATION_POLICIES
    name the pynvml defines: time spent throttled by that policy, ns, a counter). The
    counters make throttling *inside* a case visible: compare two snapshots with
    gpu_counters_delta() / throttled().
    """
    with _nvml() as nv:
        if nv is None:
            return None
        reasons_fn = getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None) or getattr(
            nv, "nvmlDeviceGetCurrentClocksThrottleReasons", None
        )
        out = []
        for index in range(_try(nv.nvmlDeviceGetCount) or 0):
            handle = nv.nvmlDeviceGetHandleByIndex(index)
            mask = _try(reasons_fn, handle) if reasons_fn is not None else None
            util = _query(nv, "nvmlDeviceGetUtilizationRates", handle)
            out.append(
                {
                    "index": index,
                    "sm_clock_mhz": _query(nv, "nvmlDeviceGetClockInfo", handle, _NVML_CLOCK_SM),
                    "mem_clock_mhz": _query(nv, "nvmlDeviceGetClockInfo", handle, _NVML_CLOCK_MEM),
                    "temperature_c": _query(
                        nv, "nvmlDeviceGetTemperature", handle, _NVML_TEMPERATURE_GPU
                    ),
                    "power_w": _watts(_query(nv, "nvmlDeviceGetPowerUsage", handle)),
                    "utilization_pct": util.gpu if util is not None else None,
                    "throttle_mask": mask,
                    "throttle_reasons": decode_throttle_reasons(mask) if mask is not None else [],
                    "energy_mj": _int(_query(nv, "nvmlDeviceGetTotalEnergyConsumption", handle)),
                    "violation_ns": _violations(nv, handle),
                }
            )
        return out


def _increase(before: Any, after: Any) -> int | None:
    """after - before of a counter; None when either is unknown or it went backwards
    (a driver reload resets NVML's counters)."""
    if not isinstance(before, int) or not isinstance(after, int) or after < before:
        return None
    return after - before


def gpu_counters_delta(
    before: Sequence[Mapping[str, Any]] | None, after: Sequence[Mapping[str, Any]] | None
) -> list[dict[str, Any]]:
    """Per GPU (matched on index), what the counters gained between two snapshots.

    Each entry: index, energy_j (joules; None where the energy counter is unsupported) and
    violation_ns ({policy: ns of throttling added}, None per policy where unknown). [] when
    either snapshot is missing.
    """
    if before is None or after is None:
        return []
    earlier = {gpu.get("index"): gpu for gpu in before}
    out = []
    for gpu in after:
        start = earlier.get(gpu.get("index"))
        if start is None:
            continue
        energy = _increase(start.get("energy_mj"), gpu.get("energy_mj"))
        start_v = start.get("violation_ns") or {}
        end_v = gpu.get("violation_ns") or {}
        out.append(
            {
                "index": gpu.get("index"),
                "energy_j": energy / 1000.0 if energy is not None else None,
                "violation_ns": {
                    name: _increase(start_v.get(name), end_v.get(name))
                    for name in sorted(set(start_v) | set(end_v))
                },
            }
        )
    return out


def throttled(
    before: Sequence[Mapping[str, Any]] | None, after: Sequence[Mapping[str, Any]] | None
) -> bool | None:
    """Whether any GPU was held down by heat, power or hardware protection around a case.

    True when either snapshot shows a slowdown reason (SLOWDOWN_REASONS) in force, or when
    a power/thermal/board-limit/reliability violation counter (SLOWDOWN_VIOLATIONS) rose
    between them, which catches throttling during the case that was over by its end.
    None when neither snapshot exists (no NVML: unknown, not "not throttled"). Every GPU
    counts, since NVML indices need not match the case's CUDA index.
    """
    if before is None and after is None:
        return None
    for snapshot in (before, after):
        for gpu in snapshot or ():
            if SLOWDOWN_REASONS.intersection(gpu.get("throttle_reasons") or ()):
                return True
    for delta in gpu_counters_delta(before, after):
        for name, added in delta["violation_ns"].items():
            if name in SLOWDOWN_VIOLATIONS and added:
                return True
    return False
