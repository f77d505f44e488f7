"""One record per runtime: everything the suite knows about a framework, in one table.

CLI choices and help, profile and case validation, which built-in profiles run it, nox's
extras (noxfile.py reads this file by its path: it imports nothing but the standard
library), the versions recorded, the "install X" hints, the thread variables a worker
starts with and the environment variables kept with a run, the skips that need no worker,
the run estimate's first-step guesses, the data-parallel path and the tests generated from
the registry all derive from RUNTIMES.
Adding a runtime = its runner module, its builder module, one record here, one extra.

Runner and builder are lazy "module:attr" strings, so that the core install (store,
reports, CLI) never imports a framework.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Skip:
    """Cases this runtime never runs, and why: `axis` ("device", "mode" or "precision")
    equal to `value` (a device matches by kind: "cuda" covers cuda:N)."""

    axis: str
    value: str
    why: str


@dataclass(frozen=True)
class Versions:
    """A version to record: `key` + "_version" (and + "_distribution" where several
    distributions provide the module) from the first of `distributions` installed."""

    key: str
    distributions: tuple[str, ...]


@dataclass(frozen=True)
class Runtime:
    name: str
    title: str  # how prose names it
    executions: tuple[str, ...]  # the first is the default
    runner: str  # "module:Class" implementing runners.base.Runner
    builder: str  # the builder module (networks' interface)
    package: str  # the module a worker imports (found without importing it)
    extra: str  # the pip extra for a CPU host
    cuda_extra: str  # ...and for a GPU host
    versions: tuple[Versions, ...]
    devices: tuple[str, ...] = ("cpu", "cuda")
    skips: tuple[Skip, ...] = ()
    replicas: str | None = None  # "module:function" of its data-parallel path, if any
    # executions timed like a CUDA case also on a CPU: per step with a sync, and pipelined
    # (k steps, one sync), because a step only starts work (async requests)
    pipelined: tuple[str, ...] = ()
    env_prefixes: tuple[str, ...] = ()  # its environment variables, recorded with a run
    # variables a worker starts with, set to the case's "intra" or "inter" thread count
    # (read at import; recorded with a run)
    thread_env: tuple[tuple[str, str], ...] = ()
    startup_s: float = 3.0  # a worker's import and set-up, the estimate's first guess
    # the estimate's first step of an execution that compiles (at depth 50), and of a later
    # process that finds the compiled kernels in an on-disk cache
    first_step_s: tuple[tuple[str, float], ...] = ()
    cached_first_step_s: tuple[tuple[str, float], ...] = ()
    # the built-in profiles (suite/profiles/) whose cases include it: they name no frameworks
    profiles: tuple[str, ...] = ()
    # the network the spec proves: every other builder converts its model (`from_torch`),
    # and `models --verify` holds their logits to its
    reference: bool = False

    @property
    def default_execution(self) -> str:
        return self.executions[0]

    def install_hint(self) -> str:
        return f"{self.name} is not installed: pip install 'resnet-bench[{self.extra}]'"

    def skip_reason(self, device: str, mode: str, precision: str) -> str | None:
        """Why a case of this runtime is never run (-> skipped, no worker needed), or None."""
        kind = device.partition(":")[0]
        values = {"device": kind, "mode": mode, "precision": precision}
        for skip in self.skips:
            if values.get(skip.axis) == skip.value:
                return skip.why
        if kind not in self.devices:
            return f"{self.title} runs on {', '.join(self.devices)} here, not {device}"
        return None


RUNTIMES: dict[str, Runtime] = {
    r.name: r
    for r in (
        Runtime(
            "torch", "PyTorch", ("eager", "compile", "cudagraph"),
            "runners.torch_runner:TorchRunner", "networks.torch_resnet", "torch",
            "torch", "torch", (Versions("torch", ("torch",)),),
            replicas="runners.ddp:measure_replicated",
            env_prefixes=("TORCH_", "TORCHINDUCTOR_", "TORCHDYNAMO_", "PYTORCH_"),
            startup_s=2.0, first_step_s=(("compile", 40.0),),
            # later processes of a compile case find its kernels in inductor's disk cache
            cached_first_step_s=(("compile", 10.0),),
            profiles=("smoke", "quick", "gpu", "full"), reference=True,
        ),
        Runtime(
            "tensorflow", "TensorFlow", ("graph", "xla"),
            "runners.tf_runner:TFRunner", "networks.tf_resnet", "tensorflow",
            "tensorflow", "tensorflow-cuda",
            (Versions("tensorflow", ("tensorflow", "tensorflow-cpu", "tensorflow-intel",
                                     "tensorflow-macos", "tf-nightly", "tf-nightly-cpu")),),
            replicas="runners.tf_multiworker:measure_replicated",
            env_prefixes=("TF_",),
            thread_env=(("TF_NUM_INTRAOP_THREADS", "intra"), ("TF_NUM_INTEROP_THREADS", "inter")),
            startup_s=3.5, first_step_s=(("xla", 20.0),),
            profiles=("smoke", "quick", "gpu", "full"),
        ),
        Runtime(
            "jax", "JAX", ("jit",),  # jax.jit of the whole step
            "runners.jax_runner:JaxRunner", "networks.jax_resnet", "jax", "jax", "jax-cuda",
            (Versions("jax", ("jax",)), Versions("jaxlib", ("jaxlib",))),
            env_prefixes=("JAX_", "XLA_"),
            thread_env=(("NPROC", "intra"),),  # the size of XLA's CPU intra-op pool
            # jit: 2 s (inference) to 12 s (training) measured at depth 50 on the 2-core host,
            # which is why the CPU profiles leave it out (`--frameworks` adds it)
            startup_s=2.0, first_step_s=(("jit", 5.0),), profiles=("full",),
        ),
        Runtime(
            "onnxruntime", "ONNX Runtime", ("session",),  # an InferenceSession, ORT_ENABLE_ALL
            "runners.ort_runner:OrtRunner", "networks.onnx_resnet", "onnxruntime",
            "onnxruntime", "onnxruntime-cuda",
            (Versions("onnxruntime", ("onnxruntime", "onnxruntime-gpu")),),
            skips=(
                Skip("mode", "training", "ONNX Runtime is timed for inference only (training "
                     "needs onnxruntime-training artifacts, a different runtime)"),
                *(Skip("precision", p, f"{p}: the exported graph is fp32, and ONNX Runtime "
                       "casts no graph to a lower precision by itself; use fp32")
                  for p in ("bf16", "fp16")),
            ),
            env_prefixes=("ORT_",), startup_s=1.0,  # thread counts: per session, not variables
            profiles=("full",),  # the CPU profiles' time doubles with it: --frameworks adds it
        ),
        Runtime(
            "openvino", "OpenVINO", ("latency", "throughput"),  # one sync request; async streams
            "runners.ov_runner:OvRunner", "networks.ov_resnet", "openvino", "openvino",
            "openvino", (Versions("openvino", ("openvino",)),), devices=("cpu",),
            skips=(
                Skip("mode", "training", "OpenVINO is an inference runtime: training is not "
                     "timed"),
                Skip("precision", "fp16", "fp16: the CPU plugin has no fp16 inference here; "
                     "use bf16 (INFERENCE_PRECISION_HINT) or fp32"),
                Skip("device", "cuda", "OpenVINO is timed on its CPU plugin; its GPU plugin "
                     "drives Intel GPUs, not CUDA devices"),
            ),
            pipelined=("throughput",), env_prefixes=("OV_",), startup_s=1.5,
        ),
    )
}  # fmt: skip
FRAMEWORKS: tuple[str, ...] = tuple(RUNTIMES)
(REFERENCE,) = (name for name, r in RUNTIMES.items() if r.reference)  # exactly one


class UnknownRuntime(ValueError):
    """A framework name that is not in RUNTIMES; the message lists the known ones."""


def runtime(name: object) -> Runtime:
    if not isinstance(name, str) or name not in RUNTIMES:
        raise UnknownRuntime(f"unknown framework {name!r}; allowed: {', '.join(RUNTIMES)}")
    return RUNTIMES[name]


def executions_of(name: str) -> tuple[str, ...]:
    """A framework's executions, the default first; () for a name not in RUNTIMES (an old
    result's)."""
    return RUNTIMES[name].executions if name in RUNTIMES else ()


def joining(profile: str) -> tuple[str, ...]:
    """The runtimes a built-in profile runs (their records name it), in registry order."""
    return tuple(name for name, r in RUNTIMES.items() if profile in r.profiles)


def titles(names: tuple[str, ...] = FRAMEWORKS) -> str:
    """'PyTorch, TensorFlow and JAX': how prose lists runtimes."""
    named = [RUNTIMES[n].title for n in names]
    return " and ".join(named) if len(named) < 3 else f"{', '.join(named[:-1])} and {named[-1]}"


def extras(cuda: bool = False) -> tuple[str, ...]:
    """The pip extras that install every runtime on this kind of host (nox)."""
    return tuple(dict.fromkeys(r.cuda_extra if cuda else r.extra for r in RUNTIMES.values()))
