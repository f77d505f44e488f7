"""JAX and ONNX Runtime beyond what the registries' generated tests cover (tests/test_models.py
and tests/test_runners.py build and run every framework): the JAX model's precisions, BN
modes and pooling, the ONNX export's graph and cache, and each runtime's runner in a worker
(a smoke case each), what it refuses, and a JAX training step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from networks import build_model
from runners.manager import run_round
from vocab import spec
from vocab.case import Case
from vocab.sampling import SamplingPolicy

SMALL = 64
TINY = SamplingPolicy(min_samples=4, min_time_s=0.05, max_time_s=0.5, max_warmup=4)


# --- the JAX model -----------------------------------------------------------------------


@pytest.mark.slow  # imports JAX and builds its model (seconds)
@pytest.mark.jax
def test_jax_bn_momentum_and_eps() -> None:
    from flax import nnx

    from networks.jax_resnet import layers

    bns = [m for _, m in layers(build_model("jax", 50)) if isinstance(m, nnx.BatchNorm)]
    assert len(bns) == 3 * sum(spec.DEPTHS[50]) + 1
    assert {(m.momentum, m.epsilon) for m in bns} == {(0.997, 1e-5)}


@pytest.mark.slow  # compiles the network twice (seconds): outside the inner loop
@pytest.mark.jax
def test_jax_bf16_compute_fp32_params_and_bn_modes() -> None:
    import jax.numpy as jnp
    from flax import nnx

    from networks.jax_resnet import inference, layer

    model = build_model("jax", 50, num_classes=10, precision="bf16")
    conv = layer(model, "block1/unit1/conv2")
    assert (conv.dtype, conv.kernel.dtype) == (jnp.bfloat16, jnp.float32)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 32, 32, 3), np.float32))

    def forward(m: Any, images: Any) -> Any:
        return m(images)

    run = nnx.jit(forward)  # one compile per mode; op by op would take seconds
    mean_before = np.asarray(layer(model, "postnorm").mean)
    logits = run(inference(model), x)
    assert logits.dtype == jnp.float32 and logits.shape == (2, 10)
    assert np.array_equal(layer(model, "postnorm").mean, mean_before)
    # the model itself normalizes with the batch's statistics and updates the moving ones
    assert not np.allclose(run(model, x), logits)
    assert not np.allclose(layer(model, "postnorm").mean, mean_before)
    with pytest.raises(ValueError, match=r"unknown precision 'int8'; allowed: fp32, bf16, fp16"):
        build_model("jax", 50, precision="int8")


@pytest.mark.slow  # imports TensorFlow beside JAX
@pytest.mark.jax
@pytest.mark.tensorflow
@pytest.mark.parametrize("size", [1, 2, 5, 6, 7, 8])
def test_jax_root_max_pool_matches_tf(size: int) -> None:
    import jax
    import jax.numpy as jnp
    import tensorflow as tf

    # all negative, so zero padding would win where -inf padding must not
    x = -1.0 - np.random.default_rng(size).random((1, size, size, 2), np.float32)
    got = jax.lax.reduce_window(
        jnp.asarray(x), -jnp.inf, jax.lax.max, (1, 3, 3, 1), (1, 2, 2, 1), "SAME"
    )
    np.testing.assert_array_equal(np.asarray(got), tf.nn.max_pool2d(x, 3, 2, "SAME").numpy())


@pytest.mark.slow  # imports JAX and builds its model (seconds)
@pytest.mark.jax
@pytest.mark.torch
def test_jax_transfer_refuses_a_different_network() -> None:
    from networks import jax_resnet

    src = build_model("torch", 50)
    with pytest.raises(
        ValueError, match=r"logits: shape \(1, 1, 2048, 1000\) != \(1, 1, 2048, 10\)"
    ):
        jax_resnet.torch_to_jax(src, build_model("jax", 50, num_classes=10))


# --- the ONNX export -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported() -> Any:
    return build_model("onnxruntime", 50, image_size=SMALL)


@pytest.mark.slow  # the export of depth 50 (seconds)
@pytest.mark.onnxruntime
def test_onnx_export_keeps_the_spec_network_with_a_dynamic_batch(exported: Any) -> None:
    from networks.onnx_resnet import INPUT, OUTPUT, session

    ops = [n.op_type for n in exported.graph.node]
    # every BN its own node (ONNX Runtime fuses at load)
    assert ops.count("BatchNormalization") == 3 * sum(spec.DEPTHS[50]) + 1
    expected = set()
    for layer in spec.layers(50):
        name = layer.name.replace("/", ".")
        if isinstance(layer, spec.Conv):
            expected |= {f"{name}.weight"} | ({f"{name}.bias"} if layer.bias else set())
        else:
            expected |= {f"{name}.{k}" for k in ("weight", "bias", "running_mean", "running_var")}
    floats = {i.name for i in exported.graph.initializer if i.data_type == 1}
    assert floats == expected  # the network's parameters, named as in torch, nothing else
    batch = exported.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param and not batch.dim_value
    sess = session(exported, threads=1)
    for n in (1, 3):
        x = np.zeros((n, 3, SMALL, SMALL), np.float32)
        assert sess.run([OUTPUT], {INPUT: x})[0].shape == (n, 1000)


@pytest.mark.onnxruntime
def test_onnx_cache_is_keyed_by_depth_size_classes_and_exporter(tmp_path: Path) -> None:
    from networks.onnx_resnet import cached_path, exporter_version, source_version

    paths = {
        cached_path(tmp_path, d, c, s) for d in (50, 101) for c in (10, 1000) for s in (32, 224)
    }
    assert len(paths) == 8 and all(p.parent == tmp_path for p in paths)
    assert all(exporter_version() in p.name for p in paths)
    version = exporter_version()
    assert "torch" in version and "onnxscript" in version and "opset" in version
    assert all(f"src{source_version()}" in p.name for p in paths)  # the code that exports


# --- the runners ---------------------------------------------------------------------------


@pytest.mark.jax
@pytest.mark.slow
def test_jax_inference_and_training_in_one_worker() -> None:
    cases = [
        Case("jax", 50, 2, mode=mode, image_size=32, threads=1)
        for mode in ("inference", "training")
    ]
    ms = run_round(cases, TINY, 0, [0, 0], timeout_s=300)
    assert [m.status for m in ms] == ["ok", "ok"], [m.reason for m in ms]
    for m in ms:
        assert m.sync == "jax.block_until_ready" and m.case.execution == "jit"
        assert (m.threads_intra, m.threads_inter) == (1, 1)  # XLA's pool, counted
        facts = m.details.runner
        assert facts["NPROC"] == "1" and facts["intra_op_pool_threads"] == 1
        assert facts["compute_dtype"] == "float32" and "xla_flags" in facts
        # the first step holds the compile: far slower than the steps after it
        assert m.first_step_ns and m.first_step_ns > 3 * max(m.samples_ns)
    assert ms[1].details.runner["donate_state"] is True


@pytest.mark.onnxruntime
@pytest.mark.slow
def test_onnxruntime_inference_with_a_cached_export_and_training_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runners.ort_runner import OUTPUT_ENV
    from suite.cli.common import OUTPUT_ENV as CLI_OUTPUT_ENV

    assert OUTPUT_ENV == CLI_OUTPUT_ENV
    monkeypatch.setenv(OUTPUT_ENV, str(tmp_path))
    infer = Case("onnxruntime", 50, 2, image_size=32, threads=1)
    train = Case("onnxruntime", 50, 2, mode="training", image_size=32, threads=1)
    first = run_round([infer, train], TINY, 0, [0, 0], timeout_s=300)
    assert [m.status for m in first] == ["ok", "skipped"], [m.reason for m in first]
    assert "inference only" in (first[1].reason or "")
    details = first[0].details.runner
    assert (
        details["exported_now"] is True and (tmp_path / "onnx" / str(details["onnx_file"])).exists()
    )
    assert details["providers"] == ["CPUExecutionProvider"]
    assert details["intra_op_num_threads"] == 1 and details["inter_op_num_threads"] == 1
    assert str(details["graph_optimization_level"]).endswith("ORT_ENABLE_ALL")
    assert (first[0].threads_intra, first[0].threads_inter) == (1, 1)
    again = run_round([infer], TINY, 1, [1], timeout_s=300)[0]
    assert again.status == "ok" and again.details.runner["exported_now"] is False  # the cached file
    assert again.build_ns and first[0].build_ns and again.build_ns < first[0].build_ns


@pytest.mark.onnxruntime
def test_onnxruntime_refuses_training_and_low_precision_in_process() -> None:
    from runners.ort_runner import OrtRunner
    from runners.registry import unsupported

    runner = OrtRunner()
    assert unsupported(runner, Case("onnxruntime", 50, 1)) is None
    assert "inference only" in (
        unsupported(runner, Case("onnxruntime", 50, 1, mode="training")) or ""
    )
    for precision in ("bf16", "fp16"):
        reason = unsupported(runner, Case("onnxruntime", 50, 1, precision=precision))
        assert reason and reason.startswith(f"{precision}: the exported graph is fp32")
    if "CUDAExecutionProvider" not in runner.ort.get_available_providers():
        reason = unsupported(runner, Case("onnxruntime", 50, 1, device="cuda"))
        assert reason and "install onnxruntime-gpu" in reason


@pytest.mark.slow  # imports JAX (seconds)
@pytest.mark.jax
def test_jax_without_a_cuda_build_skips_cuda_and_fp16_on_cpu() -> None:
    from runners.jax_runner import JaxRunner

    runner = JaxRunner()
    assert runner.unsupported(Case("jax", 50, 1, precision="bf16")) is None
    assert "fp16 on CPU" in (runner.unsupported(Case("jax", 50, 1, precision="fp16")) or "")
    if not runner._cuda():
        reason = runner.unsupported(Case("jax", 50, 1, device="cuda"))
        assert reason and reason.startswith("no CUDA backend in jaxlib")


@pytest.mark.jax
@pytest.mark.slow
def test_jax_training_step_updates_parameters_and_bn_statistics() -> None:
    import numpy as np
    from flax import nnx

    from runners.jax_runner import JaxRunner

    runner = JaxRunner()
    runner.build(Case("jax", 50, 2, mode="training", image_size=32, threads=1))

    def snapshot() -> dict[str, np.ndarray]:
        _loss, state = runner.step()
        runner.sync(_loss)
        model_state = state[0]  # (model, optimizer)
        # copies: the next step donates (reuses) these buffers
        flat = {"/".join(map(str, k)): np.array(v) for k, v in nnx.to_flat_state(model_state)}
        return {k: flat[k] for k in ("postnorm/mean", "postnorm/scale", "logits/kernel")}

    first, second = snapshot(), snapshot()
    for name in first:  # SGD moved the parameters; the moving statistics followed the batch
        assert not np.array_equal(first[name], second[name]), name


def test_jax_and_onnxruntime_are_not_replicated() -> None:
    from runners import distributed

    for framework in ("jax", "onnxruntime"):
        case = Case(framework, 50, 2, mode="training", replicas=2, threads=2)
        reason = distributed.unsupported(case)
        assert reason and reason.endswith(f"torch and tensorflow only, not {framework}")
