"""Workers in fresh processes: real cases end to end, failures contained, CUDA path faked."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
from typing import Any

import pytest

from runners.manager import Outcome, _failure, run_case, run_round, spawn, worker_env
from tests.support.frameworks import framework_param
from vocab.case import FRAMEWORKS, Case
from vocab.messages import Done, Event, WorkerRequest
from vocab.sampling import SamplingPolicy

TINY = SamplingPolicy(min_samples=4, min_time_s=0.05, max_time_s=0.5, max_warmup=4)


@pytest.mark.parametrize(
    ("behaviour", "status", "reason"),
    [
        ("sigkill", "killed", "worker killed by SIGKILL"),
        ("segv", "error", "worker died from SIGSEGV"),
        ("exit3", "error", "worker exited with status 3 and no result; last output: "),
    ],
)
def test_a_dying_worker_loses_only_its_case(behaviour: str, status: str, reason: str) -> None:
    case = Case("torch", 50, 1)
    request = json.dumps({"behaviour": behaviour})
    outcome = spawn("tests.support.fake_worker", request, dict(os.environ), 60)
    m = _failure(case, outcome, 60)
    assert (m.status, m.case) == (status, case)
    assert m.reason is not None and reason in m.reason
    assert "fake worker starting" in m.reason


@pytest.mark.slow
def test_a_hanging_worker_is_killed_at_the_timeout() -> None:
    request = json.dumps({"behaviour": "hang"})
    outcome = spawn("tests.support.fake_worker", request, dict(os.environ), 1.0)
    assert outcome.returncode is None
    m = _failure(Case("torch", 50, 1), outcome, 1.0)
    assert m.status == "timeout" and m.reason == "no result within 1 s; worker killed"


def test_spawn_passes_the_request_and_reads_json_back() -> None:
    request = json.dumps({"behaviour": "ok", "x": 1})
    outcome = spawn("tests.support.fake_worker", request, dict(os.environ), 60)
    assert outcome.returncode == 0
    assert outcome.data == {"echo": {"behaviour": "ok", "x": 1}}


def test_worker_env_sets_threads_for_every_framework() -> None:
    env = worker_env(3, 1)
    assert env["OMP_NUM_THREADS"] == env["TF_NUM_INTRAOP_THREADS"] == env["NPROC"] == "3"
    assert env["TF_NUM_INTEROP_THREADS"] == "1"


def _round(batches: list[int], timeout_s: float = 60.0) -> list[Any]:
    cases = [Case("torch", 50, b, image_size=32, threads=1) for b in batches]
    return run_round(
        cases, TINY, 4, [7] * len(cases), timeout_s, module="tests.support.fake_round_worker"
    )


def test_a_worker_crash_mid_round_loses_only_the_case_in_flight() -> None:
    ms = _round([1, 3, 2, 6])  # batch 3 kills its worker
    assert [m.case.batch_size for m in ms] == [1, 3, 2, 6]
    assert [m.status for m in ms] == ["ok", "killed", "ok", "ok"]
    assert "fake round worker starting" in (ms[1].reason or "")
    # The cases after the crash ran in a second worker, and every case knows its round.
    assert ms[0].process_records[0].pid != ms[2].process_records[0].pid
    assert all(m.process_records[0].round == 4 for m in ms)
    assert all(m.process_records[0].index == 7 for m in ms)


@pytest.mark.slow
def test_a_hang_times_out_only_its_own_case() -> None:
    ms = _round([1, 4, 2], timeout_s=3.0)
    assert [m.status for m in ms] == ["ok", "timeout", "ok"]
    assert ms[1].reason == "no result within 3 s; worker killed"


def test_a_worker_exiting_without_a_result() -> None:
    ms = _round([5, 1])
    assert ms[0].status == "error" and "exited with status 3" in (ms[0].reason or "")
    assert ms[1].status == "ok"


def test_an_event_of_an_unknown_kind_fails_only_its_case_naming_the_kinds() -> None:
    ms = _round([1, 7, 2])  # batch 7: the worker writes a "finished" event
    assert [m.status for m in ms] == ["ok", "error", "ok"]
    assert ms[1].reason == (
        "worker protocol: unknown event kind 'finished'; allowed: ready, start, done"
    )


def test_one_worker_refuses_mixed_frameworks() -> None:
    with pytest.raises(ValueError, match="one framework"):
        run_round([Case("torch", 50, 1), Case("tensorflow", 50, 1)], TINY, 0, [0, 0])


@pytest.mark.slow
@pytest.mark.torch
def test_torch_cases_in_one_worker_and_in_two_processes() -> None:
    a = Case("torch", 50, 1, image_size=32, threads=1)
    b = Case("torch", 50, 2, image_size=32, threads=1)
    first = run_round([a, b], TINY, 0, [0, 0], timeout_s=300)
    assert [m.status for m in first] == ["ok", "ok"], [m.reason for m in first]
    ra, rb = first[0].process_records[0], first[1].process_records[0]
    assert ra.pid == rb.pid and (ra.position, rb.position) == (0, 1)
    assert ra.startup_ns and ra.startup_ns > 0 and ra.build_ns and rb.build_ns
    assert rb.started_ns and ra.started_ns and rb.started_ns > ra.started_ns
    assert len(first[0].sample_start_ns) == len(first[0].samples_ns)
    case = a
    m = run_case(case, TINY, timeout_s=300, processes=2)
    assert m.status == "ok", m.reason
    assert set(m.sample_process) == {0, 1} and len(m.samples_ns) >= 8
    assert m.processes == 2 and [p.round for p in m.process_records] == [0, 1]
    assert len(m.process_values_s()) == 2
    assert (m.threads_intra, m.threads_inter) == (1, 1)
    assert m.warmup_steps >= 2 and m.first_step_ns and m.build_ns
    assert m.sync and m.peak_memory_bytes and m.memory_kind == "rss"
    assert m.gmacs_per_image and m.gmacs_per_image > 0
    assert m.pipeline_steps is None and m.pipelined_s() is None  # CPU steps end in the step
    # numerics switches in force in the worker: torch's defaults
    assert m.details.runner["flush_denormal"] is False
    assert m.details.runner["float32_matmul_precision"] == "highest"
    assert m.details.runner["matmul_allow_tf32"] is False


@pytest.mark.slow
@pytest.mark.tensorflow
def test_tensorflow_inference_with_xla_and_training_in_one_worker() -> None:
    """Both modes and both executions, in one worker (each trace costs seconds): the
    inference step under XLA, the training step as a plain tf.function graph."""
    infer = Case("tensorflow", 50, 2, execution="xla", image_size=32, threads=1)
    train = Case("tensorflow", 50, 2, mode="training", image_size=32, threads=1)
    ms = run_round([infer, train], TINY, 0, [0, 0], timeout_s=300)
    assert [m.status for m in ms] == ["ok", "ok"], [m.reason for m in ms]
    assert [m.details.runner["jit_compile"] for m in ms] == [True, False]
    assert ms[0].process_records[0].pid == ms[1].process_records[0].pid  # one worker
    for m in ms:
        assert m.details.runner["tensor_float_32_execution"] is True  # TensorFlow's default
        assert m.threads_intra == 1 and m.threads_inter == 1
        assert m.sync == "host (output materialised)"
        assert m.warmup_steps >= 2 and m.first_step_ns and m.build_ns
        assert m.peak_memory_bytes and len(m.samples_ns) >= TINY.min_samples


@pytest.mark.slow
@pytest.mark.torch
def test_cuda_on_a_machine_without_it_is_skipped_never_run_on_cpu() -> None:
    """Through a real worker; each runtime's own reason: the test below."""
    m = run_case(Case("torch", 50, 1, device="cuda", image_size=32), TINY, timeout_s=300)
    assert m.status == "skipped"
    assert m.samples_ns == []
    assert m.reason and "CUDA" in m.reason


@pytest.mark.slow  # a fresh process per runtime imports its framework (seconds)
@pytest.mark.parametrize("framework", [framework_param(f) for f in FRAMEWORKS])
def test_a_runner_loads_its_framework_alone_and_refuses_a_missing_cuda(framework: str) -> None:
    """In a fresh process, as in a worker: loading the runner imports no other runtime and
    not pandas (TensorFlow would take JAX and pandas where installed); on this machine
    without CUDA, a CUDA case has a reason to be skipped that says so."""
    import json
    import subprocess
    import sys

    from vocab.runtimes import RUNTIMES

    others = sorted({r.package for r in RUNTIMES.values() if r.name != framework} | {"pandas"})
    code = (
        "import json, sys\n"
        "from runners.registry import get_runner, unsupported\n"
        "from vocab.case import Case\n"
        f"runner = get_runner({framework!r})\n"
        f"loaded = [m for m in {others!r} if m in sys.modules]\n"
        f"reason = unsupported(runner, Case({framework!r}, 50, 1, device='cuda'))\n"
        "print(json.dumps({'loaded': loaded, 'cuda': reason}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["loaded"] == [], found
    assert found["cuda"] and ("CUDA" in found["cuda"] or "GPU" in found["cuda"]), found


def test_signals_name_what_ended_the_worker() -> None:
    case = Case("torch", 50, 1)
    assert _failure(case, Outcome(-signal.SIGKILL, None, ""), 5).status == "killed"
    assert _failure(case, Outcome(-signal.SIGTERM, None, ""), 5).status == "killed"
    assert _failure(case, Outcome(-signal.SIGABRT, None, ""), 5).status == "error"


# -- the worker around one case, with a fake runner and fake NVML --------------------------


class FakeRunner:
    """Steps of 1 ms on a fake device; records what the worker asked of it."""

    name = "fake"
    sync_method = "fake sync"

    def __init__(self) -> None:
        self.built: list[Case] = []

    def version(self) -> str:
        return "0.0"

    def unsupported(self, case: Case) -> str | None:
        return None

    def build(self, case: Case) -> None:
        self.built.append(case)

    def step(self) -> int:
        return 1

    def sync(self, _output: Any) -> None:
        pass

    def details(self) -> dict[str, Any]:
        return {"fake": True}

    def peak_memory(self) -> tuple[int, str] | None:
        return 42, "device"

    def is_oom(self, exc: BaseException) -> bool:
        return False


def test_the_worker_reads_gpu_counters_around_each_case(monkeypatch: pytest.MonkeyPatch) -> None:
    import runners.nvml as nvml
    from runners.worker import measure
    from vocab.measurement import ProcessRecord

    snapshots = iter(
        [
            [{"index": 0, "throttle_reasons": [], "violation_ns": {"thermal": 0}}],
            [{"index": 0, "throttle_reasons": [], "violation_ns": {"thermal": 5_000}}],
        ]
    )
    monkeypatch.setattr(nvml, "gpu_snapshot", lambda: next(snapshots))
    runner = FakeRunner()
    case = Case("torch", 50, 1, device="cuda")
    record = ProcessRecord(index=2, round=3)
    m = measure(runner, case, TINY, record, (4, 1))  # type: ignore[arg-type]
    assert m.status == "ok" and runner.built == [case]
    assert m.gpu_before == {
        "gpus": [{"index": 0, "throttle_reasons": [], "violation_ns": {"thermal": 0}}]
    }
    # No throttle reason at either edge, but the thermal violation counter rose inside.
    assert m.throttled is True and record.throttled is True
    assert (m.threads_intra, m.threads_inter) == (4, 1)
    assert m.sample_process == [2] * len(m.samples_ns)
    assert record.warmup_steps >= TINY.min_warmup and record.measured_ns == sum(m.samples_ns)
    assert m.peak_memory_bytes == record.peak_memory_bytes == 42


def test_the_worker_takes_no_gpu_snapshot_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import runners.nvml as nvml
    from runners.worker import measure
    from vocab.measurement import ProcessRecord

    def boom() -> None:
        raise AssertionError("NVML read for a CPU case")

    monkeypatch.setattr(nvml, "gpu_snapshot", boom)
    m = measure(FakeRunner(), Case("torch", 50, 1), TINY, ProcessRecord(0, 0), (1, 1))  # type: ignore[arg-type]
    assert m.status == "ok" and m.gpu_before is None and m.throttled is None


@pytest.mark.slow  # a child process imports torch and its compiler (seconds)
@pytest.mark.torch
def test_torch_prepare_moves_the_dynamo_import_out_of_the_first_training_build() -> None:
    """torch.optim's constructors import torch._dynamo on first use (seconds): a worker
    with training cases imports it at start-up, so no case's build pays it."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from runners.torch_runner import TorchRunner\n"
        "from vocab.case import Case\n"
        "r = TorchRunner()\n"
        "r.prepare([Case('torch', 50, 1)])\n"
        "assert 'torch._dynamo' not in sys.modules\n"
        "r.prepare([Case('torch', 50, 1), Case('torch', 50, 2, mode='training')])\n"
        "assert 'torch._dynamo' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_worker_without_the_framework_skips_its_cases_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from runners.worker import run_round as worker_round
    from vocab.runtimes import RUNTIMES

    absent = dataclasses.replace(
        RUNTIMES["tensorflow"], runner="no_such_runner_module:Runner", package="no_such_package"
    )
    monkeypatch.setitem(RUNTIMES, "tensorflow", absent)
    events: list[Event] = []
    cases = tuple(Case("tensorflow", 50, b, image_size=32, threads=1) for b in (1, 2))
    worker_round(WorkerRequest(cases, (0, 0), 0, TINY), events.append)
    done = [e.measurement for e in events if isinstance(e, Done)]
    assert [(m.status, m.reason) for m in done] == [
        ("skipped", "tensorflow is not installed: pip install 'resnet-bench[tensorflow]'")
    ] * 2
