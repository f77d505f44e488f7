"""`python -m tests.support.without_frameworks 'CMD ARGS' ...`: resnet-bench commands run
as in a core install, with torch and TensorFlow refused by an import hook. Exits with the
first non-zero status, or 3 if a framework was imported anyway."""

from __future__ import annotations

import shlex
import sys
from importlib.machinery import ModuleSpec
from typing import Any

REFUSED = frozenset({"torch", "tensorflow", "keras", "tf_keras", "jax", "onnxruntime"})


class Refuse:
    """A meta-path finder that makes the frameworks look absent (ModuleNotFoundError)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if name.partition(".")[0] in REFUSED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def main(commands: list[str]) -> int:
    sys.meta_path.insert(0, Refuse())
    from suite.cli import main as cli

    for command in commands:
        code = cli(shlex.split(command))
        if code:
            return code
    loaded = sorted(REFUSED & set(sys.modules))
    if loaded:
        print(f"imported anyway: {', '.join(loaded)}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
