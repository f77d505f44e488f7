"""ResNet-V2 for OpenVINO: the torch model's ONNX export (networks.onnx_resnet), read by
OpenVINO's ONNX frontend, so it is the network the spec proves, weights included.

The same file ONNX Runtime times (cached in the output folder), so the two runtimes run one
graph. Read without conversion options, the model keeps every BatchNorm (as
BatchNormInference) and every parameter a Constant, so the counts below read the spec's
numbers off it; the CPU plugin fuses them when it compiles. This module also holds what
the runner (runners.ov_runner) needs from the library: it alone imports it.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

from networks import onnx_resnet
from vocab import spec

FRAMEWORK = "openvino"  # its record's name (vocab.runtimes)
CPU = "CPU"
# BatchNormInference inputs: data, gamma, beta, moving mean, moving variance
BN_STATISTICS = (3, 4)
PRECISIONS = {"fp32": "f32", "bf16": "bf16"}  # INFERENCE_PRECISION_HINT per case precision
_core: ov.Core | None = None
Tensor, AsyncInferQueue = ov.Tensor, ov.AsyncInferQueue


def core() -> ov.Core:
    global _core
    if _core is None:
        _core = ov.Core()
    return _core


def version() -> str:
    return str(ov.__version__)


def read(path: Path) -> ov.Model:
    return core().read_model(str(path))


def from_onnx(model: Any) -> ov.Model:
    """An onnx.ModelProto (onnx_resnet's) as an OpenVINO model."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        path.write_bytes(model.SerializeToString())
        return read(path)


def build(depth: int, num_classes: int = 1000, *, image_size: int = 224, seed: int = 0) -> Any:
    """A freshly initialised torch model, exported at `image_size`, read by OpenVINO."""
    spec.check_depth(depth)
    return from_onnx(onnx_resnet.build(depth, num_classes, image_size=image_size, seed=seed))


def from_torch(torch_model: Any, image_size: int) -> Any:
    return from_onnx(onnx_resnet.from_torch(torch_model, image_size))


def compile_model(model: ov.Model, config: dict[str, Any]) -> Any:
    return core().compile_model(model, CPU, config)


def logits(model: ov.Model, images_nchw: np.ndarray) -> np.ndarray:
    """Inference logits in fp32 (verification; not the timed path)."""
    compiled = compile_model(model, {"INFERENCE_PRECISION_HINT": "f32"})
    out: np.ndarray = np.asarray(compiled(images_nchw)[0])
    return out


def _size(output: Any) -> int:
    return math.prod(d.get_length() for d in output.get_partial_shape())


def count_params(model: ov.Model) -> tuple[int, int]:
    """(trainable, total): the float Constants that are tensors (the network's parameters;
    scalars are the frontend's own), less the BN moving statistics for trainable."""
    ops = model.get_ordered_ops()
    total = sum(
        _size(op.output(0))
        for op in ops
        if op.get_type_name() == "Constant"
        and op.get_output_element_type(0) == ov.Type.f32
        and _size(op.output(0)) > 1
    )
    stats = sum(
        _size(op.input(k).get_source_output())
        for op in ops
        if op.get_type_name() == "BatchNormInference"
        for k in BN_STATISTICS
    )
    return total - stats, total


def _static(model: ov.Model, image_size: int) -> ov.Model:
    size = tuple(d.get_length() for d in list(model.inputs[0].get_partial_shape())[2:])
    if size != (image_size, image_size):
        raise ValueError(f"model input is {size}, not {image_size}; export it at that size")
    static = model.clone()
    static.reshape([1, spec.IN_CHANNELS, image_size, image_size])
    return static


def count_macs(model: ov.Model, image_size: int) -> int:
    """Convolution multiply-accumulates per image, from the shapes at batch 1."""
    total = 0
    for op in _static(model, image_size).get_ordered_ops():
        if op.get_type_name() == "Convolution":
            out = list(op.get_output_partial_shape(0))[1:]
            kernel = list(op.input(1).get_partial_shape())[1:]
            total += math.prod(d.get_length() for d in out) * math.prod(
                d.get_length() for d in kernel
            )
        elif op.get_type_name() in ("MatMul", "GroupConvolution"):
            raise ValueError(f"{op.get_type_name()} {op.get_friendly_name()!r}: not counted")
    return total


def feature_shape(model: ov.Model, image_size: int) -> tuple[int, int, int]:
    """(channels, height, width) of the last feature map: the input of the last BN."""
    ops = _static(model, image_size).get_ordered_ops()
    last = [op for op in ops if op.get_type_name() == "BatchNormInference"][-1]
    _, c, h, w = (d.get_length() for d in last.input(0).get_partial_shape())
    return c, h, w
