"""The answer the report and the terminal lead with: headlines from framework_comparison's
rows, and the decision table's tiers (what the test cannot tell apart is grouped)."""

from __future__ import annotations

import numpy as np

from results import analysis, answer
from tests.support.frames import Frames, steps


def _processes(median_s: float, offsets: list[float], n: int = 8) -> list[float]:
    """n steps per process, each process offset by its share (the between-process spread)."""
    return [x for o in offsets for x in steps(median_s * (1.0 + o), n=n, spread=0.002, seed=7)]


def _run(torch_s: float, tf_s: float, jax_s: float | None = None) -> Frames:
    rng = np.random.default_rng(3)
    f = Frames().run(1)
    sides = [("torch", torch_s), ("tensorflow", tf_s)] + ([("jax", jax_s)] if jax_s else [])
    for fw, step in sides:
        for batch in (1, 8):
            offsets = list(rng.normal(0.0, 0.01, 5))
            f.result(1, fw, 50, batch, _processes(step * batch**0.8, offsets))
    return f


def test_headline_names_the_faster_side_with_its_ci_and_tally() -> None:
    f = _run(0.010, 0.012)
    heads, _table = answer.run_answer(f.results(), f.samples())
    [head] = heads
    assert head.baseline == "torch/eager" and head.other == "tensorflow/graph"
    assert head.text.startswith("torch eager vs tensorflow graph on bench-host")
    assert "torch 1.2" in head.text and "faster at ResNet-50 batch " in head.text
    assert "torch faster in 2, tensorflow faster in 0, not told apart in 0" in head.text


def test_headline_without_a_difference_says_so() -> None:
    f = _run(0.010, 0.0101)
    [head] = answer.run_answer(f.results(), f.samples())[0]
    assert "no difference beyond ±3% shown" in head.text and "not told apart in 2" in head.text


def test_decision_table_groups_what_cannot_be_told_apart() -> None:
    f = _run(0.010, 0.0101, jax_s=0.013)
    _heads, table = answer.run_answer(f.results(), f.samples())
    assert [(d.label, d.tier) for d in table] == [
        ("torch/eager fp32", 1),
        ("tensorflow/graph fp32", 1),
        ("jax/jit fp32", 2),
    ]
    assert table[1].indistinguishable_from == "torch/eager fp32"
    assert table[0].indistinguishable_from == "" and table[2].indistinguishable_from == ""
    # throughput is best at batch 8 (steps grow as batch^0.8), latency at batch 1
    assert all(d.throughput_batch == 8 and d.latency_batch == 1 for d in table)


def test_decision_lines_are_the_terminal_text() -> None:
    f = _run(0.010, 0.012)
    lines = answer.answer_lines(*answer.run_answer(f.results(), f.samples()))
    assert lines[1].startswith("ResNet-50 cpu inference 224px, 2 threads: best throughput")
    assert lines[2].startswith("  1. torch/eager fp32: ") and "at batch 8;" in lines[2]
    assert lines[3].startswith("  2. tensorflow/graph fp32: ")


def test_failed_cases_stay_out_of_the_answer() -> None:
    f = _run(0.010, 0.012)
    f.result(1, "torch", 50, 64, status="oom", reason="out of memory")
    _heads, table = answer.run_answer(f.results(), f.samples())
    assert all(d.throughput_batch != 64 for d in table)
    assert len(analysis.summary(f.results())) == 5
