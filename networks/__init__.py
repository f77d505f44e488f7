"""Model builders, one module per framework, imported only when that framework is asked for.

Each builder module exposes `build(depth, num_classes=1000, **options)` returning the
framework's native model, and `count_params(model)`, `count_macs(model, image_size)` and
`feature_shape(model, image_size)` measuring a built model (the tests hold these against
vocab.spec; a builder whose model has a fixed input shape needs it built at `image_size`
for the last two). For the proof that all compute the same function (networks.verify), each also has
`from_torch(torch_model, image_size)`, its model with the torch model's weights, and
`logits(model, images_nchw)`, inference logits as a float32 numpy array.

A framework's builder module is named by its record (vocab.runtimes).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from vocab import spec
from vocab.runtimes import runtime


def check_framework(framework: object) -> str:
    """`framework` if it has a record; else UnknownRuntime (a ValueError) listing them."""
    return runtime(framework).name


def builder(framework: str) -> ModuleType:
    """The framework's builder module; importing it imports the framework."""
    return importlib.import_module(runtime(framework).builder)


def build_model(framework: str, depth: int, num_classes: int = 1000, **options: Any) -> Any:
    """The native model: a torch.nn.Module (NCHW), a built keras.Model (NHWC), a Flax NNX
    module (NHWC) or an onnx.ModelProto (NCHW, exported from torch).

    Options are the builder's own (see its `build`): `channels_last`, `precision`,
    `image_size` (a static input size), `seed`. Raises
    ValueError for an unknown framework or depth.
    """
    check_framework(framework)
    spec.check_depth(depth)  # before the (slow) framework import
    return builder(framework).build(depth, num_classes, **options)
