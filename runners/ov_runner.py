"""The x86 CPU inference runtime whose builder is networks.ov_resnet (which alone imports
the library): the cached ONNX export, read and compiled for the CPU plugin.

Executions:
- `latency`: one infer request, `infer()` synchronous: one step is one image batch end to
  end (PERFORMANCE_HINT LATENCY).
- `throughput`: PERFORMANCE_HINT THROUGHPUT, an AsyncInferQueue of the plugin's optimal
  number of requests; a step starts one request, a sync waits for all. Like a CUDA case it
  is timed both ways: per step with a sync (one request's latency), and pipelined, k
  starts then one wait (the throughput of the streams).

INFERENCE_NUM_THREADS is the case's threads and INFERENCE_PRECISION_HINT its precision
(f32 or bf16); both are read back from the compiled model and recorded, with the streams
and requests. Training and GPUs are the record's skips; bf16 needs the CPU's BF16
capability.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from runners.base import peak_rss_bytes
from runners.ort_runner import export_model, process_threads
from vocab.case import Case
from vocab.jsonfields import JSONValue

HINTS = {"latency": "LATENCY", "throughput": "THROUGHPUT"}


class OvRunner:
    def __init__(self) -> None:
        from networks import ov_resnet

        self.models = ov_resnet
        self.name: str = ov_resnet.FRAMEWORK
        self.sync_method = "host (infer returns when the request is done)"
        self._threads = (0, 1)
        self._step: Callable[[], Any] | None = None
        self._sync: Callable[[Any], None] = lambda _out: None
        self._details: dict[str, JSONValue] = {}
        self.compiled: Any = None  # the built case's compiled model

    def version(self) -> str:
        return self.models.version()

    def _capabilities(self) -> list[str]:
        caps = self.models.core().get_property(self.models.CPU, "OPTIMIZATION_CAPABILITIES")
        return [str(c) for c in caps]

    def unsupported(self, case: Case) -> str | None:
        # training, GPUs and fp16 are the record's skips (vocab.runtimes)
        if case.precision == "bf16" and "BF16" not in self._capabilities():
            return f"bf16: this CPU has no BF16 capability ({', '.join(self._capabilities())})"
        return None

    def info(self) -> dict[str, JSONValue]:
        core = self.models.core()
        return {
            "version": self.version(),
            "devices": list(core.available_devices),
            "cpu": str(core.get_property(self.models.CPU, "FULL_DEVICE_NAME")),
            "capabilities": self._capabilities(),
        }

    def details(self) -> dict[str, JSONValue]:
        return dict(self._details)

    def prepare(self, cases: Sequence[Case]) -> None:
        return None  # the library loaded in __init__; a missing export is made in build()

    def set_threads(self, intra: int, inter: int) -> tuple[int, int]:
        # Per compiled model: build() passes INFERENCE_NUM_THREADS and records it read back.
        self._threads = (intra, inter)
        return intra, inter

    def _config(self, case: Case) -> dict[str, Any]:
        return {
            "INFERENCE_NUM_THREADS": case.threads,
            "INFERENCE_PRECISION_HINT": self.models.PRECISIONS[case.precision],
            "PERFORMANCE_HINT": HINTS[case.execution],
        }

    def matmul_gflops(self, device: str, precision: str) -> float | None:
        return None  # the ceiling is measured by the first framework probed (torch)

    def build(self, case: Case) -> None:
        import numpy as np

        path, exported_now = export_model(case)
        model = self.models.read(path)
        shape = [case.batch_size, 3, case.image_size, case.image_size]
        model.reshape(shape)  # static shapes: the plugin plans every layer once
        before = process_threads()
        compiled = self.models.compile_model(model, self._config(case))
        x = np.random.default_rng(0).random(shape, dtype=np.float32)
        if case.execution == "latency":
            request = compiled.create_infer_request()
            request.set_input_tensor(self.models.Tensor(x))

            def step() -> Any:
                request.infer()
                return request

            self._sync = lambda _out: None
            self.sync_method = "host (infer returns when the request is done)"
            requests = 1
        else:
            requests = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
            queue = self.models.AsyncInferQueue(compiled, requests)
            tensor = self.models.Tensor(x)

            def step() -> Any:
                queue.start_async({0: tensor})  # waits only while every request is busy
                return queue

            self._sync = lambda q: q.wait_all()
            self.sync_method = "AsyncInferQueue.wait_all"
        self._step = step
        self.compiled = compiled
        self._details = {
            "exported_now": exported_now,
            "model_file": path.name,
            "inference_num_threads": int(compiled.get_property("INFERENCE_NUM_THREADS")),
            "inference_precision": str(compiled.get_property("INFERENCE_PRECISION_HINT")),
            "performance_hint": str(compiled.get_property("PERFORMANCE_HINT")),
            "num_streams": int(compiled.get_property("NUM_STREAMS")),
            "infer_requests": requests,
            "threads_started": process_threads() - before,
        }

    def step(self) -> Any:
        assert self._step is not None, "build() first"
        return self._step()

    def sync(self, output: Any) -> None:
        self._sync(output)

    def peak_memory(self) -> tuple[int, str] | None:
        return peak_rss_bytes(), "rss"

    def is_oom(self, exc: BaseException) -> bool:
        if isinstance(exc, MemoryError):
            return True
        text = f"{type(exc).__name__}: {exc}".lower()
        return "out of memory" in text or "failed to allocate" in text
