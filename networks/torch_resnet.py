"""ResNet-V2 as a native torch.nn.Module (NCHW), built from vocab.spec.

Module paths follow the spec's layer names with "." (`block1.unit2.conv3`), which is how
every other builder's `from_torch` pairs its layers with them.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vocab import spec

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

    def residual(self, preact: torch.Tensor) -> torch.Tensor:
        """conv1-bn-relu, conv2-bn-relu: the branch up to conv3."""
        r = F.relu(self.bn1(self.conv1(preact)))
        return F.relu(self.bn2(self.conv2(r)))

    def subsample(self, x: torch.Tensor) -> torch.Tensor:
        # slim's subsample op, a 1x1 max-pool: its backward scatters, where a strided
        # slice's backward zero-fills and copies (the slower one in training on CUDA)
        return x if self.stride == 1 else F.max_pool2d(x, 1, self.stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        preact = F.relu(self.preact(x))
        r = self.residual(preact)
        if self.shortcut is None:
            out: torch.Tensor = self.subsample(x) + self.conv3(r)
            return out
        # One bias add per unit: the shortcut's and conv3's biases summed (the same sum).
        bias = _bias(self.shortcut) + _bias(self.conv3)
        return _conv(self.shortcut, preact, bias) + _conv(self.conv3, r)

    def forward_folded(self, t: torch.Tensor, shifted_mean: torch.Tensor) -> torch.Tensor:
        """Inference with the stream's biases pending (see ResNetV2.forward): `t` is the
        stream less a per-channel constant c, and `shifted_mean` is preact's running mean
        less c, so preact(t) with it equals preact(t + c). Returns the next stream less
        its own constant."""
        bn = self.preact
        preact = F.relu(
            F.batch_norm(t, shifted_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
        )
        r = _conv(self.conv3, self.residual(preact))
        if self.shortcut is None:
            out: torch.Tensor = self.subsample(t) + r  # max-pool commutes with + c
            return out
        return _conv(self.shortcut, preact) + r


def _bias(conv: nn.Conv2d) -> torch.Tensor:
    assert conv.bias is not None
    return conv.bias


def _conv(conv: nn.Conv2d, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """The conv with `bias` in place of its own (None: its bias is added elsewhere)."""
    out: torch.Tensor = conv._conv_forward(x, conv.weight, bias)
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
        self._folded: list[torch.Tensor] = []
        self._folded_key: tuple[tuple[int, int], ...] = ()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map, [N, 2048, H/32, W/32], before the head."""
        x = self.root(x)
        for i in range(1, len(spec.WIDTHS) + 1):
            x = getattr(self, f"block{i}")(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or torch.is_grad_enabled() or torch.compiler.is_compiling():
            features = self.features(x)
            x = F.relu(self.postnorm(features))
        else:
            x = self._folded_features(x)
        x = x.mean(dim=(2, 3), keepdim=True)
        return torch.flatten(self.logits(x), 1)

    def units(self) -> list[Unit]:
        return [u for i in range(1, len(spec.WIDTHS) + 1) for u in getattr(self, f"block{i}")]

    # -- inference with the conv biases folded into the BatchNorms ----------------------
    # The root conv's, conv3's and the shortcuts' biases add a per-channel constant c to the
    # residual stream, and every reader of the stream is either an inference BN (which
    # absorbs c into its running mean: BN(t + c) = BN'(t), mean' = mean - c), an identity
    # or max-pool shortcut (which carry c on), or the final BN. So without gradients the
    # stream runs as t = stream - c, and a unit costs one elementwise add (the residual)
    # instead of three: torch does not fuse a bias into a cuDNN conv. Same function, and the
    # biases stay parameters; the folded means are cached until a bias or a running mean
    # changes (an optimizer step, load_state_dict, .to()).

    def _folded_features(self, x: torch.Tensor) -> torch.Tensor:
        means = self._folded_means()
        t = same_max_pool(_conv(self.root.conv, x), spec.POOL_KERNEL, spec.POOL_STRIDE)
        for unit, mean in zip(self.units(), means, strict=False):
            t = unit.forward_folded(t, mean)
        bn = self.postnorm
        return F.relu(
            F.batch_norm(t, means[-1], bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
        )

    def _folded_means(self) -> list[torch.Tensor]:
        """Each preact BN's running mean, then the final BN's, less the stream's pending c."""
        sources = [self.root.conv.bias]
        for unit in self.units():
            sources += [unit.preact.running_mean, unit.conv3.bias]
            if unit.shortcut is not None:
                sources.append(unit.shortcut.bias)
        sources.append(self.postnorm.running_mean)
        key = tuple((t._version, t.data_ptr()) for t in sources if t is not None)
        if key != self._folded_key:
            with torch.no_grad():
                c = _bias(self.root.conv)
                means: list[torch.Tensor] = []
                for unit in self.units():
                    assert unit.preact.running_mean is not None
                    means.append(unit.preact.running_mean - c)
                    head = _bias(unit.conv3)
                    c = head + (c if unit.shortcut is None else _bias(unit.shortcut))
                assert self.postnorm.running_mean is not None
                means.append(self.postnorm.running_mean - c)
            self._folded = means
            self._folded_key = key
        return self._folded


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


def reference_model(depth: int, num_classes: int, seed: int) -> ResNetV2:
    """The model every framework is checked against (networks.verify), in inference mode,
    with seeded weights and non-trivial BN statistics."""
    torch.manual_seed(seed)
    model = build(depth, num_classes).eval()
    perturb(model, seed)
    return model


def perturb(model: Any, seed: int) -> None:
    """Give every BN layer non-trivial gamma, beta and moving statistics, and every
    conv bias a non-trivial value (the inference forward folds them into the BNs)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                assert m.running_mean is not None and m.running_var is not None
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.normal_(0.0, 0.1, generator=g)
                m.running_mean.normal_(0.0, 0.1, generator=g)
                m.running_var.uniform_(0.5, 1.5, generator=g)
            elif isinstance(m, torch.nn.Conv2d) and m.bias is not None:
                m.bias.normal_(0.0, 0.1, generator=g)


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
    """Multiply-accumulates of one forward pass on a [1, 3, S, S] input, counted by torch's
    FlopCounterMode from the convolutions actually dispatched (2 FLOPs per MAC), whichever
    path the forward takes."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(_zeros(model, image_size))
    return counter.get_total_flops() // 2


def from_torch(torch_model: ResNetV2, image_size: int) -> ResNetV2:
    """The reference itself (the proofs compare every framework with it)."""
    return torch_model


def logits(model: nn.Module, images_nchw: Any) -> Any:
    """Inference logits as a numpy array (verification; not the timed path)."""
    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(images_nchw)).numpy()
