"""Credentials never reach the database, a report, an export or the terminal.

Database URLs are masked from what SQLAlchemy's URL parser returns (`make_url`): the
password it would connect with becomes `***` (`render_as_string(hide_password=True)`), and
so does every query parameter whose name looks secret (`?password=...`, `sslpassword`).
A password the parser splits oddly (a bare `@` in it) is masked up to the last `@` of the
argument, and a URL it cannot parse at all the same way, so a mask never depends on the
password's characters (spaces, `@`, `:`, `/`, `?` included).

A command line is masked argument by argument (`redact_argv`; `redact` splits a stored one
with shlex first), so a quoted password with a space in it stays one argument.

Environment variables (`redact_env`): a variable whose NAME looks secret (SECRET_NAME:
PASSWORD, TOKEN, SECRET, KEY, CRED, AUTH, PEM, BEARER, PRIVATE, ...) or whose VALUE looks
like a credential (looks_secret: `user:password@host` anywhere in it, JSON included, a PEM
block, an `Authorization`-style `Bearer ...`, `password=` / `"token":` pairs, well-known
token shapes, long random-looking words) keeps its name with the value `***`, whole: a
value is never partly masked, since a partial rule is what leaks.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

MASK = "***"
SECRET_NAME = re.compile(
    r"(?i)PASSWORD|PASSWD|PASSPHRASE|TOKEN|SECRET|KEY|CRED|AUTH|PEM|BEARER|PRIVATE|COOKIE"
    r"|SESSION|SIGNATURE|SALT"
)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
# scheme://user: ... @ : everything up to the LAST @ of the argument is the password.
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/@]*:).*@", re.DOTALL)
_QUERY_PAIR = re.compile(r"([?&;]([^=&;#]*)=)([^&;#]*)")
_CREDENTIAL_VALUE = re.compile(
    r":[^@]*@"  # user:password@host, in a URL, a JSON document or a bare host list
    r"|-----BEGIN"  # a PEM block: private keys, certificates
    r"|(?i:\b(?:bearer|basic|digest|token)\s+\S)"  # an Authorization header's value
    r"|(?i:(?:password|passwd|pwd|secret|token|api[_-]?key|credential|auth)\w*[\"']?\s*[:=])"
    r"|\b(?:gh[pousr]_\w{16,}|github_pat_\w{16,}|glpat-[\w-]{16,}|xox[abprs]-[\w-]{10,}"
    r"|AKIA[0-9A-Z]{16}|sk-[\w-]{16,}|hf_\w{16,}|eyJ[\w-]{8,}\.[\w-]{8,})"
    # a long word mixing upper case, lower case and digits: an API key (paths, flags and
    # hex ids do not mix all three)
    r"|(?=[\w+=-]*[a-z])(?=[\w+=-]*[A-Z])(?=[\w+=-]*[0-9])(?<![\w+=-])[\w+=-]{32,}"
)


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def looks_secret(value: str) -> bool:
    """Whether an environment variable's value looks like it holds a credential."""
    return bool(_CREDENTIAL_VALUE.search(value))


def _mask_query(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        return m.group(1) + MASK if is_secret_name(m.group(2)) else m.group(0)

    return _QUERY_PAIR.sub(one, text)


def mask_url(url: str | URL) -> str:
    """A database URL fit to print or store: the password the parser finds and every
    secret-named query parameter as ***; text the parser refuses is masked by shape."""
    if isinstance(url, URL):
        parsed: URL | None = url
    else:
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError):  # ValueError: a bare ':' or '@' in the password
            parsed = None
    if parsed is None:
        text = str(url)
    else:
        secret = {k: MASK for k in parsed.query if is_secret_name(k)}
        text = parsed.update_query_dict(secret).render_as_string(hide_password=True)
        text = text.replace("%2A%2A%2A", MASK)  # the query's *** comes back URL-encoded
    return _mask_query(_USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text))


def redact_word(word: str) -> str:
    """One argument (or word) with the URL inside it masked: `--db=URL`, `NAME=URL`, `URL`."""
    m = _SCHEME.search(word)
    if m is None:
        return word
    return word[: m.start()] + mask_url(word[m.start() :])


_PLAIN_WORD = re.compile(r"[\w@%+=:,./*-]+")


def _join(words: Sequence[str]) -> str:
    # shlex.join, but the mask's *** left unquoted: `--db postgresql://u:***@h/db` reads
    # better in `show` than its quoted form (and no shell ever runs a stored command).
    return " ".join(w if _PLAIN_WORD.fullmatch(w) else shlex.quote(w) for w in words)


def redact_argv(argv: Sequence[str]) -> str:
    """A command line as it may be stored or printed: shlex-joined, each argument masked."""
    return _join([redact_word(w) for w in argv])


def redact(text: str) -> str:
    """`text` (a stored command line, a message) with the password of every URL masked."""
    try:
        words = shlex.split(text)
    except ValueError:  # unbalanced quotes: not a command line; mask word by word
        return " ".join(redact_word(w) for w in text.split(" "))
    masked = [redact_word(w) for w in words]
    return text if masked == words else _join(masked)


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    """Environment variables as they may be stored: a secret-looking name or value -> ***."""
    return {k: MASK if is_secret_name(k) or looks_secret(v) else v for k, v in env.items()}
