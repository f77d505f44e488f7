"""The parent side: run rounds of cases in fresh worker processes and read their JSON back.

A crash, hang or out-of-memory kill loses only the case in flight; it comes back as a
Measurement with status error / timeout / oom and the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from subprocess import Popen
from typing import IO, assert_never, cast

from runners.distributed import behind
from runners.host import oom_kills
from runners.probe import ProbeResult, empty_result
from runners.worker import TEMP_PREFIX  # a worker left alone removes its folder
from vocab.case import Case
from vocab.jsonfields import JSONValue
from vocab.measurement import Measurement, ProcessRecord
from vocab.messages import (
    CutShort,
    Done,
    Event,
    MessageError,
    Nodes,
    ProbeRequest,
    Ready,
    Start,
    WorkerRequest,
    decode_event,
    encode_probe,
    encode_request,
)
from vocab.runtimes import RUNTIMES
from vocab.sampling import SamplingPolicy

DEFAULT_TIMEOUT_S = 900.0
STDERR_TAIL_LINES = 5
KILL_SIGNALS = frozenset({signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP})


def thread_env(intra: int, inter: int) -> dict[str, str]:
    """Thread settings the frameworks read at start-up, passed explicitly to each worker:
    OpenMP's and MKL's, then each runtime's own (its record's thread_env)."""
    counts = {"intra": str(intra), "inter": str(inter)}
    env = {"OMP_NUM_THREADS": counts["intra"], "MKL_NUM_THREADS": counts["intra"]}
    env.update({var: counts[n] for r in RUNTIMES.values() for var, n in r.thread_env})
    return env


def worker_env(
    case_threads: int,
    interop: int,
    python: str | None = None,
    variables: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment a worker starts with; `python`/`variables`: an A/B run's named
    environment (suite.environments), its variables on top of the usual ones."""
    env = dict(os.environ)
    env.update(thread_env(case_threads, interop))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's start-up chatter off the terminal
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env_for(env, python, variables or {})


# The checkout this harness runs from (None for an installed copy, whose root is a
# site-packages folder that must not shadow another venv's packages).
HARNESS_ROOT = Path(__file__).resolve().parent.parent
SOURCE_TREE: Path | None = HARNESS_ROOT if (HARNESS_ROOT / "pyproject.toml").is_file() else None


def env_for(
    base: Mapping[str, str], python: str | None, variables: Mapping[str, str]
) -> dict[str, str]:
    """`base` with an environment's variables on top; another interpreter gets this run's
    source tree first on its PYTHONPATH, so both sides of an A/B run the same harness."""
    env = {**base, **variables}
    if python is not None and SOURCE_TREE is not None:
        rest = env.get("PYTHONPATH", "")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SOURCE_TREE), rest) if p)
    return env


@dataclass
class Outcome:
    returncode: int | None  # None: killed at the timeout
    data: JSONValue  # what the process wrote back (None: nothing)
    stderr_tail: str
    oom_killed: bool = False  # the cgroup's OOM-kill count rose while the worker ran
    progress: dict[int, str] = field(default_factory=dict)  # a replicated case's ranks
    unreadable: str | None = None  # an event the manager could not read (vocab.messages)


def _start(
    module: str, path: Path, env: dict[str, str], err: IO[bytes], python: str | None = None
) -> Popen[bytes]:
    """`python -m module PATH` in its own session (a kill takes its helpers too), the
    request to come on stdin, its output into `err`; `python`: another interpreter."""
    return subprocess.Popen(
        [python or sys.executable, "-m", module, str(path)],
        stdin=subprocess.PIPE,
        stdout=err,
        stderr=err,
        env=env,
        start_new_session=True,
    )


def _tail(log: Path) -> str:
    lines = log.read_text(errors="replace").strip().splitlines()
    return " | ".join(lines[-STDERR_TAIL_LINES:])


def spawn(
    module: str,
    request: str,
    env: dict[str, str],
    timeout_s: float,
    python: str | None = None,
) -> Outcome:
    """Run `python -m module OUT.json` with the request (encoded) on stdin and read
    OUT.json back; at the timeout the whole process group is killed (compiler helpers
    included)."""
    with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) as tmp:
        out = Path(tmp) / "out.json"
        log = Path(tmp) / "stderr.log"
        with log.open("wb") as err:
            proc = _start(module, out, env, err, python)
            try:
                proc.communicate(request.encode(), timeout=timeout_s)
                returncode: int | None = proc.returncode
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                returncode = None
        data = json.loads(out.read_text()) if out.exists() else None
        return Outcome(returncode, data, _tail(log))


def _failure(case: Case, outcome: Outcome, timeout_s: float) -> Measurement:
    rc = outcome.returncode
    if outcome.unreadable is not None:  # a harness bug, not the case's: say so
        return Measurement.failed(case, "error", f"worker protocol: {outcome.unreadable}")
    last = f"; last output: {outcome.stderr_tail}" if outcome.stderr_tail else ""
    if rc is None:
        late = behind(outcome.progress) if case.replicas > 1 else None
        return Measurement.failed(
            case,
            "timeout",
            f"no result within {timeout_s:g} s; worker killed"
            + (f" with its ranks; {late}" if late else ""),
        )
    if rc < 0:
        name = signal.Signals(-rc).name
        if rc == -signal.SIGKILL and outcome.oom_killed:
            return Measurement.failed(
                case, "oom", f"worker killed by the kernel's OOM killer (cgroup oom_kill){last}"
            )
        if -rc in KILL_SIGNALS:  # sent from outside; without evidence it is not memory
            return Measurement.failed(case, "killed", f"worker killed by {name}{last}")
        return Measurement.failed(case, "error", f"worker died from {name}{last}")
    return Measurement.failed(case, "error", f"worker exited with status {rc} and no result{last}")


@dataclass
class RoundOutcome:
    """What one worker left behind: its events, and how it ended."""

    events: list[Event]
    ended: Outcome


POLL_S = 0.2


def _read_events(path: Path) -> tuple[list[Event], str | None]:
    """The worker's events up to the first it could not have meant: a line cut short by
    a crash ends them quietly; an unknown kind or a malformed event ends them with why."""
    events: list[Event] = []
    if not path.exists():
        return events, None
    for line in path.read_text(errors="replace").splitlines():
        try:
            events.append(decode_event(line))
        except CutShort:
            break
        except MessageError as exc:
            return events, str(exc)
    return events, None


def _kill_group(proc: Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _watch(
    proc: Popen[bytes],
    request: WorkerRequest,
    spawned: int,
    events_path: Path,
    timeout_s: float,
) -> int | None:
    """Feed the request, then wait for the worker; None when it was killed at a timeout."""
    assert proc.stdin is not None
    proc.stdin.write(encode_request(replace(request, spawned_ns=spawned)).encode())
    proc.stdin.close()
    seen = 0
    clock_start = time.monotonic()  # of the case in flight (or of start-up)
    while True:
        try:
            return proc.wait(timeout=POLL_S)
        except subprocess.TimeoutExpired:
            pass
        # Any new event (the file grew) restarts the clock; it is parsed only at the end.
        size = events_path.stat().st_size if events_path.exists() else 0
        if size != seen:
            seen = size
            clock_start = time.monotonic()
        if time.monotonic() - clock_start > timeout_s:
            _kill_group(proc)
            return None


def spawn_round(
    request: WorkerRequest,
    env: dict[str, str],
    timeout_s: float,
    module: str = "runners.worker",
    python: str | None = None,
) -> RoundOutcome:
    """Run `python -m runners.worker EVENTS.jsonl` on `request`; kill its process group when
    one case (or the start-up before the first) runs longer than `timeout_s`."""
    with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) as tmp:
        events_path = Path(tmp) / "events.jsonl"
        log = Path(tmp) / "stderr.log"
        spawned = time.time_ns()
        kills_before = oom_kills()
        with log.open("wb") as err:
            proc = _start(module, events_path, env, err, python)
            try:
                returncode = _watch(proc, request, spawned, events_path, timeout_s)
            except BaseException:
                # Interrupted (Ctrl-C, SIGTERM): the worker and its helpers go with us.
                _kill_group(proc)
                raise
        kills_after = oom_kills()
        oom = kills_before is not None and kills_after is not None and kills_after > kills_before
        events, unreadable = _read_events(events_path)
        ended = Outcome(returncode, None, _tail(log), oom, _progress(Path(tmp)), unreadable)
        return RoundOutcome(events, ended)


def _progress(folder: Path) -> dict[int, str]:
    """The ranks' last progress lines (runners.distributed.report_progress)."""
    out = {}
    for path in folder.glob("rank*.progress"):
        with contextlib.suppress(OSError, ValueError):
            out[int(path.stem.removeprefix("rank"))] = path.read_text()
    return out


def worker_key(case: Case) -> tuple[str, str, int, int, str]:
    """Cases with the same key may share a worker: one framework import, one device, one
    thread setting (threads are fixed when the framework starts), one environment."""
    return case.framework, case.device, case.threads, case.interop_threads, case.env


def run_round(
    cases: list[Case],
    policy: SamplingPolicy,
    round_: int,
    indices: list[int],
    timeout_s: float = DEFAULT_TIMEOUT_S,
    module: str = "runners.worker",
    nodes: Nodes | None = None,
    python: str | None = None,
    variables: Mapping[str, str] | None = None,
) -> list[Measurement]:
    """One round of `cases` (one framework, device, thread setting and environment) in
    fresh workers; `python`/`variables`: that environment's (None: this run's own).

    Normally one worker measures them all. When a worker dies or hangs, the case in flight
    gets the failure and a new worker takes the rest: a crash loses only its own case."""
    first = cases[0]
    if any(worker_key(c) != worker_key(first) for c in cases):
        raise ValueError(
            "one worker runs cases of one framework, device, thread setting and environment"
        )
    env = worker_env(first.threads, first.interop_threads, python, variables)
    env_record = {k: env[k] for k in sorted(thread_env(1, 1))}
    results: list[Measurement] = []
    todo = list(zip(cases, indices, strict=True))
    while todo:
        request = WorkerRequest(
            cases=tuple(c for c, _ in todo),
            processes=tuple(i for _, i in todo),
            round=round_,
            policy=policy,
            nodes=nodes,
        )
        outcome = spawn_round(request, env, timeout_s, module, python)
        done = _finished(outcome.events)
        lost = next((pos for pos in range(len(todo)) if pos not in done), None)
        for pos in range(len(todo) if lost is None else lost):
            results.append(done[pos])
        if lost is None:
            break
        case, index = todo[lost]
        failed = _failure(case, outcome.ended, timeout_s)
        failed.process_records = [ProcessRecord(index=index, round=round_)]
        results.append(failed)
        todo = todo[lost + 1 :]
    for m in results:
        m.details = replace(m.details, env=env_record)
    return results


def _finished(events: list[Event]) -> dict[int, Measurement]:
    """Position -> measurement of each case the worker finished."""
    done: dict[int, Measurement] = {}
    for event in events:
        match event:
            case Ready() | Start():
                pass  # they only moved the per-case clock (_watch)
            case Done(position=position, measurement=m):
                done[position] = m
            case _:
                assert_never(event)
    return done


def run_case(
    case: Case,
    policy: SamplingPolicy,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    processes: int = 1,
) -> Measurement:
    """Measure one case alone in `processes` fresh workers, one after another, merged.
    (A run interleaves its cases' rounds instead: suite.session.)"""
    parts: list[Measurement] = []
    for index in range(processes):
        part = run_round([case], policy, index, [index], timeout_s)[0]
        parts.append(part)
        if part.status != "ok":
            break
    return Measurement.merge(parts)


def probe(
    framework: str,
    devices: list[str],
    threads: int,
    interop_threads: int,
    ceiling: bool,
    timeout_s: float = 300.0,
    python: str | None = None,
    variables: Mapping[str, str] | None = None,
) -> ProbeResult:
    """Framework version/build info and (optionally) matmul ceilings, from a fresh process
    (of an A/B run's environment: `python`, `variables`)."""
    request = ProbeRequest(framework, tuple(devices), threads, interop_threads, ceiling)
    env = worker_env(threads, interop_threads, python, variables)
    outcome = spawn("runners.probe", encode_probe(request), env, timeout_s, python)
    if outcome.data is None:
        return empty_result(framework, _failure_reason(outcome, timeout_s))
    return cast(ProbeResult, outcome.data)  # runners.probe wrote every key


def _failure_reason(outcome: Outcome, timeout_s: float) -> str:
    if outcome.returncode is None:
        return f"probe timed out after {timeout_s:g} s"
    return f"probe exited with status {outcome.returncode}: {outcome.stderr_tail}"
