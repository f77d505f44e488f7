"""Probe one framework in a fresh process: version/build info and the matmul ceiling.

python -m runners.probe OUT.json < {"framework": ..., "devices": [...], "threads": N,
                                    "interop_threads": M, "ceiling": true}
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from runners.registry import get_runner
from runners.worker import one_line
from suite.case import Case
from suite.spec import DEPTHS

CEILING_PRECISIONS = ("fp32", "bf16")


def probe(request: dict[str, Any]) -> dict[str, Any]:
    framework = request["framework"]
    out: dict[str, Any] = {"framework": framework, "version": None, "info": {}, "ceilings": []}
    try:
        runner = get_runner(framework)
    except ImportError as exc:
        out["error"] = f"{framework} not installed: {exc}"
        return out
    runner.set_threads(int(request["threads"]), int(request.get("interop_threads", 1)))
    out["version"] = runner.version()
    out["info"] = runner.info()
    devices = list(request.get("devices", ["cpu"]))
    # A device the framework cannot reach here: its cases are skipped without a worker.
    skips = {d: runner.unsupported(Case(framework, min(DEPTHS), 1, d)) for d in devices}
    out["device_skips"] = {d: reason for d, reason in skips.items() if reason is not None}
    if request.get("ceiling"):
        for device in (d for d in devices if d not in out["device_skips"]):
            for precision in CEILING_PRECISIONS:
                try:
                    rate = runner.matmul_gflops(device, precision)
                except Exception as exc:  # a device the machine lacks, say
                    out.setdefault("ceiling_errors", []).append(
                        f"{device} {precision}: {one_line(exc)}"
                    )
                    continue
                if rate is not None:
                    out["ceilings"].append(
                        {
                            "device": device,
                            "precision": precision,
                            "gflops": rate,
                            "details": {
                                "framework": framework,
                                "threads": int(request["threads"]),
                                "method": "fastest of 10 square matmuls",
                            },
                        }
                    )
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m runners.probe OUT.json < request.json", file=sys.stderr)
        return 2
    result = probe(json.load(sys.stdin))
    Path(argv[0]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
