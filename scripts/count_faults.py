"""How many bad inputs and faults the suite tries: every collected test case in the
modules about hostile input and faults (each parametrization counts once), and for the
property tests (hypothesis) the number of generated examples each one runs.

    python scripts/count_faults.py
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = [
    "tests/test_hostile.py",  # issue 22: secrets, --resume/calibrate, terminal, resume race
    "tests/test_db_replaced.py",  # issue 22: the database file deleted or replaced
    "tests/test_compare_gate.py",  # issue 22: a candidate where everything broke
    "tests/test_reliability.py",  # the earlier hostile-user pass
    "tests/test_fuzz.py",  # property tests: profiles, command lines, flags, secrets
]


def collected(module: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", module],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    return [line for line in done.stdout.splitlines() if "::" in line]


def hypothesis_examples(module: str) -> dict[str, int]:
    """test name -> max_examples of its @settings (EXAMPLES or an inline settings())."""
    tree = ast.parse((ROOT / module).read_text())
    shared: dict[str, int] = {}
    for node in tree.body:  # EXAMPLES = settings(max_examples=N, ...)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            for kw in node.value.keywords:
                if kw.arg == "max_examples" and isinstance(kw.value, ast.Constant):
                    shared[node.targets[0].id] = int(kw.value.value)  # type: ignore[attr-defined]
    out: dict[str, int] = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for dec in node.decorator_list:
            if isinstance(dec, ast.Name) and dec.id in shared:
                out[node.name] = shared[dec.id]
            elif isinstance(dec, ast.Call) and getattr(dec.func, "id", "") == "settings":
                for kw in dec.keywords:
                    if kw.arg == "max_examples" and isinstance(kw.value, ast.Constant):
                        out[node.name] = int(kw.value.value)
    return out


def main() -> None:
    total_cases = total_examples = 0
    for module in MODULES:
        items = collected(module)
        examples = hypothesis_examples(module)
        plain = [i for i in items if i.split("::")[-1].split("[")[0] not in examples]
        generated = sum(examples.values())
        total_cases += len(plain)
        total_examples += generated
        print(f"{module}: {len(plain)} cases, {len(examples)} property tests "
              f"x examples = {generated}")  # fmt: skip
    print(f"total: {total_cases} example cases + {total_examples} generated inputs "
          f"= {total_cases + total_examples} bad inputs and faults tried")  # fmt: skip


if __name__ == "__main__":
    main()
