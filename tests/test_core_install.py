"""The core install (store, analysis, report, CLI) has no framework: `pip install resnet-bench`
then `resnet-bench report` works on an existing database. The frameworks are extras.

scripts/check-core-install.sh does it for real in a fresh virtual environment (a minute);
here the same commands run with torch and TensorFlow refused by an import hook."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from results.store import open_store
from tests.support.store import begin, measurement
from vocab.runtimes import RUNTIMES

ROOT = Path(__file__).resolve().parent.parent


def test_frameworks_are_extras_not_core_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"]).lower()
    extras = project["optional-dependencies"]
    for name, r in RUNTIMES.items():
        assert r.package not in core, f"{r.package} is a core dependency"
        for extra in (r.extra, r.cuda_extra):
            assert any(r.package in req for req in extras[extra]), (name, extras[extra])
    assert "tensorflow[and-cuda]" in extras["tensorflow-cuda"][0]
    everything = extras["all"][0]
    assert all(r.extra in everything for r in RUNTIMES.values()), everything


@pytest.mark.slow  # the commands in fresh processes (seconds)
def test_report_and_friends_work_without_any_framework(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'results.sqlite'}"
    with open_store(url) as store:
        for label in ("base", "cand"):
            run_id = begin(store, label=label)
            store.add_result(run_id, measurement())
            store.finish_run(run_id)
    report = tmp_path / "report.html"
    db = f"--db {url}"
    commands = [
        f"report {db} -o {report}",
        f"runs {db}",
        f"show latest {db}",
        f"compare 1 2 {db}",
        f"export {db} -o {tmp_path / 'results.csv'}",
        "models --depths 50",
        f"run --dry-run --depths 50 --batch-sizes 1 {db}",  # profile, plan, machine capture
    ]
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.without_frameworks", *commands],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "run 2 (cand)" in report.read_text()
    assert (tmp_path / "results.csv").read_text().count("\n") == 3
