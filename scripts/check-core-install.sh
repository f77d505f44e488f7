#!/usr/bin/env bash
# The core install works without any framework: a fresh virtual environment gets
# `pip install .` (no extra: no runtime of vocab/runtimes.py), a database is written with a run
# through the library, and `resnet-bench runs`, `report` and `compare` read it.
# tests/test_core_install.py checks the same commands in seconds with the frameworks
# refused by an import hook; this is the real install (a minute or two).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$root"
py="$work/venv/bin/python"
cd "$work"  # the installed package, not the checkout
"$py" - <<'PY'
import importlib.util
from vocab.runtimes import RUNTIMES
for r in RUNTIMES.values():
    assert importlib.util.find_spec(r.package) is None, f"{r.package} is installed in the core venv"
print(f"core venv: none of {', '.join(r.package for r in RUNTIMES.values())}")
PY
"$py" - <<'PY'
from results.environment import environment_info
from results.store import open_store
from runners.host import machine_info
from vocab.measurement import Measurement
from vocab.case import FRAMEWORKS, Case

with open_store("sqlite:///results.sqlite") as store:
    for label, ms in (("base", 10), ("cand", 11)):
        run = store.begin_run(label=label, command=None, profile="script", source="cli",
                              machine=machine_info(), environment=environment_info())
        samples = [ms * 10**6 + p * 10**4 + i for p in range(5) for i in range(20)]
        store.add_result(run, Measurement(Case(FRAMEWORKS[0], 50, 1), samples_ns=samples,
                                          sample_process=[i // 20 for i in range(100)]))
        store.finish_run(run)
print("database with two runs written")
PY
"$work/venv/bin/resnet-bench" runs --db sqlite:///results.sqlite
"$work/venv/bin/resnet-bench" report --db sqlite:///results.sqlite -o report.html
"$work/venv/bin/resnet-bench" compare 1 2 --db sqlite:///results.sqlite || [[ $? == 1 ]]
grep -q "run 2 (cand)" report.html
echo "core install: report written ($(wc -c < report.html) bytes) without any framework"
