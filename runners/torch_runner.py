"""PyTorch runner: eager or torch.compile, inference or training, autocast precisions."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from runners.base import MATMUL_N, best_rate, peak_rss_bytes
from vocab.case import Case
from vocab.jsonfields import JSONValue
from vocab.spec import WEIGHT_DECAY, feature_size  # on conv kernels only, as TF-slim's regularizer

# Measured by benchmarks/harness_check.py on the 2-core dev host: channels-last is the faster
# CPU layout for this network there (see README "Default executions"); on CUDA, channels-last
# lets cuDNN use NHWC tensor-core kernels.
CHANNELS_LAST = {"cpu": True, "cuda": True}
LEARNING_RATE = 0.01
GRAPH_WARMUP = 3  # eager steps on a side stream before a CUDA graph is captured
MOMENTUM = 0.9


class TorchRunner:
    name = "torch"

    def __init__(self) -> None:
        import torch

        self.torch = torch
        self.sync_method = "none"
        self._step: Callable[[], Any] | None = None
        self._case: Case | None = None
        self._details: dict[str, JSONValue] = {}

    # -- facts -------------------------------------------------------------------------
    def version(self) -> str:
        return str(self.torch.__version__)

    def unsupported(self, case: Case) -> str | None:
        torch = self.torch
        if case.is_cuda:
            if not torch.cuda.is_available():
                return (
                    f"CUDA not available (torch {torch.__version__}, "
                    f"built for CUDA {torch.version.cuda})"
                )
            index = int(case.device.partition(":")[2] or 0)
            if index >= torch.cuda.device_count():
                return f"device {case.device} absent: {torch.cuda.device_count()} CUDA device(s)"
            if case.precision == "bf16" and not torch.cuda.is_bf16_supported():
                return f"bf16 not supported by {torch.cuda.get_device_name(index)}"
            if (
                case.execution == "cudagraph"
                and case.mode == "training"
                and case.precision == "fp16"
            ):
                return (
                    "cudagraph cannot capture fp16 training: GradScaler reads its inf check "
                    "on the host every step; use bf16"
                )
        elif case.precision == "fp16":
            return "fp16 on CPU has no fast path in torch; use bf16"
        elif case.execution == "cudagraph":
            return (
                "cudagraph needs a CUDA device: it replays captured GPU kernels, and CPU "
                "ops have no launch cost to save"
            )
        if (
            case.mode == "training"
            and case.batch_size * feature_size(case.depth, case.image_size) ** 2 < 2
        ):
            # torch's BatchNorm refuses one value per channel in training (TF divides by it).
            return (
                f"training needs more than one value per channel in the final BN: batch "
                f"{case.batch_size} at {case.image_size}px leaves a 1x1 feature map"
            )
        return None

    def matmul_gflops(self, device: str, precision: str) -> float | None:
        torch = self.torch
        cuda = device.startswith("cuda")
        if precision == "bf16":
            supported = (
                torch.cuda.is_bf16_supported()
                if cuda  # native bf16 on CPU: AVX512-BF16 or AMX; otherwise it is emulated
                else torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
            )
            if not supported:
                return None  # emulated bf16 is no ceiling
        elif precision != "fp32":
            return None
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        n = MATMUL_N["cuda" if cuda else "cpu"]
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)

        def run() -> None:
            torch.mm(a, b)
            if cuda:
                torch.cuda.synchronize(device)

        return best_rate(run, n)

    def info(self) -> dict[str, JSONValue]:
        torch = self.torch
        return {
            "version": str(torch.__version__),
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version()
            if torch.backends.cudnn.is_available()
            else None,
            "mkldnn": torch.backends.mkldnn.is_available(),
            "mkl": torch.backends.mkl.is_available(),
            "openmp": torch.backends.openmp.is_available(),
            "config": torch.__config__.show(),
            "parallel": torch.__config__.parallel_info(),
        }

    def details(self) -> dict[str, JSONValue]:
        return {**self._switches(), **self._details}

    def _switches(self) -> dict[str, Any]:
        """Numerics switches in force in this process (read now, so a setting made anywhere
        is seen): flush-denormal, TF32 for matmul and cuDNN, float32 matmul precision."""
        torch = self.torch
        backends = torch.backends
        return {
            "flush_denormal": _flush_denormal(torch),
            "matmul_allow_tf32": _attr(backends, "cuda", "matmul", "allow_tf32"),
            "cudnn_allow_tf32": _attr(backends, "cudnn", "allow_tf32"),
            "float32_matmul_precision": _call(torch, "get_float32_matmul_precision"),
        }

    # -- set-up ------------------------------------------------------------------------
    def prepare(self, cases: Sequence[Case]) -> None:
        # torch.optim's constructors (and torch.compile) import torch._dynamo on first use:
        # about 1.4 s on the 2-core dev host, which would land in the first training case's
        # build (issue 10 saw training builds of 4-6 s against 0.3-1 s for inference).
        if any(c.mode == "training" or c.execution == "compile" for c in cases):
            import torch._dynamo  # noqa: F401

    def set_threads(self, intra: int, inter: int) -> tuple[int, int]:
        torch = self.torch
        torch.set_num_threads(intra)
        # Allowed only before any inter-op parallel work has started in this process.
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(inter)
        return torch.get_num_threads(), torch.get_num_interop_threads()

    def build(self, case: Case, wrap: Callable[[Any], Any] | None = None) -> None:
        """`wrap`: applied to the model on its device (runners.ddp: DistributedDataParallel);
        the step calls the wrapped model, the optimizer holds the model's parameters."""
        torch = self.torch
        from networks import build_model

        if case.execution == "compile":
            # A worker compiles several cases in turn: start each from dynamo's empty cache.
            torch._dynamo.reset()
        self._case = case
        device = torch.device(case.device)
        kind = "cuda" if case.is_cuda else "cpu"
        channels_last = CHANNELS_LAST[kind]
        cuda_details = self._configure_cuda(case) if case.is_cuda else {}
        model = build_model("torch", case.depth, case.num_classes, channels_last=channels_last)
        model = model.to(device)
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        shape = (case.batch_size, 3, case.image_size, case.image_size)
        # Synthetic input made on the device before timing: no host-to-device copy per step.
        x = torch.randn(shape, device=device).contiguous(memory_format=memory_format)
        dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[case.precision]

        graphed = case.execution == "cudagraph"

        def autocast() -> Any:
            if dtype is None:
                return contextlib.nullcontext()
            # A captured graph must not keep autocast's cast cache (torch's CUDA graph notes).
            return torch.autocast(device_type=kind, dtype=dtype, cache_enabled=not graphed)

        net: Callable[[Any], Any] = model if wrap is None else wrap(model)
        if case.execution == "compile":
            net = torch.compile(net)

        if case.mode == "inference":
            model.eval()

            def step() -> Any:
                with torch.inference_mode(), autocast():
                    return net(x)

        else:
            model.train()
            labels = torch.randint(0, case.num_classes, (case.batch_size,), device=device)
            decay = [p for p in model.parameters() if p.ndim == 4]
            rest = [p for p in model.parameters() if p.ndim != 4]
            opt = torch.optim.SGD(
                [
                    {"params": decay, "weight_decay": WEIGHT_DECAY},
                    {"params": rest, "weight_decay": 0.0},
                ],
                lr=LEARNING_RATE,
                momentum=MOMENTUM,
            )
            scaler = torch.amp.GradScaler(kind, enabled=case.precision == "fp16")
            loss_fn = torch.nn.functional.cross_entropy

            def step() -> Any:
                opt.zero_grad(set_to_none=True)
                with autocast():
                    loss = loss_fn(net(x), labels)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                return loss

        self._step = self._capture(step, device) if graphed else step
        self.sync_method = (
            "torch.cuda.synchronize" if case.is_cuda else "host (CPU ops are synchronous)"
        )
        self._details = {
            "channels_last": channels_last,
            "compile": case.execution == "compile",
            "cuda_graph": f"torch.cuda.graph, whole step, {GRAPH_WARMUP} warm-up steps"
            if graphed
            else None,
            "autocast": None if dtype is None else str(dtype),
            "grad_scaler": case.mode == "training" and case.precision == "fp16",
            "mkldnn_enabled": bool(torch.backends.mkldnn.enabled),
        }
        self._details.update(cuda_details)

    def _capture(self, step: Callable[[], Any], device: Any) -> Callable[[], Any]:
        """The whole step (forward, and for training backward and the optimizer) captured
        as one CUDA graph; the returned step replays it on the same static input, labels
        and output. Warm-up runs on a side stream first, as torch requires: cuDNN autotuning,
        lazy initialisation and the optimizer's momentum buffers happen there, not in the
        graph. Training grads are None at capture, so backward allocates them from the
        graph's pool and each replay overwrites them."""
        torch = self.torch
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(GRAPH_WARMUP):
                step()
        torch.cuda.current_stream(device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = step()

        def replay() -> Any:
            graph.replay()
            return out

        return replay

    def _configure_cuda(self, case: Case) -> dict[str, Any]:
        """cuDNN autotuning on (it settles during warm-up); the switches in force, recorded."""
        torch = self.torch
        torch.backends.cudnn.benchmark = True
        torch.cuda.reset_peak_memory_stats(case.device)
        return {
            "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
            "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
            "matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
            "device_name": torch.cuda.get_device_name(case.device),
        }

    # -- the timed part ----------------------------------------------------------------
    def step(self) -> Any:
        assert self._step is not None, "build() first"
        return self._step()

    def sync(self, output: Any) -> None:
        assert self._case is not None, "build() first"
        if self._case.is_cuda:
            self.torch.cuda.synchronize(self._case.device)

    def peak_memory(self) -> tuple[int, str] | None:
        if self._case is not None and self._case.is_cuda:
            return int(self.torch.cuda.max_memory_allocated(self._case.device)), "device"
        return peak_rss_bytes(), "rss"

    def is_oom(self, exc: BaseException) -> bool:
        if isinstance(exc, (MemoryError, self.torch.cuda.OutOfMemoryError)):
            return True
        text = str(exc).lower()
        # CPU: "DefaultCPUAllocator: can't allocate memory: you tried to allocate N bytes"
        return "out of memory" in text or "can't allocate memory" in text


def _attr(obj: Any, *names: str) -> bool | None:
    """A boolean switch at obj.names...; None where this torch build lacks it."""
    for name in names:
        obj = getattr(obj, name, None)
    return bool(obj) if obj is not None else None


def _call(obj: Any, name: str) -> str | None:
    fn = getattr(obj, name, None)
    try:
        return str(fn()) if fn is not None else None
    except Exception:  # a getter failing must not lose the case
        return None


def _flush_denormal(torch: Any) -> bool | None:
    """Whether CPU float32 denormals are flushed to zero (torch.set_flush_denormal, FTZ/DAZ).

    torch has a setter but no getter, and the suite never sets it (torch's default is off),
    so it is detected: a denormal float32 times one stays non-zero unless flushing is on.
    None where the check cannot run.
    """
    try:
        tiny = torch.tensor([1e-39], dtype=torch.float32)  # below float32's normal minimum
        return bool((tiny * 1.0).item() == 0.0)
    except Exception:
        return None
