"""The one rule for strings printed on a terminal: `safe()`.

Whatever a user typed (a --db URL, a label) or a database holds (labels, hostnames,
error reasons) is printed through safe(): ESC and the other C0/C1 control characters
(which retitle the window, clear the screen, move the cursor), line breaks (which forge a
table row) and the Unicode bidi controls (U+202E and kin, which show text reversed) are
each shown as '?', not obeyed. Every console the commands print with applies it to each
plain string it renders; lines printed with print() go through say().
"""

from __future__ import annotations

import re
import sys
from typing import IO, Any

from rich.console import Console
from rich.text import Text

REPLACEMENT = "?"
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f"  # C0 (tab, line feed, carriage return, ESC, ...), DEL, C1
    "\u2028\u2029"  # line and paragraph separators: line breaks too
    "\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]"  # bidi embeddings, isolates, marks
)


def safe(text: str) -> str:
    """`text` fit for a terminal: one line, every control character shown as '?'."""
    return _UNSAFE.sub(REPLACEMENT, text)


def say(message: str, out: IO[str] | None = None) -> None:
    """print() of one line through safe() (stdout unless `out`)."""
    print(safe(message), file=out or sys.stdout)


class SafeConsole(Console):
    """Every plain string it renders passes through safe(); styled Text is the caller's."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(safe(text), **kwargs)


def console() -> Console:
    # Piped output keeps whole rows: rich would otherwise wrap at 80 columns. No markup:
    # labels, hostnames and error messages from the database are printed as they are.
    out = SafeConsole(markup=False, highlight=False)
    return out if out.is_terminal else SafeConsole(width=200, markup=False, highlight=False)


def stderr_console() -> Console:
    """Progress and log lines on stderr, through safe() like everything else."""
    return SafeConsole(stderr=True, markup=False, highlight=False)
