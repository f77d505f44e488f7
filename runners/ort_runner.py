"""ONNX Runtime runner: an InferenceSession on the torch model's ONNX export, inference only.

The export (networks.onnx_resnet) is cached in the run's output folder, keyed by depth,
image size, classes and exporter version; a missing file is exported by a child process,
so this worker never imports torch, and the first process of a case pays the export in its
build time. Threads are the session's own pools: intra-op = the case's threads, inter-op =
the case's inter-op threads (1), sequential execution. On CUDA (onnxruntime-gpu) the input
lives on the device and the output is bound there (IOBinding): no host copy per step.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from runners.base import MATMUL_N, best_rate, peak_rss_bytes
from vocab.case import Case
from vocab.jsonfields import JSONValue

OUTPUT_ENV = "RESNET_BENCH_OUTPUT"  # the run's output folder (suite.cli.common sets it)
DEFAULT_OUTPUT = "out"
EXPORT_TIMEOUT_S = 1800.0
CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"


def export_folder() -> Path:
    return Path(os.environ.get(OUTPUT_ENV) or DEFAULT_OUTPUT) / "onnx"


def export_model(case: Case) -> tuple[Path, bool]:
    """The case's network as the cached ONNX export, and whether it was made just now (by
    a child process: this one never imports torch). The ONNX-fed runtimes share it."""
    from networks.onnx_resnet import cached_path

    path = cached_path(export_folder(), case.depth, case.num_classes, case.image_size)
    if path.exists():
        return path, False
    cmd = [
        sys.executable, "-m", "networks.onnx_resnet", "--depth", str(case.depth),
        "--num-classes", str(case.num_classes), "--image-size", str(case.image_size), str(path),
    ]  # fmt: skip
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=EXPORT_TIMEOUT_S, check=False
    )
    if done.returncode != 0 or not path.exists():
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"ONNX export failed (status {done.returncode}): {tail}")
    return path, True


def process_threads() -> int:
    """Threads in this process now (Linux); 0 where unknown."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


class OrtRunner:
    name = "onnxruntime"

    def __init__(self) -> None:
        import onnxruntime as ort

        self.ort = ort
        self.sync_method = "host (session.run returns its outputs)"
        self._threads = (0, 1)
        self._step: Callable[[], Any] | None = None
        self._sync: Callable[[Any], None] = lambda _out: None
        self._case: Case | None = None
        self._details: dict[str, JSONValue] = {}
        self.session: Any = None  # the built case's InferenceSession

    def version(self) -> str:
        return str(self.ort.__version__)

    def unsupported(self, case: Case) -> str | None:
        # training and bf16/fp16 are its record's skips (vocab.runtimes)
        if case.is_cuda:
            providers = self.ort.get_available_providers()
            if CUDA_PROVIDER not in providers:
                return (
                    f"no {CUDA_PROVIDER} in onnxruntime {self.ort.__version__} "
                    f"({', '.join(providers)}); install onnxruntime-gpu"
                )
            from runners.nvml import gpu_devices

            count = len(gpu_devices())
            if int(case.device.partition(":")[2] or 0) >= count:
                return f"device {case.device} absent: NVML sees {count} GPU(s)"
        return None

    def info(self) -> dict[str, JSONValue]:
        ort = self.ort
        build = getattr(ort, "get_build_info", None)
        return {
            "version": str(ort.__version__),
            "device": ort.get_device(),
            "available_providers": list(ort.get_available_providers()),
            "build": build() if build is not None else None,
        }

    def details(self) -> dict[str, JSONValue]:
        return dict(self._details)

    def prepare(self, cases: Sequence[Case]) -> None:
        # importing onnxruntime in __init__ loaded what the cases need; a missing export is
        # made in build(), so that the first process of a case shows its cost
        return None

    def set_threads(self, intra: int, inter: int) -> tuple[int, int]:
        # Per session: the pools are made when build() opens the session, with these
        # counts; details() reads them back from the session's options.
        self._threads = (intra, inter)
        return intra, inter

    def _options(self, intra: int, inter: int) -> Any:
        ort = self.ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra
        options.inter_op_num_threads = inter
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: no per-session warnings on stderr
        return options

    def _providers(self, device: str) -> list[Any]:
        if device == "cpu":
            return [CPU_PROVIDER]
        return [(CUDA_PROVIDER, {"device_id": int(device.partition(":")[2] or 0)})]

    def matmul_gflops(self, device: str, precision: str) -> float | None:
        if precision != "fp32":
            return None
        import numpy as np
        from onnx import TensorProto, helper

        n = MATMUL_N["cpu" if device == "cpu" else "cuda"]
        shape = [n, n]
        graph = helper.make_graph(
            [helper.make_node("MatMul", ["a", "b"], ["c"])],
            "matmul",
            [helper.make_tensor_value_info(v, TensorProto.FLOAT, shape) for v in "ab"],
            [helper.make_tensor_value_info("c", TensorProto.FLOAT, shape)],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        options, providers = self._options(*self._threads), self._providers(device)
        sess = self.ort.InferenceSession(model.SerializeToString(), options, providers=providers)
        rng = np.random.default_rng(0)
        feeds = {v: rng.standard_normal(shape, np.float32) for v in "ab"}

        def run() -> None:
            sess.run(None, feeds)  # on CUDA this includes the copies: a lower bound there

        return best_rate(run, n)

    def build(self, case: Case) -> None:
        import numpy as np

        from networks.onnx_resnet import INPUT, OUTPUT, exporter_version

        ort = self.ort
        self._case = case
        path, exported_now = export_model(case)
        self._details = {"exported_now": exported_now}
        before = process_threads()
        sess = ort.InferenceSession(
            str(path),
            self._options(case.threads, case.interop_threads),
            providers=self._providers(case.device),
        )
        in_use = list(sess.get_providers())
        if case.is_cuda and in_use[0] != CUDA_PROVIDER:
            # ORT falls back to the CPU when the CUDA provider fails to load: never time that
            raise RuntimeError(f"{CUDA_PROVIDER} did not load; the session has {in_use}")
        shape = (case.batch_size, 3, case.image_size, case.image_size)
        x = np.random.default_rng(0).random(shape, dtype=np.float32)
        if case.is_cuda:
            index = int(case.device.partition(":")[2] or 0)
            binding = sess.io_binding()
            binding.bind_ortvalue_input(INPUT, ort.OrtValue.ortvalue_from_numpy(x, "cuda", index))
            binding.bind_output(OUTPUT, "cuda", index)

            def step() -> Any:
                sess.run_with_iobinding(binding)
                return binding

            self._sync = lambda b: b.synchronize_outputs()
            self.sync_method = "IOBinding.synchronize_outputs"
        else:
            feeds = {INPUT: x}

            def step() -> Any:
                return sess.run([OUTPUT], feeds)

            self._sync = lambda _out: None
            self.sync_method = "host (session.run returns its outputs)"
        self._step = step
        options = sess.get_session_options()
        self.session = sess
        self._details.update(
            {
                "onnx_file": path.name,
                "exporter": exporter_version(),
                "providers": in_use,
                "provider_options": sess.get_provider_options(),
                "io_binding": case.is_cuda,
                "intra_op_num_threads": options.intra_op_num_threads,
                "inter_op_num_threads": options.inter_op_num_threads,
                "execution_mode": str(options.execution_mode),
                "graph_optimization_level": str(options.graph_optimization_level),
                "enable_cpu_mem_arena": options.enable_cpu_mem_arena,
                "enable_mem_pattern": options.enable_mem_pattern,
                "threads_started": process_threads() - before,
            }
        )

    def step(self) -> Any:
        assert self._step is not None, "build() first"
        return self._step()

    def sync(self, output: Any) -> None:
        self._sync(output)

    def peak_memory(self) -> tuple[int, str] | None:
        if self._case is not None and self._case.is_cuda:
            return None  # ORT has no allocator statistics to read
        return peak_rss_bytes(), "rss"

    def is_oom(self, exc: BaseException) -> bool:
        if isinstance(exc, MemoryError):
            return True
        text = f"{type(exc).__name__}: {exc}".lower()
        return "failed to allocate memory" in text or "out of memory" in text
