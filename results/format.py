"""How values are shown: one place for every label and number the terminal, the HTML
report and `compare` print."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any


def short_cpu(model: str | None) -> str:
    if not model:
        return "unknown CPU"
    text = re.sub(r"\((R|TM|tm)\)", "", model).split(" @ ")[0]
    text = re.sub(r"\b(CPU|Processor|\d+-Core)\b", "", text)
    return " ".join(text.split())


def gpu_label(machine: Mapping[str, Any]) -> str | None:
    count, name = machine.get("gpu_count") or 0, machine.get("gpu_name")
    if not count or not name:
        return None
    return f"{count}x {name}" if count > 1 else str(name)


def machine_label(machine: Mapping[str, Any]) -> str:
    gpu = gpu_label(machine)
    cpu = short_cpu(machine.get("cpu_model"))
    return f"{cpu} / {gpu}" if gpu else cpu
