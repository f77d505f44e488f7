"""Data-parallel training on torch: one process per replica, started by torch's elastic
launcher (what torchrun runs) with a c10d rendezvous, the model in DistributedDataParallel.

The worker process measuring a case with `replicas` > 1 becomes the launcher: it starts the
ranks (`elastic_launch`), each rank builds the case's model on its device (cuda:LOCAL_RANK,
or the CPU with threads // replicas intra-op threads), wraps it in DDP and times its steps.
Steps are timed by runners.distributed's rule (a step ends at an all-reduce of the ranks'
step times; rank 0's clock); a ForwardClock gives each rank's forward time, where a slow
rank shows.

A rank that dies fails the case with that rank named (the agent stops the others); a hang
is the worker's per-case timeout, which kills the worker's process group, ranks included.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from runners.distributed import (
    PROGRESS_DIR_ENV,
    die_with_launcher,
    free_port,
    report_progress,
    take_rank0_timing,
    threads_per_rank,
    time_replicated,
)
from vocab.case import Case
from vocab.details import Details, Replication
from vocab.measurement import Measurement, ProcessRecord, one_line
from vocab.messages import NodeJob, Nodes, RankClock, RankReport, encode_job
from vocab.sampling import SamplingPolicy

# DDP's defaults, set explicitly so that what is recorded is what ran.
BUCKET_CAP_MB = 25
GRADIENT_AS_BUCKET_VIEW = True
RDZV_TIMEOUT_S = 120  # all ranks (and nodes) must join within this


@dataclass
class Launch:
    """Where the ranks meet: one node (the default) or this node of `nnodes`."""

    nnodes: int = 1
    node_rank: int = 0
    rdzv_endpoint: str = ""  # HOST:PORT; "" -> localhost on a free port
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @classmethod
    def node0(cls, nodes: Nodes) -> Launch:
        """Node 0's launch over `nodes`; a fresh run id, which the other nodes learn from
        the announcement."""
        return cls(nodes.nnodes, 0, nodes.rdzv_endpoint)

    def coordination(self) -> tuple[str, int]:
        """Where node 0 tells the other nodes which case comes next: the rendezvous port + 1."""
        host, _, port = self.rdzv_endpoint.rpartition(":")
        return host, int(port) + 1


def launch(
    nproc: int,
    entrypoint: Callable[..., Any],
    args: tuple[Any, ...],
    where: Launch | None = None,
    env: dict[str, str] | None = None,
) -> tuple[dict[int, RankReport], str]:
    """Run `entrypoint(*args)` in `nproc` processes on this node through torch's elastic
    launcher; return {global rank: return value} and the rendezvous endpoint. A failed rank
    raises torch's ChildFailedError (see `failed_ranks`)."""
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    where = where or Launch()
    endpoint = where.rdzv_endpoint or f"127.0.0.1:{free_port()}"
    configs: dict[str, Any] = {"timeout": RDZV_TIMEOUT_S}
    if where.nnodes > 1:
        # torchrun's static rendezvous: node K's ranks are K*nproc.., so global rank 0 (which
        # keeps the clock and whose node stores the result) is on node 0, the store's host.
        configs["rank"] = where.node_rank
    else:
        configs["is_host"] = True  # this process serves the c10d store at the endpoint
    config = LaunchConfig(
        min_nodes=where.nnodes,
        max_nodes=where.nnodes,
        nproc_per_node=nproc,
        run_id=where.run_id,
        rdzv_backend="static" if where.nnodes > 1 else "c10d",
        rdzv_endpoint=endpoint,
        rdzv_configs=configs,
        max_restarts=0,  # a failed rank fails the case; a restart would time other steps
        monitor_interval=0.1,
        start_method="spawn",
    )
    saved = dict(os.environ)
    os.environ.update(env or {})
    # The agent's logs go in the worker's folder where there is one (removed with it).
    with tempfile.TemporaryDirectory(dir=os.environ.get(PROGRESS_DIR_ENV)) as logs:
        config.logs_specs = DefaultLogsSpecs(log_dir=logs)
        try:
            returned = elastic_launch(config, entrypoint)(*args)
        finally:
            os.environ.clear()
            os.environ.update(saved)
    return dict(returned), endpoint


def failed_ranks(exc: BaseException) -> str | None:
    """'rank 1 (killed by SIGKILL)' from torch's ChildFailedError; None otherwise."""
    failures = getattr(exc, "failures", None)
    if not isinstance(failures, dict) or not failures:
        return None
    parts = []
    for rank, failure in sorted(failures.items()):
        code = getattr(failure, "exitcode", None)
        why = f"exit {code}"
        if isinstance(code, int) and code < 0:
            try:
                why = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                why = f"killed by signal {-code}"
        message = getattr(failure, "message", "") or ""
        if message and "Signal" not in message and "exitcode" not in message:
            why += f": {' '.join(str(message).split())[:200]}"
        parts.append(f"rank {rank} ({why})")
    return ", ".join(parts)


# --- inside a rank -------------------------------------------------------------------


def init_rank(device: str, threads: int) -> tuple[Any, int, int, str]:
    """Join the process group (gloo on CPU, NCCL on CUDA, env:// from the launcher); return
    (torch, rank, world size, this rank's device)."""
    import torch
    import torch.distributed as dist

    die_with_launcher()
    torch.set_num_threads(threads)
    local_rank = int(os.environ["LOCAL_RANK"])
    if device.startswith("cuda"):
        torch.cuda.set_device(local_rank)
        mine = f"cuda:{local_rank}"
        dist.init_process_group("nccl", device_id=torch.device(mine))
    else:
        mine = "cpu"
        dist.init_process_group("gloo")
    return torch, dist.get_rank(), dist.get_world_size(), mine


class ForwardClock:
    """Each forward's time on this rank, from hooks on the model inside DDP. The step time
    cannot show a slow rank: DDP's gradient all-reduce makes the fast ranks wait for it
    inside backward, so every rank's step ends together. The forward has no collective
    (buffers are broadcast before it starts), so its time is the rank's own speed. CUDA:
    events recorded in the stream, read after the step's sync (no extra sync)."""

    def __init__(self, model: Any, device: str, rank: int = 0) -> None:
        import torch

        self.rank = rank
        self.count = 0  # forwards begun: the step index of the one running is count - 1
        self.cuda = device.startswith("cuda")
        self.times_ns: list[int] = []
        self._pending: list[tuple[Any, Any]] = []
        self._t0 = 0
        self._event: Any = torch.cuda.Event if self.cuda else None
        model.register_forward_pre_hook(self._before)
        model.register_forward_hook(self._after)

    def _before(self, *_: Any) -> None:
        self.count += 1
        if self._event is not None:
            start = self._event(enable_timing=True)
            start.record()
            self._pending.append((start, None))
        else:
            self._t0 = time.perf_counter_ns()

    def _after(self, *_: Any) -> None:
        report_progress(self.rank, self.count - 1, 1)
        if self._event is not None:
            end = self._event(enable_timing=True)
            end.record()
            self._pending[-1] = (self._pending[-1][0], end)
        else:
            self.times_ns.append(time.perf_counter_ns() - self._t0)

    def collect(self) -> None:
        """After the device sync: the CUDA events' times."""
        for start, end in self._pending:
            self.times_ns.append(int(start.elapsed_time(end) * 1e6))
        self._pending.clear()


def wrap_ddp(model: Any, device: str) -> Any:
    """The model in DistributedDataParallel with the recorded bucket settings."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [int(device.partition(":")[2] or 0)] if device.startswith("cuda") else None
    return DistributedDataParallel(
        model,
        device_ids=ids,
        bucket_cap_mb=BUCKET_CAP_MB,
        gradient_as_bucket_view=GRADIENT_AS_BUCKET_VIEW,
    )


def rank_main(case: Case, policy: SamplingPolicy, threads: int) -> RankReport:
    """One rank of a replicated training case (the elastic launcher's entrypoint: its
    arguments and return value travel pickled, so they need no encoding)."""
    import torch.distributed as dist

    from runners.torch_runner import TorchRunner

    torch, rank, world, device = init_rank(case.device, threads)
    try:
        runner = TorchRunner()
        local = dataclasses.replace(case, device=device, replicas=1)
        clocks: list[ForwardClock] = []

        def wrap(model: Any) -> Any:
            clocks.append(ForwardClock(model, device, rank))
            return wrap_ddp(model, device)

        runner.build(local, wrap=wrap)
        flag = torch.zeros(1, device=device)

        def device_sync() -> None:
            runner.sync(None)
            clocks[0].collect()

        def agree(own_ns: int) -> int:
            flag.fill_(float(own_ns))
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            return int(flag.item())

        timing = time_replicated(runner.step, device_sync, agree, policy, device, rank)
        n = len(timing.own_ns)  # the timed steps' forwards: the last n
        own = (
            int(statistics.median(timing.own_ns)),
            int(statistics.median(clocks[0].times_ns[-n:])),
        )
        medians: list[Any] = [None] * world
        dist.all_gather_object(medians, own)
        clock = None
        if rank == 0:
            clock = RankClock(
                tuple(timing.clock_ns), tuple(timing.starts_ns), tuple(timing.warmup_ns),
                timing.warmup_stable,
            )  # fmt: skip
        master = f"{os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')}"
        return RankReport(
            rank=rank,
            pid=os.getpid(),
            device=device,
            threads=torch.get_num_threads(),
            median_ns=tuple(int(m[0]) for m in medians),
            forward_median_ns=tuple(int(m[1]) for m in medians),
            clock=clock,
            peak_memory=runner.peak_memory(),
            facts={"world": world, "master": master, "backend": dist.get_backend()},
            runner=runner.details(),
        )
    finally:
        dist.destroy_process_group()


def measure_replicated(
    case: Case,
    policy: SamplingPolicy,
    record: ProcessRecord,
    result: Measurement,
    where: Launch | Nodes | None = None,
) -> Measurement:
    """A training case on `case.replicas` ranks (all on this node unless `where` spans
    several: a Launch, or the request's Nodes); `result` is the worker's Measurement for
    it, filled in here."""
    if not isinstance(where, Launch):
        where = Launch() if where is None else Launch.node0(where)
    if case.replicas % where.nnodes:
        result.status = "skipped"
        result.reason = f"{case.replicas} replicas do not split over {where.nnodes} nodes"
        return result
    if case.is_cuda:
        import torch

        have, need = torch.cuda.device_count(), case.replicas // where.nnodes
        if have < need:
            result.status = "skipped"
            result.reason = (
                f"{need} replicas per node need {need} CUDA devices; this host has {have}"
            )
            return result
    t0 = time.perf_counter_ns()
    try:
        with announced(where, case, policy):
            returned, endpoint = run_node(case, policy, where)
    except Exception as exc:
        ranks = failed_ranks(exc)
        result.status = "error"
        result.reason = f"{ranks} failed; the other ranks were stopped" if ranks else one_line(exc)
        return result
    record.measured_ns = time.perf_counter_ns() - t0
    first = returned[0]
    threads = threads_per_rank(case, case.replicas // where.nnodes)
    take_rank0_timing(result, record, first)
    backend = first.facts.get("backend")
    result.sync = f"device sync on each rank, then all_reduce(MAX) over {backend}; rank 0's clock"
    if first.peak_memory is not None:
        result.peak_memory_bytes, result.memory_kind = first.peak_memory
        record.peak_memory_bytes = result.peak_memory_bytes
    assert first.clock is not None  # take_rank0_timing checked it
    result.details = Details(
        runner={
            **first.runner,
            "backend": backend,
            "launcher": "torch.distributed.launcher.api.elastic_launch (c10d rendezvous)",
            "rdzv_endpoint": endpoint,
            "master": first.facts.get("master"),
            "nnodes": where.nnodes,
            "ddp_bucket_cap_mb": BUCKET_CAP_MB,
            "ddp_gradient_as_bucket_view": GRADIENT_AS_BUCKET_VIEW,
        },
        warmup_ns=first.clock.warmup_ns,
        replication=Replication(
            replicas=case.replicas,
            global_batch=case.global_batch,
            threads_per_rank=threads,
            rank_median_s=tuple(ns / 1e9 for ns in first.median_ns),
            rank_forward_median_s=tuple(ns / 1e9 for ns in first.forward_median_ns),
            rank_pids={str(r): v.pid for r, v in sorted(returned.items())},
            rank_devices={str(r): v.device for r, v in sorted(returned.items())},
        ),
    )
    return result


# --- several nodes: node 0's side (the other nodes: runners.nodes) ---------------------

JOB_KEY = "job"  # the coordination store's key (vocab.messages.NodeJob)


def run_node(
    case: Case, policy: SamplingPolicy, where: Launch
) -> tuple[dict[int, RankReport], str]:
    """This node's ranks of a case."""
    nproc = case.replicas // where.nnodes
    threads = threads_per_rank(case, nproc)
    env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    return launch(nproc, rank_main, (case, policy, threads), where, env)


@contextlib.contextmanager
def announced(where: Launch, case: Case, policy: SamplingPolicy) -> Iterator[None]:
    """Node 0 (of several): the case is on offer to the other nodes while its ranks run."""
    if where.nnodes == 1:
        yield
        return
    store = coordination_store(where, server=True)
    store.set(JOB_KEY, encode_job(NodeJob(case, policy, where.run_id)))
    try:
        yield
    finally:
        del store  # the server closes; the next case opens its own


def coordination_store(where: Launch, server: bool, timeout_s: float = RDZV_TIMEOUT_S) -> Any:
    from datetime import timedelta

    from torch.distributed import TCPStore  # type: ignore[attr-defined]

    host, port = where.coordination()
    return TCPStore(
        host,
        port,
        is_master=server,
        timeout=timedelta(seconds=timeout_s),
        wait_for_workers=False,
    )
