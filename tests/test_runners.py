"""Workers in fresh processes: real cases end to end, failures contained, CUDA path faked."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from runners.manager import Outcome, _failure, run_case, run_round, spawn, worker_env
from runners.measurement import Measurement
from runners.timing import SamplingPolicy
from runners.torch_runner import GRAPH_WARMUP
from suite.case import FRAMEWORKS, Case
from tests.support.frameworks import framework_param

TINY = SamplingPolicy(min_samples=4, min_time_s=0.05, max_time_s=0.5, max_warmup=4)


@pytest.mark.parametrize(
    ("behaviour", "status", "reason"),
    [
        ("sigkill", "killed", "worker killed by SIGKILL"),
        ("segv", "error", "worker died from SIGSEGV"),
        ("exit3", "error", "worker exited with status 3 and no result; last output: "),
    ],
)
def test_a_dying_worker_loses_only_its_case(behaviour: str, status: str, reason: str) -> None:
    case = Case("torch", 50, 1)
    outcome = spawn("tests.support.fake_worker", {"behaviour": behaviour}, dict(os.environ), 60)
    m = _failure(case, outcome, 60)
    assert (m.status, m.case) == (status, case)
    assert m.reason is not None and reason in m.reason
    assert "fake worker starting" in m.reason


@pytest.mark.slow
def test_a_hanging_worker_is_killed_at_the_timeout() -> None:
    outcome = spawn("tests.support.fake_worker", {"behaviour": "hang"}, dict(os.environ), 1.0)
    assert outcome.returncode is None
    m = _failure(Case("torch", 50, 1), outcome, 1.0)
    assert m.status == "timeout" and m.reason == "no result within 1 s; worker killed"


def test_spawn_passes_the_request_and_reads_json_back() -> None:
    outcome = spawn("tests.support.fake_worker", {"behaviour": "ok", "x": 1}, dict(os.environ), 60)
    assert outcome.returncode == 0
    assert outcome.data == {"echo": {"behaviour": "ok", "x": 1}}


def test_worker_env_sets_threads_for_every_framework() -> None:
    env = worker_env(3, 1)
    assert env["OMP_NUM_THREADS"] == env["TF_NUM_INTRAOP_THREADS"] == env["NPROC"] == "3"
    assert env["TF_NUM_INTEROP_THREADS"] == "1"


def _round(batches: list[int], timeout_s: float = 60.0) -> list[Any]:
    cases = [Case("torch", 50, b, image_size=32, threads=1) for b in batches]
    return run_round(
        cases, TINY, 4, [7] * len(cases), timeout_s, module="tests.support.fake_round_worker"
    )


def test_a_worker_crash_mid_round_loses_only_the_case_in_flight() -> None:
    ms = _round([1, 3, 2, 6])  # batch 3 kills its worker
    assert [m.case.batch_size for m in ms] == [1, 3, 2, 6]
    assert [m.status for m in ms] == ["ok", "killed", "ok", "ok"]
    assert "fake round worker starting" in (ms[1].reason or "")
    # The cases after the crash ran in a second worker, and every case knows its round.
    assert ms[0].process_records[0].pid != ms[2].process_records[0].pid
    assert all(m.process_records[0].round == 4 for m in ms)
    assert all(m.process_records[0].index == 7 for m in ms)


@pytest.mark.slow
def test_a_hang_times_out_only_its_own_case() -> None:
    ms = _round([1, 4, 2], timeout_s=3.0)
    assert [m.status for m in ms] == ["ok", "timeout", "ok"]
    assert ms[1].reason == "no result within 3 s; worker killed"


def test_a_worker_exiting_without_a_result() -> None:
    ms = _round([5, 1])
    assert ms[0].status == "error" and "exited with status 3" in (ms[0].reason or "")
    assert ms[1].status == "ok"


def test_one_worker_refuses_mixed_frameworks() -> None:
    with pytest.raises(ValueError, match="one framework"):
        run_round([Case("torch", 50, 1), Case("tensorflow", 50, 1)], TINY, 0, [0, 0])


@pytest.mark.slow
@pytest.mark.torch
def test_torch_cases_in_one_worker_and_in_two_processes() -> None:
    a = Case("torch", 50, 1, image_size=32, threads=1)
    b = Case("torch", 50, 2, image_size=32, threads=1)
    first = run_round([a, b], TINY, 0, [0, 0], timeout_s=300)
    assert [m.status for m in first] == ["ok", "ok"], [m.reason for m in first]
    ra, rb = first[0].process_records[0], first[1].process_records[0]
    assert ra.pid == rb.pid and (ra.position, rb.position) == (0, 1)
    assert ra.startup_ns and ra.startup_ns > 0 and ra.build_ns and rb.build_ns
    assert rb.started_ns and ra.started_ns and rb.started_ns > ra.started_ns
    assert len(first[0].sample_start_ns) == len(first[0].samples_ns)
    case = a
    m = run_case(case, TINY, timeout_s=300, processes=2)
    assert m.status == "ok", m.reason
    assert set(m.sample_process) == {0, 1} and len(m.samples_ns) >= 8
    assert m.processes == 2 and [p.round for p in m.process_records] == [0, 1]
    assert len(m.process_values_s()) == 2
    assert (m.threads_intra, m.threads_inter) == (1, 1)
    assert m.warmup_steps >= 2 and m.first_step_ns and m.build_ns
    assert m.sync and m.peak_memory_bytes and m.memory_kind == "rss"
    assert m.gmacs_per_image and m.gmacs_per_image > 0
    assert m.pipeline_steps is None and m.pipelined_s() is None  # CPU steps end in the step
    # numerics switches in force in the worker: torch's defaults
    assert m.details["flush_denormal"] is False
    assert m.details["float32_matmul_precision"] == "highest"
    assert m.details["matmul_allow_tf32"] is False


@pytest.mark.slow
@pytest.mark.tensorflow
def test_tensorflow_xla_training_case() -> None:
    case = Case("tensorflow", 50, 2, mode="training", execution="xla", image_size=32, threads=1)
    m = run_case(case, TINY, timeout_s=300)
    assert m.status == "ok", m.reason
    assert m.details["jit_compile"] is True
    assert m.details["tensor_float_32_execution"] is True  # TensorFlow's default
    assert m.threads_intra == 1 and m.threads_inter == 1
    assert m.sync == "host (output materialised)"


@pytest.mark.slow
@pytest.mark.parametrize("framework", [framework_param(f) for f in FRAMEWORKS])
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
        self.log: list[str] = []
        self.graphs: list[Any] = []

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

    # CUDA graphs: streams and a graph that log what happens where
    class Stream:
        def __init__(self, device: Any = None) -> None:
            self.name = "side"

        def wait_stream(self, other: Any) -> None:
            pass

    def current_stream(self, device: Any = None) -> Any:
        stream = FakeCuda.Stream()
        stream.name = "main"
        return stream

    @contextlib.contextmanager
    def stream(self, stream: Any) -> Iterator[None]:
        self.log.append(f"enter {stream.name}")
        yield
        self.log.append(f"leave {stream.name}")

    class CUDAGraph:
        def __init__(self) -> None:
            self.replays = 0

        def replay(self) -> None:
            self.replays += 1

    @contextlib.contextmanager
    def graph(self, graph: Any) -> Iterator[None]:
        self.log.append("capture")
        yield
        self.log.append("captured")
        self.graphs.append(graph)


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


@pytest.mark.torch
def test_fake_cuda_sync_waits_on_the_case_device(fake_torch: Any) -> None:
    fake_torch._case = Case("torch", 50, 1, device="cuda:0")
    fake_torch.sync(object())
    assert fake_torch.torch.cuda.synced == ["cuda:0"]
    assert fake_torch.peak_memory() == (123, "device")


@pytest.mark.torch
def test_cudagraph_warms_up_on_a_side_stream_then_captures_the_whole_step(
    fake_torch: Any,
) -> None:
    cuda = fake_torch.torch.cuda
    outputs = iter(range(100))

    def step() -> int:
        cuda.log.append("step")
        return next(outputs)

    replay = fake_torch._capture(step, "cuda")
    warmup = ["step"] * GRAPH_WARMUP
    assert cuda.log == ["enter side", *warmup, "leave side", "capture", "step", "captured"]
    [graph] = cuda.graphs
    # a replay launches the graph, not the step, and returns the captured (static) output
    assert [replay(), replay()] == [GRAPH_WARMUP, GRAPH_WARMUP]
    assert graph.replays == 2 and cuda.log.count("step") == GRAPH_WARMUP + 1


@pytest.mark.torch
def test_cudagraph_needs_cuda_and_refuses_fp16_training(fake_torch: Any) -> None:
    from runners.torch_runner import TorchRunner

    cpu = TorchRunner().unsupported(Case("torch", 50, 1, execution="cudagraph"))
    assert cpu is not None and cpu.startswith("cudagraph needs a CUDA device")
    fp16 = Case("torch", 50, 2, "cuda", "training", "fp16", "cudagraph")
    reason = fake_torch.unsupported(fp16)
    assert reason is not None and "GradScaler" in reason
    assert fake_torch.unsupported(dataclasses.replace(fp16, mode="inference")) is None


@pytest.mark.torch
def test_fake_cuda_records_cudnn_benchmark_and_tf32(fake_torch: Any) -> None:
    details = fake_torch._configure_cuda(Case("torch", 50, 1, device="cuda"))
    assert details == {
        "cudnn_benchmark": True,
        "cudnn_allow_tf32": True,
        "matmul_allow_tf32": False,
        "device_name": "Fake H100",
    }


@pytest.mark.torch
def test_torch_details_record_flush_denormal_and_tf32() -> None:
    import torch

    from runners.torch_runner import TorchRunner

    runner = TorchRunner()
    runner._details = {"channels_last": True}
    details = runner.details()
    assert details["flush_denormal"] is False and details["channels_last"] is True
    assert details["cudnn_allow_tf32"] is bool(torch.backends.cudnn.allow_tf32)
    if not torch.set_flush_denormal(True):
        pytest.skip("this CPU cannot flush denormals")
    try:
        assert runner.details()["flush_denormal"] is True
    finally:
        torch.set_flush_denormal(False)
    precision = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        assert runner.details()["float32_matmul_precision"] == "high"
    finally:
        torch.set_float32_matmul_precision(precision)


def test_tf_details_record_tf32() -> None:
    from runners.tf_runner import TFRunner

    runner = TFRunner.__new__(TFRunner)  # no TensorFlow in this process: a fake tf.config
    experimental = SimpleNamespace(tensor_float_32_execution_enabled=lambda: False)
    runner.tf = SimpleNamespace(config=SimpleNamespace(experimental=experimental))
    runner._details = {"jit_compile": False}
    assert runner.details() == {"tensor_float_32_execution": False, "jit_compile": False}
    runner.tf = SimpleNamespace(config=SimpleNamespace(experimental=SimpleNamespace()))
    assert runner.details()["tensor_float_32_execution"] is None  # no getter: unknown


@pytest.mark.torch
def test_fake_cuda_oom_and_unsupported(fake_torch: Any) -> None:
    assert fake_torch.is_oom(FakeCuda.OutOfMemoryError("CUDA out of memory. Tried to allocate"))
    assert not fake_torch.is_oom(ValueError("shape mismatch"))
    assert fake_torch.unsupported(Case("torch", 50, 1, device="cuda")) is None
    assert "absent" in fake_torch.unsupported(Case("torch", 50, 1, device="cuda:1"))
    assert "bf16" in fake_torch.unsupported(Case("torch", 50, 1, device="cuda", precision="bf16"))


def test_signals_name_what_ended_the_worker() -> None:
    case = Case("torch", 50, 1)
    assert _failure(case, Outcome(-signal.SIGKILL, None, ""), 5).status == "killed"
    assert _failure(case, Outcome(-signal.SIGTERM, None, ""), 5).status == "killed"
    assert _failure(case, Outcome(-signal.SIGABRT, None, ""), 5).status == "error"


# -- the worker around one case, with a fake runner and fake NVML --------------------------


class FakeRunner:
    """Steps of 1 ms on a fake device; records what the worker asked of it."""

    name = "fake"
    sync_method = "fake sync"

    def __init__(self) -> None:
        self.built: list[Case] = []

    def version(self) -> str:
        return "0.0"

    def unsupported(self, case: Case) -> str | None:
        return None

    def build(self, case: Case) -> None:
        self.built.append(case)

    def step(self) -> int:
        return 1

    def sync(self, _output: Any) -> None:
        pass

    def details(self) -> dict[str, Any]:
        return {"fake": True}

    def peak_memory(self) -> tuple[int, str] | None:
        return 42, "device"

    def is_oom(self, exc: BaseException) -> bool:
        return False


def test_the_worker_reads_gpu_counters_around_each_case(monkeypatch: pytest.MonkeyPatch) -> None:
    import runners.nvml as nvml
    from runners.measurement import ProcessRecord
    from runners.worker import measure

    snapshots = iter(
        [
            [{"index": 0, "throttle_reasons": [], "violation_ns": {"thermal": 0}}],
            [{"index": 0, "throttle_reasons": [], "violation_ns": {"thermal": 5_000}}],
        ]
    )
    monkeypatch.setattr(nvml, "gpu_snapshot", lambda: next(snapshots))
    runner = FakeRunner()
    case = Case("torch", 50, 1, device="cuda")
    record = ProcessRecord(index=2, round=3)
    m = measure(runner, case, TINY, record, (4, 1))  # type: ignore[arg-type]
    assert m.status == "ok" and runner.built == [case]
    assert m.gpu_before == {
        "gpus": [{"index": 0, "throttle_reasons": [], "violation_ns": {"thermal": 0}}]
    }
    # No throttle reason at either edge, but the thermal violation counter rose inside.
    assert m.throttled is True and record.throttled is True
    assert (m.threads_intra, m.threads_inter) == (4, 1)
    assert m.sample_process == [2] * len(m.samples_ns)
    assert record.warmup_steps >= TINY.min_warmup and record.measured_ns == sum(m.samples_ns)
    assert m.peak_memory_bytes == record.peak_memory_bytes == 42


def test_the_worker_takes_no_gpu_snapshot_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import runners.nvml as nvml
    from runners.measurement import ProcessRecord
    from runners.worker import measure

    def boom() -> None:
        raise AssertionError("NVML read for a CPU case")

    monkeypatch.setattr(nvml, "gpu_snapshot", boom)
    m = measure(FakeRunner(), Case("torch", 50, 1), TINY, ProcessRecord(0, 0), (1, 1))  # type: ignore[arg-type]
    assert m.status == "ok" and m.gpu_before is None and m.throttled is None


@pytest.mark.slow  # a child process imports torch and its compiler (seconds)
@pytest.mark.torch
def test_torch_prepare_moves_the_dynamo_import_out_of_the_first_training_build() -> None:
    """torch.optim's constructors import torch._dynamo on first use (seconds): a worker
    with training cases imports it at start-up, so no case's build pays it."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from runners.torch_runner import TorchRunner\n"
        "from suite.case import Case\n"
        "r = TorchRunner()\n"
        "r.prepare([Case('torch', 50, 1)])\n"
        "assert 'torch._dynamo' not in sys.modules\n"
        "r.prepare([Case('torch', 50, 1), Case('torch', 50, 2, mode='training')])\n"
        "assert 'torch._dynamo' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_worker_without_the_framework_skips_its_cases_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from runners.worker import run_round as worker_round
    from suite.runtimes import RUNTIMES

    absent = dataclasses.replace(
        RUNTIMES["tensorflow"], runner="no_such_runner_module:Runner", package="no_such_package"
    )
    monkeypatch.setitem(RUNTIMES, "tensorflow", absent)
    events: list[dict[str, Any]] = []
    cases = [Case("tensorflow", 50, b, image_size=32, threads=1).to_dict() for b in (1, 2)]
    worker_round({"cases": cases}, events.append)
    done = [Measurement.from_dict(e["measurement"]) for e in events if e["event"] == "done"]
    assert [(m.status, m.reason) for m in done] == [
        ("skipped", "tensorflow is not installed: pip install 'resnet-bench[tensorflow]'")
    ] * 2
