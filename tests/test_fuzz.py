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

from suite.case import CaseError
from suite.profiles import LIST_AXES, RUN_KEYS, SCALAR_AXES, ProfileError, parse_profile
from suite.session import Plan

EXAMPLES = settings(
    max_examples=150,
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
