"""Workers in fresh processes: real cases end to end, failures contained, CUDA path faked."""

from __future__ import annotations

import os
import signal
from types import SimpleNamespace
from typing import Any

import pytest

from runners.manager import Outcome, _failure, run_case, spawn, worker_env
from runners.timing import SamplingPolicy
from suite.case import Case

TINY = SamplingPolicy(min_samples=4, min_time_s=0.05, max_time_s=0.5, max_warmup=4)


@pytest.mark.parametrize(
    ("behaviour", "status", "reason"),
    [
        ("sigkill", "oom", "killed by SIGKILL (likely out of memory)"),
        ("segv", "error", "worker died from SIGSEGV"),
        ("exit3", "error", "worker exited with status 3 and no result; last output: "),
    ],
)
def test_a_dying_worker_loses_only_its_case(behaviour: str, status: str, reason: str) -> None:
    case = Case("torch", 50, 1)
    outcome = spawn("tests.fake_worker", {"behaviour": behaviour}, dict(os.environ), 60)
    m = _failure(case, outcome, 60)
    assert (m.status, m.case) == (status, case)
    assert m.reason is not None and reason in m.reason
    assert "fake worker starting" in m.reason


def test_a_hanging_worker_is_killed_at_the_timeout() -> None:
    outcome = spawn("tests.fake_worker", {"behaviour": "hang"}, dict(os.environ), 1.0)
    assert outcome.returncode is None
    m = _failure(Case("torch", 50, 1), outcome, 1.0)
    assert m.status == "timeout" and m.reason == "no result within 1 s; worker killed"


def test_spawn_passes_the_request_and_reads_json_back() -> None:
    outcome = spawn("tests.fake_worker", {"behaviour": "ok", "x": 1}, dict(os.environ), 60)
    assert outcome.returncode == 0
    assert outcome.data == {"echo": {"behaviour": "ok", "x": 1}}


def test_worker_env_sets_threads_for_both_frameworks() -> None:
    env = worker_env(3, 1)
    assert env["OMP_NUM_THREADS"] == env["TF_NUM_INTRAOP_THREADS"] == "3"
    assert env["TF_NUM_INTEROP_THREADS"] == "1"


def test_torch_case_in_two_processes_pools_tagged_samples() -> None:
    case = Case("torch", 50, 1, image_size=32, threads=1)
    m = run_case(case, TINY, timeout_s=300, processes=2)
    assert m.status == "ok", m.reason
    assert set(m.sample_process) == {0, 1} and len(m.samples_ns) >= 8
    assert m.processes == 2 and len(m.details["per_process"]) == 2
    assert (m.threads_intra, m.threads_inter) == (1, 1)
    assert m.warmup_steps >= 2 and m.first_step_ns and m.build_ns
    assert m.sync and m.peak_memory_bytes and m.memory_kind == "rss"
    assert m.gmacs_per_image and m.gmacs_per_image > 0


def test_tensorflow_xla_training_case() -> None:
    case = Case("tensorflow", 50, 2, mode="training", execution="xla", image_size=32, threads=1)
    m = run_case(case, TINY, timeout_s=300)
    assert m.status == "ok", m.reason
    assert m.details["jit_compile"] is True
    assert m.threads_intra == 1 and m.threads_inter == 1
    assert m.sync == "host (output materialised)"


@pytest.mark.parametrize("framework", ["torch", "tensorflow"])
def test_cuda_on_a_machine_without_it_is_skipped_never_run_on_cpu(framework: str) -> None:
    m = run_case(Case(framework, 50, 1, device="cuda", image_size=32), TINY, timeout_s=300)
    assert m.status == "skipped"
    assert m.samples_ns == []
    assert m.reason and ("CUDA" in m.reason or "GPU" in m.reason)


# -- the torch CUDA path with a fake torch.cuda --------------------------------------------


class FakeCuda:
    class OutOfMemoryError(RuntimeError):
        pass

    def __init__(self) -> None:
        self.synced: list[str] = []

    def is_available(self) -> bool:
        return True

    def device_count(self) -> int:
        return 1

    def is_bf16_supported(self) -> bool:
        return False

    def get_device_name(self, _device: Any = None) -> str:
        return "Fake H100"

    def synchronize(self, device: str) -> None:
        self.synced.append(device)

    def reset_peak_memory_stats(self, _device: Any) -> None:
        pass

    def max_memory_allocated(self, _device: Any) -> int:
        return 123


@pytest.fixture
def fake_torch() -> Any:
    import torch

    from runners.torch_runner import TorchRunner

    runner = TorchRunner()
    cuda = FakeCuda()
    backends = SimpleNamespace(
        cudnn=SimpleNamespace(benchmark=False, allow_tf32=True),
        cuda=SimpleNamespace(matmul=SimpleNamespace(allow_tf32=False)),
    )
    runner.torch = SimpleNamespace(  # type: ignore[assignment]
        cuda=cuda, backends=backends, version=torch.version, __version__=torch.__version__
    )
    return runner


def test_fake_cuda_sync_waits_on_the_case_device(fake_torch: Any) -> None:
    fake_torch._case = Case("torch", 50, 1, device="cuda:0")
    fake_torch.sync(object())
    assert fake_torch.torch.cuda.synced == ["cuda:0"]
    assert fake_torch.peak_memory() == (123, "device")


def test_fake_cuda_records_cudnn_benchmark_and_tf32(fake_torch: Any) -> None:
    details = fake_torch._configure_cuda(Case("torch", 50, 1, device="cuda"))
    assert details == {
        "cudnn_benchmark": True,
        "cudnn_allow_tf32": True,
        "matmul_allow_tf32": False,
        "device_name": "Fake H100",
    }


def test_fake_cuda_oom_and_unsupported(fake_torch: Any) -> None:
    assert fake_torch.is_oom(FakeCuda.OutOfMemoryError("CUDA out of memory. Tried to allocate"))
    assert not fake_torch.is_oom(ValueError("shape mismatch"))
    assert fake_torch.unsupported(Case("torch", 50, 1, device="cuda")) is None
    assert "absent" in fake_torch.unsupported(Case("torch", 50, 1, device="cuda:1"))
    assert "bf16" in fake_torch.unsupported(Case("torch", 50, 1, device="cuda", precision="bf16"))


def test_sigkill_constant_matches_platform() -> None:
    assert _failure(Case("torch", 50, 1), Outcome(-signal.SIGKILL, None, ""), 5).status == "oom"
