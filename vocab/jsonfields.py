"""JSON values as the messages carry them, and typed reads of an object's fields.

A read that finds the wrong thing raises the caller's error class with one line naming
the object, the key and the value (vocab.details, vocab.messages decode through it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeAlias

# A JSON value as json.loads gives it back, read-only by type (plain dicts and lists
# inside: dataclasses.asdict and copy.deepcopy must go through).
JSONValue: TypeAlias = (
    bool | int | float | str | Sequence["JSONValue"] | Mapping[str, "JSONValue"] | None
)
JSONObject: TypeAlias = Mapping[str, JSONValue]


class Fields:
    """Typed reads of `data`'s fields; `what` names the object in the error."""

    def __init__(self, data: JSONValue, what: str, error: type[ValueError]) -> None:
        if not isinstance(data, Mapping):
            raise error(f"{what} must be a JSON object, got {_short(data)}")
        self.data: JSONObject = data
        self.what, self.error = what, error

    def bad(self, key: str, wanted: str) -> ValueError:
        got = _short(self.data[key]) if key in self.data else "nothing"
        return self.error(f"{self.what} {key} must be {wanted}, got {got}")

    def unknown(self, allowed: Sequence[str]) -> None:
        """Refuse keys outside `allowed` (a request's sender and reader are one harness)."""
        extra = sorted(set(self.data) - set(allowed))
        if extra:
            raise self.error(
                f"{self.what}: unknown key(s) {', '.join(extra)}; allowed: {', '.join(allowed)}"
            )

    def integer(self, key: str, default: int | None = None) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.bad(key, "an integer")
        return value

    def optional_integer(self, key: str) -> int | None:
        return None if self.data.get(key) is None else self.integer(key)

    def number(self, key: str) -> float:
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.bad(key, "a number")
        return float(value)

    def text(self, key: str) -> str:
        value = self.data.get(key)
        if not isinstance(value, str):
            raise self.bad(key, "text")
        return value

    def optional_text(self, key: str) -> str | None:
        return None if self.data.get(key) is None else self.text(key)

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.bad(key, "true or false")
        return value

    def items(self, key: str, wanted: str = "a list") -> Sequence[JSONValue]:
        """A list (absent or null: empty)."""
        value = self.data.get(key)
        if value is None:
            return ()
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise self.bad(key, wanted)
        return value

    def integers(self, key: str) -> tuple[int, ...]:
        values = self.items(key, "a list of integers")
        if any(isinstance(v, bool) or not isinstance(v, int) for v in values):
            raise self.bad(key, "a list of integers")
        return tuple(v for v in values if isinstance(v, int))

    def texts(self, key: str) -> tuple[str, ...]:
        values = self.items(key, "a list of texts")
        if not all(isinstance(v, str) for v in values):
            raise self.bad(key, "a list of texts")
        return tuple(v for v in values if isinstance(v, str))

    def floats(self, key: str) -> tuple[float, ...]:
        return _numbers(self.items(key, "a list of numbers"), lambda: self.bad(key, "numbers"))

    def float_lists(self, key: str) -> tuple[tuple[float, ...], ...]:
        wanted = "a list of lists of numbers"
        out = []
        for v in self.items(key, wanted):
            if isinstance(v, str) or not isinstance(v, Sequence):
                raise self.bad(key, wanted)
            out.append(_numbers(v, lambda: self.bad(key, wanted)))
        return tuple(out)

    def obj(self, key: str) -> JSONObject:
        """A nested object (absent or null: empty)."""
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.bad(key, "a JSON object")
        return value

    def ints_by_name(self, key: str) -> dict[str, int]:
        out = {}
        for name, v in self.obj(key).items():
            if isinstance(v, bool) or not isinstance(v, int):
                raise self.bad(key, "an object of integers")
            out[str(name)] = v
        return out

    def texts_by_name(self, key: str) -> dict[str, str]:
        out = {}
        for name, v in self.obj(key).items():
            if not isinstance(v, str):
                raise self.bad(key, "an object of texts")
            out[str(name)] = v
        return out


def _numbers(values: Sequence[JSONValue], bad: Callable[[], ValueError]) -> tuple[float, ...]:
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise bad()
        out.append(float(v))
    return tuple(out)


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
