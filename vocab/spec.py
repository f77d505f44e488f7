"""The ResNet-V2 architecture as data (TF-slim resnet_v2, He et al. 2016).

Adding a depth is one line in DEPTHS. Both framework builders walk `blocks(depth)`, and the
parameter and MAC counts below are computed from the same description, so a builder that
drifts from the spec fails the tests that compare it with the built models.

Layer names (`root/conv`, `block1/unit2/conv3`, `postnorm`, `logits`) are shared by both
builders: torch uses them with "." and Keras with "_" as the separator, which is how
weight transfer pairs the layers.
"""

from __future__ import annotations

from dataclasses import dataclass

# depth -> units per block; block widths are 64, 128, 256, 512 (bottleneck out = 4x).
DEPTHS: dict[int, tuple[int, int, int, int]] = {
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
    200: (3, 24, 36, 3),
}

WIDTHS: tuple[int, int, int, int] = (64, 128, 256, 512)
EXPANSION = 4
BLOCK_STRIDES: tuple[int, int, int, int] = (2, 2, 2, 1)  # applied in each block's LAST unit
IN_CHANNELS = 3
ROOT_CHANNELS = 64
ROOT_KERNEL, ROOT_STRIDE, ROOT_PAD = 7, 2, 3
POOL_KERNEL, POOL_STRIDE = 3, 2
FEATURES = WIDTHS[-1] * EXPANSION  # 2048 channels before the head
REDUCTION = 32  # total downsampling: root conv, pool, blocks 1-3
BN_EPSILON = 1e-5
BN_DECAY = 0.997  # TF/Keras momentum; torch momentum = 1 - decay
WEIGHT_DECAY = 1e-4  # on conv weights (for training runs)


@dataclass(frozen=True)
class Unit:
    """One bottleneck unit: preact BN+ReLU, 1x1 -> 3x3/stride -> 1x1, plus shortcut."""

    name: str
    in_channels: int
    bottleneck: int
    out_channels: int
    stride: int

    @property
    def projection(self) -> bool:
        """A 1x1 conv shortcut (on the preactivation) instead of the subsampled input."""
        return self.in_channels != self.out_channels


@dataclass(frozen=True)
class Conv:
    """A square convolution, with the spatial size of its output at a given input size."""

    name: str
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    bias: bool
    out_size: int

    @property
    def params(self) -> int:
        weights = self.kernel * self.kernel * self.in_channels * self.out_channels
        return weights + (self.out_channels if self.bias else 0)

    @property
    def macs(self) -> int:
        """Multiply-accumulates per image: each output element sums in_ch * k * k products."""
        per_output = self.in_channels * self.kernel * self.kernel
        return self.out_size * self.out_size * self.out_channels * per_output


@dataclass(frozen=True)
class BatchNorm:
    name: str
    channels: int

    @property
    def trainable(self) -> int:
        return 2 * self.channels  # gamma, beta

    @property
    def total(self) -> int:
        return 4 * self.channels  # + moving mean and variance, counted like Keras does


def check_depth(depth: object) -> int:
    if isinstance(depth, bool) or not isinstance(depth, int) or depth not in DEPTHS:
        allowed = ", ".join(str(d) for d in DEPTHS)
        raise ValueError(f"unknown depth {depth!r}; allowed: {allowed}")
    return depth


def blocks(depth: int) -> tuple[tuple[Unit, ...], ...]:
    """The four blocks of units; the stride sits in the last unit of blocks 1-3."""
    in_channels = ROOT_CHANNELS
    result = []
    for b, (count, width, stride) in enumerate(
        zip(DEPTHS[check_depth(depth)], WIDTHS, BLOCK_STRIDES, strict=True), start=1
    ):
        units = []
        for u in range(1, count + 1):
            out = width * EXPANSION
            last = u == count
            units.append(Unit(f"block{b}/unit{u}", in_channels, width, out, stride if last else 1))
            in_channels = out
        result.append(tuple(units))
    return tuple(result)


def conv_out(size: int, kernel: int, stride: int, pad: int) -> int:
    """Output size of a convolution or pool with explicit symmetric padding, then VALID."""
    return (size + 2 * pad - kernel) // stride + 1


def same_out(size: int, stride: int) -> int:
    """Output size under TF 'SAME' padding (independent of the kernel size)."""
    return -(-size // stride)


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF 'SAME' padding (before, after): any odd pixel of padding goes after."""
    total = max((same_out(size, stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def layers(depth: int, num_classes: int = 1000, image_size: int = 224) -> list[Conv | BatchNorm]:
    """Every layer with weights, in forward order, with conv output sizes at `image_size`."""
    if image_size < 1 or num_classes < 1:
        raise ValueError("image_size and num_classes must be positive")
    size = conv_out(image_size, ROOT_KERNEL, ROOT_STRIDE, ROOT_PAD)
    out: list[Conv | BatchNorm] = [
        Conv("root/conv", IN_CHANNELS, ROOT_CHANNELS, ROOT_KERNEL, ROOT_STRIDE, True, size)
    ]
    size = same_out(size, POOL_STRIDE)
    for unit in (u for block in blocks(depth) for u in block):
        n, i, b, o = unit.name, unit.in_channels, unit.bottleneck, unit.out_channels
        # the 3x3 conv pads 1 each side then VALID; its output size always equals the
        # 'SAME' 1x1 shortcut's, ceil(size / stride), so the two branches can be added
        strided = conv_out(size, 3, unit.stride, 1)
        out.append(BatchNorm(f"{n}/preact", i))
        if unit.projection:
            out.append(Conv(f"{n}/shortcut", i, o, 1, unit.stride, True, strided))
        out += [
            Conv(f"{n}/conv1", i, b, 1, 1, False, size),
            BatchNorm(f"{n}/bn1", b),
            Conv(f"{n}/conv2", b, b, 3, unit.stride, False, strided),
            BatchNorm(f"{n}/bn2", b),
            Conv(f"{n}/conv3", b, o, 1, 1, True, strided),
        ]
        size = strided
    out += [BatchNorm("postnorm", FEATURES), Conv("logits", FEATURES, num_classes, 1, 1, True, 1)]
    return out


def count_params(depth: int, num_classes: int = 1000) -> tuple[int, int]:
    """(trainable, total): total also counts BN moving mean and variance, like Keras."""
    trainable = total = 0
    for layer in layers(depth, num_classes):
        if isinstance(layer, Conv):
            trainable += layer.params
            total += layer.params
        else:
            trainable += layer.trainable
            total += layer.total
    return trainable, total


def macs(depth: int, image_size: int = 224, num_classes: int = 1000) -> int:
    """Forward multiply-accumulates per image: convolutions and the logits layer only.

    BN, ReLU, pooling, the global mean, shortcut subsampling, residual adds and bias adds
    are not counted (they are O(activations), not O(weights x activations)).
    """
    return sum(c.macs for c in layers(depth, num_classes, image_size) if isinstance(c, Conv))


def gmacs(depth: int, image_size: int = 224, num_classes: int = 1000) -> float:
    return macs(depth, image_size, num_classes) / 1e9


def feature_size(depth: int, image_size: int = 224) -> int:
    """Side of the final feature map (before the global mean): image_size / 32, rounded up."""
    last = [layer for layer in layers(depth, image_size=image_size) if isinstance(layer, Conv)][-2]
    return last.out_size


BYTES_PER_ELEMENT = {"fp32": 4, "bf16": 2, "fp16": 2}


def activation_bytes(
    depth: int, image_size: int, batch_size: int, mode: str = "inference", precision: str = "fp32"
) -> int:
    """A rough lower bound of a step's activation memory, for a warning before a case that
    cannot fit is tried: inference holds about two feature maps at a time (a layer's input
    and output), training keeps every conv output and its BN/ReLU output for the backward
    pass. Weights, workspaces and the allocator's slack come on top."""
    outs = [
        c.out_size * c.out_size * c.out_channels for c in layers(depth, 1, image_size)
        if isinstance(c, Conv)
    ]  # fmt: skip
    per_image = 2 * sum(outs) if mode == "training" else 2 * max(outs)
    return per_image * batch_size * BYTES_PER_ELEMENT.get(precision, 4)
