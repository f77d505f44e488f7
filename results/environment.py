"""The software environment of a run: Python and library versions, the resnet-bench
checkout, the environment variables that change performance, framework build info.

Versions come from `importlib.metadata`, as the runtime records (vocab.runtimes) name them:
this module never imports a framework; their build info is probed inside a worker and
handed in as `framework_info`. The key tables (ENVIRONMENT_KEYS, VERSION_KEYS) are
results.metadata's.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypedDict

from results.redact import is_secret_name, redact_env
from vocab.runtimes import RUNTIMES


class EnvironmentInfo(TypedDict):
    """The software environment, one entry per results.metadata.ENVIRONMENT_KEYS."""

    python_version: str | None
    python_implementation: str | None
    numpy_version: str | None
    scipy_version: str | None
    pandas_version: str | None
    versions: dict[str, str] | None  # results.metadata.VERSION_KEYS, the installed ones
    suite_version: str | None
    git_commit: str | None
    git_dirty: bool | None
    env_vars: dict[str, str] | None
    framework_info: dict[str, dict[str, Any]] | None


class NamedEnvironment(TypedDict):
    """One environment of an A/B run as stored (results.db.RunEnvironment): its name, the
    interpreter it was given (None: the run's own), the variables it sets, and the
    software probed inside it."""

    name: str
    python: str | None
    variables: dict[str, str]
    software: EnvironmentInfo


ENV_VAR_NAMES: frozenset[str] = frozenset(
    {
        "LD_PRELOAD", "NVIDIA_TF32_OVERRIDE", "CUDA_VISIBLE_DEVICES", "OPENBLAS_NUM_THREADS",
        *(var for r in RUNTIMES.values() for var, _ in r.thread_env),  # each runtime's own
    }
)  # fmt: skip
ENV_VAR_PREFIXES: tuple[str, ...] = (
    "OMP_", "MKL_", "KMP_", "GOMP_", "DNNL_", "ONEDNN_", "CUDA_", "CUDNN_",
    *(p for r in RUNTIMES.values() for p in r.env_prefixes),  # each runtime's own
)  # fmt: skip
# Terraform shares the TF_ prefix; its variables say nothing about the runtime.
_ENV_VAR_EXCLUDED_PREFIXES: tuple[str, ...] = (
    "TF_VAR_", "TF_CLI_", "TF_TOKEN_", "TF_LOG", "TF_WORKSPACE", "TF_DATA_DIR",
    "TF_IN_AUTOMATION", "TF_INPUT", "TF_PLUGIN_CACHE", "TF_REGISTRY_", "TF_IGNORE",
)  # fmt: skip


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _installed(distributions: tuple[str, ...]) -> tuple[str | None, str | None]:
    """(version, name) of the first of these distributions that is installed."""
    for dist in distributions:
        version = _version(dist)
        if version is not None:
            return version, dist
    return None, None


def runtime_versions() -> dict[str, str]:
    """Each runtime record's versions that are installed (VERSION_KEYS names)."""
    out: dict[str, str] = {}
    for r in RUNTIMES.values():
        for v in r.versions:
            version, dist = _installed(v.distributions)
            if version is not None:
                out[f"{v.key}_version"] = version
                if len(v.distributions) > 1 and dist is not None:
                    out[f"{v.key}_distribution"] = dist
    return out


def relevant_env_vars(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables that change threading, kernels or devices (ENV_VAR_NAMES/PREFIXES);
    a secret-looking name is left out, a credential-looking value stored as *** (redact)."""
    env = os.environ if env is None else env
    return redact_env(
        {
            name: value
            for name, value in sorted(env.items())
            if (name in ENV_VAR_NAMES or name.startswith(ENV_VAR_PREFIXES))
            and not name.startswith(_ENV_VAR_EXCLUDED_PREFIXES)
            and not is_secret_name(name)  # never record what may hold a credential
        }
    )


def git_state(path: Path | None = None) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the checkout this package runs from; (None, None) outside one.

    Only when the package sits at the top of that checkout: an installed copy inside some
    other repository (a venv in a repo) must not report that repository's commit. Untracked
    files do not make it dirty.
    """
    root = (path or Path(__file__).resolve().parent.parent).resolve()

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30, check=True
        )
        return done.stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != root:
            return None, None
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no") != ""
    except (OSError, subprocess.SubprocessError):  # no git, not a checkout, no commit yet
        return None, None
    return commit, dirty


def environment_info(
    framework_info: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> EnvironmentInfo:
    """The software environment, one value per ENVIRONMENT_KEYS entry.

    `framework_info`: per framework, the build info a worker probed (torch.__config__,
    tf.sysconfig.get_build_info(), ...), stored as given. `env`: the environment the
    workers get (default: this process's).
    """
    commit, dirty = git_state()
    return {
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "numpy_version": _version("numpy"),
        "scipy_version": _version("scipy"),
        "pandas_version": _version("pandas"),
        "versions": runtime_versions(),
        "suite_version": _version("resnet-bench"),
        "git_commit": commit,
        "git_dirty": dirty,
        "env_vars": relevant_env_vars(env),
        "framework_info": {name: dict(v) for name, v in (framework_info or {}).items()},
    }


def main(argv: list[str]) -> int:
    """`python -m results.environment OUT.json`: this interpreter's environment_info() as
    JSON, for an A/B run's other environments (probed inside each; imports no framework)."""
    import json
    import sys

    if len(argv) != 1:
        print("usage: python -m results.environment OUT.json", file=sys.stderr)
        return 2
    Path(argv[0]).write_text(json.dumps(environment_info()))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
