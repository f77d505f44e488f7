"""The run loop's contracts: GPU state around each case, skips without a worker, and the
import rule (the parent process never loads a framework)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from runners.measurement import Measurement
from runners.timing import SamplingPolicy
from suite import session
from suite.case import Case


def _plan(case: Case) -> session.Plan:
    return session.Plan([case], SamplingPolicy(), 60.0, 1, "test")


def _context(**kw: Any) -> session.Context:
    return session.Context(machine={}, environment={}, ceilings=[], **kw)


def test_gpu_state_is_taken_around_each_case_and_throttling_flagged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = Case("torch", 50, 1, device="cuda")
    snapshots = iter(
        [
            [{"index": 0, "throttle_reasons": []}],
            [{"index": 0, "throttle_reasons": ["sw_thermal_slowdown"]}],
        ]
    )
    monkeypatch.setattr(session.metadata, "gpu_snapshot", lambda: next(snapshots))
    monkeypatch.setattr(session.metadata, "throttled", lambda b, a: bool(a[0]["throttle_reasons"]))
    monkeypatch.setattr(session, "run_case", lambda c, *a: Measurement(case=c, samples_ns=[1]))
    m = session.measure(case, _plan(case), _context())
    assert m.gpu_before == {"gpus": [{"index": 0, "throttle_reasons": []}]}
    assert m.gpu_after is not None and m.throttled is True


def test_a_device_the_probe_found_missing_is_skipped_without_a_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = Case("tensorflow", 50, 1, device="cuda")

    def no_worker(*_a: Any) -> Measurement:
        raise AssertionError("a worker was started for a missing device")

    monkeypatch.setattr(session, "run_case", no_worker)
    ctx = _context(device_skips={("tensorflow", "cuda"): "no GPU visible to TensorFlow"})
    m = session.measure(case, _plan(case), ctx)
    assert (m.status, m.reason) == ("skipped", "no GPU visible to TensorFlow")


def test_the_parent_process_never_imports_a_framework() -> None:
    code = (
        "import sys, suite.cli, suite.session, suite.pytest_plugin, results, results.store, "
        "results.html, results.analysis, runners.manager, suite.models, suite.modelinfo\n"
        "from suite.cli import build_parser; build_parser()\n"
        "loaded = [m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules]\n"
        "print(','.join(loaded))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
