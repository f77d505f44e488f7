"""The torch CUDA path with a fake torch.cuda: sync, CUDA graphs, cuDNN/TF32 and OOM records,
without a GPU (CI never has one)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from runners.torch_runner import GRAPH_WARMUP
from vocab.case import Case

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
