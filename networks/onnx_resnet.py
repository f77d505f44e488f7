"""ResNet-V2 for ONNX Runtime: the torch model exported with torch.onnx's dynamo exporter.

Why export rather than build the graph from the spec with onnxscript: exporting the torch
model is how a ResNet reaches ONNX Runtime in deployment, so the suite times the graph a
deployer gets; and the graph comes from the torch module that vocab.spec already proves,
with its weights, so there is no fourth builder to keep in step (`models --verify` still
checks its logits against torch's).

The export keeps the network as the spec has it: every BatchNorm a node of its own, every
parameter and moving statistic an initializer (so the counts below read the spec's numbers
off the file). The exporter's own optimiser would fold the conv->BN pairs into the convs
and change the parameter count; only its constant folding runs here, and ONNX Runtime's
ORT_ENABLE_ALL does the fusions when a session loads the file (measured: the same
optimised graph and speed as the exporter's default). The batch axis is dynamic; the image
size is fixed, so every shape but the batch is static.

    python -m networks.onnx_resnet --depth 50 --image-size 224 OUT.onnx

exports in a process of its own: the ONNX Runtime worker never imports torch.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata
import logging
import math
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from vocab import spec

OPSET = 20
INPUT, OUTPUT = "images", "logits"
# ONNX TensorProto element types: FLOAT; BatchNormalization inputs 3 and 4 are its moving
# mean and variance (not trained)
FLOAT = 1
BN_STATISTICS = (3, 4)


def exporter_version() -> str:
    """What makes an exported file: the torch and onnxscript releases and the opset (read
    from package metadata, so the ONNX Runtime worker can name a file without torch)."""
    versions = [f"{d}{importlib.metadata.version(d)}" for d in ("torch", "onnxscript")]
    return "-".join([*versions, f"opset{OPSET}"]).replace("+", "_")


def source_version() -> str:
    """A digest of the code that makes the graph (the torch model and this export), so that
    a changed forward is exported anew even where no package version moved."""
    digest = hashlib.sha256()
    for path in (Path(__file__).with_name("torch_resnet.py"), Path(__file__)):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def cached_path(folder: Path, depth: int, num_classes: int, image_size: int) -> Path:
    """Where the export of this network lives in the output folder: one file per depth,
    image size, classes, exporter version and model source (any weights do for timing)."""
    key = f"{exporter_version()}-src{source_version()}"
    return folder / f"resnet_v2_{depth}_{image_size}px_{num_classes}cls_{key}.onnx"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter's notes that do not concern this network: torch's own deprecation
    warnings from torch.export and 'torchvision is not installed' log lines."""
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        registration.setLevel(level)


def export(torch_model: Any, image_size: int, path: Path) -> None:
    """Export `torch_model` (put in eval mode) to `path`, written atomically."""
    import torch
    from onnxscript import ir, optimizer

    torch_model.eval()
    x = torch.zeros(2, spec.IN_CHANNELS, image_size, image_size)
    with _quiet():
        program = torch.onnx.export(
            torch_model,
            (x,),
            dynamo=True,
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_shapes={"x": {0: torch.export.Dim("batch")}},
            opset_version=OPSET,
            optimize=False,
            verbose=False,
        )
    assert program is not None, "torch.onnx.export(dynamo=True) returns the program"
    model = program.model
    names = set(torch_model.state_dict())

    def keeps_parameters(node: ir.Node) -> bool | None:
        # Fold the exporter's own constants, never the network's parameters: the torch
        # forward sums a projection unit's two conv biases (one add instead of two), and
        # folding that sum would leave one bias where the spec has two. ONNX Runtime folds
        # it when it loads the file.
        return False if any(v is not None and v.name in names for v in node.inputs) else None

    optimizer.fold_constants(model, should_fold=keeps_parameters)
    # The exporter gives a bias-free conv an all-zero bias; drop it, so that the file
    # holds the network's parameters and nothing else (ONNX Runtime adds one when it
    # fuses the BN that follows).
    for node in model.graph:
        if node.op_type == "Conv" and len(node.inputs) == 3 and node.inputs[2] is not None:
            bias = node.inputs[2]
            tensor = ir.convenience.get_const_tensor(bias)
            if bias.name not in names and tensor is not None and not tensor.numpy().any():
                node.replace_input_with(2, None)
    ir.passes.common.RemoveUnusedNodesPass()(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        program.save(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def build(depth: int, num_classes: int = 1000, *, image_size: int = 224, seed: int = 0) -> Any:
    """An onnx.ModelProto of a freshly initialised torch model, exported at `image_size`."""
    spec.check_depth(depth)
    import torch

    from networks.torch_resnet import build as build_torch

    torch.manual_seed(seed)
    return from_torch(build_torch(depth, num_classes), image_size)


def from_torch(torch_model: Any, image_size: int) -> Any:
    """The torch model (its weights included) as an onnx.ModelProto."""
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        export(torch_model, image_size, path)
        return onnx.load(str(path))


def session(model: Any, threads: int | None = None) -> Any:
    """A CPU InferenceSession with every graph optimisation, from a ModelProto or a path."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads is not None:
        options.intra_op_num_threads = threads
    source = str(model) if isinstance(model, str | Path) else model.SerializeToString()
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def logits(model: Any, images_nchw: np.ndarray) -> np.ndarray:
    """Inference logits for NCHW float32 images (verification; not the timed path)."""
    out: np.ndarray = session(model).run([OUTPUT], {INPUT: images_nchw})[0]
    return out


def _initializers(model: Any) -> dict[str, Any]:
    return {init.name: init for init in model.graph.initializer}


def count_params(model: Any) -> tuple[int, int]:
    """(trainable, total): every float initializer, less the BN moving statistics for
    trainable."""
    inits = _initializers(model)
    floats = {n: math.prod(i.dims) for n, i in inits.items() if i.data_type == FLOAT}
    stats = {
        node.input[k]
        for node in model.graph.node
        if node.op_type == "BatchNormalization"
        for k in BN_STATISTICS
    }
    total = sum(floats.values())
    return total - sum(floats.get(name, 0) for name in stats), total


def _shapes(model: Any, image_size: int) -> dict[str, tuple[int, ...]]:
    """Static shapes of every value, by ONNX shape inference (the batch axis left as 0)."""
    import onnx

    dims = model.graph.input[0].type.tensor_type.shape.dim
    size = tuple(d.dim_value for d in dims[2:])
    if size != (image_size, image_size):
        raise ValueError(f"model input is {size}, not {image_size}; export it at that size")
    inferred = onnx.shape_inference.infer_shapes(model)
    values = [*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input]
    return {v.name: tuple(d.dim_value for d in v.type.tensor_type.shape.dim) for v in values}


def count_macs(model: Any, image_size: int) -> int:
    """Conv and Gemm/MatMul multiply-accumulates per image, from the graph's shapes."""
    shapes = _shapes(model, image_size)
    inits = {n: tuple(i.dims) for n, i in _initializers(model).items()}
    total = 0
    for node in model.graph.node:
        if node.op_type == "Conv":
            weight = inits[node.input[1]]  # [out, in/groups, kh, kw]
            per_image = math.prod(shapes[node.output[0]][1:])
            total += per_image * math.prod(weight[1:])
        elif node.op_type in ("Gemm", "MatMul"):
            raise ValueError(f"{node.op_type} node {node.name!r}: its MACs are not counted")
    return total


def feature_shape(model: Any, image_size: int) -> tuple[int, int, int]:
    """(channels, height, width) of the last feature map: the input of the last BN."""
    shapes = _shapes(model, image_size)
    last = [n for n in model.graph.node if n.op_type == "BatchNormalization"][-1]
    _, c, h, w = shapes[last.input[0]]
    return c, h, w


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="export ResNet-V2 from torch to ONNX")
    p.add_argument("--depth", type=int, required=True)
    p.add_argument("--num-classes", type=int, default=1000)
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("out", type=Path)
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "0")) or torch.get_num_threads())
    from networks.torch_resnet import build as build_torch

    export(build_torch(args.depth, args.num_classes), args.image_size, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
