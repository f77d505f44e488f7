"""Everything a stored run reaches a user through: what `show`, `runs`, `export` (every
format), `report` print or write, and the database file's own bytes. Tests search the
whole of it for a secret that must not be there."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from results.export import FORMATS


def every_output(url: str, folder: Path) -> str:
    """The text of every output of the runs in `url` (a SQLite URL), one string."""
    import pandas as pd

    from suite.cli import main

    parts: list[str] = []
    commands = [["show", "latest"], ["runs"], ["report", "-o", str(folder / "r.html")]]
    commands += [["export", "--samples", "-o", str(folder / f"e.{fmt}")] for fmt in FORMATS]
    for cmd in commands:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([*cmd, "--db", url, "--output", str(folder)])
        assert code == 0, (cmd, err.getvalue())
        parts += [out.getvalue(), err.getvalue()]
    parts.append((folder / "r.html").read_text())
    parts += [(folder / f"e.{fmt}").read_bytes().decode("latin-1") for fmt in FORMATS]
    # Parquet pages may be compressed: read it back, too.
    parts.append(pd.read_parquet(folder / "e.parquet").to_json())
    db = Path(url.removeprefix("sqlite:///"))
    for path in (db, db.with_name(db.name + "-wal")):
        if path.exists():
            parts.append(path.read_bytes().decode("latin-1"))
    return "\n".join(parts)
