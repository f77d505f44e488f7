"""Copy weights from the torch model into the TensorFlow model (and back) so that both
compute the same function (the JAX copy is networks.jax_resnet.torch_to_jax).

Layers pair by name: torch module `block1.unit2.conv3` <-> Keras layer `block1_unit2_conv3`
<-> Flax attribute path `block1/unit2/conv3` (all come from vocab.spec's layer names). Every
layer with weights must pair, and every shape must match, so a structural difference fails
loudly. (ONNX Runtime needs no transfer: its graph is exported from the torch model.)
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np


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
