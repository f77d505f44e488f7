"""New SQLite stores from a migrated template: replaying every migration on an empty file
takes about a tenth of a second, and the suite opens hundreds of new stores.

`from_template()` wraps results.engine.migrate for the test process: a SQLite file that does
not exist yet is first made a copy of one migrated empty store (built once per process by
the real migrations), then the real migrate runs on it (finding it at the head revision).
Existing files, empty files, PostgreSQL and every child process (workers, CLI runs) take
the real path unchanged; tests/test_engine.py tests the migrations themselves on those and
on the copies alike (a copy is the very file the migrations made).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from results import engine as store_engine


def _template(real: Callable[[Any, str], None], folder: Path) -> Path:
    """An empty store at the head revision, opened as any store is, with `real` migrate."""
    path = folder / "template.sqlite"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(store_engine, "migrate", real)
        engine, _masked = store_engine.open_engine(f"sqlite:///{path}")
    engine.dispose()  # the last connection closed: SQLite moved the WAL into the file
    assert not Path(f"{path}-wal").exists(), path
    return path


@contextlib.contextmanager
def from_template() -> Iterator[None]:
    real = store_engine.migrate
    folder = Path(tempfile.mkdtemp(prefix="resnet-bench-template-"))
    made: list[Path] = []

    def migrate(engine: Any, url: str) -> None:
        path = store_engine.sqlite_file(engine)
        if path is not None and not path.exists():
            if not made:
                made.append(_template(real, folder))
            copy = path.with_name(f".{path.name}.{os.getpid()}.template")
            copy.write_bytes(made[0].read_bytes())
            with contextlib.suppress(FileExistsError):  # another process made it first
                os.link(copy, path)  # appears whole or not at all
            copy.unlink()
        real(engine, url)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(store_engine, "migrate", migrate)
        try:
            yield
        finally:
            for p in folder.iterdir():
                p.unlink()
            folder.rmdir()
