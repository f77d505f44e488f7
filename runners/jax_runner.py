"""JAX runner: the Flax NNX model under one jax.jit per step, inference or training.

Threads: XLA's CPU client sizes its intra-op pool (the `tf_XLAEigen` threads) from the
NPROC variable, else from the cores it may use; there is no API for it. NPROC is set
before the CPU client starts (runners.manager.thread_env passes it to every worker, and
set_threads sets it again before the first device query), and the pool is read back by
counting its threads. XLA runs a step as one program, so there is no inter-op pool.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from runners.base import MATMUL_N, best_rate, peak_rss_bytes
from vocab.case import Case
from vocab.jsonfields import JSONValue
from vocab.spec import WEIGHT_DECAY  # on conv kernels only, as TF-slim's regularizer

LEARNING_RATE = 0.01
MOMENTUM = 0.9
THREADS_ENV = "NPROC"  # read by XLA's CPU client (DefaultThreadPoolSize) when it starts
POOL_THREAD = "tf_XLAEigen"  # the name XLA's CPU intra-op pool gives its threads


def pool_threads() -> int | None:
    """Threads of XLA's CPU intra-op pool in this process (Linux); None elsewhere."""
    tasks = Path("/proc/self/task")
    if not tasks.is_dir():
        return None
    count = 0
    for task in tasks.iterdir():
        try:
            count += (task / "comm").read_text().strip() == POOL_THREAD
        except OSError:  # a thread that ended meanwhile
            continue
    return count


class JaxRunner:
    name = "jax"

    def __init__(self) -> None:
        import jax

        self.jax = jax
        self.sync_method = "jax.block_until_ready"
        self._step: Callable[[], Any] | None = None
        self._case: Case | None = None
        self._device: Any = None
        self._details: dict[str, JSONValue] = {}

    def version(self) -> str:
        return str(self.jax.__version__)

    def _cuda(self) -> list[Any]:
        try:
            return list(self.jax.devices("cuda"))
        except RuntimeError:  # "Unknown backend cuda": a CPU-only jaxlib
            return []

    def unsupported(self, case: Case) -> str | None:
        if case.is_cuda:
            gpus = self._cuda()
            index = int(case.device.partition(":")[2] or 0)
            if not gpus:
                return (
                    f"no CUDA backend in jaxlib {_version('jaxlib')} (a CPU build; install "
                    "jax[cuda12] for one)"
                )
            if index >= len(gpus):
                return f"device {case.device} absent: JAX sees {len(gpus)} CUDA device(s)"
            if case.precision == "fp16" and case.mode == "training":
                return "fp16 training needs loss scaling, which optax does not provide; use bf16"
        elif case.precision == "fp16":
            return "fp16 on CPU has no fast path in XLA; use bf16"
        return None

    def _device_for(self, device: str) -> Any:
        if device == "cpu":
            return self.jax.devices("cpu")[0]
        return self._cuda()[int(device.partition(":")[2] or 0)]

    def matmul_gflops(self, device: str, precision: str) -> float | None:
        jax = self.jax
        import jax.numpy as jnp

        if precision not in ("fp32", "bf16") or (precision == "bf16" and device == "cpu"):
            return None  # no portable check for native CPU bf16 here; torch's probe does it
        n = MATMUL_N["cpu" if device == "cpu" else "cuda"]
        dtype = jnp.bfloat16 if precision == "bf16" else jnp.float32
        target = self._device_for(device)
        keys = jax.random.split(jax.random.key(0))
        a, b = (jax.device_put(jax.random.normal(k, (n, n), dtype), target) for k in keys)
        mm = jax.jit(jnp.matmul)

        def run() -> None:
            mm(a, b).block_until_ready()

        return best_rate(run, n)

    def info(self) -> dict[str, JSONValue]:
        from jax.extend import backend

        cpu = backend.get_backend("cpu")
        gpus = self._cuda()
        return {
            "version": str(self.jax.__version__),
            "jaxlib": _version("jaxlib"),
            "flax": _version("flax"),
            "optax": _version("optax"),
            "backend": cpu.platform,
            "backend_version": cpu.platform_version,
            "cuda_backend_version": backend.get_backend("cuda").platform_version if gpus else None,
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
            THREADS_ENV: os.environ.get(THREADS_ENV),
            "intra_op_pool_threads": pool_threads(),
        }

    def details(self) -> dict[str, JSONValue]:
        return {
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
            THREADS_ENV: os.environ.get(THREADS_ENV),
            "intra_op_pool_threads": pool_threads(),
            **self._details,
        }

    def prepare(self, cases: Sequence[Case]) -> None:
        # Flax and optax take a second or two to import on the 2-core dev host: start-up,
        # not the first case's build.
        import optax  # noqa: F401
        from flax import nnx  # noqa: F401

    def set_threads(self, intra: int, inter: int) -> tuple[int, int]:
        # Only effective before the CPU client starts: this is its first use in the process.
        os.environ[THREADS_ENV] = str(intra)
        self.jax.devices("cpu")
        pool = pool_threads()
        # No inter-op pool: a step is one XLA program whose thunks share the intra-op pool.
        return (intra if pool is None else pool), 1

    def build(self, case: Case) -> None:
        import jax
        import jax.numpy as jnp
        import optax
        from flax import nnx

        from networks import build_model
        from networks.jax_resnet import inference

        self._case = case
        # a worker compiles several cases in turn: start each afresh
        jax.clear_caches()  # type: ignore[no-untyped-call]
        device = self._device_for(case.device)
        self._device = device
        with jax.default_device(device):
            model = build_model("jax", case.depth, case.num_classes, precision=case.precision)
            shape = (case.batch_size, case.image_size, case.image_size, 3)
            # Synthetic input made on the device before timing: no host-to-device copy per step.
            key_x, key_y = jax.random.split(jax.random.key(0))
            x = jax.random.uniform(key_x, shape, jnp.float32)
            labels = jax.random.randint(key_y, (case.batch_size,), 0, case.num_classes)

        net: Any = model
        if case.mode == "inference":
            graphdef, state = nnx.split(inference(net))

            @jax.jit
            def infer(state: Any, images: jax.Array) -> jax.Array:
                out: jax.Array = nnx.merge(graphdef, state)(images)
                return out

            def step() -> Any:
                return infer(state, x)

        else:
            # torch's SGD(weight_decay=) and TF's L2 term: decay * w added to the gradient
            # of each conv kernel, then momentum
            def kernels(params: Any) -> Any:
                return jax.tree.map(lambda p: p.ndim == 4, params)

            tx = optax.chain(
                optax.masked(optax.add_decayed_weights(WEIGHT_DECAY), kernels),
                optax.sgd(LEARNING_RATE, momentum=MOMENTUM),
            )
            optimizer = nnx.Optimizer(net, tx, wrt=nnx.Param)
            train_def, train_state = nnx.split((net, optimizer))

            # The old state's buffers are donated: parameters update in place, as in torch.
            @partial(jax.jit, donate_argnums=0)
            def train(state: Any, images: jax.Array, y: jax.Array) -> tuple[jax.Array, Any]:
                step_model, opt = nnx.merge(train_def, state)

                def loss_fn(m: Any) -> jax.Array:
                    logits = m(images)  # BN on batch statistics, its moving ones updated
                    loss: jax.Array = optax.softmax_cross_entropy_with_integer_labels(
                        logits, y
                    ).mean()
                    return loss

                loss, grads = nnx.value_and_grad(loss_fn)(step_model)
                opt.update(step_model, grads)
                return loss, nnx.state((step_model, opt))

            def step() -> Any:
                nonlocal train_state
                loss, train_state = train(train_state, x, labels)
                return loss, train_state

        self._step = step
        self._details = {
            "jit": True,
            "compute_dtype": str(jnp.dtype(model.dtype)),
            "param_dtype": "float32",
            "device_kind": getattr(device, "device_kind", None),
            "donate_state": case.mode == "training",
        }

    def step(self) -> Any:
        assert self._step is not None, "build() first"
        return self._step()

    def sync(self, output: Any) -> None:
        # The whole output (a training step's loss and new state): every buffer is ready.
        ready: Callable[[Any], Any] = self.jax.block_until_ready
        ready(output)

    def peak_memory(self) -> tuple[int, str] | None:
        if self._case is not None and self._case.is_cuda and self._device is not None:
            stats = self._device.memory_stats() or {}
            peak = stats.get("peak_bytes_in_use")
            return (int(peak), "device") if peak is not None else None
        return peak_rss_bytes(), "rss"

    def is_oom(self, exc: BaseException) -> bool:
        if isinstance(exc, MemoryError):
            return True
        text = f"{type(exc).__name__}: {exc}".lower()
        return "resource_exhausted" in text or "out of memory" in text


def _version(distribution: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
