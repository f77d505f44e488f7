"""A run as the commands show it: what it measured, where, and whether it is still alive.

`RunInfo` is a read-only snapshot that results.store builds from the database rows. A run
still marked 'running' whose process is gone shows as 'stale' (and is resumable).
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict, cast

from results.db import Environment, Machine, Run, utcnow
from results.environment import EnvironmentInfo
from results.format import machine_label
from results.metadata import ENVIRONMENT_KEYS, MACHINE_KEYS
from runners.host import MachineInfo, SystemState
from runners.probe import CeilingInfo
from vocab.measurement import FAILED_STATUSES

STALE_AFTER_S = 3 * 3600.0  # no heartbeat this long from another host: the run is gone


def host_id() -> str:
    """This host, as run.owner_host stores it (a hash: the name itself is the machine's)."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:64]


def pid_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process with that pid
    return True


class StoredMachine(MachineInfo):
    id: int
    fingerprint: str


class StoredEnvironment(EnvironmentInfo):
    id: int
    fingerprint: str


class StoredNamedEnvironment(TypedDict):
    """A named environment of an A/B run (results.db.RunEnvironment), as stored."""

    name: str
    python: str | None
    variables: dict[str, str]
    software: StoredEnvironment


@dataclass(frozen=True)
class RunInfo:
    id: int
    started_at: datetime
    finished_at: datetime | None
    label: str | None
    command: str | None
    profile: str | None
    source: str
    status: str
    machine: StoredMachine  # MACHINE_KEYS plus id and fingerprint
    environment: StoredEnvironment  # ENVIRONMENT_KEYS plus id and fingerprint
    system: SystemState | None
    ceilings: list[CeilingInfo]
    counts: dict[str, int] = field(default_factory=dict)  # result status -> results
    owner_host: str | None = None
    owner_pid: int | None = None
    heartbeat_at: datetime | None = None
    environments: list[StoredNamedEnvironment] = field(default_factory=list)  # --env

    @property
    def state(self) -> str:
        """The status to show: 'stale' for a run still marked running whose process is
        gone (same host: its pid no longer exists; elsewhere: no heartbeat for
        STALE_AFTER_S). A stale run is resumable like an interrupted one."""
        if self.status != "running":
            return self.status
        if self.owner_host is not None and self.owner_host == host_id():
            return "running" if pid_alive(self.owner_pid) else "stale"
        beat = self.heartbeat_at or self.started_at
        age = (utcnow() - beat).total_seconds()
        return "stale" if age > STALE_AFTER_S else "running"

    def owned_here(self) -> bool:
        """Whether this process is the run's owner."""
        return self.owner_host == host_id() and self.owner_pid == os.getpid()

    def owner_text(self) -> str:
        """Who holds the run, for an error line: 'pid 123 on this host', or another host."""
        if self.owner_host is not None and self.owner_host == host_id():
            return f"pid {self.owner_pid} on this host"
        beat = self.heartbeat_at or self.started_at
        age = (utcnow() - beat).total_seconds()
        return f"a process on another host (last heartbeat {age:.0f} s ago)"

    @property
    def n_ok(self) -> int:
        return self.counts.get("ok", 0)

    @property
    def n_failed(self) -> int:
        return sum(self.counts.get(s, 0) for s in FAILED_STATUSES)

    @property
    def n_skipped(self) -> int:
        return self.counts.get("skipped", 0)

    @property
    def machine_label(self) -> str:
        """Short 'CPU / GPU' text, e.g. 'Intel Xeon Platinum 8480+ / 8x NVIDIA H100'."""
        return machine_label(self.machine)


def _values(obj: Machine | Environment) -> dict[str, Any]:
    keys = MACHINE_KEYS if isinstance(obj, Machine) else ENVIRONMENT_KEYS
    out: dict[str, Any] = {"id": obj.id, "fingerprint": obj.fingerprint}
    out.update({k.name: getattr(obj, k.name) for k in keys})
    return out


def stored_machine(machine: Machine) -> StoredMachine:
    """A machine row as its key table says (results.db mirrors MACHINE_KEYS, tested)."""
    return cast(StoredMachine, _values(machine))


def stored_environment(environment: Environment) -> StoredEnvironment:
    return cast(StoredEnvironment, _values(environment))


def run_info(run: Run, counts: dict[str, int]) -> RunInfo:
    return RunInfo(
        id=run.id,
        started_at=run.started_at,
        finished_at=run.finished_at,
        label=run.label,
        command=run.command,
        profile=run.profile,
        source=run.source,
        status=run.status,
        machine=stored_machine(run.machine),
        environment=stored_environment(run.environment),
        system=cast("SystemState | None", run.system),
        ceilings=[
            {
                "device": c.device,
                "precision": c.precision,
                "gflops": c.gflops,
                "details": c.details,
                "env": c.env,
            }
            for c in run.ceilings
        ],
        counts=dict(counts),
        owner_host=run.owner_host,
        owner_pid=run.owner_pid,
        heartbeat_at=run.heartbeat_at,
        environments=[
            {
                "name": e.name,
                "python": e.python,
                "variables": dict(e.variables or {}),
                "software": stored_environment(e.environment),
            }
            for e in run.environments
        ],
    )
