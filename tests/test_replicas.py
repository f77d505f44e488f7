"""The replicas axis (issue 14): cases, profiles and CLI, what is skipped, per-rank values
merged, stored and reported (framework-neutral)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from results.scaling import replica_scaling, straggler
from results.store import open_store
from results.variances import store_run_variances, stored_run_variances
from runners import distributed
from runners.manager import run_round
from suite.profiles import ProfileError, expand, load_profile
from tests.support.ddp import TINY, train
from tests.support.store import begin
from vocab.case import Case, CaseError


def test_replicas_is_part_of_the_key_and_label_and_the_batch_is_per_replica() -> None:
    one, two = train(1), train(2)
    assert one.key() != two.key()
    assert two.global_batch == 4 and one.global_batch == 2
    assert two.label().endswith(" x2") and not one.label().endswith("x1")
    with pytest.raises(CaseError, match="replicas must be a positive integer, got 0"):
        train(0)


def test_profiles_and_the_cli_expand_replicas() -> None:
    axes = {"frameworks": ["torch"], "depths": [50], "batch_sizes": [2], "replicas": [1, 2]}
    assert [c.replicas for c in expand(axes)] == [1, 2]
    profile = load_profile("smoke").with_overrides(replicas=[1, 2, 4])
    assert {c.replicas for c in profile.cases()} == {1, 2, 4}
    with pytest.raises(ProfileError, match="replicas must be a positive integer"):
        load_profile("smoke").with_overrides(replicas=[0])
    bad = subprocess.run(
        [sys.executable, "-m", "suite", "run", "--replicas", "1,x", "--db", "sqlite://"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0
    assert "replicas must be a positive integer, got 'x'" in bad.stderr


def test_what_cannot_run_on_several_replicas_is_skipped_with_a_reason() -> None:
    assert distributed.unsupported(train(1)) is None
    assert distributed.unsupported(train(2)) is None
    assert "measured for training" in str(distributed.unsupported(train(2, mode="inference")))
    assert distributed.unsupported(Case("tensorflow", 50, 2, mode="training", replicas=2)) is None
    graphed = train(2, device="cuda", execution="cudagraph")
    assert "cudagraph" in str(distributed.unsupported(graphed))
    assert distributed.threads_per_rank(train(2, threads=2), 2) == 1
    assert distributed.threads_per_rank(train(4, threads=2), 4) == 1


@pytest.mark.slow  # a real worker imports torch (seconds)
def test_an_inference_case_with_replicas_is_skipped_by_the_worker() -> None:
    (m,) = run_round([train(2, mode="inference")], TINY, 0, [0], timeout_s=120)
    assert m.status == "skipped" and "training" in str(m.reason)


def test_stragglers_are_flagged_beyond_the_threshold() -> None:
    assert straggler([0.10, 0.125]) == "rank 1 +25%"
    assert straggler([0.10, 0.105]) is None
    assert straggler([0.10]) is None


def test_run_variances_keyed_before_a_case_field_existed_take_its_default(
    tmp_path: Path,
) -> None:
    with open_store(f"sqlite:///{tmp_path / 'r.sqlite'}") as store:
        machine = store.get_run(begin(store)).machine["id"]
        fields = ("framework", "depth", "batch_size", "device", "mode", "precision")
        old = dict(zip(fields, ("torch", 50, 1, "cpu", "inference", "fp32"), strict=True))
        old.update(execution="eager", image_size=224)  # no replicas, no env yet
        row = {"key": old, "threads": 2, "sd_log": 0.02, "run_var": 1e-4, "run_df": 4.0}
        store_run_variances(store, machine, [1, 2, 3, 4, 5], [row])
        [(key, shift)] = stored_run_variances(store, machine).items()
        assert key == (*old.values(), 1, "", 2)  # replicas 1, env "", threads 2
        assert (shift.var, shift.df, shift.n_runs) == (1e-4, 4.0, 5)


def test_the_report_shows_scaling_efficiency_and_flags_a_straggler() -> None:
    from results import html
    from tests.support.frames import Frames, steps

    def frames(with_two: bool) -> Any:
        f = Frames().run(1)
        f.result(1, "torch", 50, 8, steps(0.1, seed=1), mode="training", images_per_s=80.0)
        if with_two:
            ranks = {
                "replicas": 2, "global_batch": 16, "threads_per_rank": 1,
                "rank_median_s": [0.124, 0.125], "rank_forward_median_s": [0.03, 0.04],
            }  # fmt: skip
            f.result(
                1, "torch", 50, 8, steps(0.125, seed=2), mode="training", replicas=2,
                images_per_s=128.0, details=json.dumps(ranks),
            )  # fmt: skip
        return f

    f = frames(True)
    scaling = replica_scaling(f.results())
    assert list(scaling["efficiency"]) == pytest.approx([1.0, 0.8])
    page = html.render_report(f.results(), f.samples(), [1])
    assert "Data-parallel scaling" in page and "chart-replicas" in page
    assert "80%" in page and "rank 1 +33%" in page
    assert "124.0, 125.0" in page
    plain = frames(False)
    assert "Data-parallel scaling" not in html.render_report(plain.results(), plain.samples(), [1])


def test_per_rank_medians_merge_over_processes_as_the_case_value_does() -> None:
    from vocab.details import Details, Replication
    from vocab.measurement import Measurement

    def part(ranks: tuple[float, ...]) -> Measurement:
        rep = Replication(2, 4, 1, rank_median_s=ranks)
        return Measurement(case=train(2), samples_ns=[10], details=Details(replication=rep))

    merged = Measurement.merge([part((1.0, 4.0)), part((4.0, 1.0))]).details.replication
    assert merged is not None and merged.rank_median_s == pytest.approx([2.0, 2.0])
    assert merged.rank_median_s_by_process == ((1.0, 4.0), (4.0, 1.0))


def test_the_rank_that_was_behind_is_named() -> None:
    assert distributed.behind({0: "3 1", 1: "3 0"}) == (
        "rank 1 at step 3 (started); ahead: step 3 (forward done)"
    )
    assert distributed.behind({0: "4 0", 1: "3 2", 2: "3 2"}) == (
        "ranks 1, 2 at step 3 (finished, waiting for the others); ahead: step 4 (started)"
    )
    assert distributed.behind({0: "3 1", 1: "3 1"}) is None  # no difference: no one named
    assert distributed.behind({0: "garbage"}) is None
