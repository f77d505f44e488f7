"""ResNet-V2 as a native torch.nn.Module (NCHW), built from suite.spec.

Module paths follow the spec's layer names with "." (`block1.unit2.conv3`), which is how
suite.models.transfer pairs them with the TensorFlow layers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from suite import spec

# torch's momentum weighs the new batch: 1 - decay = 0.003 (rounded off the float noise)
MOMENTUM = round(1.0 - spec.BN_DECAY, 9)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=spec.BN_EPSILON, momentum=MOMENTUM)


class Unit(nn.Module):
    def __init__(self, unit: spec.Unit) -> None:
        super().__init__()
        self.stride = unit.stride
        self.preact = _bn(unit.in_channels)
        self.shortcut = (
            nn.Conv2d(unit.in_channels, unit.out_channels, 1, unit.stride, bias=True)
            if unit.projection
            else None
        )
        self.conv1 = nn.Conv2d(unit.in_channels, unit.bottleneck, 1, bias=False)
        self.bn1 = _bn(unit.bottleneck)
        # symmetric pad 1: TF 'SAME' at stride 1, slim's explicit pad-then-VALID at stride 2
        self.conv2 = nn.Conv2d(unit.bottleneck, unit.bottleneck, 3, unit.stride, 1, bias=False)
        self.bn2 = _bn(unit.bottleneck)
        self.conv3 = nn.Conv2d(unit.bottleneck, unit.out_channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        preact = F.relu(self.preact(x))
        if self.shortcut is not None:
            shortcut = self.shortcut(preact)
        else:
            shortcut = x[:, :, :: self.stride, :: self.stride]  # slim's 1x1 max-pool subsample
        r = F.relu(self.bn1(self.conv1(preact)))
        r = F.relu(self.bn2(self.conv2(r)))
        out: torch.Tensor = shortcut + self.conv3(r)
        return out


class Block(nn.Sequential):
    def __init__(self, units: tuple[spec.Unit, ...]) -> None:
        super().__init__()
        for unit in units:
            self.add_module(unit.name.rsplit("/", 1)[1], Unit(unit))


class Root(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            spec.IN_CHANNELS,
            spec.ROOT_CHANNELS,
            spec.ROOT_KERNEL,
            spec.ROOT_STRIDE,
            spec.ROOT_PAD,
            bias=True,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return same_max_pool(self.conv(x), spec.POOL_KERNEL, spec.POOL_STRIDE)


def same_max_pool(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TF 'SAME' max-pool: any odd pixel of padding goes bottom/right (torch pads only
    symmetrically), and the padding is -inf so it never wins."""
    top, bottom = spec.same_pads(x.shape[2], kernel, stride)
    left, right = spec.same_pads(x.shape[3], kernel, stride)
    x = F.pad(x, (left, right, top, bottom), value=-math.inf)
    return F.max_pool2d(x, kernel, stride)


class ResNetV2(nn.Module):
    """Pre-activation ResNet: root, four blocks, BN+ReLU, global mean, 1x1 conv logits."""

    def __init__(self, depth: int, num_classes: int = 1000) -> None:
        super().__init__()
        self.depth = depth
        self.root = Root()
        for i, units in enumerate(spec.blocks(depth), start=1):
            self.add_module(f"block{i}", Block(units))
        self.postnorm = _bn(spec.FEATURES)
        # torch's default init keeps each residual branch small, so activations stay
        # bounded through 200 layers of random weights
        self.logits = nn.Conv2d(spec.FEATURES, num_classes, 1, bias=True)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map, [N, 2048, H/32, W/32], before the head."""
        x = self.root(x)
        for i in range(1, len(spec.WIDTHS) + 1):
            x = getattr(self, f"block{i}")(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.postnorm(self.features(x)))
        x = x.mean(dim=(2, 3), keepdim=True)
        return torch.flatten(self.logits(x), 1)


def build(depth: int, num_classes: int = 1000, *, channels_last: bool = False) -> ResNetV2:
    """The model in training mode (call .eval() for inference), on the default device.

    channels_last=True stores the weights in torch.channels_last; inputs should then be
    converted too (`x.to(memory_format=torch.channels_last)`), or every conv pays a layout
    conversion. The logical input shape stays [N, 3, H, W] either way.
    """
    model = ResNetV2(spec.check_depth(depth), num_classes)
    if channels_last:
        # Module.to(memory_format=) is documented but missing from torch's type stubs
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return model


def count_params(model: nn.Module) -> tuple[int, int]:
    """(trainable, total); total adds BN running mean/var (float buffers), like Keras, and
    leaves out the integer num_batches_tracked counters."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    params = sum(p.numel() for p in model.parameters())
    stats = sum(b.numel() for b in model.buffers() if b.is_floating_point())
    return trainable, params + stats


def _zeros(model: nn.Module, image_size: int) -> torch.Tensor:
    p = next(model.parameters())
    return torch.zeros(1, spec.IN_CHANNELS, image_size, image_size, dtype=p.dtype, device=p.device)


def feature_shape(model: ResNetV2, image_size: int) -> tuple[int, int, int]:
    """(channels, height, width) of the last feature map for a square input."""
    with torch.no_grad():
        _, c, h, w = model.features(_zeros(model, image_size)).shape
    return c, h, w


def count_macs(model: nn.Module, image_size: int) -> int:
    """Conv and linear multiply-accumulates of one forward pass on a [1, 3, S, S] input,
    taken from the output shapes that forward hooks see."""
    total = 0

    def hook(module: nn.Module, inputs: object, output: torch.Tensor) -> None:
        nonlocal total
        weight = module.weight
        assert isinstance(weight, torch.Tensor)
        # each output element sums weight[0].numel() = in/groups * kh * kw products
        total += output.numel() * weight[0].numel()

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, nn.Conv2d | nn.Linear)
    ]
    try:
        with torch.no_grad():
            model(_zeros(model, image_size))
    finally:
        for h in handles:
            h.remove()
    return total
