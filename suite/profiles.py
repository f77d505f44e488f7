"""Profiles: TOML files that expand to a list of cases plus a sampling policy.

A profile is a name of a file in suite/profiles/ (smoke, quick, gpu, full) or a path to the
user's own TOML of the same shape:

    [cases]    lists per axis (frameworks, depths, batch_sizes, devices, modes, precisions,
               executions, replicas) and scalars (image_size, num_classes, threads,
               interop_threads); a built-in profile names no frameworks: it runs those whose
               runtime record joins it (vocab.runtimes: profiles), so a new runtime is one
               record line
    [sampling] vocab.sampling.SamplingPolicy fields (min_processes, max_processes, ...),
               plus timeout_s (per case in a worker); `processes` is an old name for
               min_processes
    [[extra_cases]]  optional, repeated: more cases, each a table of list axes that replace
               [cases]' own for that part (e.g. fp32 at depth 50 only); the union is run
    [environments]  optional: an A/B run's environments (suite.environments), each
               NAME = "SPEC" (as --env NAME=SPEC takes it) or
               NAME = {python = "/venvs/x/bin/python", vars = {VAR = "V"}}; every case
               then runs in each of them; --env replaces the table

A CLI flag replaces an axis in [cases] and narrows every extra part that sets that axis
(to the values both name; a part left with none is dropped), so `--depths 101` drops a
depth-50-only part and `--frameworks X` drops every other framework's executions everywhere.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suite import environments as envs
from suite.environments import EnvSpec
from vocab.case import (
    ALL_EXECUTIONS,
    FRAMEWORKS,
    MODES,
    PRECISIONS,
    Case,
    CaseError,
    check_choice,
    check_device,
    check_positive_int,
)
from vocab.runtimes import RUNTIMES, executions_of, joining
from vocab.sampling import SamplingPolicy
from vocab.spec import DEPTHS

PROFILES_DIR = Path(__file__).parent / "profiles"
DEFAULT_EXECUTION = "default"  # each framework's first execution (vocab.runtimes)
LIST_AXES = (
    "frameworks", "depths", "batch_sizes", "devices", "modes", "precisions", "executions",
    "replicas",
)  # fmt: skip
SCALAR_AXES = ("image_size", "num_classes", "threads", "interop_threads")
RUN_KEYS = ("timeout_s",)
POLICY_OVERRIDES = ("min_processes", "max_processes", "max_time_s")


class ProfileError(ValueError):
    """A profile that cannot be read or expanded; the message is one line for the user."""


def profile_names() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.toml"))


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    axes: dict[str, Any]
    sampling: SamplingPolicy = field(default_factory=SamplingPolicy)
    timeout_s: float = 900.0
    extra: tuple[dict[str, Any], ...] = ()  # [[extra_cases]]: axes replacing [cases]' own
    environments: tuple[EnvSpec, ...] = ()  # [environments]: each case runs in each

    def with_overrides(self, **overrides: Any) -> Profile:
        """A copy with CLI values replacing axes / run settings; None leaves one alone."""
        axes = dict(self.axes)
        run: dict[str, Any] = {}
        policy: dict[str, Any] = {}
        for key, value in overrides.items():
            if value is None:
                continue
            if key in LIST_AXES or key in SCALAR_AXES:
                axes[key] = value
            elif key in RUN_KEYS:
                run[key] = value
            elif key in POLICY_OVERRIDES:
                policy[key] = value
            elif key == "environments":
                run[key] = tuple(value)
            else:
                raise ProfileError(f"unknown override {key!r}")
        _check_axes(axes, "cli")  # a bad flag is named without blaming the profile
        extra = []
        for part in self.extra:
            narrowed = {
                k: [v for v in values if v in overrides[k]]
                if overrides.get(k) is not None
                else values
                for k, values in part.items()
            }
            if all(narrowed.values()):
                extra.append(narrowed)
        sampling = self.sampling
        if policy:
            # Raising one bound carries the other along, so --processes 12 alone works.
            lo = policy.get("min_processes", sampling.min_processes)
            hi = policy.get("max_processes", max(sampling.max_processes, lo))
            if "max_processes" in policy and "min_processes" not in policy:
                lo = min(lo, hi)
            policy.update(min_processes=lo, max_processes=hi)
            try:
                sampling = dataclasses.replace(sampling, **policy)
            except ValueError as exc:
                raise ProfileError(str(exc)) from None
        return dataclasses.replace(self, axes=axes, sampling=sampling, extra=tuple(extra), **run)

    def cases(self) -> list[Case]:
        cases = expand(self.axes)
        seen = set(cases)
        for part in self.extra:
            for case in expand({**self.axes, **part}, strict=False):
                if case not in seen:
                    seen.add(case)
                    cases.append(case)
        if self.environments:  # every case in every environment
            return [dataclasses.replace(c, env=e.name) for c in cases for e in self.environments]
        return cases


def load_profile(name_or_path: str) -> Profile:
    path = PROFILES_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        path = Path(name_or_path)
        if not path.is_file():
            raise ProfileError(
                f"profile {name_or_path!r} is neither a built-in profile "
                f"({', '.join(profile_names())}) nor an existing TOML file"
            )
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProfileError(f"profile {str(path)!r} is not valid TOML: {exc}") from None
    return parse_profile(data, name=path.stem if path.parent == PROFILES_DIR else str(path))


def parse_profile(data: dict[str, Any], name: str) -> Profile:
    _no_unknown(
        data,
        ("description", "cases", "sampling", "extra_cases", "environments"),
        name,
        "top-level key",
    )
    axes = data.get("cases", {})
    sampling = data.get("sampling", {})
    if not isinstance(axes, dict) or not isinstance(sampling, dict):
        raise ProfileError(f"profile {name!r}: [cases] and [sampling] must be tables")
    sampling = dict(sampling)
    _no_unknown(axes, LIST_AXES + SCALAR_AXES, name, "[cases] key")
    if "frameworks" not in axes and joining(name):
        axes = {"frameworks": list(joining(name)), **axes}
    missing = [k for k in ("frameworks", "depths", "batch_sizes") if k not in axes]
    if missing:
        raise ProfileError(f"profile {name!r}: [cases] lacks {', '.join(missing)}")
    _check_axes(axes, name)
    extra = data.get("extra_cases", [])
    if not isinstance(extra, list) or not all(isinstance(part, dict) for part in extra):
        raise ProfileError(f"profile {name!r}: extra_cases must be an array of tables")
    for part in extra:
        _no_unknown(part, LIST_AXES, name, "[[extra_cases]] key")
        _check_axes(part, name)
    run = {k: sampling.pop(k) for k in RUN_KEYS if k in sampling}
    if "processes" in sampling:
        sampling.setdefault("min_processes", sampling.pop("processes"))
    timeout = run.get("timeout_s", 900.0)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise ProfileError(
            f"profile {name!r}: timeout_s must be a positive number of seconds, got {timeout!r}"
        )
    try:
        policy = SamplingPolicy.from_dict(sampling)
    except (TypeError, ValueError) as exc:
        raise ProfileError(f"profile {name!r}: {exc}") from None
    try:
        environments = envs.parse_table(data.get("environments", {}), f"profile {name!r}")
    except envs.EnvError as exc:
        raise ProfileError(str(exc)) from None
    return Profile(
        name=name,
        description=str(data.get("description", "")),
        axes=axes,
        sampling=policy,
        timeout_s=float(timeout),
        extra=tuple(extra),
        environments=tuple(environments),
    )


def _no_unknown(data: dict[str, Any], allowed: tuple[str, ...], name: str, what: str) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ProfileError(
            f"profile {name!r}: unknown {what} {unknown[0]!r}; allowed: {', '.join(allowed)}"
        )


def _check_depth(value: Any) -> None:
    # 50.0 == 50 in Python; a float depth would pass the choice test and fail in the worker.
    if isinstance(value, bool) or not isinstance(value, int):
        raise CaseError(f"depth must be an integer, got {value!r}; allowed: {_depths()}")
    check_choice("depth", value, tuple(DEPTHS))


def _depths() -> str:
    return ", ".join(map(str, DEPTHS))


def _check_axes(axes: dict[str, Any], name: str) -> None:
    """Each value checked on its own, so the message names it even if no case uses it."""
    checks: dict[str, Callable[[Any], None]] = {
        "frameworks": lambda v: check_choice("framework", v, FRAMEWORKS),
        "depths": _check_depth,
        "batch_sizes": lambda v: check_positive_int("batch size", v),
        "devices": check_device,
        "modes": lambda v: check_choice("mode", v, MODES),
        "precisions": lambda v: check_choice("precision", v, PRECISIONS),
        "executions": lambda v: check_choice("execution", v, (DEFAULT_EXECUTION, *ALL_EXECUTIONS)),
        "replicas": lambda v: check_positive_int("replicas", v),
    }
    try:
        for key, check in checks.items():
            values = axes.get(key, [])
            if not isinstance(values, list) or (key in axes and not values):
                raise CaseError(f"{key} must be a non-empty list, got {values!r}")
            for value in values:
                check(value)
        for key in ("image_size", "num_classes", "interop_threads"):
            if key in axes:
                check_positive_int(key.replace("_", " "), axes[key])
        if "threads" in axes and axes["threads"] != 0:
            check_positive_int("threads", axes["threads"])
    except CaseError as exc:
        raise ProfileError(str(exc) if name == "cli" else f"profile {name!r}: {exc}") from None


def expand(axes: dict[str, Any], strict: bool = True) -> list[Case]:
    """The cases of a profile. Executions apply per framework: each chosen framework takes
    the listed executions it has ('default' is everyone's first), so narrowing the
    frameworks drops the others' executions. A chosen framework left with no execution is
    an error naming what it has (`strict`; an extra part just leaves that framework out)."""
    frameworks: list[str] = axes["frameworks"]
    executions: list[str] = axes.get("executions", [DEFAULT_EXECUTION])
    for fw in frameworks if strict else ():
        if not any(e == DEFAULT_EXECUTION or e in executions_of(fw) for e in executions):
            owners = sorted(
                {f"{e!r} belongs to {o}" for e in executions for o, r in RUNTIMES.items()
                 if e in r.executions}
            )  # fmt: skip
            raise ProfileError(
                f"no execution for {fw} among {', '.join(executions)} "
                f"({'; '.join(owners)}); {fw} has: {DEFAULT_EXECUTION}, "
                f"{', '.join(executions_of(fw))}"
            )
    scalars = {k: axes[k] for k in SCALAR_AXES if k in axes}
    cases: list[Case] = []
    seen: set[Case] = set()
    for fw in frameworks:
        fw_executions = [
            RUNTIMES[fw].default_execution if e == DEFAULT_EXECUTION else e
            for e in executions
            if e == DEFAULT_EXECUTION or e in executions_of(fw)
        ]
        for depth, batch, device, mode, precision, execution, replicas in itertools.product(
            axes["depths"],
            axes["batch_sizes"],
            axes.get("devices", ["cpu"]),
            axes.get("modes", ["inference"]),
            axes.get("precisions", ["fp32"]),
            fw_executions,
            axes.get("replicas", [1]),
        ):
            case = Case(
                fw, depth, batch, device, mode, precision, execution, replicas=replicas, **scalars
            )
            if case not in seen:
                seen.add(case)
                cases.append(case)
    return cases
