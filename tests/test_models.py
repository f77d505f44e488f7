"""The built models in every framework against vocab.spec, and against each other.

Parametrized from vocab.spec.DEPTHS and vocab.runtimes.RUNTIMES: a new depth or framework is
covered without editing this file. Each (framework, depth) model is built once per module
(pytest groups the tests by the module-scoped fixture's parameter) and freed after use.
"""

from __future__ import annotations

import functools
import inspect
import subprocess
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from networks import build_model, builder
from networks.verify import REL_TOLERANCE, verify_depth
from runners.registry import missing
from tests.support.frameworks import framework_param
from tests.support.published import PUBLISHED
from vocab import spec
from vocab.case import FRAMEWORKS
from vocab.runtimes import RUNTIMES

SMALL = 64  # image size for shape-dependent checks: 64 px -> 2x2 final feature map
# A builder that takes an image size gets SMALL: its model has static shapes (TensorFlow
# reads MACs from layer output shapes, ONNX and OpenVINO from a graph exported at one size)
# Depth by depth, so that the runtimes fed by one ONNX export of a depth come one after
# the other and share it (onnx_export)
COMBOS = [(fw, depth) for depth in spec.DEPTHS for fw in FRAMEWORKS]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Any:
    """Small inputs gain nothing from more threads, and torch's spin-waiting OpenMP threads
    slow down 10x or more when the cores are shared with other processes."""
    if missing("torch"):
        yield
        return
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@dataclass
class Built:
    framework: str
    depth: int
    model: Any
    module: ModuleType


@functools.lru_cache(maxsize=1)
def onnx_export(depth: int) -> Any:
    """ONNX Runtime's model: the torch model's ONNX export at SMALL (seconds at the deeper
    depths), kept for the runtime after it that reads the same export (OpenVINO)."""
    return build_model("onnxruntime", depth, image_size=SMALL)


@pytest.fixture(scope="module")
def built(request: pytest.FixtureRequest) -> Built:
    framework, depth = request.param
    module = builder(framework)
    if framework == "onnxruntime":
        model = onnx_export(depth)
    elif hasattr(module, "from_onnx") and depth != min(spec.DEPTHS):
        model = module.from_onnx(onnx_export(depth))  # its build() does this, exporting again
    else:
        static = "image_size" in inspect.signature(module.build).parameters
        model = build_model(framework, depth, **({"image_size": SMALL} if static else {}))
    return Built(framework, depth, model, module)


# The others import TensorFlow or JAX into this process, compile (JAX) or export (the
# ONNX-fed runtimes) depth 50: seconds each, outside the inner loop (`-m "not slow"`)
FAST_TO_BUILD = ("torch",)
SLOW_TO_BUILD = tuple(f for f in FRAMEWORKS if f not in FAST_TO_BUILD)


def combos(depths: Any = spec.DEPTHS) -> pytest.MarkDecorator:
    """Every framework and depth; all but torch's depth 50 are `slow` (seconds each): the
    inner loop checks torch's first depth, the whole suite all of them."""
    params = [
        framework_param(fw, d, id=f"{fw}-{d}", slow=d != min(spec.DEPTHS) or fw in SLOW_TO_BUILD)
        for fw, d in COMBOS
        if d in depths
    ]
    return pytest.mark.parametrize("built", params, indirect=True)


@combos()
def test_params_match_spec(built: Built) -> None:
    assert built.module.count_params(built.model) == spec.count_params(built.depth)


@combos(PUBLISHED)
def test_params_equal_published(built: Built) -> None:
    assert built.module.count_params(built.model) == PUBLISHED[built.depth]


@combos()
def test_macs_match_spec(built: Built) -> None:
    assert built.module.count_macs(built.model, SMALL) == spec.macs(built.depth, SMALL)


@combos()
def test_final_feature_map_is_2048_at_one_32nd(built: Built) -> None:
    assert built.module.feature_shape(built.model, SMALL) == (2048, SMALL // 32, SMALL // 32)


@pytest.mark.parametrize("bad", ["mxnet", "Torch", "", None])
def test_unknown_framework_names_allowed(bad: Any) -> None:
    with pytest.raises(ValueError, match=rf"unknown framework .*allowed: {', '.join(FRAMEWORKS)}$"):
        build_model(bad, 50)


@pytest.mark.parametrize("framework", [framework_param(f) for f in FRAMEWORKS])
@pytest.mark.parametrize("bad", [34, 0, "50"])
def test_unknown_depth_names_allowed(framework: str, bad: Any) -> None:
    with pytest.raises(ValueError, match=r"unknown depth .*allowed: 50, 101, 152, 200"):
        build_model(framework, bad)


FRAMEWORK_MODULES = (
    *(r.package for r in RUNTIMES.values()),
    "keras",
    "flax",
    "optax",
    "onnx",
    "onnxscript",
)


def test_suite_imports_no_framework() -> None:
    code = (
        "import sys, suite, vocab.spec, networks, networks.verify, "
        "suite.cli.models_cmd; "
        f"loaded = [m for m in {FRAMEWORK_MODULES!r} if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- torch ---------------------------------------------------------------------------------


@pytest.mark.torch
def test_torch_bn_momentum_and_eps() -> None:
    from torch import nn

    model = build_model("torch", 50)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 3 * sum(spec.DEPTHS[50]) + 1
    assert {(m.momentum, m.eps) for m in bns} == {(0.003, 1e-5)}


@pytest.mark.torch
def test_torch_channels_last_computes_the_same() -> None:
    import torch

    nchw = build_model("torch", 50).eval()
    nhwc = build_model("torch", 50, channels_last=True).eval()
    nhwc.load_state_dict(nchw.state_dict())
    assert nhwc.root.conv.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(2, 3, SMALL, SMALL)
    with torch.no_grad():
        a = nchw(x)
        b = nhwc(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * a.abs().max().item())


@pytest.mark.torch
def test_torch_inference_with_folded_biases_computes_the_same() -> None:
    """Without gradients, the conv biases are folded into the BNs' running means: the same
    logits as the unfolded forward (which runs whenever gradients are on), and the folding
    follows a change of bias."""
    import torch

    torch.manual_seed(0)
    model = build_model("torch", 50).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d) and m.bias is not None:
                m.bias.normal_(0.0, 0.3)
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0.0, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    x = torch.randn(2, 3, SMALL, SMALL)
    unfolded = model(x)  # gradients on: the plain forward
    with torch.inference_mode():
        folded = model(x)
    torch.testing.assert_close(folded, unfolded.detach(), rtol=1e-5, atol=1e-5)
    assert model._folded  # the folded means were cached ...
    with torch.no_grad():
        model.block2.unit1.shortcut.bias.add_(1.0)  # ... and a changed bias is seen
        again = model(x)
    torch.testing.assert_close(again, model(x).detach(), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(again, folded)


@pytest.mark.torch
def test_torch_subsample_is_a_one_by_one_max_pool() -> None:
    import torch

    unit = build_model("torch", 50).block1.unit3
    assert unit.stride == 2 and unit.shortcut is None
    x = torch.randn(1, 256, 7, 7)
    torch.testing.assert_close(unit.subsample(x), x[:, :, ::2, ::2])


@pytest.mark.slow  # imports TensorFlow (seconds)
@pytest.mark.torch
@pytest.mark.tensorflow
@pytest.mark.parametrize("size", [1, 2, 5, 6, 7, 8])
def test_torch_same_max_pool_matches_tf(size: int) -> None:
    import tensorflow as tf
    import torch

    from networks.torch_resnet import same_max_pool

    # all negative, so zero padding would win where -inf padding must not
    x = -1.0 - np.random.default_rng(size).random((1, 2, size, size), np.float32)
    got = same_max_pool(torch.from_numpy(x), 3, 2).numpy()
    want = tf.nn.max_pool2d(x.transpose(0, 2, 3, 1), 3, 2, "SAME").numpy()
    np.testing.assert_array_equal(got, want.transpose(0, 3, 1, 2))


# --- tensorflow ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "built", [framework_param("tensorflow", 50, id="tensorflow-50", slow=True)], indirect=True
)
def test_tf_bn_momentum_and_eps(built: Built) -> None:
    import keras

    bns = [x for x in built.model.layers if isinstance(x, keras.layers.BatchNormalization)]
    assert len(bns) == 3 * sum(spec.DEPTHS[50]) + 1
    assert {(x.momentum, x.epsilon) for x in bns} == {(0.997, 1e-5)}


@pytest.mark.slow  # imports TensorFlow (seconds)
@pytest.mark.tensorflow
def test_tf_mixed_precision_and_training_flag() -> None:
    model = build_model("tensorflow", 50, num_classes=10, precision="bf16", image_size=32)
    conv = model.get_layer("block1_unit1_conv2")
    assert (conv.compute_dtype, conv.kernel.dtype) == ("bfloat16", "float32")
    x = np.random.default_rng(0).standard_normal((2, 32, 32, 3), np.float32)
    logits = model(x, training=False)
    assert logits.dtype == "float32"
    # training=True normalizes with the batch's statistics, not the moving ones
    assert not np.allclose(model(x, training=True), logits)
    with pytest.raises(ValueError, match=r"unknown precision 'int8'; allowed: fp32, bf16, fp16"):
        build_model("tensorflow", 50, precision="int8")


# --- all: the same function ----------------------------------------------------------------


@pytest.mark.parametrize(
    "framework", [framework_param(f, slow=f in SLOW_TO_BUILD) for f in FRAMEWORKS]
)
@pytest.mark.torch
def test_logits_agree_with_torch(framework: str) -> None:
    result = verify_depth(50, SMALL, frameworks=[framework])[framework]
    assert result["max_rel_diff"] <= REL_TOLERANCE
    assert result["params"] == spec.count_params(50)
    assert result["macs"] == spec.macs(50, SMALL)


@pytest.mark.torch
@pytest.mark.parametrize(
    "built", [framework_param("tensorflow", 50, id="tensorflow-50", slow=True)], indirect=True
)
def test_transfer_round_trip(built: Built) -> None:
    import torch

    from networks.tf_resnet import transfer
    from networks.torch_resnet import perturb

    src, dst = build_model("torch", 50), build_model("torch", 50)
    perturb(src, seed=1)
    # only shapes of the shared fixture model are checked elsewhere, so its weights may change
    transfer(src, built.model)
    transfer(built.model, dst)
    for (name, a), b in zip(src.state_dict().items(), dst.state_dict().values(), strict=True):
        if a.is_floating_point():  # not num_batches_tracked
            assert torch.equal(a, b), name
    with pytest.raises(TypeError, match="needs one torch"):
        transfer(src, dst)
