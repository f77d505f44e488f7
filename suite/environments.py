"""A/B environments in one run: `--env NAME=SPEC` and a profile's `[environments]`.

An environment is an interpreter (another virtualenv with the frameworks installed) and/or
environment variables. SPEC is one of

    /path/bin/python                  the interpreter
    VAR=V[,VAR=V...]                  variables on top of the usual worker environment
    /path/bin/python:VAR=V[,VAR=V]    both

so `--env base=/venvs/torch213/bin/python --env off=TF_ENABLE_ONEDNN_OPTS=0`. A SPEC whose
text starts with a variable name and '=' is variables; anything else is a path, up to the
first ':'. Values cannot hold ','. Every case then runs in every environment (the case's
`env`), in the same shuffled rounds, one worker per environment and framework.

The worker code is this run's: from a source checkout its root is put first on the other
interpreter's PYTHONPATH (runners.manager.worker_env), so both sides run the identical
harness and only the frameworks (and whatever else that venv installs) differ. Before any
worker starts, `check` runs each environment's interpreter once: missing, not executable,
or unable to import the worker is one line naming it and what is wrong.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from results.redact import redact_env
from vocab.case import ENV_NAME_HELP, ENV_NAME_RE

VAR_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.DOTALL)
SPEC_HELP = "SPEC is /path/bin/python, VAR=V[,VAR=V...], or /path/bin/python:VAR=V[,VAR=V...]"
CHECK_TIMEOUT_S = 120.0
# Run inside each environment's interpreter: the worker must import; which frameworks it
# has is found without importing them (argv: framework=package pairs).
_CHECK = (
    "import importlib.util, json, sys\n"
    "import runners.worker\n"
    "pairs = [a.split('=', 1) for a in sys.argv[1:]]\n"
    "print(json.dumps({f: importlib.util.find_spec(p) is not None for f, p in pairs}))\n"
)


class EnvError(ValueError):
    """A bad --env or [environments] entry, or an interpreter that cannot run the worker;
    the message is one line for the user."""


@dataclass(frozen=True)
class EnvSpec:
    """One named environment: an interpreter (None: the run's own) and variables."""

    name: str
    python: str | None = None
    variables: tuple[tuple[str, str], ...] = ()

    @property
    def vars(self) -> dict[str, str]:
        return dict(self.variables)

    @property
    def executable(self) -> str:
        return self.python or sys.executable

    def describe(self) -> str:
        """The spec as --env would take it back."""
        parts = [self.python or ""]
        if self.variables:
            parts.append(",".join(f"{k}={v}" for k, v in self.variables))
        return f"{self.name}={':'.join(p for p in parts if p)}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "python": self.python, "vars": self.vars}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EnvSpec:
        variables = tuple((str(k), str(v)) for k, v in dict(data.get("vars") or {}).items())
        return cls(str(data["name"]), data.get("python"), variables)

    def record(self) -> dict[str, Any]:
        """What the run stores about it (results.db.RunEnvironment): secrets redacted."""
        return {"name": self.name, "python": self.python, "variables": redact_env(self.vars)}


def _check_name(name: str, where: str) -> None:
    if not ENV_NAME_RE.match(name):
        raise EnvError(f"{where}: bad environment name {name!r}; allowed: {ENV_NAME_HELP}")


def _python_path(path: str) -> str:
    """An interpreter as given: a bare name is looked up on PATH; a path is made absolute
    (not resolved: a venv's bin/python is a symlink whose target is another prefix)."""
    path = os.path.expanduser(path)
    if os.sep not in path:
        return shutil.which(path) or path
    return os.path.abspath(path)


def _variables(text: str, where: str) -> tuple[tuple[str, str], ...]:
    out: dict[str, str] = {}
    for item in text.split(","):
        found = VAR_RE.match(item)
        if not item:
            raise EnvError(f"{where}: empty variable in {text!r}; expected VAR=V[,VAR=V...]")
        if found is None:
            raise EnvError(
                f"{where}: bad variable {item!r}; expected VAR=V with VAR a letter or '_', "
                "then letters, digits or '_'"
            )
        name, value = found.groups()
        if name in out:
            raise EnvError(f"{where}: variable {name} set twice")
        out[name] = value
    return tuple(out.items())


def parse_spec(name: str, spec: str, where: str) -> EnvSpec:
    """SPEC (see the module) of environment `name`; `where` names it in errors."""
    _check_name(name, where)
    if not spec:
        raise EnvError(
            f"{where}: environment {name!r} has an empty SPEC; {SPEC_HELP} "
            f"(this run's own interpreter is {sys.executable})"
        )
    if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", spec):
        return EnvSpec(name, None, _variables(spec, where))
    path, colon, rest = spec.partition(":")
    if not path:
        raise EnvError(f"{where}: no interpreter before ':' in {spec!r}; {SPEC_HELP}")
    if colon and not rest:
        raise EnvError(f"{where}: no variables after ':' in {spec!r}; {SPEC_HELP}")
    return EnvSpec(name, _python_path(path), _variables(rest, where) if rest else ())


def parse_env(text: str) -> EnvSpec:
    """One `--env NAME=SPEC`."""
    name, eq, spec = text.partition("=")
    if not eq:
        raise EnvError(f"--env {text!r}: expected NAME=SPEC; {SPEC_HELP}")
    return parse_spec(name, spec, f"--env {text!r}")


def unique(envs: Sequence[EnvSpec], where: str = "--env") -> list[EnvSpec]:
    seen: set[str] = set()
    for env in envs:
        if env.name in seen:
            raise EnvError(f"{where}: environment {env.name!r} named twice")
        seen.add(env.name)
    return list(envs)


def parse_table(table: Any, where: str) -> list[EnvSpec]:
    """A profile's [environments]: NAME = "SPEC", or NAME = {python = "...", vars = {...}}."""
    if not isinstance(table, dict):
        raise EnvError(f"{where}: [environments] must be a table of NAME = SPEC")
    out = []
    for name, value in table.items():
        at = f"{where}: [environments] {name}"
        if isinstance(value, str):
            out.append(parse_spec(name, value, at))
            continue
        if not isinstance(value, dict):
            raise EnvError(f"{at}: expected a SPEC string or a table with python and/or vars")
        unknown = sorted(set(value) - {"python", "vars"})
        if unknown:
            raise EnvError(f"{at}: unknown key {unknown[0]!r}; allowed: python, vars")
        python, variables = value.get("python"), value.get("vars", {})
        if python is not None and (not isinstance(python, str) or not python):
            raise EnvError(f"{at}: python must be an interpreter path, got {python!r}")
        if not isinstance(variables, dict) or not all(
            isinstance(v, str | int) and not isinstance(v, bool) for v in variables.values()
        ):
            raise EnvError(f'{at}: vars must be a table of VAR = "value"')
        if python is None and not variables:
            raise EnvError(f"{at}: give python, vars or both")
        text = ",".join(f"{k}={v}" for k, v in variables.items())
        spec = parse_spec(name, text, at) if text else EnvSpec(name)
        out.append(EnvSpec(name, _python_path(python) if python else None, spec.variables))
    return unique(out, f"{where}: [environments]")


def check(
    envs: Sequence[EnvSpec], packages: Mapping[str, str], base_env: Mapping[str, str]
) -> dict[str, dict[str, bool]]:
    """Run each environment's interpreter once, as its workers will run (`base_env` plus
    its variables; runners.manager.env_for): which of `packages` (framework -> package)
    it has. EnvError naming the interpreter when it is missing, not executable, or cannot
    import the worker."""
    from runners.manager import env_for

    found: dict[str, dict[str, bool]] = {}
    for env in envs:
        python = env.executable
        who = f"environment {env.name!r}: interpreter {python}"
        if not os.path.exists(python):
            raise EnvError(f"{who} does not exist")
        if not os.path.isfile(python) or not os.access(python, os.X_OK):
            raise EnvError(f"{who} is not an executable file")
        argv = [python, "-c", _CHECK, *(f"{f}={p}" for f, p in packages.items())]
        try:
            done = subprocess.run(
                argv,
                env=env_for(base_env, env.python, env.vars),
                capture_output=True,
                text=True,
                timeout=CHECK_TIMEOUT_S,
                check=False,
            )
        except OSError as exc:
            raise EnvError(f"{who} cannot be started: {exc}") from None
        except subprocess.TimeoutExpired:
            raise EnvError(f"{who} did not answer within {CHECK_TIMEOUT_S:g} s") from None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            raise EnvError(f"{who} cannot import resnet-bench's worker: {last}")
        try:
            found[env.name] = {str(k): bool(v) for k, v in json.loads(done.stdout).items()}
        except ValueError:
            raise EnvError(f"{who} gave no answer the check understands") from None
    return found


def not_installed(env: EnvSpec, framework: str, extra: str) -> str:
    """A `skipped` case's reason: the framework is missing in that environment."""
    return (
        f"{framework} is not installed in environment {env.name!r} ({env.executable}): "
        f"{env.executable} -m pip install 'resnet-bench[{extra}]'"
    )
