"""torch data parallelism (issue 14): DDP ranks through the elastic launcher, with fakes
and for real (gloo, tiny images)."""

from __future__ import annotations

import json
import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from results import frames
from results.scaling import replica_scaling
from results.store import open_store
from runners import ddp, distributed
from runners.manager import run_round
from tests.support import ddp as ddp_support
from tests.support.ddp import TINY, outliving, train
from tests.support.store import begin
from vocab.sampling import SamplingPolicy


def test_cuda_ranks_use_nccl_on_their_local_device(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    import torch.distributed as dist

    calls: dict[str, Any] = {}
    monkeypatch.setattr(ddp, "die_with_launcher", lambda: None)
    monkeypatch.setattr(torch.cuda, "set_device", lambda i: calls.setdefault("set", i))
    monkeypatch.setattr(
        dist, "init_process_group", lambda backend, **kw: calls.update(backend=backend, **kw)
    )
    monkeypatch.setattr(dist, "get_rank", lambda: 3)
    monkeypatch.setattr(dist, "get_world_size", lambda: 4)
    monkeypatch.setenv("LOCAL_RANK", "1")
    threads = torch.get_num_threads()
    try:
        _t, rank, world, device = ddp.init_rank("cuda", 1)
    finally:
        torch.set_num_threads(threads)
    assert (rank, world, device) == (3, 4, "cuda:1")
    assert calls["backend"] == "nccl" and calls["set"] == 1
    assert calls["device_id"] == torch.device("cuda:1")


def test_ddp_wraps_with_the_recorded_bucket_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch.nn.parallel

    seen: dict[str, Any] = {}
    monkeypatch.setattr(
        torch.nn.parallel, "DistributedDataParallel", lambda m, **kw: seen.update(kw) or m
    )
    ddp.wrap_ddp(object(), "cuda:2")
    assert seen == {
        "device_ids": [2],
        "bucket_cap_mb": ddp.BUCKET_CAP_MB,
        "gradient_as_bucket_view": ddp.GRADIENT_AS_BUCKET_VIEW,
    }
    ddp.wrap_ddp(object(), "cpu")
    assert seen["device_ids"] is None


def test_every_rank_decides_on_the_agreed_step_time() -> None:
    """Two ranks with different own step times take the same steps, and the stop rule
    counts the slowest rank's time (the agreed one), not this rank's."""
    policy = SamplingPolicy(
        min_warmup=2, max_warmup=5, min_warmup_time_s=0.0, warmup_window=0,
        min_samples=3, min_time_s=1.0, min_processes=1, max_processes=1,
    )  # fmt: skip
    agreed_ns = 300_000_000  # the other rank's step: 0.3 s, far slower than ours

    timing = distributed.time_replicated(
        lambda: None, lambda: None, lambda own: max(own, agreed_ns), policy, "cpu"
    )
    assert len(timing.warmup_ns) == 2
    assert len(timing.clock_ns) == len(timing.own_ns) == 4  # 4 x 0.3 s >= 1 s; 3 would not do
    assert max(timing.own_ns) < agreed_ns  # this rank's own times stay its own


def test_failed_ranks_names_each_rank_and_how_it_ended() -> None:
    exc = RuntimeError("child failed")
    exc.failures = {  # type: ignore[attr-defined]
        1: SimpleNamespace(exitcode=-9, message="Signal 9 (SIGKILL) received by PID 7"),
        0: SimpleNamespace(exitcode=1, message="ValueError: bad"),
    }
    assert ddp.failed_ranks(exc) == "rank 0 (exit 1: ValueError: bad), rank 1 (killed by SIGKILL)"
    assert ddp.failed_ranks(RuntimeError("x")) is None


# --- real ranks (gloo, tiny) ----------------------------------------------------------


@pytest.mark.slow
def test_gradients_are_averaged_across_ranks() -> None:
    """After one step on half a batch each, both ranks hold the weights of one process's
    step on the whole batch (DDP averages the gradients; the loss is a mean)."""
    import torch

    returned, endpoint = ddp.launch(2, ddp_support.grad_rank, ())
    assert endpoint.startswith("127.0.0.1:")
    model, x, y = ddp_support.tiny_problem()
    single = ddp_support.one_sgd_step(model, model, x, y)
    before = [p.detach().flatten().tolist() for p in ddp_support.tiny_problem()[0].parameters()]
    assert returned[0] == returned[1]
    for got, want, old in zip(returned[0], single, before, strict=True):
        assert torch.allclose(torch.tensor(got), torch.tensor(want), atol=1e-6)
        assert not torch.allclose(torch.tensor(got), torch.tensor(old))  # it did move


@pytest.mark.slow
def test_two_replicas_are_stored_with_rank_medians_and_efficiency(tmp_path: Any) -> None:
    one, two = train(1), train(2)
    got = run_round([one, two], TINY, 0, [0, 0], timeout_s=300)
    assert [m.status for m in got] == ["ok", "ok"], [m.reason for m in got]
    m = got[1]
    rep = m.details.replication
    assert rep is not None and rep.replicas == 2 and rep.global_batch == 4
    assert rep.threads_per_rank == 1 and m.threads_intra == 1
    assert m.details.runner["backend"] == "gloo"
    assert str(m.details.runner["rdzv_endpoint"]).startswith("127.0.0.1:")
    assert len(rep.rank_median_s) == len(rep.rank_forward_median_s) == 2
    assert len(set(rep.rank_pids.values())) == 2
    assert "all_reduce" in str(m.sync)
    with open_store(f"sqlite:///{tmp_path / 'r.sqlite'}") as store:
        run_id = begin(store)
        for part in got:
            store.add_result(run_id, part)
        df = frames.load(store, [run_id])
    scaling = replica_scaling(df)
    assert list(scaling["replicas"]) == [1, 2]
    assert list(scaling["global_batch"]) == [2, 4]
    two_row = scaling.iloc[1]
    assert two_row["efficiency"] == pytest.approx(
        two_row["images_per_s"] / (2 * scaling.iloc[0]["images_per_s"])
    )
    assert len(two_row["rank_median_ms"]) == 2
    stored = json.loads(df.loc[df["replicas"] == 2, "details"].iloc[0])
    assert stored["ddp_bucket_cap_mb"] == ddp.BUCKET_CAP_MB


@pytest.mark.slow
def test_a_killed_rank_fails_its_case_and_the_round_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(distributed.KILL_RANK_ENV, "1:1")  # rank 1 dies at its second step
    mark = f"RESNET_BENCH_TEST_MARK={uuid.uuid4().hex}"  # inherited by the worker and ranks
    monkeypatch.setenv(*mark.split("=", 1))
    got = run_round([train(2), train(1)], TINY, 0, [0, 0], timeout_s=300)
    assert got[0].status == "error"
    assert "rank 1 (killed by SIGKILL) failed" in str(got[0].reason)
    assert got[1].status == "ok"
    assert got[0].details.replication is None  # nothing from a failed group is measured
    assert outliving(mark) == []  # no rank outlived the round


def test_more_cuda_replicas_than_devices_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from vocab.measurement import Measurement, ProcessRecord

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    case = train(2, device="cuda")
    m = ddp.measure_replicated(case, TINY, ProcessRecord(0, 0), Measurement(case=case))
    assert m.status == "skipped"
    assert m.reason == "2 replicas per node need 2 CUDA devices; this host has 1"


@pytest.mark.slow
def test_a_hanging_rank_times_out_named_and_leaves_no_rank_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mark = f"RESNET_BENCH_TEST_MARK={uuid.uuid4().hex}"
    monkeypatch.setenv(*mark.split("=", 1))
    monkeypatch.setenv(distributed.KILL_RANK_ENV, "1:1:hang")  # rank 1 stops at step 1
    (m,) = run_round([train(2)], TINY, 0, [0], timeout_s=30)
    assert m.status == "timeout"
    # rank 1 never began step 1; rank 0 began it and waits in DDP's first collective
    late = "rank 1 at step 0 (finished, waiting for the others); ahead: step 1 (started)"
    assert late in str(m.reason)
    assert outliving(mark) == []
