"""ResNet-V2 as a Flax NNX module on JAX (NHWC), built from vocab.spec.

Attribute paths follow the spec's layer names with "/" (`block1/unit2/conv3`), which is how
`torch_to_jax` pairs them with the torch modules. Parameters are float32; the
compute dtype follows the precision (bf16: bfloat16 activations and matmuls, float32
parameters, BN statistics reduced in float32). Logits come back as float32.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from vocab import spec

DTYPES: dict[str, Any] = {"fp32": jnp.float32, "bf16": jnp.bfloat16, "fp16": jnp.float16}


class _Layers:
    """Makes the layers of one model: its compute dtype, float32 parameters, and weights
    drawn by numpy (jax.random would compile a program per weight shape: seconds per model
    on a small CPU, and random weights are all the suite needs)."""

    def __init__(self, dtype: Any, seed: int) -> None:
        self.dtype = dtype
        self.rng = np.random.default_rng(seed)
        self.rngs = nnx.Rngs(seed)  # Flax's layers ask for one; the draws are numpy's

    def _uniform(self, bound: float) -> Callable[..., jax.Array]:
        def init(_key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
            return jnp.asarray(self.rng.uniform(-bound, bound, shape).astype(dtype))

        return init

    def conv(
        self, c_in: int, c_out: int, kernel: int, stride: int, *, bias: bool, pad: int | None
    ) -> nnx.Conv:
        """pad=None: TF 'SAME'; pad=n: explicit symmetric zero padding, then VALID."""
        # torch's default init, U(+-1/sqrt(fan_in)) for kernel and bias: it keeps each
        # residual branch small, so 200 layers of random weights stay finite in bf16
        # (Flax's default lecun_normal lets inference activations grow through the blocks)
        bound = 1.0 / math.sqrt(c_in * kernel * kernel)
        return nnx.Conv(
            c_in,
            c_out,
            (kernel, kernel),
            (stride, stride),
            padding="SAME" if pad is None else ((pad, pad), (pad, pad)),
            use_bias=bias,
            dtype=self.dtype,
            param_dtype=jnp.float32,
            kernel_init=self._uniform(bound),
            bias_init=self._uniform(bound),
            rngs=self.rngs,
        )

    def bn(self, channels: int) -> nnx.BatchNorm:
        # Flax's momentum is the decay of the moving statistics, as in Keras
        return nnx.BatchNorm(
            channels,
            momentum=spec.BN_DECAY,
            epsilon=spec.BN_EPSILON,
            dtype=self.dtype,
            param_dtype=jnp.float32,
            rngs=self.rngs,
        )


class Unit(nnx.Module):
    def __init__(self, unit: spec.Unit, make: _Layers) -> None:
        i, b, o, s = unit.in_channels, unit.bottleneck, unit.out_channels, unit.stride
        self.stride = s
        self.preact = make.bn(i)
        self.shortcut = make.conv(i, o, 1, s, bias=True, pad=None) if unit.projection else None
        self.conv1 = make.conv(i, b, 1, 1, bias=False, pad=None)
        self.bn1 = make.bn(b)
        # slim's conv2d_same: 'SAME' at stride 1, explicit symmetric pad then VALID at stride 2
        self.conv2 = make.conv(b, b, 3, s, bias=False, pad=None if s == 1 else 1)
        self.bn2 = make.bn(b)
        self.conv3 = make.conv(b, o, 1, 1, bias=True, pad=None)

    def __call__(self, x: jax.Array) -> jax.Array:
        preact = nnx.relu(self.preact(x))
        if self.shortcut is not None:
            shortcut = self.shortcut(preact)
        else:  # slim's subsample: a 1x1 max-pool with the unit's stride
            shortcut = x[:, :: self.stride, :: self.stride, :]
        r = nnx.relu(self.bn1(self.conv1(preact)))
        r = nnx.relu(self.bn2(self.conv2(r)))
        out: jax.Array = shortcut + self.conv3(r)
        return out


class Block(nnx.Module):
    def __init__(self, units: tuple[spec.Unit, ...], make: _Layers) -> None:
        self.names = tuple(u.name.rsplit("/", 1)[1] for u in units)
        for name, unit in zip(self.names, units, strict=True):
            setattr(self, name, Unit(unit, make))

    def __call__(self, x: jax.Array) -> jax.Array:
        for name in self.names:
            x = getattr(self, name)(x)
        return x


class Root(nnx.Module):
    def __init__(self, make: _Layers) -> None:
        self.conv = make.conv(
            spec.IN_CHANNELS,
            spec.ROOT_CHANNELS,
            spec.ROOT_KERNEL,
            spec.ROOT_STRIDE,
            bias=True,
            pad=spec.ROOT_PAD,
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        # lax's 'SAME' is TF's: extra padding bottom/right; the pad is -inf, never the max
        k, s = spec.POOL_KERNEL, spec.POOL_STRIDE
        out: jax.Array = jax.lax.reduce_window(
            self.conv(x), -jnp.inf, jax.lax.max, (1, k, k, 1), (1, s, s, 1), "SAME"
        )
        return out


class ResNetV2(nnx.Module):
    """Pre-activation ResNet: root, four blocks, BN+ReLU, global mean, 1x1 conv logits."""

    def __init__(
        self, depth: int, num_classes: int = 1000, *, dtype: Any = jnp.float32, seed: int = 0
    ) -> None:
        make = _Layers(dtype, seed)
        self.depth = depth
        self.dtype = dtype
        self.root = Root(make)
        self.blocks = tuple(f"block{i}" for i in range(1, len(spec.WIDTHS) + 1))
        for name, units in zip(self.blocks, spec.blocks(depth), strict=True):
            setattr(self, name, Block(units, make))
        self.postnorm = make.bn(spec.FEATURES)
        self.logits = make.conv(spec.FEATURES, num_classes, 1, 1, bias=True, pad=None)

    def features(self, x: jax.Array) -> jax.Array:
        """The last feature map, [N, H/32, W/32, 2048], before the head."""
        x = self.root(x.astype(self.dtype))
        for name in self.blocks:
            x = getattr(self, name)(x)
        return x

    def __call__(self, x: jax.Array) -> jax.Array:
        x = nnx.relu(self.postnorm(self.features(x)))
        x = jnp.mean(x, axis=(1, 2), keepdims=True)
        logits = self.logits(x)
        return logits.reshape(logits.shape[0], -1).astype(jnp.float32)


def build(
    depth: int, num_classes: int = 1000, *, precision: str = "fp32", seed: int = 0
) -> ResNetV2:
    """The model with BN in training mode (batch statistics); `inference(model)` gives a view
    of the same weights with BN on the moving statistics. Input [N, H, W, 3]."""
    spec.check_depth(depth)
    if precision not in DTYPES:
        raise ValueError(f"unknown precision {precision!r}; allowed: {', '.join(DTYPES)}")
    return ResNetV2(depth, num_classes, dtype=DTYPES[precision], seed=seed)


def inference(model: ResNetV2) -> ResNetV2:
    """The same weights with BN on its moving statistics (Flax's recommended nnx.view)."""
    view: ResNetV2 = nnx.view(model, use_running_average=True)
    return view  # type: ignore[no-any-return]


def layer(model: ResNetV2, name: str) -> Any:
    """The submodule at a spec layer name ('block1/unit2/conv3')."""
    node: Any = model
    for part in name.split("/"):
        node = getattr(node, part)
    return node


def layers(model: ResNetV2) -> Iterator[tuple[str, nnx.Conv | nnx.BatchNorm]]:
    """(spec name, module) of every layer with weights."""
    for path, node in nnx.iter_graph(model):
        if isinstance(node, nnx.Conv | nnx.BatchNorm):
            yield "/".join(str(p) for p in path), node


def _size(tree: Any) -> int:
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree))


def count_params(model: ResNetV2) -> tuple[int, int]:
    """(trainable, total): total adds the BN moving mean and variance (nnx.BatchStat)."""
    trainable = _size(nnx.state(model, nnx.Param))
    return trainable, trainable + _size(nnx.state(model, nnx.BatchStat))


def _zeros(image_size: int) -> jax.ShapeDtypeStruct:
    shape = (1, image_size, image_size, spec.IN_CHANNELS)
    return jax.ShapeDtypeStruct(shape, jnp.float32)  # type: ignore[no-untyped-call]


def _pure(model: ResNetV2, method: str = "__call__") -> tuple[Callable[..., jax.Array], Any]:
    """A pure function (state, images) of the inference view, and its state: JAX traces
    it without touching the module's variables."""
    graphdef, state = nnx.split(inference(model))

    def forward(state: Any, x: jax.Array) -> jax.Array:
        out: jax.Array = getattr(nnx.merge(graphdef, state), method)(x)
        return out

    return forward, state


def feature_shape(model: ResNetV2, image_size: int) -> tuple[int, int, int]:
    """(channels, height, width) of the last feature map, from abstract evaluation."""
    forward, state = _pure(model, "features")
    _, h, w, c = jax.eval_shape(forward, state, _zeros(image_size)).shape
    return int(c), int(h), int(w)


def count_macs(model: ResNetV2, image_size: int) -> int:
    """Convolution and dot multiply-accumulates of one inference forward pass on one image,
    read from the traced program (the jaxpr XLA compiles), not from the module tree."""
    forward, state = _pure(model)
    return _jaxpr_macs(jax.make_jaxpr(forward)(state, _zeros(image_size)).jaxpr)


def _jaxpr_macs(jaxpr: Any) -> int:
    total = 0
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name == "conv_general_dilated":
            out = eqn.outvars[0].aval.shape
            rhs = eqn.invars[1].aval.shape
            out_dim = eqn.params["dimension_numbers"].rhs_spec[0]
            # each output element sums in/groups * kh * kw products: the kernel less its
            # output-feature axis
            total += math.prod(out) * math.prod(rhs) // rhs[out_dim]
        elif name == "dot_general":
            (contract, _), _ = eqn.params["dimension_numbers"]
            lhs = eqn.invars[0].aval.shape
            total += math.prod(eqn.outvars[0].aval.shape) * math.prod(lhs[d] for d in contract)
        for param in eqn.params.values():  # nested programs: jit, custom_jvp, ...
            inner = getattr(param, "jaxpr", param)
            if hasattr(inner, "eqns"):
                total += _jaxpr_macs(inner)
    return total


def torch_to_jax(src: Any, dst: Any) -> None:
    """Copy a torch model's weights and BN statistics into a Flax NNX ResNetV2."""
    from torch import nn

    paired = set()
    for name, module in src.named_modules():
        if not isinstance(module, nn.Conv2d | nn.BatchNorm2d):
            continue
        path = name.replace(".", "/")
        target = layer(dst, path)
        paired.add(path)
        pairs: list[tuple[Any, Any]]
        if isinstance(module, nn.Conv2d):
            pairs = [(target.kernel, module.weight.permute(2, 3, 1, 0))]  # OIHW -> HWIO
            if module.bias is not None:
                pairs.append((target.bias, module.bias))
        else:
            pairs = [
                (target.scale, module.weight),
                (target.bias, module.bias),
                (target.mean, module.running_mean),
                (target.var, module.running_var),
            ]
        for variable, tensor in pairs:
            array = tensor.detach().cpu().numpy()
            if tuple(variable.shape) != array.shape:
                raise ValueError(f"{path}: shape {array.shape} != {tuple(variable.shape)}")
            variable.set_value(jnp.asarray(array, dtype=variable.dtype))
    unpaired = [name for name, _ in layers(dst) if name not in paired]
    if unpaired:
        raise ValueError(f"Flax layers with no torch counterpart: {', '.join(unpaired)}")


def from_torch(torch_model: Any, image_size: int) -> ResNetV2:
    """A model of the torch model's depth and classes (fp32), with its weights."""
    model = build(torch_model.depth, torch_model.logits.out_channels)
    torch_to_jax(torch_model, model)
    return model


def logits(model: ResNetV2, images_nchw: np.ndarray) -> np.ndarray:
    """Inference logits for NCHW float32 images (verification; not the timed path)."""
    forward, state = _pure(model)
    # one compiled program: op by op, JAX would compile each layer's shapes separately
    return np.asarray(jax.jit(forward)(state, jnp.asarray(images_nchw.transpose(0, 2, 3, 1))))
