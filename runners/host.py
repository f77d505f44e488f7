"""This host: what machine it is (`machine_info`: CPU, cores, caches, memory, OS, GPUs) and
the state that may add noise to a run (`system_state`: frequency scaling, SMT, huge pages,
ASLR, a cgroup CPU quota, virtualisation and steal time, load, free memory, GPU settings).

The measuring side captures; results.metadata keeps the key tables (MACHINE_KEYS,
SYSTEM_KEYS) and validates what is stored. Imports no framework and nothing from `results`.
Machine facts come from py-cpuinfo and psutil. Linux facts come from
sysfs/procfs under `root` (a parameter, so tests can hand in a fake tree); each is None
where the file is absent or unreadable (not Linux, a VM without cpufreq, a container).
"""

from __future__ import annotations

import functools
import glob
import hashlib
import os
import platform
import re
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypedDict

from runners.nvml import GpuDevice, GpuIdentity, gpu_devices

HASH_HOSTNAME_ENV = "RESNET_BENCH_HASH_HOSTNAME"
BUSY_LOAD_SHARE = 0.5  # 1-min load average above this share of logical cores -> busy

# ISA extensions that matter for convolution and matmul speed.
ISA_FLAGS: tuple[str, ...] = (
    "sse4_2", "avx", "avx2", "fma", "f16c",
    "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16", "avx512_fp16",
    "avx_vnni", "amx_tile", "amx_bf16", "amx_int8", "amx_fp16",
    "neon", "asimd", "sve", "sve2", "bf16", "i8mm",
)  # fmt: skip
STEAL_INTERVAL_S = 0.2  # between the two CPU-time reads that give the steal share
CGROUP_ROOT = "sys/fs/cgroup"
# DMI strings of hypervisors that may not set the CPUID hypervisor bit for the guest.
VM_DMI_MARKERS: tuple[str, ...] = (
    "qemu", "kvm", "vmware", "virtualbox", "innotek", "xen", "bochs", "parallels",
    "virtual machine", "hvm domu", "cloud hypervisor", "bhyve",
)  # fmt: skip

PathLike = str | os.PathLike[str]


class MachineInfo(TypedDict):
    """This machine, one entry per results.metadata.MACHINE_KEYS (None where unknown)."""

    cpu_model: str | None
    cpu_vendor: str | None
    arch: str | None
    cores_physical: int | None
    cores_logical: int | None
    freq_base_mhz: float | None
    freq_max_mhz: float | None
    l2_cache_bytes: int | None
    l3_cache_bytes: int | None
    isa_flags: list[str] | None
    memory_bytes: int | None
    os: str | None
    kernel: str | None
    hostname: str | None
    hostname_hashed: bool | None
    gpu_count: int | None
    gpu_name: str | None
    gpu_driver: str | None
    gpu_cuda_driver: str | None
    gpus: list[GpuIdentity] | None


class Virtualization(TypedDict):
    virtualized: bool | None
    dmi_sys_vendor: str | None
    dmi_product_name: str | None


class SystemState(Virtualization):
    """What may disturb a run, one entry per results.metadata.SYSTEM_KEYS."""

    cpu_governor: str | None
    cpu_scaling_driver: str | None
    turbo: bool | None
    smt_control: str | None
    smt_active: bool | None
    thp_enabled: str | None
    thp_defrag: str | None
    aslr: int | None
    cgroup_cpu_limit: float | None
    cpu_steal_share: float | None
    load_avg_1m: float | None
    load_avg_5m: float | None
    load_avg_15m: float | None
    cores_logical: int | None
    memory_available_bytes: int | None
    gpus: list[GpuDevice]


def _read(path: Path) -> str | None:
    """A small sysfs/procfs file, stripped; None when absent or unreadable."""
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _joined(values: list[str | None]) -> str | None:
    """Distinct values (one per CPU, say), sorted and comma-joined; None when none."""
    return ",".join(sorted({v for v in values if v})) or None


def _per_cpu(root: Path, name: str) -> str | None:
    paths = glob.glob(str(root / "sys/devices/system/cpu/cpu[0-9]*/cpufreq" / name))
    return _joined([_read(Path(p)) for p in paths])


def _turbo(root: Path) -> bool | None:
    """Turbo/boost allowed: intel_pstate's no_turbo, else cpufreq's global or per-policy
    boost (acpi-cpufreq, amd-pstate)."""
    no_turbo = _read(root / "sys/devices/system/cpu/intel_pstate/no_turbo")
    if no_turbo is not None:
        return no_turbo == "0"
    boost = _read(root / "sys/devices/system/cpu/cpufreq/boost")
    if boost is not None:
        return boost == "1"
    policies = [
        _read(Path(p))
        for p in glob.glob(str(root / "sys/devices/system/cpu/cpufreq/policy*/boost"))
    ]
    known = [b for b in policies if b is not None]
    return any(b == "1" for b in known) if known else None


def _bracketed(text: str | None) -> str | None:
    """The selected value of a sysfs choice list: 'always [madvise] never' -> 'madvise'."""
    if text is None:
        return None
    found = re.search(r"\[([^\]]+)\]", text)
    return found.group(1) if found else (text or None)


def _flag(text: str | None) -> bool | None:
    return {"1": True, "0": False}.get(text or "")


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def parse_cpu_max(text: str | None) -> float | None:
    """cgroup v2 cpu.max ('QUOTA PERIOD') as CPUs: 'max 100000' -> None, '200000 100000'
    -> 2.0; None when unreadable."""
    parts = (text or "").split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    quota, period = _int(parts[0]), _int(parts[1])
    return parse_cfs_quota(quota, period)


def parse_cfs_quota(quota: int | None, period: int | None) -> float | None:
    """cgroup v1 cpu.cfs_quota_us / cpu.cfs_period_us as CPUs; a quota of -1 is no limit."""
    if quota is None or period is None or quota <= 0 or period <= 0:
        return None
    return quota / period


def _own_cgroups(root: Path) -> tuple[str | None, str | None]:
    """This process's cgroup path in the v2 hierarchy and in v1's cpu controller."""
    v2 = v1 = None
    for line in (_read(root / "proc/self/cgroup") or "").splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":
            v2 = path
        elif "cpu" in controllers.split(","):
            v1 = path
    return v2, v1


def _levels(top: Path, path: str | None) -> list[Path]:
    """`top/path` and each of its parents up to `top` (a quota anywhere above applies)."""
    here = top / (path or "/").lstrip("/")
    levels = [here, *[p for p in here.parents if p.is_relative_to(top) and p != top]]
    if top not in levels:
        levels.append(top)
    return levels


def cgroup_cpu_limit(root: PathLike = "/") -> float | None:
    """The CPU quota this process runs under, as a number of CPUs (the tightest level);
    None when there is none or it cannot be read. cgroup v2 `cpu.max`, else v1 CFS."""
    base = Path(root)
    v2_path, v1_path = _own_cgroups(base)
    cgroups = base / CGROUP_ROOT
    limits = [parse_cpu_max(_read(level / "cpu.max")) for level in _levels(cgroups, v2_path)]
    for name in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        top = cgroups / name
        for level in _levels(top, v1_path):
            quota = _int(_read(level / "cpu.cfs_quota_us"))
            period = _int(_read(level / "cpu.cfs_period_us"))
            limits.append(parse_cfs_quota(quota, period))
    found = [limit for limit in limits if limit is not None]
    return min(found) if found else None


def oom_kills(root: PathLike = "/") -> int | None:
    """Processes the kernel's OOM killer has killed in this process's cgroup (v2
    `memory.events` oom_kill, summed over it and its parents); None where unreadable.
    A worker killed by SIGKILL is called out of memory only when this count rose."""
    base = Path(root)
    v2_path, _v1 = _own_cgroups(base)
    total, seen = 0, False
    for level in _levels(base / CGROUP_ROOT, v2_path):
        for line in (_read(level / "memory.events") or "").splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                total += int(value)
                seen = True
    return total if seen else None


def _cpu_flags(root: Path) -> set[str] | None:
    """The first x86 `flags` line of /proc/cpuinfo; None without one (ARM, not Linux)."""
    text = _read(root / "proc/cpuinfo")
    found = re.search(r"^flags\s*:(.*)$", text or "", re.MULTILINE)
    return set(found.group(1).split()) if found else None


def virtualization(root: PathLike = "/") -> Virtualization:
    """virtualized (hypervisor CPUID flag, or DMI naming a hypervisor), dmi_sys_vendor,
    dmi_product_name. virtualized is None when neither source says anything."""
    base = Path(root)
    vendor = _read(base / "sys/class/dmi/id/sys_vendor") or None
    product = _read(base / "sys/class/dmi/id/product_name") or None
    flags = _cpu_flags(base)
    dmi = f"{vendor or ''} {product or ''}".lower()
    virtualized: bool | None
    if (flags is not None and "hypervisor" in flags) or any(m in dmi for m in VM_DMI_MARKERS):
        virtualized = True
    elif flags is not None:
        virtualized = False
    else:
        virtualized = None
    return {"virtualized": virtualized, "dmi_sys_vendor": vendor, "dmi_product_name": product}


def steal_share(interval_s: float = STEAL_INTERVAL_S) -> float | None:
    """Share of CPU time the hypervisor gave to others (steal / total) over `interval_s`;
    None where the OS reports no steal time or no time passed."""
    import psutil

    first = psutil.cpu_times()
    if not hasattr(first, "steal"):
        return None
    time.sleep(interval_s)
    second = psutil.cpu_times()

    def total(t: Any) -> float:
        # Linux counts guest time inside user/nice already (as psutil's cpu_percent does).
        guest = getattr(t, "guest", 0.0) + getattr(t, "guest_nice", 0.0)
        return float(sum(t)) - guest

    elapsed = total(second) - total(first)
    if elapsed <= 0:
        return None
    return max(0.0, second.steal - first.steal) / elapsed


def system_state(
    root: PathLike = "/", *, steal_interval_s: float = STEAL_INTERVAL_S
) -> SystemState:
    """What may disturb a run now, one value per results.metadata.SYSTEM_KEYS entry.

    `root`: where sysfs and procfs are found (a fake tree in tests). Takes about
    `steal_interval_s` (two CPU-time reads for the steal share).
    """
    import psutil

    base = Path(root)
    cpu = base / "sys/devices/system/cpu"
    thp = base / "sys/kernel/mm/transparent_hugepage"
    load1, load5, load15 = psutil.getloadavg()
    virt = virtualization(base)
    return {
        "cpu_governor": _per_cpu(base, "scaling_governor"),
        "cpu_scaling_driver": _per_cpu(base, "scaling_driver"),
        "turbo": _turbo(base),
        "smt_control": _read(cpu / "smt/control") or None,
        "smt_active": _flag(_read(cpu / "smt/active")),
        "thp_enabled": _bracketed(_read(thp / "enabled")),
        "thp_defrag": _bracketed(_read(thp / "defrag")),
        "aslr": _int(_read(base / "proc/sys/kernel/randomize_va_space")),
        "cgroup_cpu_limit": cgroup_cpu_limit(base),
        "virtualized": virt["virtualized"],
        "dmi_sys_vendor": virt["dmi_sys_vendor"],
        "dmi_product_name": virt["dmi_product_name"],
        "cpu_steal_share": steal_share(steal_interval_s),
        "load_avg_1m": load1,
        "load_avg_5m": load5,
        "load_avg_15m": load15,
        "cores_logical": psutil.cpu_count(logical=True),
        "memory_available_bytes": int(psutil.virtual_memory().available),
        "gpus": gpu_devices(),
    }


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


def machine_info(*, hash_hostname: bool | None = None) -> MachineInfo:
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
    first = gpus[0] if gpus else None
    return {
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
        "gpu_count": len(gpus),
        "gpu_name": None if first is None else first["name"],
        "gpu_driver": None if first is None else first["driver"],
        "gpu_cuda_driver": None if first is None else first["cuda_driver"],
        "gpus": [
            {
                "index": g["index"],
                "name": g["name"],
                "memory_bytes": g["memory_bytes"],
                "compute_capability": g["compute_capability"],
            }
            for g in gpus
        ],
    }


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
