"""`resnet-bench models`, in-process through suite.cli.main."""

from __future__ import annotations

import json
from typing import Any

import pytest

from networks import verify as modelinfo
from suite.cli import main
from vocab import spec
from vocab.runtimes import FRAMEWORKS

KEYS = ["framework", "depth", "params_trainable", "params_total", "gmacs", "image_size"]


def test_json_lists_every_framework_and_depth(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--json", "--image-size", "64"]) == 0
    rows = json.loads(capsys.readouterr().out)  # stdout is only JSON
    assert [(r["framework"], r["depth"]) for r in rows] == [
        (fw, d) for fw in FRAMEWORKS for d in spec.DEPTHS
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
        (
            ["--frameworks", "torch,mxnet"],
            "unknown framework 'mxnet'; allowed: torch, tensorflow, jax, onnxruntime, openvino",
        ),
    ],
)
def test_bad_lists_name_allowed_values(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", *args]) == 2
    assert capsys.readouterr().err == f"resnet-bench: error: {message}\n"


def _fake_verify(max_rel_diff: float) -> Any:
    """verify_depth with spec-exact counts: the real one is tested in test_models.py."""

    def verify(
        depth: int, image_size: int, num_classes: int = 1000, frameworks: Any = FRAMEWORKS
    ) -> dict[str, Any]:
        counts = {"params": spec.count_params(depth), "macs": spec.macs(depth, image_size)}
        return {
            fw: {**counts, "max_rel_diff": 0.0 if fw == "torch" else max_rel_diff}
            for fw in frameworks
        }

    return verify


def test_verify_json(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(modelinfo, "verify_depth", _fake_verify(2e-7))
    assert main(["models", "--verify", "--json", "--depths", "50,200"]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert [(r["framework"], r["depth"]) for r in rows] == [
        (fw, d) for fw in FRAMEWORKS for d in (50, 200)
    ]
    for r in rows:
        assert list(r) == [*KEYS, "max_rel_diff", "ok"]
        assert r["ok"] is True
        assert r["max_rel_diff"] == (0.0 if r["framework"] == "torch" else 2e-7)
    assert "verification OK" in captured.err


def test_verify_fails_on_logits(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(modelinfo, "verify_depth", _fake_verify(0.5))
    assert main(["models", "--verify", "--depths", "101"]) == 1
    captured = capsys.readouterr()
    assert captured.out.count("FAIL") == len(FRAMEWORKS) - 1  # torch is the reference
    assert "5.00e-01" in captured.out and "reference" in captured.out
    assert "verification FAILED" in captured.err


def test_verify_fails_on_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    short = list(FRAMEWORKS)[-1]

    def one_param_short(
        depth: int, image_size: int, num_classes: int = 1000, frameworks: Any = FRAMEWORKS
    ) -> dict[str, Any]:
        result: dict[str, Any] = _fake_verify(0.0)(depth, image_size, num_classes, frameworks)
        trainable, total = spec.count_params(depth)
        result[short] = {**result[short], "params": (trainable, total - 1)}
        return result

    monkeypatch.setattr(modelinfo, "verify_depth", one_param_short)
    rows = modelinfo.model_table([50], verify=True)
    assert [(r["framework"], r["ok"]) for r in rows] == [(fw, fw != short) for fw in FRAMEWORKS]
