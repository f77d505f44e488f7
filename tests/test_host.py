"""runners.host.system_state on a fake sysfs/procfs tree (and psutil's CPU times faked)."""

from __future__ import annotations

import subprocess
import sys
import types
from collections import namedtuple
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from results.metadata import SYSTEM_KEYS, validate
from runners.host import cgroup_cpu_limit, parse_cpu_max, steal_share, system_state, virtualization

# psutil's Linux field order: guest and guest_nice are already inside user and nice.
CpuTimes = namedtuple(
    "CpuTimes",
    "user nice system idle iowait irq softirq steal guest guest_nice",
)
NEW_KEYS = (
    "cpu_scaling_driver", "smt_control", "smt_active", "thp_enabled", "thp_defrag", "aslr",
    "cgroup_cpu_limit", "virtualized", "dmi_sys_vendor", "dmi_product_name", "cpu_steal_share",
)  # fmt: skip


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return root


@pytest.fixture(autouse=True)
def no_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    """No GPUs here: the GPU part is tested with a fake NVML in test_nvml."""
    nv = types.ModuleType("pynvml")

    def fail() -> None:
        raise RuntimeError("NVML Shared Library Not Found")

    nv.nvmlInit = fail  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynvml", nv)


@pytest.fixture
def cpu_times(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two reads: 140 s of CPU time pass (guest excluded), 20 of them stolen."""
    reads: Iterator[Any] = iter(
        [
            CpuTimes(100, 0, 50, 800, 10, 0, 0, 5, 20, 0),
            CpuTimes(130, 0, 60, 880, 10, 0, 0, 25, 30, 0),
        ]
    )
    monkeypatch.setattr(psutil, "cpu_times", lambda: next(reads))


LINUX_TREE = {
    "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor": "performance",
    "sys/devices/system/cpu/cpu1/cpufreq/scaling_governor": "powersave",
    "sys/devices/system/cpu/cpu0/cpufreq/scaling_driver": "intel_pstate",
    "sys/devices/system/cpu/cpu1/cpufreq/scaling_driver": "intel_pstate",
    "sys/devices/system/cpu/intel_pstate/no_turbo": "1",
    "sys/devices/system/cpu/smt/control": "on",
    "sys/devices/system/cpu/smt/active": "1",
    "sys/kernel/mm/transparent_hugepage/enabled": "always [madvise] never",
    "sys/kernel/mm/transparent_hugepage/defrag": "always defer [defer+madvise] madvise never",
    "proc/sys/kernel/randomize_va_space": "2",
    "proc/self/cgroup": "0::/user.slice/job",
    "sys/fs/cgroup/cpu.max": "max 100000",
    "sys/fs/cgroup/user.slice/cpu.max": "300000 100000",
    "sys/fs/cgroup/user.slice/job/cpu.max": "150000 100000",
    "proc/cpuinfo": "processor\t: 0\nflags\t\t: fpu sse4_2 avx2 hypervisor\n",
    "sys/class/dmi/id/sys_vendor": "QEMU",
    "sys/class/dmi/id/product_name": "Standard PC (Q35 + ICH9, 2009)",
}


@pytest.mark.usefixtures("cpu_times")
def test_every_key_is_read_from_the_tree(tmp_path: Path) -> None:
    state = system_state(write(tmp_path, LINUX_TREE), steal_interval_s=0.0)
    validate(state, SYSTEM_KEYS)
    assert {k: state[k] for k in ("cpu_governor", "turbo", *NEW_KEYS, "gpus")} == {
        "cpu_governor": "performance,powersave",
        "cpu_scaling_driver": "intel_pstate",
        "turbo": False,  # no_turbo = 1
        "smt_control": "on",
        "smt_active": True,
        "thp_enabled": "madvise",
        "thp_defrag": "defer+madvise",
        "aslr": 2,
        "cgroup_cpu_limit": 1.5,  # the tightest level on the way up
        "virtualized": True,
        "dmi_sys_vendor": "QEMU",
        "dmi_product_name": "Standard PC (Q35 + ICH9, 2009)",
        "cpu_steal_share": pytest.approx(20 / 140),
        "gpus": [],
    }
    assert state["load_avg_1m"] >= 0 and state["memory_available_bytes"] > 0


# Which keys each file alone gives (cgroup files need /proc/self/cgroup: tested apart).
ONE_FILE_KEYS = {
    "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor": {"cpu_governor"},
    "sys/devices/system/cpu/cpu0/cpufreq/scaling_driver": {"cpu_scaling_driver"},
    "sys/devices/system/cpu/intel_pstate/no_turbo": {"turbo"},
    "sys/devices/system/cpu/smt/control": {"smt_control"},
    "sys/devices/system/cpu/smt/active": {"smt_active"},
    "sys/kernel/mm/transparent_hugepage/enabled": {"thp_enabled"},
    "sys/kernel/mm/transparent_hugepage/defrag": {"thp_defrag"},
    "proc/sys/kernel/randomize_va_space": {"aslr"},
    "proc/cpuinfo": {"virtualized"},
    "sys/class/dmi/id/sys_vendor": {"dmi_sys_vendor", "virtualized"},  # QEMU names a VM
    "sys/class/dmi/id/product_name": {"dmi_product_name"},
}


def test_each_key_is_none_when_its_file_is_absent(tmp_path: Path) -> None:
    tree_keys = ("cpu_governor", "turbo", *NEW_KEYS)
    state = system_state(tmp_path, steal_interval_s=0.0)
    validate(state, SYSTEM_KEYS)
    assert {k for k in tree_keys if state[k] is not None} <= {"cpu_steal_share"}  # psutil's
    for n, (rel, keys) in enumerate(ONE_FILE_KEYS.items()):
        root = write(tmp_path / str(n), {rel: LINUX_TREE[rel]})
        single = system_state(root, steal_interval_s=0.0)
        assert {k for k in tree_keys if single[k] is not None} - {"cpu_steal_share"} == keys


@pytest.mark.parametrize(
    ("text", "cpus"),
    [("max 100000", None), ("200000 100000", 2.0), ("50000 100000", 0.5), ("", None),
     (None, None), ("garbage", None), ("0 100000", None)],
)  # fmt: skip
def test_parse_cpu_max(text: str | None, cpus: float | None) -> None:
    assert parse_cpu_max(text) == cpus


def test_cgroup_v2_at_the_namespace_root(tmp_path: Path) -> None:
    write(tmp_path, {"proc/self/cgroup": "0::/", "sys/fs/cgroup/cpu.max": "200000 100000"})
    assert cgroup_cpu_limit(tmp_path) == 2.0


def test_cgroup_v2_unlimited_is_none(tmp_path: Path) -> None:
    write(tmp_path, {"proc/self/cgroup": "0::/", "sys/fs/cgroup/cpu.max": "max 100000"})
    assert cgroup_cpu_limit(tmp_path) is None


def test_cgroup_v1_cfs_fallback(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "proc/self/cgroup": "4:memory:/x\n3:cpu,cpuacct:/docker/abc\n0::/",
            "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "-1",
            "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000",
            "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "350000",
            "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000",
        },
    )
    assert cgroup_cpu_limit(tmp_path) == 3.5
    write(tmp_path, {"sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "-1"})
    assert cgroup_cpu_limit(tmp_path) is None  # -1: no quota anywhere


def test_turbo_from_cpufreq_boost(tmp_path: Path) -> None:
    write(tmp_path / "a", {"sys/devices/system/cpu/cpufreq/boost": "1"})
    assert system_state(tmp_path / "a", steal_interval_s=0)["turbo"] is True
    write(tmp_path / "b", {"sys/devices/system/cpu/cpufreq/policy0/boost": "0"})
    assert system_state(tmp_path / "b", steal_interval_s=0)["turbo"] is False
    write(tmp_path / "c", {"sys/devices/system/cpu/intel_pstate/no_turbo": "0"})
    assert system_state(tmp_path / "c", steal_interval_s=0)["turbo"] is True


def test_virtualization_sources(tmp_path: Path) -> None:
    bare = write(tmp_path / "bare", {"proc/cpuinfo": "flags\t: fpu avx2"})
    assert virtualization(bare)["virtualized"] is False
    vmware = write(
        tmp_path / "vmware",
        {"proc/cpuinfo": "flags\t: fpu avx2", "sys/class/dmi/id/sys_vendor": "VMware, Inc."},
    )
    assert virtualization(vmware) == {
        "virtualized": True,  # DMI names the hypervisor though CPUID does not
        "dmi_sys_vendor": "VMware, Inc.",
        "dmi_product_name": None,
    }
    arm = write(tmp_path / "arm", {"proc/cpuinfo": "Features\t: fp asimd"})
    assert virtualization(arm)["virtualized"] is None  # no x86 flags line: unknown


@pytest.mark.usefixtures("cpu_times")
def test_steal_share() -> None:
    assert steal_share(0.0) == pytest.approx(20 / 140)


def test_steal_share_none_without_steal_or_time(monkeypatch: pytest.MonkeyPatch) -> None:
    NoSteal = namedtuple("NoSteal", "user system idle")
    monkeypatch.setattr(psutil, "cpu_times", lambda: NoSteal(1.0, 1.0, 1.0))  # macOS-like
    assert steal_share(0.0) is None
    monkeypatch.setattr(psutil, "cpu_times", lambda: CpuTimes(1, 0, 1, 1, 0, 0, 0, 0, 0, 0))
    assert steal_share(0.0) is None  # no time passed


def test_host_and_nvml_import_no_framework_and_no_results() -> None:
    code = (
        "import sys\n"
        "from runners import host, nvml\n"
        "host.system_state(); nvml.gpu_snapshot()\n"
        "bad = {m for m in sys.modules if m.split('.')[0] in ('torch', 'tensorflow', 'results')}\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
