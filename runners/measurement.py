"""What a worker returns for one case: raw samples and the facts around them, as JSON.

Statistics are never stored here alone; they are derived from `samples_ns` (runners.stats).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from suite.case import Case

# Bump when the JSON shape changes; readers refuse versions they do not know.
MEASUREMENT_VERSION = 1
STATUSES: tuple[str, ...] = ("ok", "oom", "timeout", "error", "skipped")


@dataclass
class Measurement:
    case: Case
    status: str = "ok"
    reason: str | None = None
    samples_ns: list[int] = field(default_factory=list)  # every timed step, in order
    sample_process: list[int] = field(default_factory=list)  # process index per sample
    warmup_steps: int = 0
    first_step_ns: int | None = None  # first step: holds tracing / compilation
    build_ns: int | None = None  # model build (and weight init) time
    threads_intra: int | None = None  # read back from the framework, not the request
    threads_inter: int | None = None
    sync: str | None = None  # how a step was made to end on the device
    peak_memory_bytes: int | None = None
    memory_kind: str | None = None  # "rss" (CPU worker) or "device" (framework allocator)
    ci_target_met: bool | None = None
    processes: int = 1
    gmacs_per_image: float | None = None  # forward MACs per image, from the spec
    framework_version: str | None = None
    details: dict[str, Any] = field(default_factory=dict)  # runner facts (channels_last...)
    gpu_before: dict[str, Any] | None = None
    gpu_after: dict[str, Any] | None = None
    throttled: bool | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}; allowed: {', '.join(STATUSES)}")
        if self.sample_process and len(self.sample_process) != len(self.samples_ns):
            raise ValueError("sample_process must tag every sample")
        if not self.sample_process:
            self.sample_process = [0] * len(self.samples_ns)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["case"] = self.case.to_dict()
        out["version"] = MEASUREMENT_VERSION
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        data = dict(data)
        version = data.pop("version", MEASUREMENT_VERSION)
        if version != MEASUREMENT_VERSION:
            raise ValueError(
                f"measurement version {version} not supported; "
                f"this build reads {MEASUREMENT_VERSION}"
            )
        case = Case.from_dict(data.pop("case"))
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(case=case, **{k: v for k, v in data.items() if k in names})

    @classmethod
    def from_json(cls, text: str) -> Measurement:
        return cls.from_dict(json.loads(text))

    @classmethod
    def failed(cls, case: Case, status: str, reason: str) -> Measurement:
        return cls(case=case, status=status, reason=reason)
