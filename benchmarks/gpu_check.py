"""The GPU proofs of issue 10, in one process on one CUDA device (scripts/gpu-check.sh runs it
after a short `resnet-bench run`):

    python benchmarks/gpu_check.py [--device cuda] [--db sqlite:///gpu-check.sqlite]

- the suite's timing loop against torch.utils.benchmark.Timer on the same step (depth 50,
  bf16 inference, batch 32 and 256): medians within 3%;
- the suite's torch ResNet-V2-50 against timm's `resnetv2_50`, batch 256, bf16 autocast,
  channels-last, the same step (inference; training with SGD), Timer medians: at least
  1.0x in both modes (skipped, and said so, where timm is not installed);
- `cudagraph` against `eager` at batch 1, bf16 inference, through the suite's runner: at
  least 3x;
- with --db: the run stored there (scripts/gpu-check.sh): every case ok, and within each
  case group the step time grows with the batch.

Sides alternate (A, B, A, B) so that drift hits both alike. On a CPU (`--device cpu`) it
runs the same code at a small size, to try the script before a GPU is lent; the targets
are GPU targets and are not judged there.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
from collections.abc import Callable
from typing import Any

from vocab.case import Case
from vocab.sampling import SamplingPolicy, time_steps

POLICY = SamplingPolicy(min_samples=20, min_time_s=1.0, max_warmup=30, min_warmup_time_gpu_s=1.0)
REPEATS = 3


def _sync(device: str) -> Callable[[Any], None]:
    import torch

    if device.startswith("cuda"):
        return lambda _out: torch.cuda.synchronize(device)
    return lambda _out: None


def suite_median_s(case: Case) -> float:
    """The suite's runner and timing loop, as a worker runs them."""
    from runners.registry import get_runner

    runner = get_runner("torch")
    runner.build(case)
    t = time_steps(runner.step, runner.sync, POLICY, device=case.device)
    return statistics.median(t.samples_ns) / 1e9


def timer_median_s(step: Callable[[], Any], device: str) -> float:
    import torch
    from torch.utils.benchmark import Timer

    sync = _sync(device)
    for _ in range(3):
        sync(step())  # Timer has no warm-up of its own
    timer = Timer(  # Timer's own default is one thread; the suite's runner keeps torch's
        stmt="sync(step())",
        globals={"step": step, "sync": sync},
        num_threads=torch.get_num_threads(),
    )
    return float(timer.blocked_autorange(min_run_time=POLICY.min_time_s).median)


def torch_step(model: Any, batch: int, size: int, mode: str, device: str) -> Callable[[], Any]:
    """The suite's step for any torch model: channels-last, bf16 autocast; training is
    cross-entropy, backward and SGD with momentum (the suite's optimizer settings)."""
    import torch

    from runners.torch_runner import LEARNING_RATE, MOMENTUM

    kind = "cuda" if device.startswith("cuda") else "cpu"
    model = model.to(device).to(memory_format=torch.channels_last)
    x = torch.randn(batch, 3, size, size, device=device).contiguous(
        memory_format=torch.channels_last
    )
    if mode == "inference":
        model.eval()

        def infer() -> Any:
            with torch.inference_mode(), torch.autocast(kind, dtype=torch.bfloat16):
                return model(x)

        return infer
    model.train()
    labels = torch.randint(0, 1000, (batch,), device=device)
    opt = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)

    def train() -> Any:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(kind, dtype=torch.bfloat16):
            loss = torch.nn.functional.cross_entropy(model(x), labels)
        loss.backward()
        opt.step()
        return loss

    return train


def alternate(sides: dict[str, Callable[[], float]]) -> dict[str, float]:
    got: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(REPEATS):
        for name, measure in sides.items():
            got[name].append(measure())
    return {name: statistics.median(values) for name, values in got.items()}


class Verdicts:
    def __init__(self, judged: bool) -> None:
        self.judged = judged
        self.ok = True

    def line(self, name: str, value: str, passed: bool) -> None:
        verdict = ("PASS" if passed else "FAIL") if self.judged else "(not judged on CPU)"
        self.ok = self.ok and (passed or not self.judged)
        print(f"  {name:<48} {value:<46} {verdict}", flush=True)


def check_timer(v: Verdicts, device: str, size: int, batches: list[int]) -> None:
    from runners.registry import get_runner

    for batch in batches:
        case = Case("torch", 50, batch, device, "inference", "bf16", image_size=size)
        runner = get_runner("torch")
        runner.build(case)
        m = alternate(
            {
                "suite": lambda case=case: suite_median_s(case),  # type: ignore[misc]
                "timer": lambda r=runner: timer_median_s(r.step, device),  # type: ignore[misc]
            }
        )
        ratio = m["suite"] / m["timer"]
        v.line(
            f"suite / Timer, batch {batch}",
            f"{m['suite'] * 1e3:.2f} / {m['timer'] * 1e3:.2f} ms = {ratio:.3f}",
            abs(ratio - 1.0) <= 0.03,
        )


def check_timm(v: Verdicts, device: str, size: int, batch: int) -> None:
    try:
        import timm
    except ImportError:
        print("  suite vs timm resnetv2_50: skipped, timm is not installed here", flush=True)
        return
    from networks import build_model

    for mode in ("inference", "training"):
        ours = torch_step(build_model("torch", 50), batch, size, mode, device)
        theirs = torch_step(timm.create_model("resnetv2_50"), batch, size, mode, device)
        steps = {"suite": ours, "timm": theirs}
        m = alternate({k: lambda s=s: timer_median_s(s, device) for k, s in steps.items()})
        speed = m["timm"] / m["suite"]
        v.line(
            f"suite / timm resnetv2_50 img/s, b{batch} {mode}",
            f"{batch / m['suite']:,.0f} / {batch / m['timm']:,.0f} img/s = {speed:.3f}x",
            speed >= 1.0,
        )


def check_cudagraph(v: Verdicts, device: str, size: int) -> None:
    if not device.startswith("cuda"):
        print("  cudagraph / eager: skipped on CPU (cudagraph needs CUDA)", flush=True)
        return
    cases = {
        e: Case("torch", 50, 1, device, "inference", "bf16", e, image_size=size)
        for e in ("eager", "cudagraph")
    }
    m = alternate({e: lambda c=c: suite_median_s(c) for e, c in cases.items()})  # type: ignore[misc]
    speed = m["eager"] / m["cudagraph"]
    v.line(
        "cudagraph speed-up over eager, b1 inference",
        f"{m['eager'] * 1e3:.2f} / {m['cudagraph'] * 1e3:.2f} ms = {speed:.2f}x",
        speed >= 3.0,
    )


def check_run(v: Verdicts, db: str) -> None:
    """Every case of the stored run ok; step time grows with the batch in each group."""
    import results
    from results.analysis import SCALING_GROUP

    df = results.load(db)
    df = df[df["run_id"] == df["run_id"].max()]
    bad = df[df["status"] != "ok"]
    v.line(
        "stored run: every case ok",
        f"{len(df) - len(bad)} of {len(df)} ok",
        bad.empty and not df.empty,
    )
    for _, row in bad.iterrows():
        print(f"    {row['framework']}/{row['execution']} b{row['batch_size']}: {row['reason']}")
    for key, part in df[df["status"] == "ok"].groupby(list(SCALING_GROUP), dropna=False):
        part = part.sort_values("batch_size")
        if len(part) < 2:
            continue
        values = part["value_s"].tolist()
        grows = all(a < b for a, b in itertools.pairwise(values))
        label = f"{key[0]}/{key[1]} r{key[2]} {key[4]} {key[5]}"
        steps = ", ".join(
            f"b{b} {s * 1e3:.2f}" for b, s in zip(part["batch_size"], values, strict=True)
        )
        v.line(f"step time grows with batch: {label}", f"{steps} ms", grows)


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", default="cuda")
    p.add_argument("--db", help="check the newest run stored in this database too")
    args = p.parse_args()
    import torch

    gpu = args.device.startswith("cuda")
    if gpu and not torch.cuda.is_available():
        print(f"no CUDA device (torch {torch.__version__}); use --device cpu to try the script")
        return 2
    size, batches, big = (224, [32, 256], 256) if gpu else (64, [2, 4], 4)
    where = torch.cuda.get_device_name(args.device) if gpu else "CPU"
    print(f"gpu-check on {where}, torch {torch.__version__}, {size}px", flush=True)
    v = Verdicts(judged=gpu)
    if args.db:
        check_run(v, args.db)
    check_timer(v, args.device, size, batches)
    check_timm(v, args.device, size, big)
    check_cudagraph(v, args.device, size)
    print("result:", "PASS" if v.ok else "FAIL", flush=True)
    return 0 if v.ok else 1


if __name__ == "__main__":
    sys.exit(main())
