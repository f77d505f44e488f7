"""The benchmark case: one frozen, hashable, self-validating description of what is timed.

Its `key()` is the result database's unique key within a run, so two cases that would
measure the same thing are equal, and a case that could not be measured cannot be built.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vocab.runtimes import FRAMEWORKS as FRAMEWORKS  # re-exported: the case's choices
from vocab.runtimes import RUNTIMES, runtime
from vocab.spec import DEPTHS

# Every framework's executions (each runtime's record lists its own, the default first).
ALL_EXECUTIONS: tuple[str, ...] = tuple(e for r in RUNTIMES.values() for e in r.executions)
MODES: tuple[str, ...] = ("inference", "training")
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
DEVICE_RE = re.compile(r"^(cpu|cuda(:\d+)?)$")
DEVICE_HELP = "cpu, cuda, cuda:N"
# An environment's name (suite.environments): what a label and a command line can carry.
ENV_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
ENV_NAME_HELP = "a letter, then letters, digits, '_', '.' or '-' (at most 64)"


class CaseError(ValueError):
    """A case value outside what is allowed; the message names the value and the choices."""


def _choices(values: tuple[Any, ...]) -> str:
    return ", ".join(str(v) for v in values)


def check_choice(axis: str, value: Any, allowed: tuple[Any, ...]) -> None:
    if value not in allowed:
        raise CaseError(f"unknown {axis} {value!r}; allowed: {_choices(allowed)}")


def check_positive_int(axis: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CaseError(f"{axis} must be a positive integer, got {value!r}")


def check_device(value: Any) -> None:
    if not isinstance(value, str) or not DEVICE_RE.match(value):
        raise CaseError(f"unknown device {value!r}; allowed: {DEVICE_HELP}")


def check_env_name(value: Any, allow_empty: bool = False) -> None:
    if allow_empty and value == "":
        return
    if not isinstance(value, str) or not ENV_NAME_RE.match(value):
        raise CaseError(f"bad environment name {value!r}; allowed: {ENV_NAME_HELP}")


def default_threads() -> int:
    """The cores this process may use (affinity-aware, unlike os.cpu_count())."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_execution(framework: str) -> str:
    check_choice("framework", framework, FRAMEWORKS)
    return runtime(framework).default_execution


@dataclass(frozen=True, order=True)
class Case:
    framework: str
    depth: int
    batch_size: int
    device: str = "cpu"
    mode: str = "inference"
    precision: str = "fp32"
    execution: str = ""  # "" -> the framework's default execution
    image_size: int = 224
    num_classes: int = 1000
    threads: int = 0  # intra-op threads; 0 -> the cores this process may use
    interop_threads: int = 1
    # Data-parallel training: this many processes, each with `batch_size` images (the
    # global batch is replicas x batch_size) and threads // replicas intra-op threads.
    replicas: int = 1
    # The environment it runs in (`--env NAME=SPEC`); "" for a run without environments,
    # which is how every run stored before them reads back.
    env: str = ""

    def __post_init__(self) -> None:
        check_choice("framework", self.framework, FRAMEWORKS)
        if isinstance(self.depth, bool) or not isinstance(self.depth, int):
            raise CaseError(f"depth must be an integer, got {self.depth!r}")
        check_choice("depth", self.depth, tuple(DEPTHS))
        check_positive_int("batch size", self.batch_size)
        check_device(self.device)
        check_choice("mode", self.mode, MODES)
        check_choice("precision", self.precision, PRECISIONS)
        if self.execution == "":
            object.__setattr__(self, "execution", default_execution(self.framework))
        executions = runtime(self.framework).executions
        if self.execution not in executions:
            raise CaseError(
                f"unknown execution {self.execution!r} for {self.framework}; "
                f"allowed: {_choices(executions)}"
            )
        check_positive_int("image size", self.image_size)
        check_positive_int("number of classes", self.num_classes)
        if self.threads == 0:
            object.__setattr__(self, "threads", default_threads())
        check_positive_int("threads", self.threads)
        check_positive_int("inter-op threads", self.interop_threads)
        check_positive_int("replicas", self.replicas)
        check_env_name(self.env, allow_empty=True)

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")

    def key(self) -> tuple[Any, ...]:
        return dataclasses.astuple(self)

    def label(self) -> str:
        """Short human label, e.g. 'torch/eager r50 b8 cpu inference fp32 224px'."""
        return case_label(self.to_dict())

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.replicas

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Case:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise CaseError(
                f"unknown case field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(names))}"
            )
        return cls(**dict(data))


CASE_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Case))


def case_fields_without(*names: str, fields: Sequence[str] = CASE_FIELDS) -> tuple[str, ...]:
    """`fields` (the case's, in order) less `names`: the keys that group or match results."""
    unknown = set(names) - set(CASE_FIELDS)
    if unknown:
        raise ValueError(f"not case fields: {', '.join(sorted(unknown))}")
    return tuple(f for f in fields if f not in names)


# How each field reads in a case's label; framework and execution go together.
LABEL_PARTS: dict[str, str] = {
    "framework": "{framework}/{execution}",
    "depth": "r{depth}",
    "batch_size": "b{batch_size}",
    "device": "{device}",
    "mode": "{mode}",
    "precision": "{precision}",
    "image_size": "{image_size}px",
    "threads": "t{threads}",
}
LABEL_FIELDS: tuple[str, ...] = (
    "framework", "depth", "batch_size", "device", "mode", "precision", "image_size",
)  # fmt: skip


def case_label(values: Mapping[Any, Any], fields: Sequence[str] = LABEL_FIELDS) -> str:
    """The one way a case is named, from its fields (a Case's to_dict(), a result row, a
    frame row): 'torch/eager r50 b8 cpu inference fp32 224px'; `fields` picks the parts."""
    label = " ".join(LABEL_PARTS[f].format_map(values) for f in fields)
    replicas = values.get("replicas", 1)
    # Several replicas (data-parallel training) are named; one, the default, is not.
    if isinstance(replicas, int) and replicas > 1:
        label = f"{label} x{replicas}"
    # So is an environment of an A/B run; a run without environments shows none.
    env = values.get("env")
    return f"{label} @{env}" if isinstance(env, str) and env else label
