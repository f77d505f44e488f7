"""The several-nodes flags of `resnet-bench run` (issue 14): node 0 runs the plan and stores,
node K > 0 only follows (runners.nodes, in its own process: torch stays out of this one)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import Any

from suite.cli.common import UsageError
from vocab.messages import Nodes


def add_arguments(p: argparse.ArgumentParser) -> None:
    nodes = p.add_argument_group(
        "several nodes (torch training with --replicas, the replicas split over the nodes; "
        "one command per node, node 0 runs the plan and stores)"
    )
    nodes.add_argument("--nnodes", type=_nnodes, default=1, help="nodes (default 1)")
    nodes.add_argument(
        "--node-rank", type=_node_rank, default=0, metavar="K", help="this node, 0..nnodes-1"
    )
    nodes.add_argument(
        "--rdzv-endpoint",
        metavar="HOST:PORT",
        help="node 0's address and a free port (and the next one) that every node can reach",
    )


def _node_rank(text: str) -> int:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"node rank must be 0 or more, got {text!r}")
    return int(text)


def check(args: argparse.Namespace) -> Nodes | None:
    """The --nnodes/--node-rank/--rdzv-endpoint settings, checked; None on one node."""
    nnodes, rank, endpoint = args.nnodes, args.node_rank, args.rdzv_endpoint
    if nnodes == 1:
        if rank or endpoint:
            raise UsageError("--node-rank and --rdzv-endpoint need --nnodes 2 or more")
        return None
    if rank >= nnodes:
        raise UsageError(f"--node-rank {rank} is not below --nnodes {nnodes}")
    host, _, port = (endpoint or "").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65535:
        raise UsageError(f"--rdzv-endpoint must be HOST:PORT, got {endpoint!r}")
    return Nodes(nnodes, str(endpoint), rank)


def command(*args: Any) -> int:
    """`python -m runners.nodes ...`: follow node 0, or tell the followers the run ended."""
    return subprocess.call([sys.executable, "-m", "runners.nodes", *map(str, args)])


def _nnodes(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"nnodes must be a positive integer, got {text!r}")
    return int(text)
