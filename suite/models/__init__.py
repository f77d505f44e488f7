"""Model builders, one module per framework, imported only when that framework is asked for.

Each builder module exposes `build(depth, num_classes=1000, **options)` returning the
framework's native model, and `count_params(model)`, `count_macs(model, image_size)` and
`feature_shape(model, image_size)` measuring a built model (the tests hold these against
suite.spec; TensorFlow needs a model built with a fixed `image_size` for the last two).

Adding a framework = one module plus one line in BUILDERS (its name must also be in
suite.case.FRAMEWORKS).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from suite import spec
from suite.case import FRAMEWORKS

# framework -> builder module
BUILDERS: dict[str, str] = {
    "torch": "suite.models.torch_resnet",
    "tensorflow": "suite.models.tf_resnet",
}
assert tuple(BUILDERS) == FRAMEWORKS, "BUILDERS and suite.case.FRAMEWORKS must list the same"


def check_framework(framework: object) -> str:
    if not isinstance(framework, str) or framework not in BUILDERS:
        raise ValueError(f"unknown framework {framework!r}; allowed: {', '.join(BUILDERS)}")
    return framework


def builder(framework: str) -> ModuleType:
    """The framework's builder module; importing it imports the framework."""
    return importlib.import_module(BUILDERS[check_framework(framework)])


def build_model(framework: str, depth: int, num_classes: int = 1000, **options: Any) -> Any:
    """The native model: a torch.nn.Module (NCHW) or a built keras.Model (NHWC).

    Options are the builder's own: torch `channels_last`; tensorflow `precision`,
    `image_size`. Raises ValueError for an unknown framework or depth.
    """
    check_framework(framework)
    spec.check_depth(depth)  # before the (slow) framework import
    return builder(framework).build(depth, num_classes, **options)
