"""Does the suite make a framework look slower than it is? Measured, in one run, same threads.

    python benchmarks/harness_check.py [--batch-size 8] [--image-size 224] [--threads N]

Each part runs in its own process (one framework per process, as in the suite) and prints
one JSON line; the parent prints a table of ratios with PASS/FAIL against the targets:

- torch: the suite's timing loop vs torch.utils.benchmark.Timer.blocked_autorange on one
  built runner's ResNet-V2-50 step (within 3%: the median of 6 paired ratios), and
  the harness's own cost per timed step (two clock reads and the step/sync calls, under 1%
  of a step);
- tensorflow: the suite's model under the suite's runner vs keras.applications.ResNet50V2
  (weights=None) under tf.function, paired as torch's (suite images/s at least 0.97x
  Keras': two builds of one network, not one build, so equal speed reads as 1 +/- noise);
- jax: the suite's timing of the runner's jitted step vs a plain `timeit` loop of the same
  step with `jax.block_until_ready` (within 3%: the median of 6 paired ratios of medians);
- onnxruntime: the suite's timing vs a plain `session.run` loop on the same session
  (within 3%, the same way);
- openvino: the suite's timing (the latency execution) vs a plain loop calling the
  runner's compiled model, `compiled_model(images)` (within 3%, the same way);
- default executions on CPU: torch channels-last vs NCHW, TF with oneDNN on vs off.

Parts alternate (A, B, A, B) so drift on a shared machine hits both sides alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import timeit
from collections.abc import Callable
from typing import Any

from runners.manager import thread_env
from vocab.case import Case, default_threads
from vocab.sampling import SamplingPolicy, time_steps

POLICY = SamplingPolicy(min_samples=10, min_time_s=4.0, max_time_s=12.0, max_warmup=10)
REPEATS = 2
# Suite vs plain loop on one built runner: shorter blocks, more alternations, and the
# median of the paired ratios, so that a neighbour's load shifting mid-part cancels.
PAIRED = SamplingPolicy(min_samples=5, min_time_s=2.0, max_time_s=12.0, max_warmup=10)
ALTERNATIONS = 6


def _built(case: Case) -> Any:
    """The suite's runner for `case`, threads set and the case built, as a worker does."""
    from runners.registry import get_runner

    runner = get_runner(case.framework)
    runner.set_threads(case.threads, case.interop_threads)
    runner.build(case)
    return runner


def _median_s(samples_ns: list[int]) -> float:
    return statistics.median(samples_ns) / 1e9


def _suite(case: Case) -> dict[str, Any]:
    runner = _built(case)
    t = time_steps(runner.step, runner.sync, POLICY)
    return {"median_s": _median_s(t.samples_ns), "n": len(t.samples_ns)}


def _alternate(runner: Any, reference: Callable[[], float]) -> tuple[float, float, float]:
    """The suite's timing loop on `runner` and `reference()` (seconds per step of the plain
    way), alternated ALTERNATIONS times after one untimed suite block (warm-up for both
    when they share the runner): the suite's median, the reference's median, and the
    median of the paired ratios suite / reference."""
    time_steps(runner.step, runner.sync, PAIRED)
    suite, ref = [], []
    for _ in range(ALTERNATIONS):
        suite.append(_median_s(time_steps(runner.step, runner.sync, PAIRED).samples_ns))
        ref.append(reference())
    ratio = statistics.median(a / b for a, b in zip(suite, ref, strict=True))
    return statistics.median(suite), statistics.median(ref), ratio


def part_torch_timer(case: Case) -> dict[str, Any]:
    """The suite's timing loop against Timer.blocked_autorange on ONE built runner's step,
    paired (_alternate): what is compared is the harness, not two builds (against a second
    build of the model the ratio read 1.033 and 1.013 in two quiet runs), and a
    neighbour's load between blocks hits both sides."""
    from torch.utils.benchmark import Timer

    runner = _built(case)  # its set_threads sets torch's
    # The step holds inference_mode and the input made on the device, as the suite times it;
    # CPU ops are synchronous, so Timer needs no sync.
    timer = Timer(stmt="step()", globals={"step": runner.step}, num_threads=case.threads)
    s, r, ratio = _alternate(
        runner, lambda: float(timer.blocked_autorange(min_run_time=PAIRED.min_time_s).median)
    )
    overhead = _harness_overhead_s()
    return {
        "suite_median_s": s,
        "timer_median_s": r,
        "ratio": ratio,
        "harness_overhead_s": overhead,
        "overhead_share": overhead / s,
    }


def _harness_overhead_s() -> float:
    """Per-step cost of the loop itself: time_steps around a step that does nothing."""
    t = time_steps(
        lambda: None,
        lambda _o: None,
        SamplingPolicy(min_samples=20_000, min_time_s=0.0, max_time_s=1.0),
    )
    return _median_s(t.samples_ns)


def part_torch_layout(case: Case) -> dict[str, Any]:
    import runners.torch_runner as tr

    out: dict[str, list[float]] = {"channels_last": [], "nchw": []}
    for _ in range(REPEATS):
        for layout in out:
            tr.CHANNELS_LAST["cpu"] = layout == "channels_last"
            out[layout].append(_suite(case)["median_s"])
    cl, nchw = statistics.median(out["channels_last"]), statistics.median(out["nchw"])
    return {"channels_last_median_s": cl, "nchw_median_s": nchw, "nchw_over_cl": nchw / cl}


def part_tf_keras(case: Case) -> dict[str, Any]:
    """The suite's runner on its TF model against keras.applications.ResNet50V2 under
    tf.function, both built once, paired (_alternate); two builds of one network differ
    by noise, so the bar is 'not 3% slower'."""
    import keras
    import tensorflow as tf

    runner = _built(case)
    ref = keras.applications.ResNet50V2(weights=None, input_shape=(case.image_size,) * 2 + (3,))
    x = tf.random.uniform((case.batch_size, case.image_size, case.image_size, 3))
    fn = tf.function(lambda images: ref(images, training=False))

    def keras_s() -> float:
        return _median_s(time_steps(lambda: fn(x), lambda o: o.numpy(), PAIRED).samples_ns)

    keras_s()  # Keras' warm-up (tracing); _alternate warms the suite's side
    s, k, ratio = _alternate(runner, keras_s)
    b = case.batch_size
    # suite images/s over Keras': 1 / the paired time ratio suite / Keras
    return {"suite_images_per_s": b / s, "keras_images_per_s": b / k, "suite_over_keras": 1 / ratio}


def _plain_loop(fn: Callable[[], Any]) -> float:
    """Median of a plain timeit loop, one call per sample, as many samples and seconds as
    the suite's policy asks of itself."""
    timer = timeit.Timer(fn)
    times: list[float] = []
    while len(times) < PAIRED.min_samples or sum(times) < PAIRED.min_time_s:
        times += timer.repeat(repeat=1, number=1)
    return statistics.median(times)


def _against_plain(case: Case, plain: Callable[[Any], Callable[[], Any]]) -> dict[str, Any]:
    """The suite's timing loop and a plain loop, paired (_alternate) on ONE built runner:
    what is compared is the harness, not two builds. `plain(runner)` gives the plain loop's
    call."""
    runner = _built(case)
    call = plain(runner)
    s, r, ratio = _alternate(runner, lambda: _plain_loop(call))
    return {"suite_median_s": s, "plain_median_s": r, "ratio": ratio}


def part_jax_timeit(case: Case) -> dict[str, Any]:
    import jax

    def plain(runner: Any) -> Callable[[], Any]:
        return lambda: jax.block_until_ready(runner.step())

    return _against_plain(case, plain)


def part_ort_run(case: Case) -> dict[str, Any]:
    import numpy as np

    from networks.onnx_resnet import INPUT, OUTPUT

    def plain(runner: Any) -> Callable[[], Any]:
        shape = (case.batch_size, 3, case.image_size, case.image_size)
        feeds = {INPUT: np.random.default_rng(1).random(shape, dtype=np.float32)}
        return lambda: runner.session.run([OUTPUT], feeds)

    return _against_plain(case, plain)


def part_ov_compiled(case: Case) -> dict[str, Any]:
    import numpy as np

    def plain(runner: Any) -> Callable[[], Any]:
        shape = (case.batch_size, 3, case.image_size, case.image_size)
        images = np.random.default_rng(1).random(shape, dtype=np.float32)
        return lambda: runner.compiled(images)

    return _against_plain(case, plain)


def part_tf_median(case: Case) -> dict[str, Any]:
    return {
        "median_s": statistics.median(_suite(case)["median_s"] for _ in range(REPEATS)),
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
    }


PARTS = {
    "torch-timer": ("torch", part_torch_timer),
    "torch-layout": ("torch", part_torch_layout),
    "tf-keras": ("tensorflow", part_tf_keras),
    "tf-onednn": ("tensorflow", part_tf_median),
    "jax-timeit": ("jax", part_jax_timeit),
    "ort-run": ("onnxruntime", part_ort_run),
    "ov-compiled": ("openvino", part_ov_compiled),
}


def run_part(name: str, args: argparse.Namespace, extra_env: dict[str, str] | None = None) -> Any:
    env = {
        **os.environ,
        **thread_env(args.threads, 1),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        **(extra_env or {}),
    }
    cmd = [
        sys.executable,
        __file__,
        "--part",
        name,
        "--batch-size",
        str(args.batch_size),
        "--image-size",
        str(args.image_size),
        "--threads",
        str(args.threads),
    ]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"part {name} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    return result


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--threads", type=int, default=default_threads())
    p.add_argument("--part", choices=sorted(PARTS), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.part:
        framework, fn = PARTS[args.part]
        case = Case(
            framework, 50, args.batch_size, image_size=args.image_size, threads=args.threads
        )
        print(json.dumps(fn(case)))
        return 0

    print(
        f"ResNet-V2-50, batch {args.batch_size}, {args.image_size}px, {args.threads} threads, "
        f"CPU; paired lines: the median of {ALTERNATIONS} paired ratios on one build; "
        f"the layout and oneDNN lines: medians of {REPEATS} alternating repeats",
        flush=True,
    )
    ok = True

    def line(name: str, value: str, passed: bool | None) -> None:
        nonlocal ok
        ok = ok and passed is not False
        verdict = "" if passed is None else ("PASS" if passed else "FAIL")
        print(f"  {name:<48} {value:<44} {verdict}", flush=True)

    r = run_part("torch-timer", args)
    line(
        "torch suite / Timer (median of paired ratios)",
        f"{r['suite_median_s'] * 1e3:.1f} / {r['timer_median_s'] * 1e3:.1f} ms = {r['ratio']:.3f}",
        abs(r["ratio"] - 1) <= 0.03,
    )
    line(
        "torch harness overhead per step",
        f"{r['harness_overhead_s'] * 1e6:.2f} us = {r['overhead_share'] * 100:.5f}% of a step",
        r["overhead_share"] < 0.01,
    )
    r = run_part("tf-keras", args)
    line(
        "tf suite vs Keras ResNet50V2 (paired)",
        f"{r['suite_images_per_s']:.2f} vs "
        f"{r['keras_images_per_s']:.2f} img/s, ratio {r['suite_over_keras']:.3f}x",
        r["suite_over_keras"] >= 0.97,
    )
    for part, name, plain in (
        ("jax-timeit", "jax", "timeit"),
        ("ort-run", "onnxruntime", "session.run"),
        ("ov-compiled", "openvino", "compiled_model"),
    ):
        r = run_part(part, args)
        line(
            f"{name} suite / plain {plain} (paired)",
            f"{r['suite_median_s'] * 1e3:.1f} / {r['plain_median_s'] * 1e3:.1f} ms, "
            f"ratio {r['ratio']:.3f}",
            abs(r["ratio"] - 1) <= 0.03,
        )
    r = run_part("torch-layout", args)
    line(
        "torch NCHW / channels-last median",
        f"{r['nchw_median_s'] * 1e3:.1f} / "
        f"{r['channels_last_median_s'] * 1e3:.1f} ms = {r['nchw_over_cl']:.3f}",
        None,
    )
    on = run_part("tf-onednn", args, {"TF_ENABLE_ONEDNN_OPTS": "1"})
    off = run_part("tf-onednn", args, {"TF_ENABLE_ONEDNN_OPTS": "0"})
    line(
        "tf oneDNN off / on median",
        f"{off['median_s'] * 1e3:.1f} / {on['median_s'] * 1e3:.1f} "
        f"ms = {off['median_s'] / on['median_s']:.3f}",
        None,
    )
    print("result:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
