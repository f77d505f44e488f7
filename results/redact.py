"""Credentials never reach the database, a report, an export or the terminal.

A URL's password (`scheme://user:PASSWORD@host`) becomes `***`, whatever characters it
holds (a bare `@`, `:` or `/` included: everything up to the last `@` of the word), and an
environment variable whose name looks secret keeps its name with the value `***`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MASK = "***"
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s]*:)\S*@")
_SECRET_NAME = re.compile(r"(?i)PASSWORD|PASSWD|TOKEN|SECRET|KEY|CREDENTIAL")


def redact(text: str) -> str:
    """`text` with the password of every URL in it masked."""
    return _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{MASK}@", text)


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    """Environment variables as they may be stored: secret-looking names masked, URLs in
    the other values (RESNET_BENCH_DB=postgresql://user:pw@...) without their password."""
    return {k: MASK if is_secret_name(k) else redact(v) for k, v in env.items()}
