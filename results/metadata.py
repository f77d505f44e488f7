"""What produced a number: the machine and the software environment around a run.

Every key is declared once, in MACHINE_KEYS or ENVIRONMENT_KEYS, with its type, unit and
description (pyperf `_metadata.py` style). Capture, validation, the fingerprints, the
database columns (results.db mirrors these names; a test keeps them in step) and the
README's table (`describe_keys()`) all come from these two tables. What may add noise to
one run or case is declared the same way but not fingerprinted: SYSTEM_KEYS (the run's
`system`, runners.host.system_state), GPU_KEYS (each GPU's facts and settings, in
`system["gpus"]`), GPU_SNAPSHOT_KEYS (NVML state before and after each case) and
GPU_DELTA_KEYS (what the snapshot counters gained over a case).

This module holds the tables, the validation and the fingerprints. Capture lives on the
measuring side: the machine and its state in runners.host (py-cpuinfo, psutil), GPUs in
runners.nvml (nvidia-ml-py); the software environment in results.environment.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runners.host import HASH_HOSTNAME_ENV
from vocab.runtimes import RUNTIMES


class MetadataError(ValueError):
    """Metadata that does not match its key table (unknown key, missing key, wrong type)."""


@dataclass(frozen=True)
class Key:
    name: str
    type: type  # values are this type or None (unknown on this machine)
    unit: str  # "" when the value has none
    description: str
    fingerprint: bool = True  # part of the identity hash


MACHINE_KEYS: tuple[Key, ...] = (
    Key("cpu_model", str, "", "CPU brand string (py-cpuinfo brand_raw)"),
    Key("cpu_vendor", str, "", "CPU vendor id, e.g. GenuineIntel, AuthenticAMD"),
    Key("arch", str, "", "machine architecture, e.g. x86_64, aarch64"),
    Key("cores_physical", int, "cores", "physical cores (psutil)"),
    Key("cores_logical", int, "cores", "logical CPUs, hyper-threads included (psutil)"),
    Key("freq_base_mhz", float, "MHz", "advertised base frequency (py-cpuinfo)"),
    Key("freq_max_mhz", float, "MHz", "maximum frequency from cpufreq (psutil); None in many VMs"),
    Key("l2_cache_bytes", int, "bytes", "L2 cache size as py-cpuinfo reports it"),
    Key("l3_cache_bytes", int, "bytes", "L3 cache size as py-cpuinfo reports it"),
    Key("isa_flags", list, "", "the ISA_FLAGS this CPU has, sorted (py-cpuinfo flags)"),
    Key("memory_bytes", int, "bytes", "total physical memory (psutil)"),
    Key("os", str, "", "operating system and distribution, e.g. 'Linux Debian GNU/Linux 12'"),
    Key("kernel", str, "", "kernel release (platform.release)"),
    Key("hostname", str, "", "host name, or 'sha256:<hex>' of it when hashed"),
    Key("hostname_hashed", bool, "", f"hostname is a hash (set {HASH_HOSTNAME_ENV}=1)"),
    Key("gpu_count", int, "GPUs", "NVIDIA GPUs NVML sees (0 without NVML)"),
    Key("gpu_name", str, "", "name of the first GPU; None without one"),
    Key("gpu_driver", str, "", "NVIDIA driver version"),
    Key("gpu_cuda_driver", str, "", "CUDA version the driver supports, e.g. '12.4'"),
    Key("gpus", list, "", "per GPU: index, name, memory_bytes, compute_capability"),
)

ENVIRONMENT_KEYS: tuple[Key, ...] = (
    Key("python_version", str, "", "Python version, e.g. 3.11.7"),
    Key("python_implementation", str, "", "CPython, PyPy, ..."),
    Key("numpy_version", str, "", "numpy distribution version"),
    Key("scipy_version", str, "", "scipy distribution version"),
    Key("pandas_version", str, "", "pandas distribution version"),
    Key("versions", dict, "", "runtime versions and distributions: VERSION_KEYS, a row each"),
    Key("suite_version", str, "", "resnet-bench version"),
    Key("git_commit", str, "", "commit of the resnet-bench checkout; None outside git"),
    Key("git_dirty", bool, "", "tracked files differ from the commit"),
    Key("env_vars", dict, "", "environment variables that change performance (ENV_VAR_*)"),
    Key(
        "framework_info",
        dict,
        "",
        "per framework: build info probed in a worker (CUDA, cuDNN, oneDNN/MKL, XLA, ...)",
    ),
)


def _version_keys() -> tuple[Key, ...]:
    keys: list[Key] = []
    for r in RUNTIMES.values():
        for v in r.versions:
            keys.append(Key(f"{v.key}_version", str, "", f"{v.key} version ({r.title})"))
            if len(v.distributions) > 1:
                which = ", ".join(v.distributions)
                keys.append(Key(f"{v.key}_distribution", str, "", f"which of {which}"))
    return tuple(keys)


# The environment's `versions`: one key/value row each (table environment_version), named
# by the runtime records (vocab.runtimes), so a new runtime needs no column. Keys a release
# no longer knows still load and show; new values must be known keys.
VERSION_KEYS: tuple[Key, ...] = _version_keys()

# Per run (the run's `system`): what may disturb it; None where unknown or not Linux.
SYSTEM_KEYS: tuple[Key, ...] = (
    Key("cpu_governor", str, "", "cpufreq scaling governor(s) of the CPUs, comma-joined"),
    Key("cpu_scaling_driver", str, "", "cpufreq scaling driver(s), e.g. intel_pstate"),
    Key("turbo", bool, "", "turbo/boost allowed (intel_pstate no_turbo or cpufreq boost)"),
    Key("smt_control", str, "", "SMT control: on, off, forceoff, notsupported, ..."),
    Key("smt_active", bool, "", "SMT (hyper-threading) siblings are active"),
    Key("thp_enabled", str, "", "transparent huge pages mode: always, madvise, never"),
    Key("thp_defrag", str, "", "transparent huge pages defrag mode"),
    Key("aslr", int, "", "ASLR level (randomize_va_space: 0 off, 1, 2 full)"),
    Key("cgroup_cpu_limit", float, "CPUs", "cgroup CPU quota (v2 cpu.max, v1 CFS); None: none"),
    Key("virtualized", bool, "", "running under a hypervisor (CPUID hypervisor flag or DMI)"),
    Key("dmi_sys_vendor", str, "", "DMI system vendor, e.g. QEMU, Dell Inc."),
    Key("dmi_product_name", str, "", "DMI product name"),
    Key("cpu_steal_share", float, "share", "CPU time stolen by the hypervisor, over 0.2 s"),
    Key("load_avg_1m", float, "", "1-minute load average"),
    Key("load_avg_5m", float, "", "5-minute load average"),
    Key("load_avg_15m", float, "", "15-minute load average"),
    Key("cores_logical", int, "cores", "logical CPUs (psutil)"),
    Key("memory_available_bytes", int, "bytes", "memory available without swapping (psutil)"),
    Key("gpus", list, "", "per GPU: the GPU_KEYS facts and settings ([] without NVML)"),
)

# Per GPU, as runners.nvml.gpu_devices() gives it (the run's system["gpus"]).
GPU_KEYS: tuple[Key, ...] = (
    Key("index", int, "", "NVML index"),
    Key("name", str, "", "GPU name"),
    Key("memory_bytes", int, "bytes", "total device memory"),
    Key("compute_capability", str, "", "CUDA compute capability, e.g. '9.0'"),
    Key("driver", str, "", "NVIDIA driver version"),
    Key("cuda_driver", str, "", "CUDA version the driver supports"),
    Key("persistence_mode", bool, "", "persistence mode on"),
    Key("app_clock_graphics_mhz", int, "MHz", "application clock, graphics"),
    Key("app_clock_memory_mhz", int, "MHz", "application clock, memory"),
    Key("power_limit_w", float, "W", "enforced power limit"),
    Key("ecc_mode", bool, "", "ECC on (current mode)"),
    Key("mig_mode", bool, "", "MIG on (current mode)"),
    Key("compute_mode", str, "", "default, exclusive_process, prohibited, ..."),
    Key("pcie_link_gen", int, "", "PCIe link generation now (an idle GPU may train down)"),
    Key("pcie_link_width", int, "lanes", "PCIe link width now"),
    Key("pcie_link_gen_max", int, "", "highest PCIe generation device and system allow"),
    Key("pcie_link_width_max", int, "lanes", "widest PCIe link device and system allow"),
)

# Per GPU in each snapshot taken before and after a case (runners.nvml.gpu_snapshot()).
GPU_SNAPSHOT_KEYS: tuple[Key, ...] = (
    Key("index", int, "", "NVML index"),
    Key("sm_clock_mhz", int, "MHz", "SM clock"),
    Key("mem_clock_mhz", int, "MHz", "memory clock"),
    Key("temperature_c", int, "°C", "GPU temperature"),
    Key("power_w", float, "W", "power draw"),
    Key("utilization_pct", int, "%", "GPU utilisation over NVML's last sample period"),
    Key("throttle_mask", int, "", "NVML clock-event reason bits in force"),
    Key("throttle_reasons", list, "", "names of those bits (THROTTLE_REASONS)"),
    Key("energy_mj", int, "mJ", "total energy counter since the driver loaded"),
    Key(
        "violation_ns",
        dict,
        "ns",
        "per policy (power, thermal, sync_boost, board_limit, low_utilization, reliability): "
        "time throttled by it, a counter",
    ),
)

# Per GPU, what a case added to the snapshot counters (runners.nvml.gpu_counters_delta()).
GPU_DELTA_KEYS: tuple[Key, ...] = (
    Key("index", int, "", "NVML index"),
    Key("energy_j", float, "J", "energy used over the case; None if unsupported"),
    Key("violation_ns", dict, "ns", "per policy: throttled time added over the case"),
)

# ISA extensions that matter for convolution and matmul speed.
# --- validation and identity -------------------------------------------------------------


def validate(info: Mapping[str, Any], keys: Sequence[Key]) -> None:
    """Raise MetadataError unless `info` has exactly these keys, each of its type or None."""
    names = {k.name for k in keys}
    unknown = sorted(set(info) - names)
    if unknown:
        raise MetadataError(f"unknown metadata key(s) {', '.join(unknown)}")
    missing = sorted(names - set(info))
    if missing:
        raise MetadataError(f"missing metadata key(s) {', '.join(missing)}")
    for key in keys:
        value = info[key.name]
        if value is None:
            continue
        ok = isinstance(value, key.type)
        if key.type is int:
            ok = ok and not isinstance(value, bool)
        elif key.type is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok:
            raise MetadataError(
                f"metadata {key.name}={value!r} should be {key.type.__name__} or None"
            )


def validate_versions(versions: Mapping[str, Any]) -> None:
    """Raise MetadataError unless every version is a known VERSION_KEYS key with a str."""
    validate({**dict.fromkeys(k.name for k in VERSION_KEYS), **versions}, VERSION_KEYS)


def fingerprint(info: Mapping[str, Any], keys: Sequence[Key]) -> str:
    """SHA-256 of the fingerprint keys, as canonical JSON (stable across processes)."""
    stable = {k.name: info.get(k.name) for k in keys if k.fingerprint}
    blob = json.dumps(stable, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def machine_fingerprint(info: Mapping[str, Any]) -> str:
    return fingerprint(info, MACHINE_KEYS)


def environment_fingerprint(info: Mapping[str, Any]) -> str:
    return fingerprint(info, ENVIRONMENT_KEYS)


def describe_keys() -> str:
    """The key tables as Markdown, for the README: machine and environment (fingerprinted,
    one database column each), then the per-run system state and the per-GPU tables."""
    lines = ["| group | key | type | unit | description |", "|---|---|---|---|---|"]
    groups = (
        ("machine", MACHINE_KEYS),
        ("environment", ENVIRONMENT_KEYS),
        ("version", VERSION_KEYS),
        ("system", SYSTEM_KEYS),
        ("gpu", GPU_KEYS),
        ("gpu_snapshot", GPU_SNAPSHOT_KEYS),
        ("gpu_delta", GPU_DELTA_KEYS),
    )
    for group, keys in groups:
        for k in keys:
            lines.append(f"| {group} | {k.name} | {k.type.__name__} | {k.unit} | {k.description} |")
    return "\n".join(lines)
