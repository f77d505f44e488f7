"""Several nodes (issue 14): the node flags, and two `resnet-bench run` processes on
localhost meeting in one rendezvous."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from results import frames
from runners import distributed
from suite.cli import main


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--node-rank", "1"], "--node-rank and --rdzv-endpoint need --nnodes 2 or more"),
        (["--nnodes", "2", "--node-rank", "2", "--rdzv-endpoint", "h:1"], "is not below"),
        (["--nnodes", "2"], "--rdzv-endpoint must be HOST:PORT, got None"),
        (["--nnodes", "2", "--rdzv-endpoint", "host"], "must be HOST:PORT, got 'host'"),
        (["--nnodes", "2", "--node-rank", "-1"], "node rank must be 0 or more, got '-1'"),
    ],
)
def test_bad_node_flags_are_one_clear_line(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:  # argparse exits itself on a bad value; main() returns 2 on the rest
        code = main(["run", *flags, "--db", "sqlite://"])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.slow
def test_two_nodes_on_localhost_store_once_by_node_0(tmp_path: Path) -> None:
    """Two `resnet-bench run` processes, one replica each, meet in a static rendezvous; node
    0 stores the case, node 1 stores nothing and ends when node 0 says so."""
    endpoint = f"127.0.0.1:{distributed.free_port()}"
    flags = [
        "--profile", "smoke", "--frameworks", "torch", "--depths", "50", "--batch-sizes", "2",
        "--modes", "training", "--image-size", "32", "--threads", "1", "--replicas", "2",
        "--processes", "1", "--max-processes", "1", "--nnodes", "2", "--rdzv-endpoint", endpoint,
    ]  # fmt: skip

    def node(rank: int) -> subprocess.Popen[str]:
        out = tmp_path / f"node{rank}"
        return subprocess.Popen(
            [sys.executable, "-m", "suite", "run", *flags, "--node-rank", str(rank),
             "--output", str(out)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip

    follower, leader = node(1), node(0)
    logs = [leader.communicate(timeout=300)[0], follower.communicate(timeout=120)[0]]
    assert [leader.returncode, follower.returncode] == [0, 0], logs
    df = frames.load(f"sqlite:///{tmp_path / 'node0' / 'results.sqlite'}")
    assert len(df) == 1 and df.iloc[0]["status"] == "ok", df.iloc[0]["reason"]
    row = df.iloc[0]
    assert row["replicas"] == 2 and row["n_samples"] > 0
    details = json.loads(row["details"])
    assert details["nnodes"] == 2 and details["rdzv_endpoint"] == endpoint
    assert len(details["rank_median_s"]) == 2
    assert not (tmp_path / "node1").exists()  # node 1 stores nothing
    assert "node 1: node 0 ended the run" in logs[1]
