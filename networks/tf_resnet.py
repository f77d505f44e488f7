"""ResNet-V2 as a native Keras 3 functional model on TensorFlow (NHWC), built from vocab.spec.

Layer names follow the spec's layer names with "_" (`block1_unit2_conv3`), which is how
`transfer` pairs them with the torch modules (`block1.unit2.conv3`) to copy weights either
way: every layer with weights must pair and every shape must match, so a structural
difference fails loudly. The model is built (variables created) on return, honours
`training=`, and can be wrapped in `tf.function(model, jit_compile=True)`.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import keras
import numpy as np
from keras import layers

from vocab import spec

# precision -> Keras dtype policy: variables stay float32, compute runs in the low precision
POLICIES: dict[str, str] = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


def keras_name(name: str) -> str:
    return name.replace("/", "_")


class _Builder:
    """Applies layers with the model's dtype policy and spec-derived names."""

    def __init__(self, policy: str) -> None:
        self.policy = policy

    def bn(self, name: str, x: Any) -> Any:
        bn = layers.BatchNormalization(
            momentum=spec.BN_DECAY,
            epsilon=spec.BN_EPSILON,
            name=keras_name(name),
            dtype=self.policy,
        )
        return bn(x)

    def bn_relu(self, name: str, x: Any) -> Any:
        return layers.ReLU(name=keras_name(name) + "_relu", dtype=self.policy)(self.bn(name, x))

    def conv(
        self,
        name: str,
        x: Any,
        filters: int,
        kernel: int,
        stride: int = 1,
        *,
        bias: bool,
        pad: int | None = None,
    ) -> Any:
        """pad=None: TF 'SAME'; pad=n: explicit symmetric zero padding, then VALID."""
        if pad:
            x = layers.ZeroPadding2D(pad, name=keras_name(name) + "_pad", dtype=self.policy)(x)
        conv = layers.Conv2D(
            filters,
            kernel,
            stride,
            padding="same" if pad is None else "valid",
            use_bias=bias,
            name=keras_name(name),
            dtype=self.policy,
        )
        return conv(x)

    def unit(self, unit: spec.Unit, x: Any) -> Any:
        n, s = unit.name, unit.stride
        preact = self.bn_relu(f"{n}/preact", x)
        if unit.projection:
            shortcut = self.conv(f"{n}/shortcut", preact, unit.out_channels, 1, s, bias=True)
        elif s > 1:  # slim's subsample: a 1x1 max-pool with the unit's stride
            pool = layers.MaxPooling2D(1, s, name=keras_name(n) + "_subsample", dtype=self.policy)
            shortcut = pool(x)
        else:
            shortcut = x
        r = self.bn_relu(
            f"{n}/bn1", self.conv(f"{n}/conv1", preact, unit.bottleneck, 1, bias=False)
        )
        # slim's conv2d_same: 'SAME' at stride 1, explicit symmetric pad then VALID at stride > 1
        r = self.conv(f"{n}/conv2", r, unit.bottleneck, 3, s, bias=False, pad=None if s == 1 else 1)
        r = self.bn_relu(f"{n}/bn2", r)
        r = self.conv(f"{n}/conv3", r, unit.out_channels, 1, bias=True)
        return layers.Add(name=keras_name(n) + "_add", dtype=self.policy)([shortcut, r])


def build(
    depth: int,
    num_classes: int = 1000,
    *,
    precision: str = "fp32",
    image_size: int | None = None,
) -> keras.Model:
    """A built keras.Model taking [N, H, W, 3] and returning float32 logits [N, classes].

    image_size=None accepts any input size (each new size retraces under tf.function);
    an int fixes the input shape, so every layer's output shape is static.
    """
    spec.check_depth(depth)
    if precision not in POLICIES:
        raise ValueError(f"unknown precision {precision!r}; allowed: {', '.join(POLICIES)}")
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            f"Keras backend is {keras.backend.backend()!r}; set KERAS_BACKEND=tensorflow"
        )
    b = _Builder(POLICIES[precision])
    inputs = keras.Input(shape=(image_size, image_size, spec.IN_CHANNELS), name="images")
    x = b.conv(
        "root/conv",
        inputs,
        spec.ROOT_CHANNELS,
        spec.ROOT_KERNEL,
        spec.ROOT_STRIDE,
        bias=True,
        pad=spec.ROOT_PAD,
    )
    # Keras 'same' max-pool is TF's: extra padding bottom/right, padding never wins
    x = layers.MaxPooling2D(
        spec.POOL_KERNEL, spec.POOL_STRIDE, padding="same", name="root_pool", dtype=b.policy
    )(x)
    for unit in (u for block in spec.blocks(depth) for u in block):
        x = b.unit(unit, x)
    x = b.bn_relu("postnorm", x)
    x = layers.GlobalAveragePooling2D(keepdims=True, name="pool", dtype=b.policy)(x)
    x = b.conv("logits", x, num_classes, 1, bias=True)
    # a float32 policy on the last layer casts the logits back from a mixed policy
    logits = layers.Flatten(name="flatten", dtype="float32")(x)
    return keras.Model(inputs, logits, name=f"resnet_v2_{depth}")


def count_params(model: keras.Model) -> tuple[int, int]:
    """(trainable, total); Keras' total includes the BN moving mean and variance."""
    trainable = sum(int(math.prod(w.shape)) for w in model.trainable_weights)
    return trainable, int(model.count_params())


def _check_static(model: keras.Model, image_size: int) -> None:
    shape = tuple(model.inputs[0].shape[1:3])
    if shape != (image_size, image_size):
        raise ValueError(f"model input is {shape}, not {image_size}; build it with image_size")


def feature_shape(model: keras.Model, image_size: int) -> tuple[int, int, int]:
    """(channels, height, width) of the last feature map, from static shapes."""
    _check_static(model, image_size)
    _, h, w, c = model.get_layer("postnorm").input.shape
    return int(c), int(h), int(w)


def count_macs(model: keras.Model, image_size: int) -> int:
    """Conv and dense multiply-accumulates per image, from the layers' static output shapes.

    Needs a model built with `image_size=` (a fixed input shape); tracing a dynamic-shape
    model instead would take seconds per depth.
    """
    _check_static(model, image_size)
    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D | layers.Dense):
            # each output element sums in * kh * kw (conv) or in (dense) products
            per_output = math.prod(layer.kernel.shape[:-1])
            total += math.prod(layer.output.shape[1:]) * per_output
    return int(total)


def from_torch(torch_model: Any, image_size: int) -> keras.Model:
    """A model of the torch model's depth and classes, with its weights, at `image_size`."""
    model = build(torch_model.depth, torch_model.logits.out_channels, image_size=image_size)
    torch_to_tf(torch_model, model)
    return model


def logits(model: keras.Model, images_nchw: Any) -> Any:
    """Inference logits as a numpy array for NCHW images (verification; not timed)."""
    return np.asarray(model(images_nchw.transpose(0, 2, 3, 1), training=False))


# --- weights from and to the torch model ---------------------------------------------


def _is_torch(model: Any) -> bool:
    # a torch model exists only if torch is already imported: no import needed to check
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)


def _pairs(torch_model: Any, keras_model: Any) -> list[tuple[Any, Any]]:
    from torch import nn

    pairs = [
        (module, keras_model.get_layer(name.replace(".", "_")))
        for name, module in torch_model.named_modules()
        if isinstance(module, nn.Conv2d | nn.BatchNorm2d)
    ]
    paired = {layer.name for _, layer in pairs}
    unpaired = [
        layer.name for layer in keras_model.layers if layer.weights and layer.name not in paired
    ]
    if unpaired:
        raise ValueError(f"Keras layers with no torch counterpart: {', '.join(unpaired)}")
    return pairs


def _torch_tensors(module: Any) -> list[Any]:
    """The module's tensors in Keras' weight order (conv kernels still OIHW)."""
    from torch import nn

    if isinstance(module, nn.Conv2d):
        return [module.weight] + ([module.bias] if module.bias is not None else [])
    # Keras BN order: gamma, beta, moving mean, moving variance
    return [module.weight, module.bias, module.running_mean, module.running_var]


def torch_to_tf(src: Any, dst: Any) -> None:
    for module, layer in _pairs(src, dst):
        arrays = [t.detach().cpu().numpy() for t in _torch_tensors(module)]
        if arrays[0].ndim == 4:
            arrays[0] = arrays[0].transpose(2, 3, 1, 0)  # OIHW -> HWIO
        layer.set_weights(arrays)


def tf_to_torch(src: Any, dst: Any) -> None:
    import torch

    with torch.no_grad():
        for module, layer in _pairs(dst, src):
            targets, arrays = _torch_tensors(module), layer.get_weights()
            if len(arrays) != len(targets):
                raise ValueError(f"{layer.name}: {len(arrays)} Keras weights, {len(targets)} torch")
            if arrays[0].ndim == 4:
                arrays[0] = arrays[0].transpose(3, 2, 0, 1)  # HWIO -> OIHW
            for target, array in zip(targets, arrays, strict=True):
                if tuple(target.shape) != array.shape:
                    raise ValueError(f"{layer.name}: shape {array.shape} != {tuple(target.shape)}")
                target.copy_(torch.from_numpy(np.ascontiguousarray(array)))


def transfer(src: Any, dst: Any) -> None:
    """Copy all weights and BN statistics from `src` into `dst` (one torch, one Keras)."""
    if _is_torch(src) and not _is_torch(dst):
        torch_to_tf(src, dst)
    elif _is_torch(dst) and not _is_torch(src):
        tf_to_torch(src, dst)
    else:
        raise TypeError("transfer needs one torch.nn.Module and one keras.Model")
