"""The parent side: run each case in fresh worker processes and read their JSON back.

A crash, hang or out-of-memory kill loses only that case; it comes back as a Measurement
with status error / timeout / oom and the reason.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runners.measurement import Measurement
from runners.stats import ci_rel_halfwidth
from runners.timing import SamplingPolicy
from suite.case import Case

DEFAULT_TIMEOUT_S = 900.0
STDERR_TAIL_LINES = 5


def thread_env(intra: int, inter: int) -> dict[str, str]:
    """Thread settings both frameworks read at start-up, passed explicitly to each worker."""
    return {
        "OMP_NUM_THREADS": str(intra),
        "MKL_NUM_THREADS": str(intra),
        "TF_NUM_INTRAOP_THREADS": str(intra),
        "TF_NUM_INTEROP_THREADS": str(inter),
    }


def worker_env(case_threads: int, interop: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(thread_env(case_threads, interop))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's start-up chatter off the terminal
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


@dataclass
class Outcome:
    returncode: int | None  # None: killed at the timeout
    data: dict[str, Any] | None
    stderr_tail: str


def spawn(module: str, request: dict[str, Any], env: dict[str, str], timeout_s: float) -> Outcome:
    """Run `python -m module OUT.json` with the request on stdin; its own session, so a
    timeout kills the whole process group (compiler helpers included)."""
    with tempfile.TemporaryDirectory(prefix="resnet-bench-") as tmp:
        out = Path(tmp) / "out.json"
        log = Path(tmp) / "stderr.log"
        with log.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", module, str(out)],
                stdin=subprocess.PIPE,
                stdout=err,
                stderr=err,
                env=env,
                start_new_session=True,
            )
            try:
                proc.communicate(json.dumps(request).encode(), timeout=timeout_s)
                returncode: int | None = proc.returncode
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                returncode = None
        lines = log.read_text(errors="replace").strip().splitlines()
        tail = " | ".join(lines[-STDERR_TAIL_LINES:])
        data = json.loads(out.read_text()) if out.exists() else None
        return Outcome(returncode, data, tail)


def _failure(case: Case, outcome: Outcome, timeout_s: float) -> Measurement:
    rc = outcome.returncode
    last = f"; last output: {outcome.stderr_tail}" if outcome.stderr_tail else ""
    if rc is None:
        return Measurement.failed(
            case, "timeout", f"no result within {timeout_s:g} s; worker killed"
        )
    if rc == -signal.SIGKILL:
        # Nobody here sent it: the kernel's out-of-memory killer is the usual sender.
        return Measurement.failed(
            case, "oom", f"worker killed by SIGKILL (likely out of memory){last}"
        )
    if rc < 0:
        return Measurement.failed(
            case, "error", f"worker died from {signal.Signals(-rc).name}{last}"
        )
    return Measurement.failed(case, "error", f"worker exited with status {rc} and no result{last}")


def run_case(
    case: Case,
    policy: SamplingPolicy,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    processes: int = 1,
) -> Measurement:
    """Measure `case` in `processes` fresh workers, pooling their samples (pyperf style)."""
    env = worker_env(case.threads, case.interop_threads)
    parts: list[Measurement] = []
    for index in range(processes):
        request = {"case": case.to_dict(), "policy": policy.to_dict(), "process": index}
        outcome = spawn("runners.worker", request, env, timeout_s)
        if outcome.returncode != 0 or outcome.data is None:
            return _failure(case, outcome, timeout_s)
        part = Measurement.from_dict(outcome.data)
        if part.status != "ok":
            return part
        parts.append(part)
    merged = pool(parts, policy.ci_target)
    merged.details["env"] = {k: env[k] for k in sorted(thread_env(1, 1))}
    return merged


def pool(parts: list[Measurement], ci_target: float) -> Measurement:
    """One measurement from several processes' measurements of the same case."""
    first = parts[0]
    if len(parts) == 1:
        return first
    merged = dataclasses.replace(first)
    merged.samples_ns = [s for p in parts for s in p.samples_ns]
    merged.sample_process = [i for p in parts for i in p.sample_process]
    merged.processes = len(parts)
    merged.ci_target_met = ci_rel_halfwidth(merged.samples_ns) <= ci_target
    peaks = [p.peak_memory_bytes for p in parts if p.peak_memory_bytes is not None]
    merged.peak_memory_bytes = max(peaks) if peaks else None
    merged.details = {
        **first.details,
        "per_process": [
            {
                "warmup_steps": p.warmup_steps,
                "first_step_ns": p.first_step_ns,
                "build_ns": p.build_ns,
            }
            for p in parts
        ],
    }
    return merged


def probe(
    framework: str,
    devices: list[str],
    threads: int,
    interop_threads: int,
    ceiling: bool,
    timeout_s: float = 300.0,
) -> dict[str, Any]:
    """Framework version/build info and (optionally) matmul ceilings, from a fresh process."""
    request = {
        "framework": framework,
        "devices": devices,
        "threads": threads,
        "interop_threads": interop_threads,
        "ceiling": ceiling,
    }
    outcome = spawn("runners.probe", request, worker_env(threads, interop_threads), timeout_s)
    if outcome.data is None:
        return {
            "framework": framework,
            "version": None,
            "info": {},
            "ceilings": [],
            "error": _failure_reason(outcome, timeout_s),
        }
    return outcome.data


def _failure_reason(outcome: Outcome, timeout_s: float) -> str:
    if outcome.returncode is None:
        return f"probe timed out after {timeout_s:g} s"
    return f"probe exited with status {outcome.returncode}: {outcome.stderr_tail}"
