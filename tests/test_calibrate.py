"""`resnet-bench calibrate` (run-to-run variance from checked A/A runs) and run-vs-run
`compare` with it, against a real SQLite store; results.noise on frames."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from results.noise import NotAA, check_a_a, learn_run_variance
from results.store import open_store
from results.variances import stored_run_variances
from suite.cli import main
from tests.support.frames import Frames, steps
from tests.support.store import fake_environment, fake_machine
from vocab.case import Case
from vocab.measurement import Measurement

SHIFTS = [0.03, -0.02, 0.025, -0.03, 0.0, 0.02, -0.01]  # the whole machine, run by run


def _measurement(case: Case, step_s: float, rng: random.Random) -> Measurement:
    owner = [i // 6 for i in range(30)]
    offsets = [rng.gauss(0.0, 0.005) for _ in range(5)]
    samples = [int(step_s * 1e9 * (1 + offsets[p] + 0.002 * rng.uniform(-1, 1))) for p in owner]
    return Measurement(
        case=case,
        samples_ns=samples,
        sample_process=owner,
        warmup_steps=2,
        first_step_ns=int(step_s * 3e9),
        threads_intra=case.threads,
        threads_inter=1,
    )


@pytest.fixture
def db(tmp_path: Path) -> str:
    """Runs 1-7: A/A runs of torch r50 b1 and b8 (threads 2), each run shifted as a whole
    by SHIFTS (processes agree within ~0.5%); run 8: another git commit."""
    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    rng = random.Random(3)
    machine = fake_machine(gpu_count=0, gpu_name=None)
    with open_store(url) as store:
        for k, shift in enumerate([*SHIFTS, 0.0]):
            env = fake_environment(git_commit="f" * 40) if k == len(SHIFTS) else fake_environment()
            run_id = store.begin_run(
                label=f"aa {k}",
                command="resnet-bench run",
                profile="quick",
                source="cli",
                machine=machine,
                environment=env,
            )
            for batch in (1, 8):
                case = Case("torch", 50, batch, threads=2)
                store.add_result(run_id, _measurement(case, 0.01 * batch * (1 + shift), rng))
            store.finish_run(run_id)
    return url


def test_calibrate_learns_the_run_shift_and_compare_adds_it(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Without calibration, runs 1 and 4 (3% and -3%) look like a 6% change.
    assert main(["compare", "1", "4", "--json", "--db", db]) == 0
    before = {c["batch_size"]: c for c in json.loads(capsys.readouterr().out)["cases"]}
    assert before[1]["verdict"] == "improvement" and before[1]["run_sd"] is None
    assert main(["calibrate", "--from-runs", "1,2,3,5,6", "--db", db]) == 0
    captured = capsys.readouterr()
    out = " ".join(captured.out.split())
    assert "run-to-run variance from runs 1, 2, 3, 5, 6" in out
    assert "torch/eager r50 b1 cpu inference fp32 224px t2" in out
    assert "warning: 5 runs give each run variance 4 degrees of freedom" in captured.err
    assert main(["compare", "1", "4", "--json", "--db", db]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["calibrated_cases"] == doc["compared_cases"] == 2
    after = {c["batch_size"]: c for c in doc["cases"]}
    for batch in (1, 8):
        row = after[batch]
        assert row["verdict"] == "same"
        assert row["run_sd"] == pytest.approx(0.023, abs=0.006)  # sd of SHIFTS[:3] + [0, .02]
        assert row["run_df"] == 4.0
        assert row["ratio_ci_low"] < before[batch]["ratio_ci_low"]
    assert main(["compare", "1", "4", "--no-calibration", "--db", db]) == 0
    assert "left out (--no-calibration)" in " ".join(capsys.readouterr().out.split())
    assert main(["compare", "1", "4", "--power", "--db", db]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "smallest change found at 80% per case" in out


@pytest.mark.parametrize(
    ("runs", "message"),
    [
        ("1,2,3,4", "--from-runs needs at least 5 different runs"),
        ("1,2,3,4,8", "runs 1 and 8 are not A/A: git_commit differs"),
    ],
)
def test_calibrate_bad_runs(
    db: str, runs: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calibrate", "--from-runs", runs, "--db", db]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    with open_store(db, create=False) as store:
        assert stored_run_variances(store, store.get_run(1).machine["id"]) == {}


def test_run_variance_is_what_the_processes_do_not_explain() -> None:
    f = Frames()
    for run in range(1, 7):
        f.run(run)
        f.result(run, "torch", 50, 1, steps(0.01, spread=0.02, seed=run))  # no run shift
        f.result(run, "torch", 50, 8, steps(0.08 * (1 + SHIFTS[run]), spread=0.02, seed=run))
    learnt = learn_run_variance(f.results(), range(1, 7))
    by_batch = {int(r["batch_size"]): r for r in learnt.to_dict("records")}
    assert by_batch[1]["run_var"] < by_batch[8]["run_var"]
    sd = math.sqrt(by_batch[8]["run_var"])
    assert sd == pytest.approx(0.022, abs=0.006)
    assert by_batch[8]["n_runs"] == 6 and by_batch[8]["run_df"] == 5.0
    assert by_batch[8]["sd_log"] ** 2 >= by_batch[8]["run_var"]


def test_a_a_check_names_the_difference() -> None:
    f = Frames().run(1).run(2, env_vars={"OMP_NUM_THREADS": "1"})
    for run in (1, 2):
        f.result(run, "torch", 50, 1, steps(0.01, seed=run))
    with pytest.raises(NotAA, match=r"runs 1 and 2 are not A/A: env:OMP_NUM_THREADS differs"):
        check_a_a(f.results(), [1, 2])
    g = Frames().run(1).run(2)
    g.result(1, "torch", 50, 1, steps(0.01, seed=1))
    g.result(2, "torch", 50, 1, steps(0.01, seed=2), threads=1)
    with pytest.raises(NotAA, match=r"threads differs \('2' / '1'\)"):
        check_a_a(g.results(), [1, 2])
    check_a_a(f.results(), [1])  # one run: nothing to differ
