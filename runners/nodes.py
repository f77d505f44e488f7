"""Several nodes (torch): node 0 runs the session, measures and stores; every other node
runs `follow`, which launches its share of whatever replicated case node 0 announces
(runners.ddp.announced: a TCPStore at the rendezvous port + 1), and stores nothing.

    python -m runners.nodes follow NNODES NODE_RANK HOST:PORT    (resnet-bench run, node K > 0)
    python -m runners.nodes end NNODES HOST:PORT                 (node 0, after its run)
    python -m runners.nodes check DEVICE IMAGE_SIZE              (scripts/gpu-check.sh)
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable

from runners.ddp import (
    JOB_KEY,
    Launch,
    coordination_store,
    failed_ranks,
    launch,
    rank_main,
    run_node,
)
from runners.distributed import die_with_launcher
from vocab.case import Case
from vocab.messages import NodeJob, decode_job, encode_job
from vocab.sampling import SamplingPolicy

FOLLOW_IDLE_S = 1800  # a follower that hears nothing from node 0 this long gives up


def follow(nnodes: int, node_rank: int, endpoint: str, log: Callable[[str], None]) -> int:
    """Node `node_rank` > 0: launch this node's ranks of each case node 0 announces, until
    it announces the end (or stays silent FOLLOW_IDLE_S). Stores nothing."""
    done: set[str] = set()
    where = Launch(nnodes, node_rank, endpoint)
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < FOLLOW_IDLE_S:
        try:
            store = coordination_store(where, server=False, timeout_s=10)
            job = decode_job(store.get(JOB_KEY).decode())
        except Exception:  # node 0 between cases, or not up yet
            time.sleep(0.5)
            continue
        if job.case is None or job.policy is None:
            store.set(f"ack{node_rank}", "1")
            log(f"node {node_rank}: node 0 ended the run")
            return 0
        if job.run_id in done:
            del store
            time.sleep(0.2)
            continue
        done.add(job.run_id)
        case = job.case
        log(f"node {node_rank}: {case.label()}")
        try:
            run_node(case, job.policy, Launch(nnodes, node_rank, endpoint, job.run_id))
        except Exception as exc:
            log(f"node {node_rank}: {case.label()} failed: {failed_ranks(exc) or exc}")
        idle_since = time.monotonic()
    log(f"node {node_rank}: nothing from node 0 for {FOLLOW_IDLE_S} s; giving up")
    return 1


def end_followers(nnodes: int, endpoint: str, wait_s: float = 60.0) -> None:
    """Node 0 after its run: tell the other nodes to stop, and wait for them to hear it."""
    from datetime import timedelta

    where = Launch(nnodes, 0, endpoint)
    store = coordination_store(where, server=True)
    store.set(JOB_KEY, encode_job(NodeJob()))
    with contextlib.suppress(Exception):  # a follower already gone stops nothing
        store.wait([f"ack{k}" for k in range(1, nnodes)], timedelta(seconds=wait_s))


def check_one_replica(device: str, size: int) -> int:
    """scripts/gpu-check.sh: one DDP replica through the launcher, NCCL on cuda:0 (gloo on
    the CPU); 0 when the rank used the expected backend and device."""
    case = Case("torch", 50, 32 if device == "cuda" else 2, device, "training", "bf16",
                image_size=size, threads=1)  # fmt: skip
    policy = SamplingPolicy(min_samples=10, min_time_s=0.5)
    out, endpoint = launch(1, rank_main, (case, policy, 1))
    rank = out[0]
    want = "nccl" if device == "cuda" else "gloo"
    backend = rank.facts.get("backend")
    print(
        f"backend {backend} on {rank.device}, rendezvous {endpoint}, "
        f"median step {rank.median_ns[rank.rank] / 1e6:.1f} ms"
    )
    return 0 if backend == want and rank.device.startswith(device) else 1


def main(argv: list[str]) -> int:
    """python -m runners.ddp follow NNODES NODE_RANK HOST:PORT | end NNODES HOST:PORT |
    check DEVICE IMAGE_SIZE"""
    import sys

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    if len(argv) == 4 and argv[0] == "follow":
        die_with_launcher()
        return follow(int(argv[1]), int(argv[2]), argv[3], log)
    if len(argv) == 3 and argv[0] == "end":
        end_followers(int(argv[1]), argv[2])
        return 0
    if len(argv) == 3 and argv[0] == "check":
        return check_one_replica(argv[1], int(argv[2]))
    log(
        "usage: python -m runners.ddp follow NNODES NODE_RANK HOST:PORT | end NNODES HOST:PORT"
        " | check DEVICE IMAGE_SIZE"
    )
    return 2


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
