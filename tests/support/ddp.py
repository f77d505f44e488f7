"""Entrypoints for the ranks of the data-parallel tests (importable by spawned processes)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from results import frames
from results.store import open_store
from tests.support.store import begin
from vocab.case import Case
from vocab.sampling import SamplingPolicy

BATCH = 8  # the global batch: each of two ranks takes half
FEATURES, CLASSES, LR = 5, 3, 0.5


def tiny_problem() -> tuple[Any, Any, Any]:
    """A seeded linear model and a batch, the same in every process."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Linear(FEATURES, CLASSES)
    x = torch.randn(BATCH, FEATURES)
    y = torch.randint(0, CLASSES, (BATCH,))
    return model, x, y


def one_sgd_step(model: Any, net: Any, x: Any, y: Any) -> list[list[float]]:
    import torch

    opt = torch.optim.SGD(model.parameters(), lr=LR)
    opt.zero_grad()
    torch.nn.functional.cross_entropy(net(x), y).backward()
    opt.step()
    return [p.detach().flatten().tolist() for p in model.parameters()]


def grad_rank() -> list[list[float]]:
    """One DDP step on this rank's half of the batch; the weights after it."""
    import torch.distributed as dist

    from runners.ddp import init_rank, wrap_ddp

    _torch, rank, world, device = init_rank("cpu", 1)
    try:
        model, x, y = tiny_problem()
        half = BATCH // world
        part = slice(rank * half, (rank + 1) * half)
        return one_sgd_step(model, wrap_ddp(model, device), x[part], y[part])
    finally:
        dist.destroy_process_group()


TINY = SamplingPolicy(
    min_warmup=2, max_warmup=3, min_warmup_time_s=0.0, warmup_window=0, min_samples=4,
    min_time_s=0.0, min_processes=1, max_processes=1,
)  # fmt: skip


def train(replicas: int, **kw: Any) -> Case:
    values: dict[str, Any] = dict(
        framework="torch", depth=50, batch_size=2, mode="training", image_size=32,
        num_classes=10, threads=2, replicas=replicas,
    )  # fmt: skip
    values.update(kw)
    return Case(**values)


def marked(mark: str) -> list[int]:
    """Live processes but this one whose environment holds `mark`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if mark.encode() in environ:
            found.append(int(entry.name))
    return found


def outliving(mark: str, grace_s: float = 30.0) -> list[int]:
    """`marked(mark)` once the processes being stopped have had `grace_s` to exit (a rank
    killed or terminated a moment ago may still be tearing down on a loaded machine)."""
    deadline = time.monotonic() + grace_s
    while (found := marked(mark)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def frame_of(measurements: list[Any]) -> Any:
    with tempfile.TemporaryDirectory() as folder, open_store(f"sqlite:///{folder}/r.sqlite") as s:
        run_id = begin(s)
        for m in measurements:
            s.add_result(run_id, m)
        return frames.load(s, [run_id])
