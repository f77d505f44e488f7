"""Writing output files (reports, exports) so that nothing is lost or half-written.

A regular file (or a new one) is written to a sibling temporary file and renamed into
place: a reader never sees half of it, a failure (a full disk) leaves the old file as it
was. A symbolic link keeps being a link: its target is written that way. A device node or
a FIFO (`-o /dev/stdout`, `-o /dev/null`) cannot be renamed over without replacing the
node itself, so it is written through, as `cat > /dev/null` would.
"""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Callable
from pathlib import Path


class FileWriteError(ValueError):
    """The output cannot be written; the message is one line naming the file and why."""


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """Call write(p) for a file p that ends up as `path`; see the module docstring."""
    target = Path(path)
    try:
        real = target.resolve() if target.is_symlink() else target
        if real.is_dir():
            raise FileWriteError(f"{target} is a folder; give a file name")
        if real.exists() and not stat.S_ISREG(real.stat().st_mode):
            write(real)  # a device or a FIFO: write through it, never replace it
            return target
        real.parent.mkdir(parents=True, exist_ok=True)
        # Same folder, so the rename is atomic; created with open() so it gets the umask's
        # permissions (mkstemp would make it 0600).
        tmp = real.with_name(f".{real.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            write(tmp)
            os.replace(tmp, real)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise FileWriteError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target
