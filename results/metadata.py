"""What produced a number: the machine and the software environment around a run.

Every key is declared once, in MACHINE_KEYS or ENVIRONMENT_KEYS, with its type, unit and
description (pyperf `_metadata.py` style). Capture, validation, the fingerprints, the
database columns (results.db mirrors these names; a test keeps them in step) and the
README's table (`describe_keys()`) all come from these two tables. What may add noise to
one run or case is declared the same way but not fingerprinted: SYSTEM_KEYS (the run's
`system`, runners.host.system_state), GPU_KEYS (each GPU's facts and settings, in
`system["gpus"]`), GPU_SNAPSHOT_KEYS (NVML state before and after each case) and
GPU_DELTA_KEYS (what the snapshot counters gained over a case).

Capture uses well-kept libraries: py-cpuinfo (model, vendor, caches, ISA flags), psutil
(cores, memory, frequency, load), nvidia-ml-py (GPUs, when NVML loads). The per-run and
per-case capture (system state, NVML) lives on the measuring side, in runners.host and
runners.nvml, and is re-exported here. Framework versions come from `importlib.metadata`:
this module never imports torch or tensorflow; their build info is probed inside a worker
and handed in as `framework_info`.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import socket
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Capture lives on the measuring side (runners.host, runners.nvml); these names are
# re-exported so that callers (and monkeypatching) keep using `results.metadata.<name>`.
from results.redact import redact_env
from runners.host import system_state
from runners.nvml import (
    SLOWDOWN_REASONS,
    SLOWDOWN_VIOLATIONS,
    THROTTLE_REASONS,
    VIOLATION_POLICIES,
    _nvml,
    _try,
    decode_throttle_reasons,
    gpu_counters_delta,
    gpu_devices,
    gpu_snapshot,
    throttled,
)

__all__ = [
    "ENVIRONMENT_KEYS",
    "GPU_DELTA_KEYS",
    "GPU_KEYS",
    "GPU_SNAPSHOT_KEYS",
    "MACHINE_KEYS",
    "SLOWDOWN_REASONS",
    "SLOWDOWN_VIOLATIONS",
    "SYSTEM_KEYS",
    "THROTTLE_REASONS",
    "VIOLATION_POLICIES",
    "Key",
    "MetadataError",
    "_nvml",
    "_try",
    "busy_warning",
    "decode_throttle_reasons",
    "describe_keys",
    "environment_fingerprint",
    "environment_info",
    "fingerprint",
    "git_state",
    "gpu_counters_delta",
    "gpu_devices",
    "gpu_snapshot",
    "machine_fingerprint",
    "machine_info",
    "relevant_env_vars",
    "system_state",
    "throttled",
    "validate",
]

HASH_HOSTNAME_ENV = "RESNET_BENCH_HASH_HOSTNAME"
BUSY_LOAD_SHARE = 0.5  # 1-min load average above this share of logical cores -> busy


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
    Key("torch_version", str, "", "torch distribution version (importlib.metadata)"),
    Key("tensorflow_version", str, "", "TensorFlow distribution version"),
    Key("tensorflow_distribution", str, "", "which TensorFlow distribution: tensorflow-cpu, ..."),
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
ISA_FLAGS: tuple[str, ...] = (
    "sse4_2", "avx", "avx2", "fma", "f16c",
    "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16", "avx512_fp16",
    "avx_vnni", "amx_tile", "amx_bf16", "amx_int8", "amx_fp16",
    "neon", "asimd", "sve", "sve2", "bf16", "i8mm",
)  # fmt: skip

ENV_VAR_NAMES: frozenset[str] = frozenset(
    {"LD_PRELOAD", "NVIDIA_TF32_OVERRIDE", "CUDA_VISIBLE_DEVICES", "OPENBLAS_NUM_THREADS"}
)
ENV_VAR_PREFIXES: tuple[str, ...] = (
    "OMP_", "MKL_", "KMP_", "GOMP_", "DNNL_", "ONEDNN_", "TF_", "XLA_",
    "TORCH_", "TORCHINDUCTOR_", "TORCHDYNAMO_", "PYTORCH_", "CUDA_", "CUDNN_",
)  # fmt: skip
# Terraform shares the TF_ prefix; its variables say nothing about TensorFlow.
_ENV_VAR_EXCLUDED_PREFIXES: tuple[str, ...] = (
    "TF_VAR_", "TF_CLI_", "TF_TOKEN_", "TF_LOG", "TF_WORKSPACE", "TF_DATA_DIR",
    "TF_IN_AUTOMATION", "TF_INPUT", "TF_PLUGIN_CACHE", "TF_REGISTRY_", "TF_IGNORE",
)  # fmt: skip
# Never record what may hold a credential, even under a matching prefix.
_SECRET_MARKERS: tuple[str, ...] = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL")

TENSORFLOW_DISTRIBUTIONS: tuple[str, ...] = (
    "tensorflow", "tensorflow-cpu", "tensorflow-intel", "tensorflow-macos", "tf-nightly",
    "tf-nightly-cpu",
)  # fmt: skip


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
        ("system", SYSTEM_KEYS),
        ("gpu", GPU_KEYS),
        ("gpu_snapshot", GPU_SNAPSHOT_KEYS),
        ("gpu_delta", GPU_DELTA_KEYS),
    )
    for group, keys in groups:
        for k in keys:
            lines.append(f"| {group} | {k.name} | {k.type.__name__} | {k.unit} | {k.description} |")
    return "\n".join(lines)


# --- machine -------------------------------------------------------------------------------


@functools.cache
def _cpuinfo() -> dict[str, Any]:
    # py-cpuinfo takes a fraction of a second (it may spawn a helper); the CPU does not change.
    try:
        import cpuinfo

        info: dict[str, Any] = cpuinfo.get_cpu_info()
        return info
    except Exception:  # a library failure must not stop a benchmark run
        return {}


def _hash_hostname_default() -> bool:
    return os.environ.get(HASH_HOSTNAME_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _os_name() -> str:
    system = platform.system()
    try:
        pretty = platform.freedesktop_os_release().get("PRETTY_NAME")
    except OSError:  # not Linux, or no os-release file
        pretty = None
    if system == "Darwin":
        pretty = f"macOS {platform.mac_ver()[0]}"
    return f"{system} {pretty}" if pretty else system


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def machine_info(*, hash_hostname: bool | None = None) -> dict[str, Any]:
    """This machine, one value per MACHINE_KEYS entry (None where unknown)."""
    import psutil

    cpu = _cpuinfo()
    if hash_hostname is None:
        hash_hostname = _hash_hostname_default()
    hostname = socket.gethostname()
    if hash_hostname:
        hostname = "sha256:" + hashlib.sha256(hostname.encode()).hexdigest()
    freq = psutil.cpu_freq()
    advertised = cpu.get("hz_advertised")
    flags = set(cpu.get("flags") or ())
    gpus = gpu_devices()
    info: dict[str, Any] = {
        "cpu_model": cpu.get("brand_raw") or platform.processor() or None,
        "cpu_vendor": cpu.get("vendor_id_raw") or None,
        "arch": cpu.get("arch_string_raw") or platform.machine() or None,
        "cores_physical": psutil.cpu_count(logical=False),
        "cores_logical": psutil.cpu_count(logical=True),
        "freq_base_mhz": advertised[0] / 1e6 if advertised and advertised[0] else None,
        "freq_max_mhz": float(freq.max) if freq is not None and freq.max > 0 else None,
        "l2_cache_bytes": _int_or_none(cpu.get("l2_cache_size")),
        "l3_cache_bytes": _int_or_none(cpu.get("l3_cache_size")),
        "isa_flags": sorted(f for f in ISA_FLAGS if f in flags),
        "memory_bytes": int(psutil.virtual_memory().total),
        "os": _os_name(),
        "kernel": platform.release() or None,
        "hostname": hostname,
        "hostname_hashed": hash_hostname,
        **_gpu_summary(gpus),
    }
    validate(info, MACHINE_KEYS)
    return info


# --- GPUs through NVML (captured in runners.nvml) ---------------------------------------


def _gpu_summary(gpus: list[dict[str, Any]]) -> dict[str, Any]:
    first = gpus[0] if gpus else {}
    return {
        "gpu_count": len(gpus),
        "gpu_name": first.get("name"),
        "gpu_driver": first.get("driver"),
        "gpu_cuda_driver": first.get("cuda_driver"),
        "gpus": [
            {k: g[k] for k in ("index", "name", "memory_bytes", "compute_capability")} for g in gpus
        ],
    }


# --- environment ---------------------------------------------------------------------------


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _tensorflow() -> tuple[str | None, str | None]:
    for dist in TENSORFLOW_DISTRIBUTIONS:
        version = _version(dist)
        if version is not None:
            return version, dist
    return None, None


def relevant_env_vars(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables that change threading, kernels or devices (ENV_VAR_NAMES/PREFIXES)."""
    env = os.environ if env is None else env
    return redact_env(
        {
            name: value
            for name, value in sorted(env.items())
            if (name in ENV_VAR_NAMES or name.startswith(ENV_VAR_PREFIXES))
            and not name.startswith(_ENV_VAR_EXCLUDED_PREFIXES)
            and not any(marker in name.upper() for marker in _SECRET_MARKERS)
        }
    )


def git_state(path: Path | None = None) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the checkout this package runs from; (None, None) outside one.

    Only when the package sits at the top of that checkout: an installed copy inside some
    other repository (a venv in a repo) must not report that repository's commit. Untracked
    files do not make it dirty.
    """
    root = (path or Path(__file__).resolve().parent.parent).resolve()

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30, check=True
        )
        return done.stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != root:
            return None, None
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no") != ""
    except (OSError, subprocess.SubprocessError):  # no git, not a checkout, no commit yet
        return None, None
    return commit, dirty


def environment_info(
    framework_info: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The software environment, one value per ENVIRONMENT_KEYS entry.

    `framework_info`: per framework, the build info a worker probed (torch.__config__,
    tf.sysconfig.get_build_info(), ...), stored as given. `env`: the environment the
    workers get (default: this process's).
    """
    commit, dirty = git_state()
    tf_version, tf_dist = _tensorflow()
    info: dict[str, Any] = {
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "numpy_version": _version("numpy"),
        "scipy_version": _version("scipy"),
        "pandas_version": _version("pandas"),
        "torch_version": _version("torch"),
        "tensorflow_version": tf_version,
        "tensorflow_distribution": tf_dist,
        "suite_version": _version("resnet-bench"),
        "git_commit": commit,
        "git_dirty": dirty,
        "env_vars": relevant_env_vars(env),
        "framework_info": {name: dict(v) for name, v in (framework_info or {}).items()},
    }
    validate(info, ENVIRONMENT_KEYS)
    return info


# --- state at run start (captured in runners.host) --------------------------------------


def busy_warning(state: Mapping[str, Any], share: float = BUSY_LOAD_SHARE) -> str | None:
    """A one-line warning when the 1-minute load says other work competes for the CPUs."""
    load = state.get("load_avg_1m")
    cores = state.get("cores_logical") or os.cpu_count() or 1
    if load is None or load <= share * cores:
        return None
    return (
        f"machine busy: 1-minute load average {load:.2f} on {cores} logical cores "
        f"(above {share:.0%}); timings may be noisy"
    )
