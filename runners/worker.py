"""The worker: one round of one or more cases of ONE framework, in this fresh process.

    python -m runners.worker EVENTS.jsonl < request.json

The request (vocab.messages.WorkerRequest) holds cases that share framework, device and
thread counts, so the framework is imported and its threads set once; each case gets a
freshly built model. The worker appends one line per event (vocab.messages: Ready, Start,
Done) to EVENTS.jsonl, flushed at once, so the parent always knows which case is in flight
(for its per-case timeout) and keeps every case finished before a crash.

Whatever happens inside a case, the worker writes a Measurement for it (status ok, skipped,
oom or error); the parent handles what it cannot (killed, hung).
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from runners import distributed
from runners.base import Runner, reset_peak_rss
from vocab.case import Case
from vocab.details import Details
from vocab.measurement import Measurement, ProcessRecord, one_line
from vocab.messages import (
    Done,
    Event,
    MessageError,
    Nodes,
    Ready,
    Start,
    WorkerRequest,
    decode_request,
    encode_event,
)
from vocab.runtimes import runtime
from vocab.sampling import SamplingPolicy, time_steps
from vocab.stats import CI_TARGET_REL

TEMP_PREFIX = "resnet-bench-"  # the parent's temporary folders (runners.manager)


def _gpu_state(case: Case) -> dict[str, Any] | None:
    if not case.is_cuda:
        return None
    from runners.nvml import gpu_snapshot

    snapshot = gpu_snapshot()
    return None if snapshot is None else {"gpus": snapshot}


def new_measurement(
    runner: Runner,
    case: Case,
    threads: tuple[int, int] | None,
    ci_target: float = CI_TARGET_REL,
    record: ProcessRecord | None = None,
    adaptive: bool = False,
) -> Measurement:
    """A case's Measurement with what holds before any step: its MACs from the spec, the
    framework version and the threads read back (`threads`; None where the framework would
    not say). The worker and the pytest plugin start here."""
    from vocab.spec import gmacs

    result = Measurement(
        case=case,
        gmacs_per_image=gmacs(case.depth, case.image_size, case.num_classes),
        ci_target=ci_target,
        adaptive=adaptive,
        process_records=[] if record is None else [record],
        framework_version=runner.version(),
    )
    if threads is not None:
        result.threads_intra, result.threads_inter = threads
    return result


def add_peak_memory(result: Measurement, runner: Runner, record: ProcessRecord | None) -> None:
    """The case's peak memory, as the runner measures it (device allocator or RSS)."""
    peak = runner.peak_memory()
    if peak is not None:
        result.peak_memory_bytes, result.memory_kind = peak
        if record is not None:
            record.peak_memory_bytes = peak[0]


def measure(
    runner: Runner,
    case: Case,
    policy: SamplingPolicy,
    record: ProcessRecord,
    threads: tuple[int, int],
    nodes: Nodes | None = None,
) -> Measurement:
    """One case with an already imported runner whose threads are set (`threads`: read
    back from the framework). `nodes`: where a replicated case spans several nodes (this
    one is node 0)."""
    result = new_measurement(runner, case, threads, policy.ci_target, record, policy.adaptive)
    from runners.registry import load, unsupported

    reason = unsupported(runner, case)
    if reason is not None:
        result.status, result.reason = "skipped", reason
        return result
    replicated = runtime(case.framework).replicas
    if case.replicas > 1 and replicated:  # the ranks build and time it; we launch them
        measured: Measurement = load(replicated)(case, policy, record, result, nodes)
        return measured
    gc.collect()  # the previous case's model must not count in this one's memory
    reset_peak_rss()
    try:
        record.gpu_before = _gpu_state(case)
        t0 = time.perf_counter_ns()
        runner.build(case)
        record.build_ns = result.build_ns = time.perf_counter_ns() - t0
        t1 = time.perf_counter_ns()
        # CPU steps end synchronously, except where a runtime's step starts async work
        pipelined = case.is_cuda or case.execution in runtime(case.framework).pipelined
        pipeline = policy.pipeline_steps if pipelined else 0
        timing = time_steps(runner.step, runner.sync, policy, device=case.device, pipeline=pipeline)
        record.warmup_ns = time.perf_counter_ns() - t1 - sum(timing.samples_ns)
        record.gpu_after = _gpu_state(case)
        result.samples_ns = timing.samples_ns
        result.sample_start_ns = timing.starts_ns
        result.sample_process = [record.index] * len(timing.samples_ns)
        record.warmup_steps = result.warmup_steps = len(timing.warmup_ns)
        record.first_step_ns = result.first_step_ns = timing.first_step_ns
        record.warmup_stable = timing.warmup_stable
        record.warmup_step_ns = list(timing.warmup_ns)
        record.measured_ns = sum(timing.samples_ns)
        if timing.pipelined_ns:
            record.pipelined_ns = int(statistics.median(timing.pipelined_ns))
            result.pipeline_steps = timing.pipeline_steps
        result.sync = runner.sync_method
        result.details = Details(runner=runner.details(), warmup_ns=tuple(timing.warmup_ns))
        if record.gpu_before and record.gpu_after:
            from runners.nvml import throttled

            record.throttled = throttled(record.gpu_before["gpus"], record.gpu_after["gpus"])
        result.gpu_before, result.gpu_after = record.gpu_before, record.gpu_after
        result.throttled = record.throttled
    except Exception as exc:  # one case's failure must not lose the others
        result.status = "oom" if runner.is_oom(exc) else "error"
        result.reason = one_line(exc)
        result.details = replace(result.details, traceback=traceback.format_exc(limit=20))
        result.samples_ns, result.sample_process, result.sample_start_ns = [], [], []
    add_peak_memory(result, runner, record)
    return result


def run_round(request: WorkerRequest, emit: Callable[[Event], None]) -> None:
    from runners.registry import get_runner, missing

    cases, first = request.cases, request.cases[0]
    records = [
        ProcessRecord(
            index=index,
            round=request.round,
            pid=os.getpid(),
            position=pos,
            spawned_ns=request.spawned_ns,
        )
        for pos, index in enumerate(request.processes)
    ]
    try:
        runner = get_runner(first.framework)
    except ImportError as exc:
        reason = missing(first.framework) or f"{first.framework} cannot be imported: {exc}"
        for pos, case in enumerate(cases):
            emit(Done(pos, Measurement.failed(case, "skipped", reason)))
        return
    try:
        threads = runner.set_threads(first.threads, first.interop_threads)
        runner.prepare(cases)
    except Exception as exc:
        reason = f"worker set-up failed: {one_line(exc)}"
        for pos, case in enumerate(cases):
            emit(Done(pos, Measurement.failed(case, "error", reason)))
        return
    ready = time.time_ns()
    startup = None if request.spawned_ns is None else ready - request.spawned_ns
    emit(Ready(ready))
    for pos, case in enumerate(cases):
        record = records[pos]
        record.startup_ns = startup
        record.started_ns = time.time_ns()
        emit(Start(pos, record.started_ns))
        emit(Done(pos, measure(runner, case, request.policy, record, threads, request.nodes)))


def _emitter(out: IO[str]) -> Callable[[Event], None]:
    def emit(event: Event) -> None:
        out.write(encode_event(event) + "\n")
        out.flush()  # the parent reads this file while we run

    return emit


def die_with_parent(events: Path) -> None:
    """Linux: end this worker when the parent dies, even by SIGKILL (the worker runs in its
    own session, so nothing else would stop it): the kernel sends SIGTERM, and the worker
    removes the parent's temporary folder it writes into, then exits. Elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import shutil
    import signal

    folder = events.resolve().parent

    def orphaned(_signum: int, _frame: object) -> None:
        if folder.name.startswith(TEMP_PREFIX):  # never anything but our own folder
            shutil.rmtree(folder, ignore_errors=True)
        os._exit(128 + signal.SIGTERM)

    signal.signal(signal.SIGTERM, orphaned)
    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if os.getppid() == 1:  # the parent died before the call took effect
        orphaned(signal.SIGTERM, None)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m runners.worker EVENTS.jsonl < request.json", file=sys.stderr)
        return 2
    try:
        request = decode_request(sys.stdin.read())
    except MessageError as exc:
        print(f"runners.worker: {exc}", file=sys.stderr)
        return 2
    die_with_parent(Path(argv[0]))
    # A replicated case's ranks inherit it and keep their progress there.
    os.environ[distributed.PROGRESS_DIR_ENV] = str(Path(argv[0]).resolve().parent)
    with Path(argv[0]).open("a") as out:
        run_round(request, _emitter(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
