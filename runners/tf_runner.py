"""TensorFlow runner: tf.function graph or XLA, inference or training, Keras precisions."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from runners.base import MATMUL_N, best_rate, peak_rss_bytes
from vocab.case import Case
from vocab.jsonfields import JSONValue
from vocab.spec import WEIGHT_DECAY  # on conv kernels only, as TF-slim's regularizer

LEARNING_RATE = 0.01
MOMENTUM = 0.9


# TensorFlow imports these where installed, for what a worker never uses (TFLite's JAX
# interop, Keras' DataFrame inputs): JAX is another framework (a worker loads one), and
# both add seconds to every TensorFlow worker's and probe's start.
NOT_FOR_TENSORFLOW = ("jax", "pandas")


def import_tensorflow() -> Any:
    """`import tensorflow` with NOT_FOR_TENSORFLOW hidden (those not imported already),
    then importable again: TensorFlow and Keras take their absence as "not installed"."""
    hidden = [name for name in NOT_FOR_TENSORFLOW if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # import fails: ImportError
    try:
        import tensorflow as tf
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    return tf


def tf_device(device: str) -> str:
    """'cpu' -> '/CPU:0', 'cuda' -> '/GPU:0', 'cuda:N' -> '/GPU:N'."""
    if device == "cpu":
        return "/CPU:0"
    return f"/GPU:{device.partition(':')[2] or 0}"


class TFRunner:
    name = "tensorflow"

    def __init__(self) -> None:
        self.tf = import_tensorflow()
        self.sync_method = "none"
        self._step: Callable[[], Any] | None = None
        self._case: Case | None = None
        self._details: dict[str, JSONValue] = {}

    def version(self) -> str:
        return str(self.tf.__version__)

    def _gpus(self) -> list[Any]:
        return list(self.tf.config.list_physical_devices("GPU"))

    def unsupported(self, case: Case) -> str | None:
        if case.is_cuda:
            gpus = self._gpus()
            index = int(case.device.partition(":")[2] or 0)
            if not gpus:
                return (
                    f"no GPU visible to TensorFlow {self.tf.__version__} (CPU build or no driver)"
                )
            if index >= len(gpus):
                return f"device {case.device} absent: TensorFlow sees {len(gpus)} GPU(s)"
        elif case.precision == "fp16":
            return "fp16 on CPU has no fast path in TensorFlow; use bf16"
        return None

    def matmul_gflops(self, device: str, precision: str) -> float | None:
        tf = self.tf
        if precision not in ("fp32", "bf16") or (precision == "bf16" and device == "cpu"):
            return None  # TF gives no portable check for native CPU bf16; torch's probe does
        n = MATMUL_N["cuda" if device.startswith("cuda") else "cpu"]
        dtype = tf.bfloat16 if precision == "bf16" else tf.float32
        with tf.device(tf_device(device)):
            a = tf.random.normal((n, n), dtype=tf.float32)
            b = tf.random.normal((n, n), dtype=tf.float32)
            a, b = tf.cast(a, dtype), tf.cast(b, dtype)

            def run() -> None:
                with tf.device(tf_device(device)):
                    out = tf.linalg.matmul(a, b)
                if device.startswith("cuda"):
                    tf.test.experimental.sync_devices()
                else:
                    out.numpy()

            return best_rate(run, n)

    def info(self) -> dict[str, JSONValue]:
        tf = self.tf
        build = {str(k): str(v) for k, v in tf.sysconfig.get_build_info().items()}
        return {
            "version": str(tf.__version__),
            "build": build,
            "keras": _keras_version(),
            # oneDNN is on by default on x86 Linux builds; the variable turns it off.
            "onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"),
        }

    def details(self) -> dict[str, JSONValue]:
        # TF32 for float32 matmuls/convolutions on Ampere+ GPUs: on by default in TF;
        # NVIDIA_TF32_OVERRIDE (recorded with the environment variables) can force it off.
        try:
            tf32: bool | None = bool(
                self.tf.config.experimental.tensor_float_32_execution_enabled()
            )
        except Exception:  # an older TF without the getter
            tf32 = None
        return {"tensor_float_32_execution": tf32, **self._details}

    def prepare(self, cases: Sequence[Case]) -> None:
        pass  # importing tensorflow in __init__ loaded what the cases need

    def set_threads(self, intra: int, inter: int) -> tuple[int, int]:
        threading = self.tf.config.threading
        # Must precede the first op: the runtime fixes its pools when it initialises.
        threading.set_intra_op_parallelism_threads(intra)
        threading.set_inter_op_parallelism_threads(inter)
        return (
            threading.get_intra_op_parallelism_threads(),
            threading.get_inter_op_parallelism_threads(),
        )

    def build(self, case: Case) -> None:
        tf = self.tf
        import keras

        from networks import build_model

        # A worker builds several cases' models in turn: drop the previous one's graph state.
        keras.backend.clear_session()
        self._case = case
        device = tf_device(case.device)
        xla = case.execution == "xla"
        if case.is_cuda:
            tf.config.experimental.reset_memory_stats(device.lstrip("/"))
        with tf.device(device):
            model = build_model(
                "tensorflow", case.depth, case.num_classes, precision=case.precision
            )
            shape = (case.batch_size, case.image_size, case.image_size, 3)
            # Synthetic input made on the device before timing: no host copy per step.
            x = tf.random.uniform(shape, dtype=tf.float32)
            labels = tf.random.uniform((case.batch_size,), maxval=case.num_classes, dtype=tf.int32)

            if case.mode == "inference":

                def forward(images: Any) -> Any:
                    return model(images, training=False)

                infer = tf.function(forward, jit_compile=xla)

                def step() -> Any:
                    return infer(x)

            else:
                opt: Any = keras.optimizers.SGD(learning_rate=LEARNING_RATE, momentum=MOMENTUM)
                scaled = case.precision == "fp16"
                if scaled:
                    opt = keras.optimizers.LossScaleOptimizer(opt)
                variables = model.trainable_variables
                kernels = [v for v in variables if len(v.shape) == 4]
                opt.build(variables)

                def train_step(images: Any, y: Any) -> Any:
                    with tf.GradientTape() as tape:
                        logits = tf.cast(model(images, training=True), tf.float32)
                        loss = tf.reduce_mean(
                            tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits)
                        )
                        l2 = tf.add_n(
                            [tf.reduce_sum(tf.square(tf.cast(k, tf.float32))) for k in kernels]
                        )
                        loss = loss + 0.5 * WEIGHT_DECAY * l2
                        target = opt.scale_loss(loss) if scaled else loss
                    grads = tape.gradient(target, variables)
                    opt.apply_gradients(zip(grads, variables, strict=True))
                    return loss

                train = tf.function(train_step, jit_compile=xla)

                def step() -> Any:
                    return train(x, labels)

        self._step = step
        self.sync_method = (
            "tf.test.experimental.sync_devices" if case.is_cuda else "host (output materialised)"
        )
        self._details = {
            "jit_compile": xla,
            "dtype_policy": {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}[
                case.precision
            ],
            "loss_scale": case.mode == "training" and case.precision == "fp16",
            "onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"),
            "tf_device": device,
        }

    def step(self) -> Any:
        assert self._step is not None, "build() first"
        return self._step()

    def sync(self, output: Any) -> None:
        assert self._case is not None, "build() first"
        if self._case.is_cuda:
            self.tf.test.experimental.sync_devices()
        else:
            output.numpy()  # returns once the value exists on the host

    def peak_memory(self) -> tuple[int, str] | None:
        if self._case is not None and self._case.is_cuda:
            info = self.tf.config.experimental.get_memory_info(
                tf_device(self._case.device).lstrip("/")
            )
            return int(info["peak"]), "device"
        return peak_rss_bytes(), "rss"

    def is_oom(self, exc: BaseException) -> bool:
        if isinstance(exc, (MemoryError, self.tf.errors.ResourceExhaustedError)):
            return True
        text = f"{type(exc).__name__}: {exc}".lower()
        markers = (
            "out of memory",
            "resourceexhausted",
            "oom when allocating",
            "failed to allocate",
        )
        return any(m in text for m in markers) or "oom" in type(exc).__name__.lower()


def _keras_version() -> str | None:
    try:
        import keras

        return str(keras.__version__)
    except ImportError:  # pragma: no cover - keras ships with TF 2.16+
        return None
