"""The timing loop against a fake asynchronous device on a virtual clock."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from vocab.sampling import SamplingPolicy, time_steps


@dataclass
class FakeDevice:
    """Launches return at once; work finishes on the device later, like CUDA kernels.

    The virtual clock only moves when the host waits for the device (sync) or does host work,
    so a timer that forgets to sync sees steps of ~0 s.
    """

    step_s: list[float]
    now_ns: int = 0
    busy_until_ns: int = 0
    launches: int = 0
    host_overhead_ns: int = 1_000
    syncs: list[int] = field(default_factory=list)

    def clock(self) -> int:
        return self.now_ns

    def step(self) -> int:
        self.now_ns += self.host_overhead_ns
        duration = self.step_s[min(self.launches, len(self.step_s) - 1)]
        start = max(self.now_ns, self.busy_until_ns)
        self.busy_until_ns = start + int(duration * 1e9)
        self.launches += 1
        return self.launches

    def sync(self, _output: object) -> None:
        self.now_ns = max(self.now_ns, self.busy_until_ns)
        self.syncs.append(self.now_ns)


QUICK = SamplingPolicy(min_samples=10, min_time_s=1.0, max_time_s=60.0)


def test_timer_waits_for_the_device() -> None:
    dev = FakeDevice(step_s=[0.100])
    t = time_steps(dev.step, dev.sync, QUICK, clock=dev.clock)
    assert all(s == 100_000_000 + dev.host_overhead_ns for s in t.samples_ns)


def test_without_sync_the_same_loop_would_report_almost_nothing() -> None:
    dev = FakeDevice(step_s=[0.100])
    t = time_steps(
        dev.step, lambda _o: None, SamplingPolicy(min_samples=10, min_time_s=0.0), clock=dev.clock
    )
    assert max(t.samples_ns) == dev.host_overhead_ns  # what the source script would trust


def test_warmup_excluded_and_first_step_kept() -> None:
    # Compilation on the first step, autotuning on the next two, then steady 50 ms.
    dev = FakeDevice(step_s=[5.0, 0.5, 0.2, 0.05])
    t = time_steps(dev.step, dev.sync, QUICK, clock=dev.clock)
    assert t.first_step_ns == pytest.approx(5e9, rel=1e-3)
    assert t.warmup_stable
    # Settled once the last 3 steps' median equals the median of the 3 before them:
    # 5.0 | 0.5 0.2 0.05 | 0.05 0.05 0.05 fails (0.2 before), one more step passes.
    assert len(t.warmup_ns) == 8
    assert min(t.samples_ns) == max(t.samples_ns) == 50_000_000 + dev.host_overhead_ns


def test_min_samples_and_min_time() -> None:
    dev = FakeDevice(step_s=[0.010])  # 10 ms: 1 s of measured time needs ~100 samples
    t = time_steps(dev.step, dev.sync, QUICK, clock=dev.clock)
    assert sum(t.samples_ns) >= 1e9
    assert len(t.samples_ns) >= 10


def test_one_process_samples_its_budget_and_does_not_chase_the_ci() -> None:
    # Noisy steps: a per-process CI target would sample on; a process gives one value, so
    # it stops at min_samples and min_time, and precision comes from more processes.
    pattern = [0.1, 0.2, 0.3, 0.4]
    dev = FakeDevice(step_s=[0.1] * 8 + pattern * 1000)
    policy = SamplingPolicy(min_samples=4, min_time_s=1.0, max_time_s=3.0, ci_target=0.001)
    t = time_steps(dev.step, dev.sync, policy, clock=dev.clock)
    assert 1.0 <= sum(t.samples_ns) / 1e9 < 1.5


def test_warmup_lasts_a_minimum_time_longer_on_a_gpu() -> None:
    for device, floor in (("cpu", 0.5), ("cuda", 2.0)):
        dev = FakeDevice(step_s=[0.01])
        policy = SamplingPolicy(min_time_s=0.0, min_warmup_time_s=0.5, max_warmup=1000)
        t = time_steps(dev.step, dev.sync, policy, clock=dev.clock, device=device)
        assert floor <= sum(t.warmup_ns[1:]) / 1e9 < floor + 0.05, device
        assert t.warmup_stable


def test_each_step_start_is_kept_on_the_epoch_clock() -> None:
    import time

    dev = FakeDevice(step_s=[0.1])
    before = time.time_ns()
    t = time_steps(dev.step, dev.sync, QUICK, clock=dev.clock)
    assert len(t.starts_ns) == len(t.samples_ns)
    gaps = [b - a for a, b in zip(t.starts_ns, t.starts_ns[1:], strict=False)]
    assert all(g == 100_000_000 + dev.host_overhead_ns for g in gaps)
    assert abs(t.starts_ns[0] - before) < 60e9  # an epoch time, not a perf counter


def test_a_long_compilation_still_gets_the_minimum_warmup() -> None:
    # torch.compile on a small CPU: the first step outlasts the whole warm-up cap.
    dev = FakeDevice(step_s=[100.0, 0.5, 0.05])
    policy = SamplingPolicy(warmup_cap_s=30.0, min_time_s=0.0)
    t = time_steps(dev.step, dev.sync, policy, clock=dev.clock)
    assert len(t.warmup_ns) >= policy.min_warmup + 1 and t.warmup_stable
    assert t.first_step_ns == pytest.approx(100e9, rel=1e-3)
    assert max(t.samples_ns) < 0.06e9


def test_warmup_cap_when_never_stable() -> None:
    dev = FakeDevice(step_s=[0.1, 0.3] * 100)
    policy = SamplingPolicy(max_warmup=7, min_time_s=0.0)
    t = time_steps(dev.step, dev.sync, policy, clock=dev.clock)
    assert len(t.warmup_ns) == 7 and not t.warmup_stable


@pytest.mark.parametrize(
    "bad",
    [
        {"min_samples": 0},
        {"max_time_s": -1.0},
        {"max_time_s": float("nan")},
        {"min_warmup": 0},
        {"min_processes": 0},
        {"min_samples": 2.5},
        {"max_processes": True},
    ],
)
def test_policy_validation(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        SamplingPolicy(**bad)  # type: ignore[arg-type]


def test_policy_max_processes_below_min_is_refused() -> None:
    with pytest.raises(ValueError, match="max_processes"):
        SamplingPolicy(min_processes=5, max_processes=3)


def test_policy_unknown_key_names_it() -> None:
    with pytest.raises(ValueError, match="bogus"):
        SamplingPolicy.from_dict({"bogus": 1})


def test_pipelined_groups_hide_the_host_round_trip() -> None:
    """One sync per step pays the host's launch time on top of the device's; one sync per
    k steps overlaps them, so the device's own rate shows."""
    dev = FakeDevice(step_s=[0.005], host_overhead_ns=1_000_000)
    policy = SamplingPolicy(min_samples=10, min_time_s=0.0, pipeline_groups=4)
    t = time_steps(dev.step, dev.sync, policy, clock=dev.clock, pipeline=10)
    assert set(t.samples_ns) == {6_000_000}  # launch + device, per step
    assert t.pipeline_steps == 10
    # the group's first launch, then ten device steps back to back
    assert t.pipelined_ns == [(1_000_000 + 10 * 5_000_000) // 10] * 4
    plain = time_steps(dev.step, dev.sync, policy, clock=dev.clock)
    assert plain.pipeline_steps is None and plain.pipelined_ns == []
