"""The framework-neutral ResNet-V2 description (no framework imported here)."""

from __future__ import annotations

import math

import pytest

from tests.support.published import PUBLISHED
from vocab import spec

# TF-slim / Keras ResNet50V2, 101V2, 152V2 with 1000 classes: (trainable, total incl. BN stats)
DEPTHS = list(spec.DEPTHS)


@pytest.mark.parametrize("depth", list(PUBLISHED))
def test_params_equal_published(depth: int) -> None:
    assert spec.count_params(depth, 1000) == PUBLISHED[depth]


def test_every_depth_has_its_own_network() -> None:
    # the source script's `return` in the block loop built block 1 only, the same for all
    totals = [spec.count_params(d)[1] for d in DEPTHS]
    assert len(set(totals)) == len(totals)
    assert all(t > 20_000_000 for t in totals)


@pytest.mark.parametrize("depth", DEPTHS)
def test_blocks_follow_the_table(depth: int) -> None:
    blocks = spec.blocks(depth)
    assert tuple(len(b) for b in blocks) == spec.DEPTHS[depth]
    assert 3 * sum(spec.DEPTHS[depth]) + 2 == depth  # 3 convs per unit, root conv, logits
    in_channels = spec.ROOT_CHANNELS
    for block, width, stride in zip(blocks, spec.WIDTHS, (2, 2, 2, 1), strict=True):
        assert [u.stride for u in block] == [1] * (len(block) - 1) + [stride]
        assert [u.projection for u in block] == [True] + [False] * (len(block) - 1)
        for unit in block:
            assert (unit.in_channels, unit.bottleneck) == (in_channels, width)
            assert unit.out_channels == 4 * width
            in_channels = unit.out_channels
    assert in_channels == spec.FEATURES == 2048


@pytest.mark.parametrize("depth", DEPTHS)
def test_param_count_from_layer_shapes(depth: int) -> None:
    convs = [x for x in spec.layers(depth) if isinstance(x, spec.Conv)]
    bns = [x for x in spec.layers(depth) if isinstance(x, spec.BatchNorm)]
    units = sum(spec.DEPTHS[depth])
    assert len(bns) == 3 * units + 1  # preact, bn1, bn2 per unit; postnorm
    assert len(convs) == 3 * units + 4 + 2  # + 4 projection shortcuts, root conv, logits
    # only the root conv, the projection shortcuts, each unit's conv3 and the logits have bias
    assert sum(c.bias for c in convs) == units + 4 + 2
    assert len({x.name for x in spec.layers(depth)}) == len(spec.layers(depth))
    bn_channels = sum(b.channels for b in bns)
    trainable = sum(c.params for c in convs) + 2 * bn_channels
    assert spec.count_params(depth) == (trainable, trainable + 2 * bn_channels)


def test_num_classes_changes_only_the_logits() -> None:
    t1000, n1000 = spec.count_params(50, 1000)
    t10, n10 = spec.count_params(50, 10)
    assert t1000 - t10 == n1000 - n10 == 990 * (2048 + 1)


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "pads"),
    [(112, 3, 2, (0, 1)), (113, 3, 2, (1, 1)), (7, 3, 2, (1, 1)), (1, 3, 2, (1, 1)),
     (56, 3, 1, (1, 1)), (8, 1, 2, (0, 0))],
)  # fmt: skip
def test_same_pads_follow_tf(size: int, kernel: int, stride: int, pads: tuple[int, int]) -> None:
    # TF: out = ceil(size / stride); total = max((out - 1) * stride + kernel - size, 0)
    assert spec.same_pads(size, kernel, stride) == pads
    out = spec.conv_out(size + sum(pads), kernel, stride, 0)
    assert out == math.ceil(size / stride)


@pytest.mark.parametrize("size", [32, 33, 63, 64, 65, 224, 225, 299])
def test_final_feature_map_is_one_32nd(size: int) -> None:
    last = [x for x in spec.layers(50, image_size=size) if isinstance(x, spec.Conv)][-2]
    assert last.name == "block4/unit3/conv3"
    assert last.out_size == math.ceil(size / 32)


def test_macs_count_convs_and_logits() -> None:
    convs = [x for x in spec.layers(50, 1000, 224) if isinstance(x, spec.Conv)]
    assert convs[0].macs == 112 * 112 * 64 * (3 * 7 * 7)  # root conv
    assert convs[-1].macs == 2048 * 1000  # logits on the 1x1 pooled map
    assert spec.macs(50, 224) == sum(c.macs for c in convs)
    assert spec.gmacs(50, 224) == spec.macs(50, 224) / 1e9
    assert 3.4 < spec.gmacs(50) < 3.6  # slim ResNet-50 v2: ~3.5 GMACs (7 GFLOPs)


@pytest.mark.parametrize("depth", DEPTHS)
def test_conv_macs_scale_with_area(depth: int) -> None:
    # at multiples of 32 every feature map scales exactly; the logits do not
    logits = 2048 * 1000
    assert spec.macs(depth, 448) - logits == 4 * (spec.macs(depth, 224) - logits)


@pytest.mark.parametrize("bad", [34, 0, "50", 50.0, True, None])
def test_unknown_depth_names_allowed(bad: object) -> None:
    with pytest.raises(ValueError, match=r"unknown depth .*allowed: 50, 101, 152, 200"):
        spec.check_depth(bad)
    with pytest.raises(ValueError, match="unknown depth"):
        spec.count_params(bad)  # type: ignore[arg-type]


def test_bn_settings() -> None:
    assert spec.BN_DECAY == 0.997  # the source script had 0.097
    assert spec.BN_EPSILON == 1e-5
