"""Parsers of `run`'s (and `calibrate`'s) flag values: each bad value is one line naming it
and what is allowed (argparse exits 2 with it)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

from suite.environments import EnvError, EnvSpec, parse_env
from vocab.spec import DEPTHS


def _csv(kind: Callable[[str], Any], axis: str) -> Callable[[str], list[Any]]:
    def parse(text: str) -> list[Any]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"{axis}: empty list")
        return [kind(t) for t in items]

    return parse


def _int(axis: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1 or str(value) != text.strip():
            raise argparse.ArgumentTypeError(f"{axis} must be a positive integer, got {text!r}")
        return value

    return parse


def _seconds(axis: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(
                f"{axis} must be a positive, finite number of seconds, got {text!r}"
            )
        return value

    return parse


def _ints(axis: str) -> Callable[[str], list[int]]:
    return _csv(_int(axis), axis)


def _batch_sizes(text: str) -> list[int] | str:
    if text.strip() == "auto":
        return "auto"
    try:
        return _ints("batch size")(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (or auto)") from None


def _depth(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"unknown depth {text!r}; allowed: {', '.join(map(str, DEPTHS))}"
        ) from None


def _env(text: str) -> EnvSpec:
    try:
        return parse_env(text)
    except EnvError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
