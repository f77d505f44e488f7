"""pytest-benchmark integration: `pytest --benchmark-only` times the suite's cases.

Cases come from a profile (default: depth 50, batch 1, torch and TensorFlow, inference, CPU),
narrowed with --resnet-* options. Each benchmark calls the runners' own step and sync, so a
round ends only when the device is done, after the runners' warm-up. Our machine metadata
goes into pytest-benchmark's machine_info, and the session's results are stored as one run
(source 'pytest') in the result database, so `resnet-bench report` and `compare` see them.
Without --benchmark-only these benchmarks are skipped (the unit tests stay fast).
"""

from __future__ import annotations

import contextlib
import shlex
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from time import perf_counter_ns
from typing import Any

import pytest

from runners.base import Runner
from runners.measurement import Measurement
from runners.timing import SamplingPolicy, timed_step, warm_up
from suite.case import FRAMEWORKS, Case, CaseError
from suite.profiles import ProfileError, load_profile

MARK = "resnet_benchmark"
DEFAULT_AXES: dict[str, Any] = {
    "frameworks": ["torch", "tensorflow"],
    "depths": [50],
    "batch_sizes": [1],
    "devices": ["cpu"],
    "modes": ["inference"],
    "precisions": ["fp32"],
}

CASES = pytest.StashKey[list[Case]]()  # the session's cases, from --resnet-* options
MEASURED = pytest.StashKey[list[Measurement]]()  # its results, stored at the session's end


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("resnet-bench", "resnet-bench benchmarks (with --benchmark-only)")
    group.addoption(
        "--resnet-profile",
        metavar="NAME|PATH",
        help="profile whose cases are benchmarked (default: depth 50, batch 1, "
        "torch and TensorFlow, inference, CPU)",
    )
    group.addoption("--resnet-depths", metavar="LIST", help="comma list, e.g. 50,101")
    group.addoption(
        "--resnet-frameworks", metavar="LIST", help=f"comma list of {','.join(FRAMEWORKS)}"
    )
    group.addoption("--resnet-batch-sizes", metavar="LIST", help="comma list, e.g. 1,8")
    group.addoption("--resnet-device", metavar="DEVICE", help="cpu, cuda or cuda:N")
    group.addoption("--resnet-image-size", metavar="N", type=int, help="pixels per side")
    group.addoption(
        "--resnet-db",
        metavar="URL",
        help="result database for the session's run (default: as resnet-bench run)",
    )
    group.addoption(
        "--resnet-no-store",
        action="store_true",
        help="do not store the session's results in the result database",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARK}: a resnet-bench case timed by pytest-benchmark")
    # Checked here, so a bad --resnet-* value is a usage error (exit 4), not a collection error.
    config.stash[CASES] = selected_cases(config)
    config.stash[MEASURED] = []


def _split(text: str | None, kind: Callable[[str], Any]) -> list[Any] | None:
    if text is None:
        return None
    try:
        return [kind(t.strip()) for t in text.split(",") if t.strip()]
    except ValueError:
        raise pytest.UsageError(f"not a comma list of integers: {text!r}") from None


def selected_cases(config: pytest.Config) -> list[Case]:
    opt = config.getoption
    try:
        name = opt("--resnet-profile")
        profile = load_profile(name) if name else None
        axes = dict(profile.axes) if profile else dict(DEFAULT_AXES)
        overrides = {
            "frameworks": _split(opt("--resnet-frameworks"), str),
            "depths": _split(opt("--resnet-depths"), int),
            "batch_sizes": _split(opt("--resnet-batch-sizes"), int),
            "devices": [opt("--resnet-device")] if opt("--resnet-device") else None,
            "image_size": opt("--resnet-image-size"),
        }
        base = profile or load_profile("quick")
        return base.with_overrides(**{**axes, **{k: v for k, v in overrides.items() if v}}).cases()
    except (ProfileError, CaseError) as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "resnet_case" in metafunc.fixturenames:
        cases = metafunc.config.stash[CASES]
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


@dataclass
class ResnetStep:
    """One case's step + sync, built in this process and warmed up: what pytest-benchmark
    calls, and what the stored result says about how it ran."""

    case: Case
    runner: Runner
    threads: tuple[int, int] | None  # read back; None where the framework would not set them
    warmup_steps: int

    def __call__(self) -> None:
        self.runner.sync(self.runner.step())

    def measurement(self, rounds_s: list[float]) -> Measurement:
        """pytest-benchmark's rounds as the case's result, started as a worker starts it."""
        from runners.worker import add_peak_memory, new_measurement

        m = new_measurement(self.runner, self.case, self.threads)
        m.samples_ns = [int(t * 1e9) for t in rounds_s]
        m.sample_process = [0] * len(m.samples_ns)
        m.warmup_steps = self.warmup_steps
        m.sync = self.runner.sync_method
        m.details = {**self.runner.details(), "harness": "pytest-benchmark"}
        add_peak_memory(m, self.runner, None)
        return m


@pytest.fixture
def resnet_step(resnet_case: Case) -> Iterator[ResnetStep]:
    """The runner's step + sync for the case, built in this process and warmed up."""
    from runners.registry import get_runner, missing, unsupported

    try:
        runner = get_runner(resnet_case.framework)
    except ImportError as exc:
        pytest.skip(missing(resnet_case.framework) or f"{resnet_case.framework}: {exc}")
    # The frameworks share this process; a pool already started keeps its size, so the
    # counts stored are the ones read back (None if the framework refused to say).
    threads: tuple[int, int] | None = None
    with contextlib.suppress(RuntimeError):
        threads = runner.set_threads(resnet_case.threads, resnet_case.interop_threads)
    reason = unsupported(runner, resnet_case)
    if reason is not None:
        pytest.skip(reason)
    runner.build(resnet_case)
    # The runners' own warm-up rule: tracing/compilation/autotuning is over before timing.
    warmup, _stable = warm_up(
        timed_step(runner.step, runner.sync), SamplingPolicy(), perf_counter_ns
    )
    yield ResnetStep(resnet_case, runner, threads, len(warmup))


@pytest.fixture
def resnet_benchmark(
    request: pytest.FixtureRequest, benchmark: Any, resnet_step: ResnetStep
) -> Iterator[Callable[[], Any]]:
    """Run pytest-benchmark on the case's step and keep the raw rounds for the store."""
    benchmark.extra_info.update(resnet_step.case.to_dict())

    def go() -> Any:
        return benchmark(resnet_step)

    yield go
    stats = getattr(benchmark, "stats", None)
    if stats is not None and getattr(stats, "stats", None) is not None:
        measured = request.config.stash[MEASURED]
        measured.append(resnet_step.measurement(list(stats.stats.data)))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The session's results stored as one run (source 'pytest'), like `resnet-bench run`
    stores its own: the same database rule (--resnet-db, $RESNET_BENCH_DB,
    $RESNET_BENCH_OUTPUT) and the same run context."""
    config = session.config
    measured = config.stash.get(MEASURED, [])
    if not measured or config.getoption("--resnet-no-store"):
        return
    from results.engine import StoreError
    from results.redact import redact
    from results.store import open_store
    from suite.cli.common import default_db_url
    from suite.session import store_measured

    url = default_db_url(config.getoption("--resnet-db"))
    try:
        with open_store(url) as store:
            run_id = store_measured(
                store,
                measured,
                profile=config.getoption("--resnet-profile") or "pytest-default",
                command=redact(shlex.join(["pytest", *config.invocation_params.args])),
                source="pytest",
                log=lambda _msg: None,
            )
    except StoreError as exc:
        sys.stderr.write(f"resnet-bench: results not stored: {exc}\n")
        return
    sys.stderr.write(f"\nresnet-bench: stored {len(measured)} result(s) as run {run_id} in {url}\n")
