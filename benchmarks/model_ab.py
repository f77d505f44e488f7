"""Is the torch model faster or slower than it was? The model at a git revision against the
working tree's, in one process, same threads, steps alternating (A, B, A, B):

    python benchmarks/model_ab.py --rev c31a096 [--batch-size 8] [--image-size 224]
                                  [--repeats 30] [--device cpu] [--threads N]

Prints, per mode, both medians and the median of the per-pair ratios new/old with its
interquartile range: under 1 is faster. Pairs, not two separate medians, because on a shared
machine the load moves between pairs more than within one.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODEL = "networks/torch_resnet.py"


def model_at(rev: str) -> ModuleType:
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:{MODEL}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "old_torch_resnet.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_torch_resnet", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_step(module: Any, mode: str, batch: int, size: int, device: str) -> Callable[[], None]:
    """The suite's step (channels-last, fp32): inference under inference_mode, training
    with cross-entropy, backward and SGD with momentum."""
    import torch

    torch.manual_seed(0)
    model = module.build(50, channels_last=True).to(device)
    x = torch.randn(batch, 3, size, size, device=device).contiguous(
        memory_format=torch.channels_last
    )
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    if mode == "inference":
        model.eval()

        def infer() -> None:
            with torch.inference_mode():
                model(x)
            sync()

        return infer
    labels = torch.randint(0, 1000, (batch,), device=device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def train() -> None:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), labels).backward()
        opt.step()
        sync()

    return train


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rev", required=True, help="the git revision of the old model")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--device", default="cpu")
    p.add_argument("--modes", default="inference,training")
    p.add_argument("--threads", type=int, help="intra-op threads (default: torch's)")
    args = p.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    sys.path.insert(0, str(ROOT))
    from networks import torch_resnet as new

    old = model_at(args.rev)
    print(
        f"ResNet-V2-50 at {args.rev} (old) vs the working tree (new): batch {args.batch_size}, "
        f"{args.image_size}px, {args.device}, {torch.get_num_threads()} threads, "
        f"{args.repeats} alternating pairs"
    )
    for mode in args.modes.split(","):
        steps = {
            name: make_step(m, mode, args.batch_size, args.image_size, args.device)
            for name, m in (("old", old), ("new", new))
        }
        for step in steps.values():
            for _ in range(3):
                step()
        times: dict[str, list[float]] = {"old": [], "new": []}
        for _ in range(args.repeats):
            for name, step in steps.items():
                t0 = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - t0)
        ratios = [n / o for n, o in zip(times["new"], times["old"], strict=True)]
        q1, _, q3 = statistics.quantiles(ratios, n=4)
        print(
            f"  {mode:<9} old {statistics.median(times['old']) * 1e3:8.1f} ms  "
            f"new {statistics.median(times['new']) * 1e3:8.1f} ms  "
            f"new/old {statistics.median(ratios):.3f} (IQR {q1:.3f}-{q3:.3f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
