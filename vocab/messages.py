"""What crosses a process boundary, typed, each with its one encoder and decoder here:

- the worker request (runners.manager -> runners.worker, on stdin), and the events the
  worker appends to its events file: a closed set of kinds (ready, start, done);
- the probe request (runners.manager -> runners.probe);
- a data-parallel rank's report to its launcher (runners.ddp, runners.tf_multiworker);
- the several-nodes settings (suite.cli.nodes -> the plan -> the request), and node 0's
  announcement of each case to the other nodes (runners.ddp -> runners.nodes);
- the plan record a run stores for --resume (suite.session -> results.store).

A decoder raises MessageError with one line naming the message, the key and the bad
value. The wire shapes are the ones these messages had as plain dicts, so stored plans
(and a worker of this harness in another environment) read as before.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias, TypeVar, assert_never, get_args

from vocab.case import FRAMEWORKS, Case, check_choice
from vocab.jsonfields import Fields, JSONObject, JSONValue
from vocab.measurement import Measurement
from vocab.sampling import SamplingPolicy

T = TypeVar("T")


class MessageError(ValueError):
    """A message that cannot be read: one line naming the message, key and value."""


class CutShort(MessageError):
    """An event line that is not JSON: the worker died while writing it."""


def _inner(what: str, build: Callable[[], T]) -> T:
    """A nested value through its own decoder (Case, SamplingPolicy, Measurement), its
    complaint named as this message's."""
    try:
        return build()
    except (TypeError, ValueError, KeyError) as exc:
        raise MessageError(f"{what}: {exc}") from None


def _loads(text: str, what: str) -> JSONValue:
    try:
        data: JSONValue = json.loads(text)
    except ValueError as exc:
        raise MessageError(f"{what} is not JSON: {exc}") from None
    return data


def _dumps(data: JSONValue) -> str:
    return json.dumps(data, allow_nan=False)


# --- several nodes ----------------------------------------------------------------------


@dataclass(frozen=True)
class Nodes:
    """A replicated case over several nodes: this node's place and where they meet."""

    nnodes: int
    rdzv_endpoint: str  # HOST:PORT on node 0 (and PORT + 1 for the coordination store)
    node_rank: int = 0


def encode_nodes(nodes: Nodes) -> dict[str, JSONValue]:
    return {"nnodes": nodes.nnodes, "node_rank": nodes.node_rank,
            "rdzv_endpoint": nodes.rdzv_endpoint}  # fmt: skip


def decode_nodes(data: JSONValue, what: str = "nodes") -> Nodes:
    get = Fields(data, what, MessageError)
    get.unknown(("nnodes", "node_rank", "rdzv_endpoint"))
    return Nodes(get.integer("nnodes"), get.text("rdzv_endpoint"), get.integer("node_rank", 0))


@dataclass(frozen=True)
class NodeJob:
    """Node 0's announcement: the case whose ranks the other nodes launch now (`run_id`
    names the rendezvous), or, with no case, the end of the run."""

    case: Case | None = None
    policy: SamplingPolicy | None = None
    run_id: str = ""

    @property
    def end(self) -> bool:
        return self.case is None


def encode_job(job: NodeJob) -> str:
    if job.case is None or job.policy is None:
        return _dumps({"end": True})
    return _dumps({"case": job.case.to_dict(), "policy": job.policy.to_dict(),
                   "run_id": job.run_id})  # fmt: skip


def decode_job(text: str) -> NodeJob:
    what = "node job"
    get = Fields(_loads(text, what), what, MessageError)
    if get.flag("end"):
        return NodeJob()
    return NodeJob(
        _case(get.data.get("case"), f"{what} case"),
        _policy(get.obj("policy"), f"{what} policy"),
        get.text("run_id"),
    )


# --- the worker request -----------------------------------------------------------------


@dataclass(frozen=True)
class WorkerRequest:
    """One round of cases of one framework, device, thread setting and environment."""

    cases: tuple[Case, ...]
    processes: tuple[int, ...]  # each case's process index (its round order)
    round: int
    policy: SamplingPolicy
    nodes: Nodes | None = None  # several nodes: this is node 0
    spawned_ns: int | None = None  # epoch ns the manager started the worker

    def __post_init__(self) -> None:
        if not self.cases:
            raise MessageError("worker request has no cases")
        if len(self.processes) != len(self.cases):
            raise MessageError(
                f"worker request names {len(self.processes)} process indices for "
                f"{len(self.cases)} cases"
            )


REQUEST_KEYS = ("cases", "processes", "round", "policy", "nodes", "spawned_ns")


def encode_request(request: WorkerRequest) -> str:
    data: dict[str, JSONValue] = {
        "cases": [c.to_dict() for c in request.cases],
        "processes": list(request.processes),
        "round": request.round,
        "policy": request.policy.to_dict(),
    }
    if request.nodes is not None:
        data["nodes"] = encode_nodes(request.nodes)
    if request.spawned_ns is not None:
        data["spawned_ns"] = request.spawned_ns
    return _dumps(data)


def decode_request(text: str) -> WorkerRequest:
    what = "worker request"
    get = Fields(_loads(text, what), what, MessageError)
    get.unknown(REQUEST_KEYS)
    cases = get.items("cases", "a list of cases")
    return WorkerRequest(
        cases=tuple(_case(c, f"{what} case {i}") for i, c in enumerate(cases)),
        processes=get.integers("processes"),
        round=get.integer("round"),
        policy=_policy(get.obj("policy"), f"{what} policy"),
        nodes=None if get.data.get("nodes") is None else decode_nodes(get.data["nodes"]),
        spawned_ns=get.optional_integer("spawned_ns"),
    )


def _case(data: JSONValue, what: str) -> Case:
    if not isinstance(data, Mapping):
        raise MessageError(f"{what} must be a JSON object, got {data!r}")
    return _inner(what, lambda: Case.from_dict(data))


def _policy(data: JSONObject, what: str) -> SamplingPolicy:
    return _inner(what, lambda: SamplingPolicy.from_dict(dict(data)))


# --- the worker's events ----------------------------------------------------------------

EventKind: TypeAlias = Literal["ready", "start", "done"]
EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)


@dataclass(frozen=True)
class Ready:
    """The framework is imported and its threads are set."""

    t: int  # epoch ns


@dataclass(frozen=True)
class Start:
    """The case at `position` of the request begins."""

    position: int
    t: int  # epoch ns


@dataclass(frozen=True)
class Done:
    """The case at `position` has its measurement (whatever its status)."""

    position: int
    measurement: Measurement


Event: TypeAlias = Ready | Start | Done


def encode_event(event: Event) -> str:
    """One line of the events file (without its newline)."""
    data: dict[str, JSONValue]
    match event:
        case Ready(t=t):
            data = {"event": "ready", "t": t}
        case Start(position=position, t=t):
            data = {"event": "start", "position": position, "t": t}
        case Done(position=position, measurement=m):
            data = {"event": "done", "position": position, "measurement": m.to_dict()}
        case _:
            assert_never(event)
    return _dumps(data)


def decode_event(line: str) -> Event:
    """An event from its line; CutShort where the line is not JSON (a crash mid-write)."""
    try:
        data: JSONValue = json.loads(line)
    except ValueError:
        raise CutShort(f"event line cut short: {line[:80]!r}") from None
    get = Fields(data, "worker event", MessageError)
    kind = get.text("event")
    if kind not in EVENT_KINDS:
        raise MessageError(f"unknown event kind {kind!r}; allowed: {', '.join(EVENT_KINDS)}")
    if kind == "ready":
        return Ready(get.integer("t"))
    if kind == "start":
        return Start(get.integer("position"), get.integer("t"))
    measurement = get.obj("measurement")
    return Done(
        get.integer("position"),
        _inner("done event measurement", lambda: Measurement.from_dict(dict(measurement))),
    )


# --- the probe request ------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeRequest:
    """Probe one framework: version, build info, device skips, and (optionally) the
    machine's matmul ceilings."""

    framework: str
    devices: tuple[str, ...] = ("cpu",)
    threads: int = 1
    interop_threads: int = 1
    ceiling: bool = False

    def __post_init__(self) -> None:
        _inner("probe request", lambda: check_choice("framework", self.framework, FRAMEWORKS))


def encode_probe(request: ProbeRequest) -> str:
    return _dumps(
        {
            "framework": request.framework,
            "devices": list(request.devices),
            "threads": request.threads,
            "interop_threads": request.interop_threads,
            "ceiling": request.ceiling,
        }
    )


def decode_probe(text: str) -> ProbeRequest:
    what = "probe request"
    get = Fields(_loads(text, what), what, MessageError)
    get.unknown(("framework", "devices", "threads", "interop_threads", "ceiling"))
    return ProbeRequest(
        framework=get.text("framework"),
        devices=get.texts("devices") or ("cpu",),
        threads=get.integer("threads"),
        interop_threads=get.integer("interop_threads", 1),
        ceiling=get.flag("ceiling"),
    )


# --- a data-parallel rank's report ------------------------------------------------------


@dataclass(frozen=True)
class RankClock:
    """Rank 0's timing: the stored steps come from its clock (runners.distributed)."""

    samples_ns: tuple[int, ...]
    starts_ns: tuple[int, ...]  # epoch ns each timed step began
    warmup_ns: tuple[int, ...]
    warmup_stable: bool


@dataclass(frozen=True)
class RankReport:
    """What one rank (a process or task of a data-parallel path) tells its launcher."""

    rank: int
    pid: int
    device: str
    threads: int  # intra-op threads, read back on this rank
    median_ns: tuple[int, ...]  # every rank's median step, by rank (all-gathered)
    forward_median_ns: tuple[int, ...] = ()  # every rank's median forward; () untimed
    clock: RankClock | None = None  # rank 0's only
    peak_memory: tuple[int, str] | None = None  # (bytes, kind), as the runner measures it
    facts: JSONObject = field(default_factory=dict)  # the launcher's: backend, strategy...
    runner: JSONObject = field(default_factory=dict)  # the runner's details on this rank


def encode_report(report: RankReport) -> str:
    clock = report.clock
    return _dumps(
        {
            "rank": report.rank,
            "pid": report.pid,
            "device": report.device,
            "threads": report.threads,
            "median_ns": list(report.median_ns),
            "forward_median_ns": list(report.forward_median_ns),
            "clock": None
            if clock is None
            else {
                "samples_ns": list(clock.samples_ns),
                "starts_ns": list(clock.starts_ns),
                "warmup_ns": list(clock.warmup_ns),
                "warmup_stable": clock.warmup_stable,
            },
            "peak_memory": None if report.peak_memory is None else list(report.peak_memory),
            "facts": dict(report.facts),
            "runner": dict(report.runner),
        }
    )


def decode_report(text: str) -> RankReport:
    what = "rank report"
    get = Fields(_loads(text, what), what, MessageError)
    clock = None
    if get.data.get("clock") is not None:
        c = Fields(get.data["clock"], f"{what} clock", MessageError)
        clock = RankClock(
            c.integers("samples_ns"), c.integers("starts_ns"), c.integers("warmup_ns"),
            c.flag("warmup_stable"),
        )  # fmt: skip
    peak_memory = None
    if get.data.get("peak_memory") is not None:
        size, kind = (*get.items("peak_memory"), None, None)[:2]
        if isinstance(size, bool) or not isinstance(size, int) or not isinstance(kind, str):
            raise get.bad("peak_memory", "[bytes, kind]")
        peak_memory = (size, kind)
    return RankReport(
        rank=get.integer("rank"),
        pid=get.integer("pid"),
        device=get.text("device"),
        threads=get.integer("threads"),
        median_ns=get.integers("median_ns"),
        forward_median_ns=get.integers("forward_median_ns"),
        clock=clock,
        peak_memory=peak_memory,
        facts=get.obj("facts"),
        runner=get.obj("runner"),
    )


# --- the plan record --------------------------------------------------------------------


@dataclass(frozen=True)
class PlanRecord:
    """What --resume needs to rebuild a run's plan, stored with the run."""

    cases: tuple[Case, ...] = ()
    policy: SamplingPolicy | None = None  # None: a plan stored without one (no resume)
    timeout_s: float | None = None
    seed: int | None = None  # plans stored before replication by processes have none
    batch_search: JSONObject | None = None  # suite.batch_search.BatchSearch's own fields
    environments: tuple[JSONObject, ...] = ()  # suite.environments.EnvSpec's own fields


def encode_plan(plan: PlanRecord) -> dict[str, JSONValue]:
    """The stored JSON object (results.db.Run.plan)."""
    data: dict[str, JSONValue] = {"cases": [c.to_dict() for c in plan.cases]}
    if plan.policy is not None:
        data["policy"] = plan.policy.to_dict()
    if plan.timeout_s is not None:
        data["timeout_s"] = plan.timeout_s
    data.update(seed=plan.seed, batch_search=plan.batch_search)
    data["environments"] = [dict(e) for e in plan.environments]
    return data


def decode_plan(data: JSONValue, with_cases: bool = True) -> PlanRecord:
    """A stored plan; `with_cases=False` leaves its cases out (a reader of its seed or
    policy need not build thousands of cases)."""
    what = "stored plan"
    get = Fields(data, what, MessageError)
    cases = get.items("cases", "a list of cases") if with_cases else ()
    environments = get.items("environments", "a list of environments")
    if not all(isinstance(e, Mapping) for e in environments):
        raise get.bad("environments", "a list of JSON objects")
    return PlanRecord(
        cases=tuple(_case(c, f"{what} case {i}") for i, c in enumerate(cases)),
        policy=None if get.data.get("policy") is None else _policy(get.obj("policy"), what),
        timeout_s=None if get.data.get("timeout_s") is None else get.number("timeout_s"),
        seed=get.optional_integer("seed"),
        batch_search=None if get.data.get("batch_search") is None else get.obj("batch_search"),
        environments=tuple(e for e in environments if isinstance(e, Mapping)),
    )
