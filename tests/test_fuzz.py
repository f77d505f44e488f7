"""Property: whatever profile document or command line a user gives, the suite answers with
a result or with one line and exit status 2, never a traceback. Hypothesis generates the
inputs (a bounded number of examples, so `nox -s tests` stays fast); no benchmark runs: the
run loop is replaced by a stub once the input has been accepted."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suite.profiles import LIST_AXES, RUN_KEYS, SCALAR_AXES, ProfileError, parse_profile
from suite.session import Plan
from vocab.case import CaseError

# As many examples as the hypothesis profile gives (tests/conftest.py: a few locally, 150 in CI)
EXAMPLES = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from([50, 101, 1, 8, 224, 0, -1, "torch", "tensorflow", "cpu", "default", "xla"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=6)
SAMPLING_KEYS = [
    *("min_samples", "min_time_s", "min_processes", "max_processes", "max_time_s"),
    *("min_warmup", "warmup_window", "ci_target", "processes", *RUN_KEYS, "bogus"),
]
CASE_KEYS = [*LIST_AXES, *SCALAR_AXES, "bogus"]


@st.composite
def profile_documents(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if draw(st.booleans()):
        doc["cases"] = draw(
            st.one_of(st.dictionaries(st.sampled_from(CASE_KEYS), values, max_size=8), values)
        )
    if draw(st.booleans()):
        doc["sampling"] = draw(
            st.one_of(st.dictionaries(st.sampled_from(SAMPLING_KEYS), values, max_size=6), values)
        )
    if draw(st.booleans()):
        doc[draw(st.sampled_from(["description", "extra"]))] = draw(values)
    return doc


@EXAMPLES
@given(profile_documents())
def test_any_profile_document_is_a_profile_or_one_clear_error(doc: dict[str, Any]) -> None:
    try:
        profile = parse_profile(doc, "fuzz")
        profile.cases()
    except (ProfileError, CaseError) as exc:
        message = str(exc)
        assert message and "\n" not in message and "Traceback" not in message


FLAGS: dict[str, list[str]] = {
    "run": ["--profile", "--frameworks", "--depths", "--batch-sizes", "--devices", "--modes",
            "--precisions", "--executions", "--image-size", "--threads", "--processes",
            "--max-processes", "--timeout", "--max-time", "--label", "--resume"],
    "show": [], "compare": ["--threshold", "--by", "--base"], "export": ["--format", "--run", "-o"],
    "report": ["--runs", "--faster-threshold", "-o"], "runs": ["--limit"],
    "calibrate": ["--repeats", "--from-runs", "--profile", "--depths"],
}  # fmt: skip
WORDS = ["smoke", "quick", "torch", "tensorflow,torch", "50", "50,51", "1,8", "0", "-1", "nan",
         "inf", "1e309", "x", "", "5%", "150%", "latest", "1,2", "csv", "json", "parquet", "xml",
         "cpu", "cuda:0", "gpu", "eager", "xla", "training", "bf16", "99999999999999999999999",
         "\x1b[2J", "postgresql://u:p@:/x@h/db"]  # fmt: skip


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    cmd = draw(st.sampled_from(sorted(FLAGS)))
    args = [cmd]
    if cmd in ("show", "compare"):
        args += draw(st.lists(st.sampled_from(WORDS), min_size=0, max_size=2))
    for _ in range(draw(st.integers(0, 4))):
        flag = draw(st.sampled_from([*FLAGS[cmd], "--bogus"])) if FLAGS[cmd] else "--bogus"
        args += [flag, draw(st.sampled_from(WORDS))]
    return args


@pytest.fixture(scope="module")
def db_with_a_run(tmp_path_factory: pytest.TempPathFactory) -> str:
    from results.store import open_store
    from tests.support.store import begin, measurement

    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'r.sqlite'}"
    with open_store(url) as store:
        run_id = begin(store)
        store.add_result(run_id, measurement())
        store.finish_run(run_id)
    return url


@EXAMPLES
@given(args=command_lines())
def test_any_command_line_is_a_result_or_one_line(
    args: list[str], db_with_a_run: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from suite import session
    from suite.cli import main

    def no_benchmark(store: Any, plan: Plan, ui: Any, resume: int | None = None) -> Any:
        return None, []  # the input was accepted; nothing is measured here

    monkeypatch.setattr(session, "execute", no_benchmark)
    # Files the command may write land in this example's folder, never in the checkout.
    args = [
        str(tmp_path / a) if prev == "-o" and a not in ("-", "") else a
        for prev, a in zip(["", *args[:-1]], args, strict=True)
    ]
    argv = [*args, "--db", db_with_a_run, "--output", str(tmp_path / "out")]
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: usage errors exit 2, --help 0
            code = int(exc.code or 0)
    text = err.getvalue()
    assert "Traceback" not in text
    assert code in (0, 1, 2), (argv, code, text)
    if code == 2:
        lines = [line for line in text.splitlines() if line.strip()]
        assert len(lines) == 1, (argv, text)


# -- issue 22: --resume and calibrate flag combinations, secrets in every output ------------

PLAN_FLAGS = {"--profile": "smoke", "--frameworks": "torch", "--depths": "101",
              "--batch-sizes": "1", "--devices": "tpu", "--modes": "training",
              "--precisions": "bf16", "--image-size": "64", "--threads": "2",
              "--processes": "3", "--max-processes": "4", "--timeout": "9",
              "--label": "x"}  # fmt: skip
RESUME_IDS = ["1", "latest", "0", "-1", "99999999999999999999999", "x", ""]


def _main(argv: list[str]) -> tuple[int, str]:
    from suite.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, err.getvalue()


@EXAMPLES
@given(
    run_id=st.sampled_from(RESUME_IDS),
    flags=st.lists(st.sampled_from(sorted(PLAN_FLAGS)), unique=True, max_size=4),
    max_time=st.booleans(),
    order=st.randoms(use_true_random=False),
)
def test_resume_with_any_plan_flag_is_one_line_naming_it(
    run_id: str, flags: list[str], max_time: bool, order: Any, db_with_a_run: str
) -> None:
    """`run --resume ID` with plan flags is refused, naming the first; only --max-time is
    applied (the fixture's run stored no plan: that, too, is one line)."""
    pairs = [[f, PLAN_FLAGS[f]] for f in flags] + ([["--max-time", "5"]] if max_time else [])
    order.shuffle(pairs)
    argv = ["run", "--resume", run_id, *(w for p in pairs for w in p), "--db", db_with_a_run]
    code, err = _main(argv)
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    if flags:
        assert code == 2 and len(lines) == 1, (argv, err)
        assert any(f"{f} does not go with --resume" in lines[0] for f in flags) or (
            "--resume" in lines[0] and "run id" in lines[0]  # a bad id is refused first
        ), (argv, err)
    else:
        assert code in (0, 2), (argv, err)
        if code == 2:
            assert len(lines) == 1, (argv, err)


@EXAMPLES
@given(
    runs=st.sampled_from(["", ",", " , ", "1", "1,2", "1,1", "1,x", "0,1", "99,100"]),
    repeats=st.one_of(st.none(), st.sampled_from(["2", "5", "0", "x"])),
    flags=st.lists(st.sampled_from(sorted(PLAN_FLAGS)), unique=True, max_size=3),
)
def test_calibrate_from_runs_with_any_flag_is_one_line(
    runs: str, repeats: str | None, flags: list[str], db_with_a_run: str
) -> None:
    """`calibrate --from-runs` refuses an empty list, --repeats and plan flags (one line,
    exit 2) before it could start a calibration; nothing here may run a plan."""
    argv = ["calibrate", "--from-runs", runs, *(w for f in flags for w in (f, PLAN_FLAGS[f]))]
    argv += [*(["--repeats", repeats] if repeats is not None else []), "--db", db_with_a_run]
    code, err = _main(argv)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, (argv, err)


SECRET = "Zq7SeCrEtVaLuE"  # no output holds this by chance
NAME_PARTS = ["AUTH", "CRED", "PEM", "BEARER", "PRIVATE", "TOKEN", "SECRET", "PASSWORD",
              "API_KEY", "PASSWD", "COOKIE", "SESSION"]  # fmt: skip
VALUE_SHAPES = [
    "{s}", "u:{s}@host:2222", "https://u:{s}@h/x", '{{"cluster": ["u:{s}@h:1"]}}',
    '{{"password": "{s}"}}', "Bearer {s}", "basic {s}", "-----BEGIN KEY-----{s}",
    "password={s}", "--token={s}", "ghp_{s}0123456789abcdef", "sk-{s}abcdefghijklmnop",
    "Ab1{s}Ab1Ab1Ab1Ab1Ab1Ab1Ab1Ab1Ab1",
]  # fmt: skip
TOKEN_SHAPES = {s for s in VALUE_SHAPES if s.startswith(("ghp_", "sk-", "Ab1"))}
URL_SHAPES = [
    "postgresql://u:{s}@h/db", "postgresql://u:sp {s}@h/db", "postgresql://u:p@{s}@h/db",
    "postgresql+psycopg://u@h:5/db?password={s}", "postgresql://u:x@h/db?sslpassword={s}",
    "postgresql://u:p@:/{s}@h/db", "mysql://u:{s}?#/@h/db",
]  # fmt: skip


@st.composite
def secret_environments(draw: st.DrawFn) -> dict[str, str]:
    from results.environment import ENV_VAR_PREFIXES

    env: dict[str, str] = {}
    for _ in range(draw(st.integers(1, 5))):
        prefix = draw(st.sampled_from(ENV_VAR_PREFIXES))
        word = draw(st.text(alphabet="ABCDEFGHIJ_", max_size=5))
        secret_name = draw(st.booleans())
        part = draw(st.sampled_from(NAME_PARTS)) if secret_name else "X"
        name = f"{prefix}{word}{part}" if draw(st.booleans()) else f"{prefix}{part}{word}"
        shape = draw(st.sampled_from(VALUE_SHAPES if not secret_name else ["{s}", *VALUE_SHAPES]))
        if not secret_name and shape == "{s}":
            shape = "u:{s}@h"  # a harmless name needs a credential-looking value
        # a password may hold any character; a token's shape (ghp_..., sk-..., a long
        # mixed word) is word characters only, so its tail is drawn from those
        tail = "abcd" if shape in TOKEN_SHAPES else "ab cd@:/"
        env[name] = shape.format(s=SECRET + draw(st.text(alphabet=tail, max_size=4)))
    return env


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(env=secret_environments(), urls=st.lists(st.sampled_from(URL_SHAPES), min_size=1))
def test_secrets_reach_no_output(
    env: dict[str, str], urls: list[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Random secret-bearing variables and --db URLs: the secret is in none of show, runs,
    export (csv, json, parquet), the report, stderr, nor the database file's bytes."""
    from results.environment import environment_info
    from results.redact import redact_argv
    from results.store import open_store
    from tests.support.outputs import every_output
    from tests.support.store import fake_machine, measurement

    folder = tmp_path_factory.mktemp("secrets")
    argv = ["resnet-bench", "run"]
    for u in urls:
        argv += ["--db", u.format(s=SECRET), f"--db={u.format(s=SECRET)}"]
    url = f"sqlite:///{folder / 'r.sqlite'}"
    with open_store(url) as store:
        run_id = store.begin_run(
            label="secrets", command=redact_argv(argv), profile="smoke", source="cli",
            machine=fake_machine(), environment=environment_info(env=env),
        )  # fmt: skip
        store.add_result(run_id, measurement())
        store.finish_run(run_id)
    assert SECRET not in every_output(url, folder)
    for u in urls[:2]:  # and a refused connection's error line
        code, err = _main(["runs", "--db", u.format(s=SECRET).replace("@h", "@127.0.0.1:1")])
        assert code == 2 and SECRET not in err, err
