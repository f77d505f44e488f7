"""Cases validate themselves; profiles expand to cases; bad values are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from suite.profiles import ProfileError, load_profile, profile_names
from vocab.case import FRAMEWORKS, Case, CaseError
from vocab.runtimes import RUNTIMES
from vocab.spec import DEPTHS


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_default_execution_is_the_first(framework: str) -> None:
    assert Case(framework, 50, 1).execution == RUNTIMES[framework].default_execution


def test_case_is_frozen_hashable_and_round_trips() -> None:
    case = Case("torch", 101, 8, threads=2)
    assert hash(case) == hash(Case("torch", 101, 8, threads=2))
    assert Case.from_dict(case.to_dict()) == case
    with pytest.raises(AttributeError):
        case.depth = 50  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"framework": "mxnet"},
            "unknown framework 'mxnet'; allowed: torch, tensorflow, jax, onnxruntime, openvino",
        ),
        ({"depth": 34}, "unknown depth 34; allowed: 50, 101, 152, 200"),
        ({"batch_size": 0}, "batch size must be a positive integer, got 0"),
        ({"device": "gpu"}, "unknown device 'gpu'; allowed: cpu, cuda, cuda:N"),
        ({"mode": "train"}, "unknown mode 'train'; allowed: inference, training"),
        ({"precision": "int8"}, "unknown precision 'int8'; allowed: fp32, bf16, fp16"),
        (
            {"execution": "xla"},
            "unknown execution 'xla' for torch; allowed: eager, compile, cudagraph",
        ),
        ({"image_size": -3}, "image size must be a positive integer, got -3"),
    ],
)
def test_case_names_the_bad_value(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"framework": "torch", "depth": 50, "batch_size": 1, **kwargs}
    with pytest.raises(CaseError) as err:
        Case(**args)  # type: ignore[arg-type]
    assert str(err.value) == message


@pytest.mark.parametrize("name", profile_names())
def test_builtin_profiles_expand(name: str) -> None:
    cases = load_profile(name).cases()
    assert cases and len(cases) == len(set(cases))


def test_quick_profile_covers_every_depth_in_torch_and_tensorflow() -> None:
    # jax and onnxruntime would not fit quick's 8 minutes on 2 cores (README: JAX and ONNX
    # Runtime); --frameworks adds them
    cases = load_profile("quick").cases()
    assert {(c.framework, c.depth) for c in cases} == {
        (f, d) for f in ("torch", "tensorflow") for d in DEPTHS
    }
    every = load_profile("quick").with_overrides(frameworks=list(FRAMEWORKS)).cases()
    # each framework's default execution: quick's cases for torch and TF, for each of them
    assert {c.framework for c in every} == set(FRAMEWORKS)
    assert len(every) == len(FRAMEWORKS) * len(cases) // 2
    assert {c.batch_size for c in cases} == {1, 8}
    assert {(c.mode, c.precision, c.device, c.image_size) for c in cases} == {
        ("inference", "fp32", "cpu", 224)
    }


def test_full_profile_pairs_executions_with_their_framework() -> None:
    cases = load_profile("full").cases()
    assert {(c.framework, c.execution) for c in cases} == {
        # full runs on CUDA: every execution of the runtimes that have a CUDA device
        (f, e)
        for f, r in RUNTIMES.items()
        if "cuda" in r.devices
        for e in r.executions
    }


def test_overrides_replace_axes() -> None:
    profile = load_profile("quick").with_overrides(
        depths=[50], batch_sizes=[2], frameworks=["torch"]
    )
    assert [(c.framework, c.depth, c.batch_size) for c in profile.cases()] == [("torch", 50, 2)]


def test_a_framework_left_without_an_execution_is_an_error() -> None:
    profile = load_profile("quick").with_overrides(frameworks=["torch"], executions=["xla"])
    with pytest.raises(ProfileError, match=r"no execution for torch among xla \('xla' belongs"):
        profile.cases()


def test_narrowing_frameworks_drops_the_others_executions() -> None:
    # The GPU bug: `full` lists graph/xla for tensorflow; --frameworks torch must not fail.
    full = load_profile("full").with_overrides(frameworks=["torch"], depths=[50])
    assert {c.execution for c in full.cases()} == {"eager", "compile", "cudagraph"}
    mixed = load_profile("quick").with_overrides(executions=["compile", "xla"])
    assert {(c.framework, c.execution) for c in mixed.cases()} == {
        ("torch", "compile"),
        ("tensorflow", "xla"),
    }
    tf_only = load_profile("quick").with_overrides(executions=["default", "compile"])
    by_fw = {(c.framework, c.execution) for c in tf_only.cases()}
    assert by_fw == {("torch", "eager"), ("torch", "compile"), ("tensorflow", "graph")}


def test_gpu_profile_is_bounded_and_narrows_its_extra_parts() -> None:
    gpu = load_profile("gpu")
    cases = gpu.cases()
    assert len(cases) == len(set(cases)) == 34
    assert {c.device for c in cases} == {"cuda"}
    # the extra parts stay at depth 50
    assert {c.depth for c in cases if c.batch_size != 256 or c.precision != "bf16"} == {50}
    assert {c.execution for c in cases if c.depth != 50} == {"eager", "graph"}
    torch_only = gpu.with_overrides(frameworks=["torch"]).cases()
    assert {c.execution for c in torch_only} == {"eager", "compile", "cudagraph"}
    assert [c for c in torch_only if c.execution == "cudagraph"] == [
        Case("torch", 50, 1, "cuda", mode, "bf16", "cudagraph")
        for mode in ("inference", "training")
    ]
    # a flag narrows every part that names its axis; a part left empty is dropped
    deep = gpu.with_overrides(depths=[101]).cases()
    assert {(c.depth, c.batch_size, c.precision, c.execution) for c in deep} == {
        (101, 256, "bf16", "eager"),
        (101, 256, "bf16", "graph"),
    }
    fp32 = gpu.with_overrides(precisions=["fp32"], executions=["default"]).cases()
    assert {c.precision for c in fp32} == {"fp32"} and len(fp32) == 24


def test_extra_cases_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        '[cases]\nframeworks = ["torch"]\ndepths = [50]\nbatch_sizes = [1]\n'
        "[[extra_cases]]\ndepths = [34]\n"
    )
    with pytest.raises(ProfileError, match=r"unknown depth 34; allowed: 50, 101, 152, 200"):
        load_profile(str(path))
    path.write_text(
        '[cases]\nframeworks = ["torch"]\ndepths = [50]\nbatch_sizes = [1]\n'
        "[[extra_cases]]\nthreads = 2\n"
    )
    with pytest.raises(ProfileError, match=r"unknown \[\[extra_cases\]\] key 'threads'"):
        load_profile(str(path))
    path.write_text(
        'extra_cases = 3\n[cases]\nframeworks = ["torch"]\ndepths = [50]\nbatch_sizes = [1]\n'
    )
    with pytest.raises(ProfileError, match="extra_cases must be an array of tables"):
        load_profile(str(path))


def test_missing_profile_names_builtins() -> None:
    with pytest.raises(ProfileError, match=r"neither a built-in profile .*quick.*smoke"):
        load_profile("nope")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[cases\nframeworks = 1", "is not valid TOML"),
        (
            "[cases]\nframeworks=['torch']\ndepths=[50]\nbatch_sizes=[0]",
            "batch size must be a positive",
        ),
        ("[cases]\nframeworks=['torch']\ndepths=[51]\nbatch_sizes=[1]", "unknown depth 51"),
        (
            "[cases]\nframeworks=['torch']\ndepths=[50]\nbatch_sizes=[1]\ncolour=1",
            "unknown [cases] key 'colour'",
        ),
        (
            "[cases]\nframeworks=['torch']\ndepths=[50]\nbatch_sizes=[1]\n[sampling]\nmin_samples=0",
            "min_samples",
        ),
        ("[cases]\nframeworks=['torch']", "lacks depths, batch_sizes"),
    ],
)
def test_malformed_profile_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    with pytest.raises(ProfileError) as err:
        load_profile(str(path))
    assert message in str(err.value)
    assert "\n" not in str(err.value).strip()


def test_user_profile_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        "[cases]\nframeworks=['tensorflow']\ndepths=[152]\nbatch_sizes=[4]\nexecutions=['xla']\n"
        "image_size=96\n[sampling]\nmax_time_s=3\nprocesses=2\n"
    )
    profile = load_profile(str(path))
    # `processes` is the old name of min_processes.
    assert profile.sampling.min_processes == 2 and profile.sampling.max_time_s == 3
    wider = profile.with_overrides(min_processes=12)
    assert (wider.sampling.min_processes, wider.sampling.max_processes) == (12, 12)
    fewer = profile.with_overrides(max_processes=1)
    assert (fewer.sampling.min_processes, fewer.sampling.max_processes) == (1, 1)
    assert profile.cases() == [Case("tensorflow", 152, 4, execution="xla", image_size=96)]


def test_the_default_profile_is_gpu_where_a_gpu_is_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    from suite.cli.run_cmd import default_profile

    monkeypatch.setattr("runners.nvml.gpu_devices", lambda: [{"index": 0}])
    assert default_profile() == "gpu"
    monkeypatch.setattr("runners.nvml.gpu_devices", lambda: [])
    assert default_profile() == "quick"
