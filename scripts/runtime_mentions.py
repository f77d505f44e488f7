"""How many files outside tests/ and the migrations name each runtime (as a word, any case):
the measure of how far one runtime's knowledge is spread (the fifth runtime at most 5, each
other runtime at most 8).

    python scripts/runtime_mentions.py          # counts
    python scripts/runtime_mentions.py -v       # ...and the files
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def tracked() -> list[Path]:
    out = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True
    ).stdout.split()
    return [
        ROOT / name
        for name in out
        if not name.startswith("tests/") and "/migrations/" not in name and (ROOT / name).is_file()
    ]


def mentions(name: str, files: list[Path] | None = None) -> list[str]:
    word = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])", re.I)
    found = []
    for path in files if files is not None else tracked():
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        if word.search(text):
            found.append(str(path.relative_to(ROOT)))
    return found


def main(argv: list[str]) -> int:
    from vocab.runtimes import RUNTIMES

    files = tracked()
    for name in RUNTIMES:
        where = mentions(name, files)
        print(f"{name:12} {len(where):3} files")
        if "-v" in argv:
            print("".join(f"    {w}\n" for w in where), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
