"""What a worker returns for one case: raw samples and the facts around them, as JSON.

One worker process gives one Measurement per case with one ProcessRecord; the parent
`merge`s a case's processes (rounds) into one. Statistics are never stored here alone;
`stats()` derives them from the samples and their process tags (vocab.stats).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from vocab import details as details_codec
from vocab.case import Case
from vocab.details import Details
from vocab.stats import (
    CI_TARGET_REL,
    ProcessStats,
    Stats,
    geometric_interval,
    per_process,
    summarize,
)

# Bump when the JSON shape changes; readers refuse versions they do not know.
# 2: per-process records, step start times, ci_target. 3: warm-up steps per process, adaptive.
MEASUREMENT_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
# killed: by a signal with no evidence of memory (oom needs the allocator's error or the
# kernel's OOM-kill count).
STATUSES: tuple[str, ...] = ("ok", "oom", "killed", "timeout", "error", "skipped")
FAILED_STATUSES: tuple[str, ...] = ("oom", "killed", "timeout", "error")  # not ok, not skipped


# Where a Measurement keeps its statistics (outside its fields: not compared, not
# serialised), and the fields they are derived from.
_CACHE = "_statistics"
_STAT_INPUTS = frozenset(
    {"case", "status", "samples_ns", "sample_process", "process_records", "ci_target",
     "gmacs_per_image", "adaptive"}
)  # fmt: skip


def one_line(exc: BaseException, limit: int = 400) -> str:
    """A failed case's reason: the exception's type and message on one bounded line."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class ProcessRecord:
    """One worker process's part of a case: where it ran and what it cost."""

    index: int  # the case's process number, 0.. (its round order)
    round: int  # the run's round it ran in (rounds interleave the cases)
    pid: int | None = None
    position: int = 0  # order of the case among the worker's cases (0: the first)
    spawned_ns: int | None = None  # epoch ns the parent started the worker
    started_ns: int | None = None  # epoch ns this case began in the worker
    startup_ns: int | None = None  # spawn -> worker ready (interpreter, imports, threads)
    build_ns: int | None = None
    warmup_steps: int = 0
    warmup_ns: int = 0  # wall time of the whole warm-up, first step included
    first_step_ns: int | None = None
    warmup_stable: bool = True
    warmup_step_ns: list[int] = field(default_factory=list)  # every warm-up step, in order
    measured_ns: int = 0  # sum of the timed steps
    pipelined_ns: int | None = None  # per step with one sync per pipeline_steps: median group
    peak_memory_bytes: int | None = None
    gpu_before: dict[str, Any] | None = None
    gpu_after: dict[str, Any] | None = None
    throttled: bool | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProcessRecord:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class Measurement:
    case: Case
    status: str = "ok"
    reason: str | None = None
    samples_ns: list[int] = field(default_factory=list)  # every timed step, in order
    sample_process: list[int] = field(default_factory=list)  # process index per sample
    sample_start_ns: list[int] = field(default_factory=list)  # epoch ns each step began
    process_records: list[ProcessRecord] = field(default_factory=list)
    warmup_steps: int = 0
    first_step_ns: int | None = None  # first step: holds tracing / compilation
    build_ns: int | None = None  # model build (and weight init) time
    threads_intra: int | None = None  # read back from the framework, not the request
    threads_inter: int | None = None
    sync: str | None = None  # how a step was made to end on the device
    peak_memory_bytes: int | None = None
    memory_kind: str | None = None  # "rss" (CPU worker) or "device" (framework allocator)
    ci_target_met: bool | None = None
    ci_target: float = CI_TARGET_REL
    adaptive: bool = False  # processes were added until the CI met ci_target (its df pays)
    pipeline_steps: int | None = None  # k steps per sync in the throughput groups (CUDA)
    stop_reason: str | None = None  # why no more processes: ci target met, time cap...
    processes: int = 1
    gmacs_per_image: float | None = None  # forward MACs per image, from the spec
    framework_version: str | None = None
    details: Details = field(default_factory=Details)  # runner facts, per-rank values...
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
        if self.sample_start_ns and len(self.sample_start_ns) != len(self.samples_ns):
            raise ValueError("sample_start_ns must time every sample")
        self.process_records = [
            p if isinstance(p, ProcessRecord) else ProcessRecord.from_dict(p)
            for p in self.process_records
        ]

    # --- statistics (derived, never stored alone) ---------------------------------------
    # Computed once, on first use (torch.utils.benchmark's Measurement is lazy the same way):
    # the store, the summary table and `run --json` share them. Assigning any field they
    # derive from drops them; the sample lists are not changed in place once measured.

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _STAT_INPUTS:
            self.__dict__.pop(_CACHE, None)
        super().__setattr__(name, value)

    def _cached(self) -> dict[str, Any]:
        cache: dict[str, Any] = self.__dict__.setdefault(_CACHE, {})
        return cache

    def process_stats(self) -> list[ProcessStats]:
        """Each process's value (the median of its steps) and diagnostics, in order."""
        cache = self._cached()
        if "processes" not in cache:
            seconds = [s / 1e9 for s in self.samples_ns]
            cache["processes"] = per_process(seconds, self.sample_process)
        result: list[ProcessStats] = cache["processes"]
        return result

    def process_values_s(self) -> dict[int, float]:
        """Process index -> the median of its steps, seconds."""
        return {p.index: p.value_s for p in self.process_stats()}

    def process_rounds(self) -> list[int] | None:
        """Each process's round, in process_stats() order; None where a record is missing."""
        rounds = {p.index: p.round for p in self.process_records}
        found = [rounds.get(p.index) for p in self.process_stats()]
        return None if None in found else [r for r in found if r is not None]

    def stats(self) -> Stats | None:
        """The case's statistics; None unless ok with samples."""
        if self.status != "ok" or not self.samples_ns:
            return None
        cache = self._cached()
        if "stats" not in cache:
            cache["stats"] = summarize(
                [s / 1e9 for s in self.samples_ns],
                self.case.global_batch,  # every replica's images count in images/s
                self.gmacs_per_image,
                self.case.mode,
                processes=self.process_stats(),
                adaptive=self.adaptive,
                rounds=self.process_rounds(),
                warmup_s={
                    p.index: [ns / 1e9 for ns in p.warmup_step_ns]
                    for p in self.process_records
                    if p.warmup_step_ns
                },
                capped=[p.index for p in self.process_records if not p.warmup_stable],
            )
        result: Stats = cache["stats"]
        return result

    def pipelined_s(self) -> float | None:
        """Seconds per step with one sync per `pipeline_steps`: the geometric mean of the
        processes' medians (the same rule as the case value); None where not timed."""
        values = [p.pipelined_ns / 1e9 for p in self.process_records if p.pipelined_ns]
        if self.status != "ok" or not values:
            return None
        return geometric_interval(values).value

    @property
    def measured_s(self) -> float:
        return sum(self.samples_ns) / 1e9

    @classmethod
    def merge(cls, parts: list[Measurement]) -> Measurement:
        """One case from its processes, in order; the first failure (if any) is the
        case's status, the samples of every process are kept."""
        if not parts:
            raise ValueError("merge needs at least one measurement")
        first = parts[0]
        failed = next((p for p in parts if p.status != "ok"), None)
        merged = dataclasses.replace(
            first,
            samples_ns=[s for p in parts for s in p.samples_ns],
            sample_process=[i for p in parts for i in p.sample_process],
            sample_start_ns=[t for p in parts for t in p.sample_start_ns],
            process_records=[r for p in parts for r in p.process_records],
            processes=len(parts),
            details=details_codec.merge([p.details for p in parts]),
        )
        if failed is not None:
            merged.status, merged.reason = failed.status, failed.reason
            if len(parts) > 1:
                merged.reason = (
                    f"process {parts.index(failed) + 1} of {len(parts)}: {failed.reason}"
                )
        peaks = [p.peak_memory_bytes for p in parts if p.peak_memory_bytes is not None]
        merged.peak_memory_bytes = max(peaks) if peaks else None
        merged.gpu_before = first.gpu_before
        merged.gpu_after = parts[-1].gpu_after
        flags = [p.throttled for p in parts if p.throttled is not None]
        merged.throttled = any(flags) if flags else None
        return merged

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["case"] = self.case.to_dict()
        out["process_records"] = [dataclasses.asdict(p) for p in self.process_records]
        out["details"] = details_codec.encode(self.details)
        out["version"] = MEASUREMENT_VERSION
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        data = dict(data)
        version = data.pop("version", MEASUREMENT_VERSION)
        if version not in READABLE_VERSIONS:
            raise ValueError(
                f"measurement version {version} not supported; "
                f"this build reads {', '.join(map(str, READABLE_VERSIONS))}"
            )
        case = Case.from_dict(data.pop("case"))
        data["details"] = details_codec.decode(data.get("details"))
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(case=case, **{k: v for k, v in data.items() if k in names})

    @classmethod
    def from_json(cls, text: str) -> Measurement:
        return cls.from_dict(json.loads(text))

    @classmethod
    def failed(cls, case: Case, status: str, reason: str) -> Measurement:
        return cls(case=case, status=status, reason=reason)
