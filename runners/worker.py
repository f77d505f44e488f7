"""The worker: runs ONE case in this fresh process and writes one Measurement as JSON.

    python -m runners.worker OUT.json < request.json

The request is {"case": {...}, "policy": {...}, "process": N}. Only the case's framework is
imported. Whatever happens, the worker tries to write a Measurement (status ok, skipped,
oom or error); the parent handles the cases where it cannot (killed, hung).
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from runners.measurement import Measurement
from runners.timing import SamplingPolicy, time_steps
from suite.case import Case


def one_line(exc: BaseException, limit: int = 400) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def measure(case: Case, policy: SamplingPolicy, process: int = 0) -> Measurement:
    from runners.registry import get_runner
    from suite.spec import gmacs

    try:
        runner = get_runner(case.framework)
    except ImportError as exc:
        return Measurement.failed(case, "skipped", f"{case.framework} not installed: {exc}")
    result = Measurement(
        case=case, gmacs_per_image=gmacs(case.depth, case.image_size, case.num_classes)
    )
    result.framework_version = runner.version()
    try:
        result.threads_intra, result.threads_inter = runner.set_threads(
            case.threads, case.interop_threads
        )
        reason = runner.unsupported(case)
        if reason is not None:
            result.status, result.reason = "skipped", reason
            return result
        t0 = time.perf_counter_ns()
        runner.build(case)
        result.build_ns = time.perf_counter_ns() - t0
        timing = time_steps(runner.step, runner.sync, policy)
        result.samples_ns = timing.samples_ns
        result.sample_process = [process] * len(timing.samples_ns)
        result.warmup_steps = len(timing.warmup_ns)
        result.first_step_ns = timing.first_step_ns
        result.ci_target_met = timing.ci_target_met
        result.sync = runner.sync_method
        result.details = {
            **runner.details(),
            "warmup_ns": timing.warmup_ns,
            "warmup_stable": timing.warmup_stable,
        }
    except Exception as exc:  # one case's failure must not lose the run
        result.status = "oom" if runner.is_oom(exc) else "error"
        result.reason = one_line(exc)
        result.details = {**result.details, "traceback": traceback.format_exc(limit=20)}
        result.samples_ns, result.sample_process = [], []
    peak = runner.peak_memory()
    if peak is not None:
        result.peak_memory_bytes, result.memory_kind = peak
    return result


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m runners.worker OUT.json < request.json", file=sys.stderr)
        return 2
    request: dict[str, Any] = json.load(sys.stdin)
    case = Case.from_dict(request["case"])
    policy = SamplingPolicy.from_dict(request.get("policy", {}))
    measurement = measure(case, policy, int(request.get("process", 0)))
    out = Path(argv[0])
    tmp = out.with_suffix(".tmp")
    tmp.write_text(measurement.to_json())
    tmp.replace(out)  # the parent never reads a half-written file
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
