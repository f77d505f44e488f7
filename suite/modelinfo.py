"""Parameter and MAC counts per framework and depth, and the proof that both frameworks
build the same network (`resnet-bench models [--verify]`).

Without verification the counts come from suite.spec alone (no framework is imported).
With it, each depth is built in both frameworks in this process, the counts are taken from
the built models, the torch weights (with randomized BN statistics, so their transfer is
tested too) are copied into the TensorFlow model, and the logits of both are compared.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from suite import spec
from suite.models import BUILDERS, builder, check_framework, transfer

REL_TOLERANCE = 1e-4  # max |a - b| / max |a| of fp32 logits
VERIFY_BATCH = 2
SEED = 0


def _perturb(model: Any, seed: int) -> None:
    """Give every torch BN layer non-trivial gamma, beta and moving statistics, and every
    conv bias a non-trivial value (the inference forward folds them into the BNs)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                assert m.running_mean is not None and m.running_var is not None
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.normal_(0.0, 0.1, generator=g)
                m.running_mean.normal_(0.0, 0.1, generator=g)
                m.running_var.uniform_(0.5, 1.5, generator=g)
            elif isinstance(m, torch.nn.Conv2d) and m.bias is not None:
                m.bias.normal_(0.0, 0.1, generator=g)


def verify_depth(
    depth: int, image_size: int, num_classes: int = 1000, seed: int = SEED
) -> dict[str, Any]:
    """Build `depth` in torch and TensorFlow, transfer torch -> TF, compare inference logits.

    Returns {"max_rel_diff": float, "<framework>": {"params": (trainable, total),
    "macs": int}} with the counts measured on the built models at `image_size`.
    """
    import torch

    torch_builder, tf_builder = builder("torch"), builder("tensorflow")
    torch.manual_seed(seed)
    torch_model = torch_builder.build(depth, num_classes).eval()
    _perturb(torch_model, seed)
    tf_model = tf_builder.build(depth, num_classes, image_size=image_size)
    transfer.torch_to_tf(torch_model, tf_model)

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((VERIFY_BATCH, spec.IN_CHANNELS, image_size, image_size), np.float32)
    with torch.no_grad():
        a = torch_model(torch.from_numpy(x)).numpy()
    b = np.asarray(tf_model(x.transpose(0, 2, 3, 1), training=False))
    result: dict[str, Any] = {
        "max_rel_diff": float(np.max(np.abs(a - b)) / np.max(np.abs(a))),
        "torch": {
            "params": torch_builder.count_params(torch_model),
            "macs": torch_builder.count_macs(torch_model, image_size),
        },
        "tensorflow": {
            "params": tf_builder.count_params(tf_model),
            "macs": tf_builder.count_macs(tf_model, image_size),
        },
    }
    del torch_model, tf_model
    gc.collect()  # depth 200 is ~0.5 GB of weights across both frameworks
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

    verify=True also builds every depth in both frameworks (at `verify_image_size`,
    default `image_size`): params then come from the built models, and `max_rel_diff` and
    `ok` are added. `ok` needs the logits to agree within REL_TOLERANCE and the built
    models' params and MACs to equal the spec's.
    """
    depths = [spec.check_depth(d) for d in (spec.DEPTHS if depths is None else depths)]
    frameworks = [check_framework(f) for f in (BUILDERS if frameworks is None else frameworks)]
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
            checked = verify_depth(depth, check_size, num_classes)
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
                row["max_rel_diff"] = checked["max_rel_diff"]
                row["ok"] = (
                    row["max_rel_diff"] <= REL_TOLERANCE
                    and built["params"] == (trainable, total)
                    and built["macs"] == spec.macs(depth, check_size, num_classes)
                )
            rows[fw, depth] = row
    return [rows[fw, d] for fw in frameworks for d in depths]
