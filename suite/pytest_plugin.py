"""pytest-benchmark integration: `pytest --benchmark-only` times the suite's cases.

Cases come from a profile (default: depth 50, batch 1, `quick`'s frameworks, inference, CPU,
with `quick`'s sampling), narrowed with --resnet-* options, each checked at configure time
(a bad value is one line and pytest's usage-error exit, 4).

How a session measures, and why this way. The process is the unit of replication
(vocab.stats): a value and its CI come from several fresh processes, interleaved with
the other cases' processes. So the session measures exactly as `resnet-bench run` does:
when the first benchmark needs a result, every case the session will run (after -k and
deselection) goes through suite.session.execute, in the profile's sampling policy
(min_processes ... max_processes fresh worker processes per case, shuffled interleaved
rounds, each case committed as it finishes), stored as one run with source 'pytest'.
Measuring case by case inside each test would run one case's processes back to back, so
drift on the machine would hit one case and not the next; a second, in-process loop for
pytest-benchmark would time something else than what is stored (one process, every
framework in one interpreter) and double the time.

Each benchmark then gives pytest-benchmark the steps of its case: `benchmark.pedantic` with
one round per timed worker step, through the `timer` option of pytest-benchmark's own
`benchmark` marker set to a replay clock (WorkerSteps) whose ticks are those steps. So its
statistics, `--benchmark-json`, `--benchmark-compare` and `--benchmark-histogram` describe
the very steps the store holds (all processes pooled); the per-process values, the case
value and its CI go into each benchmark's extra_info. pytest-benchmark's own round and time
options (--benchmark-min-rounds, --benchmark-max-time, ...) do not apply: the profile's
sampling policy does. The pytest process itself imports no framework.

A case that ends `skipped` (a mode the framework cannot run, no CUDA, a framework not
installed) is reported as skipped with its reason; one that ends error/oom/timeout is an
error at setup with its reason.
Without --benchmark-only these benchmarks are skipped (the unit tests stay fast).
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from typing import Any

import pytest

from suite.profiles import Profile, ProfileError, load_profile
from vocab.case import FRAMEWORKS, Case, CaseError
from vocab.measurement import Measurement
from vocab.runtimes import joining, titles
from vocab.spec import DEPTHS

MARK = "resnet_benchmark"
DEFAULT_PROFILE = "pytest-default"  # the run's profile name without --resnet-profile
DEFAULT_AXES: dict[str, Any] = {
    "frameworks": list(joining("quick")),
    "depths": [50],
    "batch_sizes": [1],
    "devices": ["cpu"],
    "modes": ["inference"],
    "precisions": ["fp32"],
}

SESSION = pytest.StashKey["BenchSession"]()  # the session's profile, database and results


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("resnet-bench", "resnet-bench benchmarks (with --benchmark-only)")
    group.addoption(
        "--resnet-profile",
        metavar="NAME|PATH",
        help="profile whose cases and sampling policy are used (default: depth 50, batch 1, "
        f"{titles(joining('quick'))}, inference, CPU, sampled as quick)",
    )
    group.addoption(
        "--resnet-depths", metavar="LIST", help=f"comma list of {', '.join(map(str, DEPTHS))}"
    )
    group.addoption(
        "--resnet-frameworks", metavar="LIST", help=f"comma list of {', '.join(FRAMEWORKS)}"
    )
    group.addoption(
        "--resnet-batch-sizes", metavar="LIST", help="comma list of positive integers, e.g. 1,8"
    )
    group.addoption("--resnet-device", metavar="DEVICE", help="cpu, cuda or cuda:N")
    group.addoption("--resnet-image-size", metavar="N", help="pixels per side, a positive integer")
    group.addoption(
        "--resnet-db",
        metavar="URL",
        help="result database for the session's run (default: as resnet-bench run)",
    )
    group.addoption(
        "--resnet-no-store",
        action="store_true",
        help="measure in a scratch database that is deleted at the end",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARK}: a resnet-bench case timed by pytest-benchmark")
    # Checked here, so a bad --resnet-* value is a usage error (exit 4), not a collection error.
    config.stash[SESSION] = BenchSession(selected_profile(config), database_url(config))


def pytest_unconfigure(config: pytest.Config) -> None:
    bench = config.stash.get(SESSION, None)
    if bench is not None:
        bench.close()


# --- the options ---------------------------------------------------------------------------


def _given(config: pytest.Config, name: str) -> str | None:
    """An option's text, None when not given; given but empty is refused."""
    value = config.getoption(name)
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        raise pytest.UsageError(f"{name}: empty value; give {_ALLOWED[name]}")
    return text


_ALLOWED = {
    "--resnet-profile": "a built-in profile name or a TOML file",
    "--resnet-depths": f"a comma list of {', '.join(map(str, DEPTHS))}",
    "--resnet-frameworks": f"a comma list of {', '.join(FRAMEWORKS)}",
    "--resnet-batch-sizes": "a comma list of positive integers",
    "--resnet-device": "cpu, cuda or cuda:N",
    "--resnet-image-size": "a positive integer",
    "--resnet-db": "a SQLAlchemy URL, e.g. sqlite:///out/results.sqlite",
}


def _list(config: pytest.Config, name: str, kind: Callable[[str], Any]) -> list[Any] | None:
    text = _given(config, name)
    if text is None:
        return None
    items = [t.strip() for t in text.split(",")]
    if not all(items):
        raise pytest.UsageError(f"{name} {text!r}: an empty item; give {_ALLOWED[name]}")
    try:
        return [kind(t) for t in items]
    except ValueError:
        raise pytest.UsageError(f"{name} {text!r}: not {_ALLOWED[name]}") from None


def selected_profile(config: pytest.Config) -> Profile:
    """The profile with the --resnet-* options applied; each bad option is a UsageError
    naming the option, its value and what is allowed."""
    name = _given(config, "--resnet-profile")
    try:
        profile = load_profile(name) if name else None
    except ProfileError as exc:
        raise pytest.UsageError(f"--resnet-profile: {exc}") from None
    base = profile or load_profile("quick")
    if profile is None:
        base = base.with_overrides(**DEFAULT_AXES)
    image = _given(config, "--resnet-image-size")
    try:
        size = None if image is None else int(image)
    except ValueError:
        raise pytest.UsageError(f"--resnet-image-size {image!r}: not a positive integer") from None
    device = _given(config, "--resnet-device")
    overrides = {
        "--resnet-frameworks": ("frameworks", _list(config, "--resnet-frameworks", str)),
        "--resnet-depths": ("depths", _list(config, "--resnet-depths", int)),
        "--resnet-batch-sizes": ("batch_sizes", _list(config, "--resnet-batch-sizes", int)),
        "--resnet-device": ("devices", None if device is None else [device]),
        "--resnet-image-size": ("image_size", size),
    }
    for option, (axis, value) in overrides.items():
        if value is not None:  # each on its own first, so the message names the option
            try:
                base.with_overrides(**{axis: value})
            except (ProfileError, CaseError) as exc:
                raise pytest.UsageError(f"{option} {config.getoption(option)!r}: {exc}") from None
    try:
        chosen = base.with_overrides(**dict(overrides.values()))
        chosen.cases()  # e.g. a framework left without an execution of the profile's
    except (ProfileError, CaseError) as exc:
        raise pytest.UsageError(str(exc)) from None
    return chosen if profile else dataclasses.replace(chosen, name=DEFAULT_PROFILE)


def database_url(config: pytest.Config) -> str | None:
    """The database the session's run goes to (None with --resnet-no-store), refused now if
    it cannot be one: unparsable, an unknown dialect, a driver not installed, in memory.
    A given --resnet-db is always checked; the default ($RESNET_BENCH_DB, the output
    folder) only where benchmarks run, so a unit-test session never depends on it."""
    from results.engine import StoreError, check_url
    from suite.cli.common import UsageError, default_db_url
    from suite.cli.run_cmd import refuse_memory_database

    given = _given(config, "--resnet-db")
    url = default_db_url(given)
    if given is None and not config.getoption("benchmark_only", default=False):
        return url
    try:
        check_url(url)
        refuse_memory_database(url)
    except (StoreError, UsageError) as exc:
        raise pytest.UsageError(f"--resnet-db: {str(exc).replace('--db ', '', 1)}") from None
    return None if config.getoption("--resnet-no-store") else url


# --- collection ----------------------------------------------------------------------------


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "resnet_case" in metafunc.fixturenames:
        cases = metafunc.config.stash[SESSION].profile.cases()
        ids = [c.label().replace(" ", "-") for c in cases]
        metafunc.parametrize("resnet_case", cases, ids=ids, scope="function")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("benchmark_only", default=False):
        # pytest-benchmark would skip every unit test one by one; deselect them instead.
        keep = [i for i in items if "benchmark" in getattr(i, "fixturenames", ())]
        dropped = [i for i in items if i not in keep]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep
        return
    skip = pytest.mark.skip(reason="resnet-bench benchmark: run with pytest --benchmark-only")
    for item in items:
        if MARK in item.keywords:
            item.add_marker(skip)


def pytest_benchmark_update_machine_info(
    config: pytest.Config, machine_info: dict[str, Any]
) -> None:
    from runners.host import machine_info as capture

    machine_info["resnet_bench"] = capture()


# --- the session's run ---------------------------------------------------------------------


@dataclass
class BenchSession:
    """The session's profile and database, and its run once measured."""

    profile: Profile
    url: str | None  # None: --resnet-no-store, a scratch database
    run_id: int | None = None
    stored_url: str | None = None  # masked, for the summary line
    results: dict[Case, Measurement] = field(default_factory=dict)
    _resources: ExitStack = field(default_factory=ExitStack)

    def measure(self, cases: Sequence[Case], config: pytest.Config) -> dict[Case, Measurement]:
        """Every case in fresh worker processes, interleaved as `resnet-bench run` does,
        stored as one run (source 'pytest')."""
        from results.engine import StoreError
        from results.redact import redact
        from results.store import open_store
        from suite.cli.common import workers_output
        from suite.session import Plan, execute

        url = self.url
        if url is None:
            scratch = self._resources.enter_context(tempfile.TemporaryDirectory())
            url = f"sqlite:///{scratch}/results.sqlite"
        plan = Plan(
            cases=list(cases),
            policy=self.profile.sampling,
            timeout_s=self.profile.timeout_s,
            profile=self.profile.name,
            command=redact(shlex.join(["pytest", *config.invocation_params.args])),
            source="pytest",
        )
        try:
            store = self._resources.enter_context(open_store(url))
            with workers_output(argparse.Namespace()):
                self.run_id, measured = execute(store, plan, ui=PytestProgress(config))
        except StoreError as exc:  # one line, not a traceback under every benchmark
            pytest.exit(f"resnet-bench: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
        self.stored_url = store.url if self.url is not None else None
        self.results = {m.case: m for m in measured}
        return self.results

    def close(self) -> None:
        self._resources.close()


def session_cases(session: pytest.Session) -> list[Case]:
    """The cases of the benchmarks this session runs, once each, in collection order."""
    cases: dict[Case, None] = {}
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        case = None if callspec is None else callspec.params.get("resnet_case")
        if isinstance(case, Case):
            cases[case] = None
    return list(cases)


class PytestProgress:
    """suite.session's UI: one line per event on the terminal, past pytest's capture."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.total = 0
        self.done = 0

    def log(self, message: str) -> None:
        capman = self.config.pluginmanager.get_plugin("capturemanager")
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        line = f"resnet-bench: {message}"
        with capman.global_and_fixture_disabled() if capman else nullcontext():
            if reporter is not None:
                reporter.write_line(line)
            else:
                sys.stderr.write(line + "\n")

    def start(self, total: int) -> None:
        self.total = total

    def case_started(self, case: Case) -> None:
        # A worker of one framework starts (its first case named): a round can take minutes.
        self.log(f"{case.framework} worker: {case.label()} ...")

    def case_done(self, m: Measurement) -> None:
        from results.format import fmt_ci, ms

        self.done += 1
        stats = m.stats()
        what = (
            f"{fmt_ci(ms(stats.value_s), ms(stats.ci_low_s), ms(stats.ci_high_s))} ms/step, "
            f"{stats.processes} processes"
            if stats is not None
            else f"{m.status}: {m.reason}"
        )
        self.log(f"[{self.done}/{self.total}] {m.case.label()}: {what}")

    def add_cases(self, count: int) -> None:
        self.total += count

    def stop(self) -> None:
        pass


@pytest.fixture(scope="session")
def resnet_results(request: pytest.FixtureRequest) -> dict[Case, Measurement]:
    """Every case of the session, measured once, when the first benchmark asks."""
    if request.config.getoption("benchmark_disable", default=False):
        pytest.skip("--benchmark-disable: resnet-bench measures nothing")
    return request.config.stash[SESSION].measure(session_cases(request.session), request.config)


@pytest.fixture
def resnet_result(
    request: pytest.FixtureRequest, resnet_case: Case, resnet_results: dict[Case, Measurement]
) -> Measurement:
    """The case's measurement. A skipped case skips here and a failed one fails here,
    before pytest-benchmark's fixture exists (so neither ends as 'fixture was not used')."""
    m = resnet_results[resnet_case]
    if m.status == "skipped":
        pytest.skip(f"{resnet_case.label()}: {m.reason}")
    if m.status != "ok" or not m.samples_ns:
        pytest.fail(f"{resnet_case.label()}: {m.status}: {m.reason}", pytrace=False)
    # pytest-benchmark's own marker option: its clock replays this case's worker steps.
    marker = request.node.get_closest_marker("benchmark")
    options = {**(marker.kwargs if marker else {}), "timer": WorkerSteps(m)}
    request.node.add_marker(pytest.mark.benchmark(**options), append=False)
    return m


@pytest.fixture
def resnet_benchmark(
    request: pytest.FixtureRequest, resnet_result: Measurement, benchmark: Any
) -> Iterator[Callable[[], Any]]:
    """Hand pytest-benchmark the case's worker steps (one round each) and its evidence."""
    m = resnet_result
    clock = request.node.get_closest_marker("benchmark").kwargs["timer"]
    benchmark.extra_info.update(m.case.to_dict())

    def go() -> Any:
        stats = m.stats()
        assert stats is not None
        benchmark.extra_info.update(
            processes=stats.processes,
            value_s=stats.value_s,
            ci_low_s=stats.ci_low_s,
            ci_high_s=stats.ci_high_s,
            process_values_s=list(m.process_values_s().values()),
            stop_reason=m.stop_reason,
        )
        result = benchmark.pedantic(_no_op, rounds=len(m.samples_ns), iterations=1)
        if clock.rounds != len(m.samples_ns):  # its fixture was made before our marker
            pytest.fail(
                "pytest-benchmark timed without the worker steps: request resnet_benchmark "
                "and not benchmark itself",
                pytrace=False,
            )
        return result

    yield go


def _no_op() -> None:
    """What pytest-benchmark 'calls' per round: the step already ran in a worker."""


class WorkerSteps:
    """pytest-benchmark's clock for one case: each round's start reads 0 and its end the
    next step a worker timed, so a round's duration is that step, exactly."""

    def __init__(self, m: Measurement) -> None:
        self.__name__ = "worker_steps"  # what pytest-benchmark shows as the timer
        self._steps = iter([s / 1e9 for s in m.samples_ns])
        self._reads = 0

    def __call__(self) -> float:
        self._reads += 1  # odd: a round's start, even: its end
        return next(self._steps) if self._reads % 2 == 0 else 0.0

    @property
    def rounds(self) -> int:
        """Rounds read so far."""
        return self._reads // 2


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    bench = config.stash.get(SESSION, None)
    if bench is None or bench.run_id is None:
        return
    counts: dict[str, int] = {}
    for m in bench.results.values():
        counts[m.status] = counts.get(m.status, 0) + 1
    status = ", ".join(f"{n} {s}" for s, n in counts.items())
    if bench.stored_url:
        from suite.cli.common import default_db_url

        db = "" if bench.url == default_db_url() else f" --db {bench.stored_url}"
        where = (
            f"stored as run {bench.run_id} in {bench.stored_url} "
            f"(resnet-bench show {bench.run_id}{db})"
        )
    else:
        where = "not stored (--resnet-no-store)"
    terminalreporter.write_line(f"resnet-bench: {len(bench.results)} case(s) ({status}), {where}")
