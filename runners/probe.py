"""Probe one framework in a fresh process: version/build info and the matmul ceiling.

python -m runners.probe OUT.json < request.json   (vocab.messages.ProbeRequest)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import NotRequired, TypedDict

from runners.registry import get_runner, missing, unsupported
from vocab.case import Case
from vocab.jsonfields import JSONObject
from vocab.measurement import one_line
from vocab.messages import MessageError, ProbeRequest, decode_probe
from vocab.spec import DEPTHS

CEILING_PRECISIONS = ("fp32", "bf16")


class CeilingInfo(TypedDict):
    """What the machine can do: a measured matmul rate for one device and precision."""

    device: str
    precision: str
    gflops: float
    details: JSONObject | None  # how it was measured
    env: NotRequired[str]  # the named environment it was measured in (absent or "": none)


class ProbeResult(TypedDict):
    """What a probe process found out about one framework on this machine."""

    framework: str
    version: str | None
    info: JSONObject  # build info (CUDA, cuDNN, oneDNN/MKL, XLA, ...)
    ceilings: list[CeilingInfo]
    device_skips: dict[str, str]  # device -> why the framework cannot run there
    error: str | None  # the probe failed (not installed, crashed, timed out)
    ceiling_errors: list[str]


def empty_result(framework: str, error: str | None = None) -> ProbeResult:
    return {
        "framework": framework,
        "version": None,
        "info": {},
        "ceilings": [],
        "device_skips": {},
        "error": error,
        "ceiling_errors": [],
    }


def probe(request: ProbeRequest) -> ProbeResult:
    framework = request.framework
    out = empty_result(framework)
    try:
        runner = get_runner(framework)
    except ImportError as exc:
        out["error"] = missing(framework) or f"{framework} cannot be imported: {exc}"
        return out
    runner.set_threads(request.threads, request.interop_threads)
    out["version"] = runner.version()
    out["info"] = runner.info()
    devices = list(request.devices)
    # A device the framework cannot reach here: its cases are skipped without a worker.
    skips = {d: unsupported(runner, Case(framework, min(DEPTHS), 1, d)) for d in devices}
    out["device_skips"] = {d: reason for d, reason in skips.items() if reason is not None}
    if request.ceiling:
        for device in (d for d in devices if d not in out["device_skips"]):
            for precision in CEILING_PRECISIONS:
                try:
                    rate = runner.matmul_gflops(device, precision)
                except Exception as exc:  # a device the machine lacks, say
                    out["ceiling_errors"].append(f"{device} {precision}: {one_line(exc)}")
                    continue
                if rate is not None:
                    out["ceilings"].append(
                        {
                            "device": device,
                            "precision": precision,
                            "gflops": rate,
                            "details": {
                                "framework": framework,
                                "threads": request.threads,
                                "method": "fastest of 10 square matmuls",
                            },
                        }
                    )
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m runners.probe OUT.json < request.json", file=sys.stderr)
        return 2
    try:
        request = decode_probe(sys.stdin.read())
    except MessageError as exc:
        print(f"runners.probe: {exc}", file=sys.stderr)
        return 2
    result = probe(request)
    Path(argv[0]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
