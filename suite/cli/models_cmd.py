"""`resnet-bench models`: parameters and GMACs per framework and depth, and --verify."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from suite.cli.common import UsageError
from vocab import spec
from vocab.runtimes import FRAMEWORKS, REFERENCE

HELP = (
    "Show trainable/total parameters and GMACs per framework and depth; --verify builds "
    f"every framework, transfers {REFERENCE}'s weights and compares their logits with "
    f"{REFERENCE}'s."
)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise UsageError(f"image size must be a positive integer, got {text!r}")
    return value


def _choices(text: str | None, allowed: tuple[Any, ...], what: str, cast: type = str) -> list[Any]:
    if text is None:
        return list(allowed)
    values = []
    for item in (s.strip() for s in text.split(",")):
        try:
            value = cast(item)
        except ValueError:
            value = item
        if value not in allowed:
            names = ", ".join(str(a) for a in allowed)
            raise UsageError(f"unknown {what} {item!r}; allowed: {names}")
        if value not in values:  # --depths 50,50 is one depth
            values.append(value)
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print only JSON on stdout")
    parser.add_argument(
        "--verify",
        action="store_true",
        help="build each depth in every framework, count from the built models and compare "
        f"logits with {REFERENCE}'s, weights transferred (slow: imports every framework)",
    )
    # kept as text: a bad value is a UsageError with our wording, not argparse's
    parser.add_argument("--image-size", metavar="N", default="224", help="input size (default 224)")
    parser.add_argument(
        "--depths", metavar="LIST", help=f"comma list of {', '.join(map(str, spec.DEPTHS))}"
    )
    parser.add_argument(
        "--frameworks", metavar="LIST", help=f"comma list of {', '.join(FRAMEWORKS)}"
    )


def _print_table(rows: list[dict[str, Any]], verify: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    image_size = rows[0]["image_size"] if rows else None
    table = Table(
        title=f"ResNet-V2 at {image_size}x{image_size}",
        caption="params; total includes BN moving statistics; "
        "GMACs: conv + logits multiply-accumulates per image",
    )
    for name in ("framework", "depth", "trainable", "total", "GMACs"):
        table.add_column(name, justify="left" if name == "framework" else "right")
    if verify:
        table.add_column(f"max rel diff vs {REFERENCE}", justify="right")
        table.add_column("check")
    for r in rows:
        cells = [
            r["framework"], str(r["depth"]), f"{r['params_trainable']:,}",
            f"{r['params_total']:,}", f"{r['gmacs']:.3f}",
        ]  # fmt: skip
        if verify:
            diff = "reference" if r["framework"] == REFERENCE else f"{r['max_rel_diff']:.2e}"
            cells += [diff, "OK" if r["ok"] else "[red]FAIL[/red]"]
        table.add_row(*cells)
    Console().print(table)


def run(args: argparse.Namespace) -> int:
    from networks.verify import REL_TOLERANCE, model_table

    image_size = _positive_int(args.image_size)
    depths = _choices(args.depths, tuple(spec.DEPTHS), "depth", int)
    frameworks = _choices(args.frameworks, FRAMEWORKS, "framework")

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    rows = model_table(depths, frameworks, image_size, verify=args.verify, log=log)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        _print_table(rows, args.verify)
    if args.verify:
        failed = [f"{r['framework']} {r['depth']}" for r in rows if not r["ok"]]
        if failed:
            log(f"verification FAILED (tolerance {REL_TOLERANCE:g}): {', '.join(failed)}")
            return 1
        log(f"verification OK: logits agree within {REL_TOLERANCE:g}, counts match the spec")
    return 0
