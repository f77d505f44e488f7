"""`resnet-bench models`, in-process through suite.cli.main."""

from __future__ import annotations

import json
from typing import Any

import pytest

from suite import modelinfo, spec
from suite.cli import main
from suite.models import BUILDERS

from .test_models import one_torch_thread  # noqa: F401  (an autouse fixture)

KEYS = ["framework", "depth", "params_trainable", "params_total", "gmacs", "image_size"]


def test_json_lists_every_framework_and_depth(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--json", "--image-size", "64"]) == 0
    rows = json.loads(capsys.readouterr().out)  # stdout is only JSON
    assert [(r["framework"], r["depth"]) for r in rows] == [
        (fw, d) for fw in BUILDERS for d in spec.DEPTHS
    ]
    for r in rows:
        assert list(r) == KEYS
        assert (r["params_trainable"], r["params_total"]) == spec.count_params(r["depth"])
        assert r["gmacs"] == spec.gmacs(r["depth"], 64)
        assert r["image_size"] == 64


def test_table_shows_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--depths", "50", "--frameworks", "tensorflow"]) == 0
    out = capsys.readouterr().out
    assert "tensorflow" in out and "torch" not in out
    assert "25,568,360" in out and "25,613,800" in out and "3.482" in out


@pytest.mark.parametrize("bad", ["x", "0", "-3", "1.5", ""])
def test_bad_image_size_is_a_usage_error(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", f"--image-size={bad}"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"resnet-bench: error: image size must be a positive integer, got {bad!r}\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--depths", "50,34"], "unknown depth '34'; allowed: 50, 101, 152, 200"),
        (["--frameworks", "torch,jax"], "unknown framework 'jax'; allowed: torch, tensorflow"),
    ],
)
def test_bad_lists_name_allowed_values(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", *args]) == 2
    assert capsys.readouterr().err == f"resnet-bench: error: {message}\n"


def test_verify_json(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["models", "--verify", "--json", "--depths", "50", "--image-size", "32"]
    assert main(args) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert [r["framework"] for r in rows] == list(BUILDERS)
    for r in rows:
        assert list(r) == [*KEYS, "max_rel_diff", "ok"]
        assert r["max_rel_diff"] <= modelinfo.REL_TOLERANCE and r["ok"] is True
    assert "verification OK" in captured.err


def test_failed_verification_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def far_apart(depth: int, image_size: int, num_classes: int = 1000) -> dict[str, Any]:
        counts = {"params": spec.count_params(depth), "macs": spec.macs(depth, image_size)}
        return {"max_rel_diff": 0.5, **{fw: counts for fw in BUILDERS}}

    monkeypatch.setattr(modelinfo, "verify_depth", far_apart)
    assert main(["models", "--verify", "--depths", "101"]) == 1
    captured = capsys.readouterr()
    assert captured.out.count("FAIL") == len(BUILDERS)
    assert "5.00e-01" in captured.out
    assert "verification FAILED" in captured.err
