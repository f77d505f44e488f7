"""TensorFlow data parallelism (issue 14): MultiWorkerMirroredStrategy workers with a
generated TF_CONFIG; MirroredStrategy on GPUs (fakes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from results.scaling import replica_scaling
from runners import distributed
from runners.manager import run_round
from tests.support.ddp import TINY, frame_of, outliving, train
from vocab.case import Case


def test_tf_config_names_every_worker_and_this_task() -> None:
    from runners.tf_multiworker import tf_config

    config = json.loads(tf_config([1111, 2222], 1))
    assert config == {
        "cluster": {"worker": ["127.0.0.1:1111", "127.0.0.1:2222"]},
        "task": {"type": "worker", "index": 1},
    }


def test_tf_strategy_is_mirrored_on_local_gpus_and_multiworker_on_cpu() -> None:
    from runners.tf_multiworker import make_strategy

    made: list[Any] = []
    distribute = SimpleNamespace(
        MirroredStrategy=lambda devices: made.append(("mirrored", devices)),
        MultiWorkerMirroredStrategy=lambda communication_options: made.append(
            ("multiworker", communication_options)
        ),
        experimental=SimpleNamespace(
            CommunicationOptions=lambda implementation: implementation,
            CommunicationImplementation=SimpleNamespace(RING="ring"),
        ),
    )
    fake_tf = SimpleNamespace(
        distribute=distribute,
        config=SimpleNamespace(list_physical_devices=lambda kind: ["gpu0", "gpu1"]),
    )
    make_strategy(fake_tf, Case("tensorflow", 50, 2, "cuda", "training", replicas=2))
    make_strategy(fake_tf, Case("tensorflow", 50, 2, "cpu", "training", replicas=2))
    assert made == [("mirrored", ["/GPU:0", "/GPU:1"]), ("multiworker", "ring")]
    assert "xla" in str(distributed.unsupported(Case("tensorflow", 50, 2, mode="training",
                                             execution="xla", replicas=2)))  # fmt: skip


def _tf_task(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.tf_grad_task", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **env},
    )


@pytest.mark.slow
def test_tf_gradients_are_averaged_across_workers() -> None:
    import numpy as np

    from runners.tf_multiworker import tf_config

    ports = [distributed.free_port(), distributed.free_port()]
    procs = [_tf_task([], {"TF_CONFIG": tf_config(ports, i)}) for i in range(2)]
    procs.append(_tf_task(["single"], {}))
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    task0, task1, single = (json.loads(o.strip().splitlines()[-1]) for o in outs)
    assert task0 == task1
    for got, want in zip(task0, single, strict=True):
        np.testing.assert_allclose(np.array(got), np.array(want), atol=1e-6)


@pytest.mark.slow
def test_tf_two_workers_are_measured_with_task_medians_and_a_killed_task_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    one, two = train(1, framework="tensorflow"), train(2, framework="tensorflow")
    got = run_round([one, two], TINY, 0, [0, 0], timeout_s=300)
    assert [m.status for m in got] == ["ok", "ok"], [m.reason for m in got]
    m = got[1]
    rep, facts = m.details.replication, m.details.runner
    assert facts["strategy"] == "MultiWorkerMirroredStrategy"
    assert rep is not None and rep.global_batch == 4 and rep.threads_per_rank == 1
    assert len(rep.rank_median_s) == 2 and len(facts["tf_config_ports"] or ()) == 2
    assert m.stats() is not None
    df = frame_of(got)
    assert list(replica_scaling(df)["replicas"]) == [1, 2]
    mark = f"RESNET_BENCH_TEST_MARK={uuid.uuid4().hex}"
    monkeypatch.setenv(*mark.split("=", 1))
    monkeypatch.setenv(distributed.KILL_RANK_ENV, "1:1")
    (killed,) = run_round([two], TINY, 1, [1], timeout_s=300)
    assert killed.status == "error"
    assert "worker task 1 (killed by signal 9) failed" in str(killed.reason)
    assert outliving(mark) == []
