"""Parameter and MAC counts per framework and depth, and the proof that every framework
builds the same network (`resnet-bench models [--verify]`).

Without verification the counts come from vocab.spec alone (no framework is imported).
With it, each depth is built in the reference runtime (its record says which; with
randomized BN statistics, so their transfer is tested too) and, from that model, in every
other framework asked for (weights transferred, or the model exported): the counts are
taken from the built models and each framework's inference logits are compared with the
reference's, all in this process.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from networks import builder, check_framework
from vocab import spec
from vocab.runtimes import FRAMEWORKS, REFERENCE

REL_TOLERANCE = 1e-4  # max |a - b| / max |a| of fp32 logits
VERIFY_BATCH = 2
SEED = 0


def verify_depth(
    depth: int,
    image_size: int,
    num_classes: int = 1000,
    seed: int = SEED,
    frameworks: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Build `depth` in the reference runtime and in each framework from it, compare
    inference logits.

    Returns {"<framework>": {"params": (trainable, total), "macs": int, "max_rel_diff":
    float}} with the counts measured on the built models at `image_size`, and each
    framework's max |logits - reference's| / max |reference's| (0 for the reference).
    """
    origin = builder(REFERENCE)
    reference = origin.reference_model(depth, num_classes, seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((VERIFY_BATCH, spec.IN_CHANNELS, image_size, image_size), np.float32)
    expected = origin.logits(reference, x)
    result: dict[str, Any] = {}
    for fw in [check_framework(f) for f in (FRAMEWORKS if frameworks is None else frameworks)]:
        module = builder(fw)
        model = module.from_torch(reference, image_size)
        got = np.asarray(module.logits(model, x), dtype=np.float32)
        result[fw] = {
            "params": module.count_params(model),
            "macs": module.count_macs(model, image_size),
            "max_rel_diff": float(np.max(np.abs(got - expected)) / np.max(np.abs(expected))),
        }
        del model
        gc.collect()  # depth 200 is ~0.26 GB of weights per framework
    return result


def model_table(
    depths: Iterable[int] | None = None,
    frameworks: Iterable[str] | None = None,
    image_size: int = 224,
    verify: bool = False,
    num_classes: int = 1000,
    verify_image_size: int | None = None,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """One row per (framework, depth): params (trainable, total incl. BN statistics) and
    GMACs per image at `image_size`.

    verify=True also builds every depth in each framework (at `verify_image_size`,
    default `image_size`): params then come from the built models, and `max_rel_diff` and
    `ok` are added. `ok` needs the framework's logits to agree with the reference's within
    REL_TOLERANCE and the built models' params and MACs to equal the spec's.
    """
    depths = [spec.check_depth(d) for d in (spec.DEPTHS if depths is None else depths)]
    frameworks = [check_framework(f) for f in (FRAMEWORKS if frameworks is None else frameworks)]
    if image_size < 1 or (verify_image_size is not None and verify_image_size < 1):
        raise ValueError("image size must be a positive integer")
    check_size = verify_image_size or image_size
    rows = {}
    for depth in depths:
        trainable, total = spec.count_params(depth, num_classes)
        checked = None
        if verify:
            if log:
                log(f"verifying depth {depth} at {check_size}x{check_size}")
            checked = verify_depth(depth, check_size, num_classes, frameworks=frameworks)
        for fw in frameworks:
            row: dict[str, Any] = {
                "framework": fw,
                "depth": depth,
                "params_trainable": trainable,
                "params_total": total,
                "gmacs": spec.gmacs(depth, image_size, num_classes),
                "image_size": image_size,
            }
            if checked is not None:
                built = checked[fw]
                row["params_trainable"], row["params_total"] = built["params"]
                row["max_rel_diff"] = built["max_rel_diff"]
                row["ok"] = (
                    row["max_rel_diff"] <= REL_TOLERANCE
                    and built["params"] == (trainable, total)
                    and built["macs"] == spec.macs(depth, check_size, num_classes)
                )
            rows[fw, depth] = row
    return [rows[fw, d] for fw in frameworks for d in depths]
