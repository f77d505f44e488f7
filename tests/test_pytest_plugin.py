"""`pytest --benchmark-only` through our plugin: option checks in this process, real
sessions in a child pytest on a scratch folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from statistics import median
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from suite.cli import main
from suite.cli.common import DB_ENV, OUTPUT_ENV, default_db_url
from suite.pytest_plugin import DEFAULT_PROFILE, WorkerSteps, database_url, selected_profile

BENCH_FILE = (Path(__file__).parent / "benchmarks" / "test_resnet.py").read_text()
ROOT = Path(__file__).resolve().parents[1]


def child_pytest(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_bench.py").write_text(BENCH_FILE)
    # This checkout first, for the child and the workers it starts. Not this session's
    # xdist worker variables: pytest-benchmark would take the child for a worker, and
    # refuse --benchmark-only there.
    env = {
        **{k: v for k, v in (os.environ if env is None else env).items()
           if not k.startswith(("PYTEST_XDIST_", "PYTEST_CURRENT_TEST"))},
        "PYTHONPATH": str(ROOT),
    }  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_bench.py", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )


class Options:
    """What the plugin reads of a pytest.Config: the options given on a command line."""

    def __init__(self, **given: Any) -> None:
        self.given = {f"--resnet-{k.replace('_', '-')}": v for k, v in given.items()}
        self.given["benchmark_only"] = True

    def getoption(self, name: str, default: Any = None) -> Any:
        return self.given.get(name, default)


# Every --resnet-* option with the classes of bad value: empty, an empty item, 0, negative,
# not a number, an unknown name. Each is one line naming the option and the value.
BAD_OPTIONS = [
    ({"profile": ""}, "--resnet-profile: empty value; give a built-in profile name"),
    ({"profile": "nope"}, "--resnet-profile: profile 'nope' is neither a built-in profile"),
    ({"depths": ""}, "--resnet-depths: empty value; give a comma list of 50, 101, 152, 200"),
    ({"depths": "50,,101"}, "--resnet-depths '50,,101': an empty item"),
    ({"depths": "0"}, "--resnet-depths '0': unknown depth 0; allowed: 50, 101, 152, 200"),
    ({"depths": "-50"}, "--resnet-depths '-50': unknown depth -50; allowed: 50, 101"),
    ({"depths": "5x"}, "--resnet-depths '5x': not a comma list of 50, 101, 152, 200"),
    ({"frameworks": ""}, "--resnet-frameworks: empty value; give a comma list of torch"),
    ({"frameworks": ","}, "--resnet-frameworks ',': an empty item"),
    ({"frameworks": "bogus"}, "--resnet-frameworks 'bogus': unknown framework 'bogus'; allowed:"),
    ({"batch_sizes": ""}, "--resnet-batch-sizes: empty value; give a comma list of positive"),
    ({"batch_sizes": "0"}, "--resnet-batch-sizes '0': batch size must be a positive integer"),
    ({"batch_sizes": "1,-2"}, "--resnet-batch-sizes '1,-2': batch size must be a positive"),
    ({"batch_sizes": "auto"}, "--resnet-batch-sizes 'auto': not a comma list of positive"),
    ({"device": ""}, "--resnet-device: empty value; give cpu, cuda or cuda:N"),
    ({"device": "tpu"}, "--resnet-device 'tpu': unknown device 'tpu'; allowed: cpu, cuda"),
    ({"image_size": ""}, "--resnet-image-size: empty value; give a positive integer"),
    ({"image_size": "0"}, "--resnet-image-size '0': image size must be a positive integer, got 0"),
    ({"image_size": "-5"}, "--resnet-image-size '-5': image size must be a positive integer"),
    ({"image_size": "32px"}, "--resnet-image-size '32px': not a positive integer"),
]


@pytest.mark.parametrize(("given", "message"), BAD_OPTIONS, ids=[m for _, m in BAD_OPTIONS])
def test_each_bad_option_is_refused_naming_it(given: dict[str, str], message: str) -> None:
    with pytest.raises(pytest.UsageError) as err:
        selected_profile(Options(**given))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


BAD_DATABASES = [
    ("", "--resnet-db: empty value; give a SQLAlchemy URL"),
    ("nosuchdialect://x", "--resnet-db: unsupported database URL nosuchdialect://x: SQLAlchemy"),
    ("postgresql+nodriver://h/db", "--resnet-db: unsupported database URL postgresql+nodriver"),
    ("not a url", "--resnet-db: cannot parse database URL 'not a url'"),
    ("sqlite://", "--resnet-db: 'sqlite://' is an in-memory database"),
    ("sqlite:///:memory:", "--resnet-db: 'sqlite:///:memory:' is an in-memory database"),
]


@pytest.mark.parametrize(("url", "message"), BAD_DATABASES, ids=[u for u, _ in BAD_DATABASES])
def test_a_bad_database_is_refused_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(pytest.UsageError) as err:
        database_url(Options(db=url))
    assert message in str(err.value)
    assert list(tmp_path.iterdir()) == []  # nothing connected, nothing created


def test_good_options_narrow_the_profile(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    profile = selected_profile(
        Options(profile="smoke", frameworks="torch", depths="50", batch_sizes="1", image_size="16")
    )
    assert profile.name == "smoke" and profile.sampling.min_processes >= 2
    assert {(c.framework, c.batch_size, c.image_size) for c in profile.cases()} == {
        ("torch", 1, 16)
    }
    assert {c.mode for c in profile.cases()} == {"inference", "training"}
    default = selected_profile(Options())
    assert default.name == DEFAULT_PROFILE and default.sampling.min_processes >= 2
    assert {(c.framework, c.depth, c.batch_size) for c in default.cases()} == {
        ("torch", 50, 1),
        ("tensorflow", 50, 1),
    }
    monkeypatch.delenv(DB_ENV, raising=False)
    monkeypatch.setenv(OUTPUT_ENV, str(tmp_path))
    assert database_url(Options()) == f"sqlite:///{tmp_path}/results.sqlite"
    assert database_url(Options(no_store=True)) is None
    assert list(tmp_path.iterdir()) == []


def test_worker_steps_replay_as_pytest_benchmark_reads_its_clock() -> None:
    """pedantic reads the clock at each round's start and end: the difference is a step."""
    from vocab.case import Case
    from vocab.measurement import Measurement

    m = Measurement(Case("torch", 50, 1), samples_ns=[3_000_000, 1_000_000, 2_000_000])
    clock = WorkerSteps(m)
    rounds = [-clock() + clock() for _ in range(3)]
    assert rounds == [0.003, 0.001, 0.002] and clock.rounds == 3


def test_the_session_measures_as_a_run_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every case through the run loop at once, in the profile's sampling policy, as a run
    with source 'pytest' whose command hides the password; --resnet-no-store measures in
    a scratch database that is gone afterwards."""
    import suite.session
    from suite.pytest_plugin import BenchSession
    from vocab.measurement import Measurement

    plans: list[Any] = []
    stores: list[str] = []

    def execute(store: Any, plan: Any, ui: Any, resume: int | None = None) -> Any:
        plans.append(plan)
        stores.append(store.url)
        return 7, [
            Measurement(c, samples_ns=[1, 2, 3], sample_process=[0, 1, 2]) for c in plan.cases
        ]

    monkeypatch.setattr(suite.session, "execute", execute)
    profile = selected_profile(Options(profile="smoke", frameworks="torch"))
    config = Options()
    config.invocation_params = SimpleNamespace(
        args=("--resnet-db", "postgresql+psycopg://u:sekrit@h/db")
    )
    db = tmp_path / "r.sqlite"
    bench = BenchSession(profile, f"sqlite:///{db}")
    got = bench.measure(profile.cases(), config)
    bench.close()
    (plan,) = plans
    assert (plan.source, plan.profile, plan.policy) == ("pytest", "smoke", profile.sampling)
    assert plan.cases == profile.cases() and set(got) == set(plan.cases)
    assert "sekrit" not in plan.command and plan.command.startswith("pytest --resnet-db")
    assert (bench.run_id, bench.stored_url, stores) == (7, f"sqlite:///{db}", [f"sqlite:///{db}"])
    scratch = BenchSession(profile, None)
    scratch.measure(profile.cases(), config)
    assert scratch.stored_url is None and Path(stores[1].removeprefix("sqlite:///")).exists()
    scratch.close()
    assert not Path(stores[1].removeprefix("sqlite:///")).exists()


@pytest.mark.slow
def test_bad_selection_is_a_usage_error(tmp_path: Path) -> None:
    """In a real pytest: one line, pytest's usage-error status, before collection."""
    for args, message in (
        (("--resnet-depths", "51"), "unknown depth 51; allowed: 50, 101, 152, 200"),
        (("--resnet-image-size", "0"), "--resnet-image-size '0': image size must be a positive"),
        (("--resnet-db", "nosuchdialect://x"), "SQLAlchemy has no dialect 'nosuchdialect'"),
    ):
        out = child_pytest(tmp_path, "--benchmark-only", *args)
        assert out.returncode == 4, out.stderr  # pytest's exit status for usage errors
        errors = [line for line in out.stderr.splitlines() if line.strip()]
        assert len(errors) == 1 and message in errors[0], out.stderr
        assert "collected" not in out.stdout


@pytest.mark.slow
def test_without_benchmark_only_the_benchmarks_are_skipped(tmp_path: Path) -> None:
    out = child_pytest(tmp_path, "-rs")
    assert out.returncode == 0, out.stdout[-2000:]
    assert "run with pytest --benchmark-only" in out.stdout


def _result_rows(db: Path) -> list[Any]:
    with sa.create_engine(f"sqlite:///{db}").connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "select r.run_id, run.source, run.status, r.mode, r.status, r.n_samples, "
                    "count(distinct s.process) from result r join run on run.id = r.run_id "
                    "left join sample s on s.result_id = r.id group by r.id order by r.id"
                )
            )
        )


def _samples_s(db: Path, run_id: int) -> list[float]:
    with sa.create_engine(f"sqlite:///{db}").connect() as conn:
        rows = conn.execute(
            sa.text(
                "select s.duration_ns from sample s join result r on r.id = s.result_id "
                "where r.run_id = :run and r.status = 'ok'"
            ),
            {"run": run_id},
        )
        return [ns / 1e9 for (ns,) in rows]


@pytest.mark.slow
@pytest.mark.torch
def test_two_sessions_give_replicated_runs_that_compare_judges(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two `pytest --benchmark-only` sessions (profile smoke with one thread, from a file;
    torch, depth 50, batch 1): each case runs in the profile's fresh worker processes and is
    stored as a run with source 'pytest'; pytest-benchmark's JSON, saved runs,
    --benchmark-compare and histogram hold the same steps; the training case that cannot
    run is skipped, not an error; and `resnet-bench compare` judges the two runs."""
    db = tmp_path / "bench-out" / "results.sqlite"
    env = {k: v for k, v in os.environ.items() if k != DB_ENV}
    env[OUTPUT_ENV] = str(db.parent)  # the database the CLI would use
    # more threads would spin-wait for a core on a shared machine, many times the work
    smoke = (ROOT / "suite" / "profiles" / "smoke.toml").read_text()
    profile = tmp_path / "smoke1.toml"
    # a built-in profile's frameworks come from the runtime records; a file names its own
    cases = '\n[cases]\nframeworks = ["torch"]\nthreads = 1\n'
    profile.write_text(smoke.replace("\n[cases]\n", cases, 1))
    select = (
        "--benchmark-only",
        *("--resnet-profile", str(profile), "--resnet-frameworks", "torch"),
        *("--resnet-depths", "50", "--resnet-batch-sizes", "1", "-rs"),
        *("--benchmark-storage", str(tmp_path / "saved")),
    )
    first = child_pytest(
        tmp_path, *select, "--benchmark-autosave", "--benchmark-json", "bench.json", env=env
    )
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    # The skipped case (issue 22, item 6): reported as skipped with the reason, no teardown error.
    assert "1 passed, 1 skipped" in first.stdout, first.stdout[-3000:]
    assert "training needs more than one value per channel" in first.stdout
    assert "ERROR" not in first.stdout and "not used" not in first.stdout + first.stderr
    second = child_pytest(
        tmp_path,
        *select,
        "--benchmark-compare",
        "--benchmark-histogram",
        str(tmp_path / "hist"),
        env=env,
    )
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "(NOW)" in second.stdout and "(0001_" in second.stdout  # compared with the first
    assert list(tmp_path.glob("hist*.svg")), sorted(p.name for p in tmp_path.iterdir())

    rows = _result_rows(db)
    ok = [r for r in rows if r[4] == "ok"]
    assert {r[0] for r in rows} == {1, 2} and len(ok) == 2
    for _run, source, run_status, mode, _status, n_samples, processes in ok:
        assert (source, run_status, mode) == ("pytest", "finished", "inference")
        assert processes >= 2 and n_samples >= processes
    assert [r[4] for r in rows if r[3] == "training"] == ["skipped", "skipped"]

    # pytest-benchmark's figures are the stored steps, every process's.
    report = json.loads((tmp_path / "bench.json").read_text())
    (bench,) = report["benchmarks"]
    steps = _samples_s(db, 1)
    assert bench["stats"]["rounds"] == len(steps) == ok[0][5]
    assert bench["stats"]["median"] == pytest.approx(median(steps))
    assert bench["stats"]["min"] == pytest.approx(min(steps)) and min(steps) > 0
    assert bench["options"]["timer"] == "worker_steps"
    info = bench["extra_info"]
    assert info["framework"] == "torch" and info["processes"] == len(info["process_values_s"])
    assert info["processes"] >= 2 and info["ci_low_s"] <= info["value_s"] <= info["ci_high_s"]
    assert report["machine_info"]["resnet_bench"]["cores_logical"] >= 1

    # Before, one process a side: 'undetermined'. Now compare has a spread to judge by.
    capsys.readouterr()
    code = main(["compare", "1", "2", "--json", "--db", f"sqlite:///{db}"])
    cases = json.loads(capsys.readouterr().out)["cases"]
    (case,) = [c for c in cases if c["mode"] == "inference"]
    assert case["verdict"] in ("same", "regression", "improvement"), cases
    assert code == (1 if case["verdict"] == "regression" else 0)  # a loaded machine may slow one


def test_the_database_rule(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """One rule for `resnet-bench run` and the plugin: --db / --resnet-db, else
    $RESNET_BENCH_DB, else the output folder (--output, else $RESNET_BENCH_OUTPUT, else out)."""
    monkeypatch.delenv(DB_ENV, raising=False)
    monkeypatch.delenv(OUTPUT_ENV, raising=False)
    assert default_db_url() == "sqlite:///out/results.sqlite"
    monkeypatch.setenv(OUTPUT_ENV, str(tmp_path))
    assert default_db_url() == f"sqlite:///{tmp_path}/results.sqlite"
    assert default_db_url(output="elsewhere") == "sqlite:///elsewhere/results.sqlite"
    monkeypatch.setenv(DB_ENV, "sqlite:///env.sqlite")
    assert default_db_url() == "sqlite:///env.sqlite"
    assert default_db_url("sqlite:///given.sqlite") == "sqlite:///given.sqlite"
