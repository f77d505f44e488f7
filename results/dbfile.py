"""The SQLite file a store opened stays the file it writes: deleted or replaced mid-run
(`rm results.sqlite*`, `mv other.sqlite results.sqlite`), the run must neither finish
"successfully" into an unlinked inode nor write into someone else's database.

A FileGuard remembers the file's (st_dev, st_ino) at open and holds one extra connection to
it (the anchor): an unlinked file stays readable through it, its -wal included. Before
each write the store asks `replaced()`; if so, `recover()` copies the database as it was
(SQLite's backup API, through the anchor) into a recovery file beside it, and the store
carries on there: the run can be resumed from it (`--resume ID --db sqlite:///RECOVERY`).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from results.engine import StoreError


class DatabaseReplacedError(StoreError):
    """The SQLite file was deleted or replaced while open; the message names the recovery
    file that holds what it held, and the write that found out."""


def moved_line(old: str, dest: Path) -> str:
    return (
        f"database file {old} was deleted or replaced during the run; what it held and "
        f"this result are in {dest}: `resnet-bench runs --db sqlite:///{dest}` lists the "
        "run, `run --resume ID` with that --db finishes it"
    )


class FileGuard:
    """Watches one SQLite database file (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path.absolute()
        st = os.stat(self.path)
        self.identity = (st.st_dev, st.st_ino)
        # check_same_thread=False: the store may be used from a thread other than the opener.
        self._anchor = sqlite3.connect(str(self.path), check_same_thread=False)
        self._anchor.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens -wal

    def replaced(self) -> bool:
        """Whether the path no longer names the file that was opened (gone, or another)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return True
        return (st.st_dev, st.st_ino) != self.identity

    def recover(self) -> Path:
        """A copy of the opened database, as it stands, in a new file beside the old path
        (in the temporary folder if that folder is gone too); returns its path."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        name = f"{self.path.name}.recovered-{stamp}-{os.getpid()}.sqlite"
        folder = self.path.parent if self.path.parent.is_dir() else Path(tempfile.gettempdir())
        dest = folder / name
        target = sqlite3.connect(str(dest))
        try:
            self._anchor.backup(target)
        finally:
            target.close()
        return dest

    def close(self) -> None:
        self._anchor.close()
