"""pytest-benchmark integration: `pytest --benchmark-only` times the suite's cases.

Cases come from a profile (default: depth 50, batch 1, both frameworks, inference, CPU),
narrowed with --resnet-* options. Each benchmark calls the runners' own step and sync, so a
round ends only when the device is done, after the runners' warm-up. Our machine metadata
goes into pytest-benchmark's machine_info, and the session's results are stored as one run
(source 'pytest') in the result database, so `resnet-bench report` and `compare` see them.
Without --benchmark-only these benchmarks are skipped (the unit tests stay fast).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from collections.abc import Callable, Iterator
from time import perf_counter_ns
from typing import Any

import pytest

from runners.timing import SamplingPolicy, timed_step, warm_up
from suite.case import Case, CaseError
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

_MEASURED: list[Any] = []  # Measurements of this session, stored at its end


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("resnet-bench", "resnet-bench benchmarks (with --benchmark-only)")
    group.addoption(
        "--resnet-profile",
        metavar="NAME|PATH",
        help="profile whose cases are benchmarked (default: depth 50, batch 1, "
        "both frameworks, inference, CPU)",
    )
    group.addoption("--resnet-depths", metavar="LIST", help="comma list, e.g. 50,101")
    group.addoption("--resnet-frameworks", metavar="LIST", help="comma list: torch,tensorflow")
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


CASES = pytest.StashKey[list[Case]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARK}: a resnet-bench case timed by pytest-benchmark")
    # Checked here, so a bad --resnet-* value is a usage error (exit 4), not a collection error.
    config.stash[CASES] = selected_cases(config)


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


@pytest.fixture
def resnet_step(resnet_case: Case) -> Iterator[Callable[[], None]]:
    """The runner's step + sync for the case, built in this process and warmed up."""
    from runners.registry import get_runner

    try:
        runner = get_runner(resnet_case.framework)
    except ImportError as exc:
        pytest.skip(f"{resnet_case.framework} not installed: {exc}")
    # Both frameworks share this process; a pool already started keeps its size, so the
    # counts stored are the ones read back (None if the framework refused to say).
    threads: tuple[int, int] | None = None
    with contextlib.suppress(RuntimeError):
        threads = runner.set_threads(resnet_case.threads, resnet_case.interop_threads)
    reason = runner.unsupported(resnet_case)
    if reason is not None:
        pytest.skip(reason)
    runner.build(resnet_case)

    def step() -> None:
        runner.sync(runner.step())

    # The runners' own warm-up rule: tracing/compilation/autotuning is over before timing.
    warmup, _stable = warm_up(
        timed_step(runner.step, runner.sync), SamplingPolicy(), perf_counter_ns
    )
    step.runner = runner  # type: ignore[attr-defined]
    step.threads = threads  # type: ignore[attr-defined]
    step.warmup_steps = len(warmup)  # type: ignore[attr-defined]
    yield step


@pytest.fixture
def resnet_benchmark(
    benchmark: Any, resnet_case: Case, resnet_step: Callable[[], None]
) -> Iterator[Callable[[], Any]]:
    """Run pytest-benchmark on the case's step and keep the raw rounds for the store."""
    benchmark.extra_info.update(resnet_case.to_dict())

    def go() -> Any:
        return benchmark(resnet_step)

    yield go
    stats = getattr(benchmark, "stats", None)
    if stats is not None and getattr(stats, "stats", None) is not None:
        _MEASURED.append(_measurement(resnet_case, resnet_step, list(stats.stats.data)))


def _measurement(case: Case, step: Callable[[], None], rounds_s: list[float]) -> Any:
    from runners.measurement import Measurement
    from suite.spec import gmacs

    runner = step.runner  # type: ignore[attr-defined]
    peak = runner.peak_memory()
    return Measurement(
        case=case,
        samples_ns=[int(t * 1e9) for t in rounds_s],
        warmup_steps=step.warmup_steps,  # type: ignore[attr-defined]
        sync=runner.sync_method,
        threads_intra=None if step.threads is None else step.threads[0],  # type: ignore[attr-defined]
        threads_inter=None if step.threads is None else step.threads[1],  # type: ignore[attr-defined]
        peak_memory_bytes=None if peak is None else peak[0],
        memory_kind=None if peak is None else peak[1],
        gmacs_per_image=gmacs(case.depth, case.image_size, case.num_classes),
        framework_version=runner.version(),
        details={**runner.details(), "harness": "pytest-benchmark"},
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if not _MEASURED or config.getoption("--resnet-no-store"):
        return
    from results.engine import StoreError
    from results.redact import redact
    from results.store import open_store
    from suite.cli.common import DB_ENV, DB_FILENAME, DEFAULT_OUTPUT
    from suite.session import Plan, gather_context, recorded_run

    url = config.getoption("--resnet-db") or os.environ.get(DB_ENV)
    url = url or f"sqlite:///{os.path.join(DEFAULT_OUTPUT, DB_FILENAME)}"
    measured = list(_MEASURED)
    _MEASURED.clear()
    try:
        store = open_store(url)
    except StoreError as exc:
        sys.stderr.write(f"resnet-bench: results not stored: {exc}\n")
        return
    plan = Plan(
        cases=[m.case for m in measured],
        policy=SamplingPolicy(),
        timeout_s=0.0,
        profile=config.getoption("--resnet-profile") or "pytest-default",
        command=redact(shlex.join(["pytest", *config.invocation_params.args])),
        source="pytest",
    )
    context = gather_context(plan.cases, lambda _msg: None)
    with recorded_run(store, plan, context) as run_id:
        for m in measured:
            store.add_result(run_id, m)
    sys.stderr.write(f"\nresnet-bench: stored {len(measured)} result(s) as run {run_id} in {url}\n")
