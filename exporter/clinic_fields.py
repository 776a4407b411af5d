"""Turn raw SQLite values into typed field values, reporting what is wrong instead of failing.

Each cleaner takes the problem sink, who the value belongs to (card number or "row N"),
the field name and the raw value. A value that cannot be used is reported once and
replaced by an empty value; cleaners that return ``None`` for "unusable" let the caller
decide whether the whole row must be skipped (amounts, required dates).
"""
from __future__ import annotations

import math
import re
from datetime import date
from functools import lru_cache

from .records import WARNING, Problem

TEXT_CAP = 20_000  # characters per text field; longer values are cut with a problem

_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ][0-9:.+\-Z]*)?", re.ASCII)
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::\d{2}(?:\.\d+)?)?", re.ASCII)
_GENDERS = {"m": "M", "male": "M", "f": "F", "female": "F"}


class BadText(str):
    """Text that was not valid UTF-8, decoded with U+FFFD; reported when a cleaner sees it."""


def decode_text(raw: bytes) -> str:
    """SQLite text factory for tables holding non-UTF-8 text (see clinic_db._fetch)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return BadText(raw.decode("utf-8", errors="replace"))


class Sink:
    """Collects problems of one read."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, who: str, field: str, message: str, outcome: str = WARNING) -> None:
        self.problems.append(Problem(patient=who, field=field, message=message, outcome=outcome))


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def text(sink: Sink, who: str, field: str, value: object) -> str:
    if type(value) is str and len(value) <= TEXT_CAP:  # the common case, kept fast
        return value
    if value is None:
        return ""
    if type(value) is BadText:
        sink.add(who, field, "not valid UTF-8; unreadable bytes shown as \ufffd")
        value = str(value)
    elif isinstance(value, bytes):  # a BLOB where text belongs
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            value = value.decode("utf-8", errors="replace")
            sink.add(who, field, "not valid UTF-8; unreadable bytes shown as \ufffd")
    elif not isinstance(value, str):
        # clinic programs store phone numbers and card numbers as integers too
        value = str(value)
    if len(value) > TEXT_CAP:
        sink.add(who, field, f"{len(value)} characters, cut to {TEXT_CAP}")
        value = value[:TEXT_CAP]
    return value


def day(sink: Sink, who: str, field: str, value: object, skip: str = "") -> date | None:
    """A 'YYYY-MM-DD' date (a trailing time is ignored); None if empty or impossible.

    ``skip`` names the row that is dropped without a date (a visit, an appointment); it
    makes an empty date a problem too and goes into the message.
    """
    if type(value) is str and len(value) <= 32 and (found := _parse_day(value)) is not None:
        return found
    then = f"{skip} skipped" if skip else "left empty"
    if value is None or value == "" or value == b"":
        if skip:
            sink.add(who, field, f"no date; {then}")
        return None
    raw = text(sink, who, field, value).strip()
    found = _parse_day(raw) if len(raw) <= 32 else None  # the cache keeps short strings only
    if found is not None:
        return found
    sink.add(who, field, f"{_show(raw)} is not a date (expected YYYY-MM-DD); {then}")
    return None


def stamp(sink: Sink, who: str, field: str, value: object) -> tuple[str, str] | None:
    """A 'YYYY-MM-DD[THH:MM[:SS]]' timestamp as (sort key, text as stored); None if empty or
    not a timestamp (reported). The key compares 'T' and ' ' separated times alike."""
    if value is None or value == "" or value == b"":
        return None
    raw = text(sink, who, field, value).strip()
    if not raw:
        return None
    if len(raw) <= 32 and _parse_day(raw) is not None:
        return raw[:10] + "T" + raw[11:], raw
    sink.add(who, field, f"{_show(raw)} is not a timestamp (expected YYYY-MM-DDTHH:MM:SS); ignored")
    return None


@lru_cache(maxsize=8192)  # a clinic has a few thousand distinct days among 100,000 rows
def _parse_day(raw: str) -> date | None:
    match = _DATE.fullmatch(raw)
    if match:
        try:
            return date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            pass
    return None


# One float object per amount value: SQLite hands out a new float for every row, and the
# service keeps every patient between reads, while a clinic's prices repeat (10,000 demo
# patients: 82,000 amounts, 5,000 distinct). Capped, as the days cache is.
_AMOUNTS: dict[float, float] = {}
_AMOUNTS_CAP = 8192


def shared_amount(value: float) -> float:
    """``value``, as the one copy kept of an equal amount when there is one."""
    if not value and math.copysign(1.0, value) < 0:
        return value  # -0.0 equals 0.0 as a key, but prints with its sign
    found = _AMOUNTS.get(value)
    if found is None:
        if len(_AMOUNTS) >= _AMOUNTS_CAP:
            return value
        found = _AMOUNTS[value] = value
    return found


def amount(sink: Sink, who: str, field: str, value: object, skip: str) -> float | None:
    """A money amount; NULL is 0, anything not a finite number is None and ``skip`` is dropped."""
    if type(value) is float and math.isfinite(value):  # the common case, kept fast
        return shared_amount(value)
    if value is None:
        return 0.0
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, (bytes, str)):
        value = text(sink, who, field, value)
        try:
            value = float(value.strip())
        except ValueError:
            pass
    if isinstance(value, (int, float)) and math.isfinite(value):
        return shared_amount(float(value))
    sink.add(who, field, f"{_show(value)} is not a number; {skip} skipped")
    return None


def row_id(sink: Sink, who: str, field: str, value: object, skip: str) -> int | None:
    """A row id, which must be a whole number (the schema's INTEGER PRIMARY KEY; a table made
    without it can hold anything): rows are ordered by it, so any other value skips ``skip``."""
    if type(value) is int:
        return value
    found = integer(Sink(), who, field, value) if not isinstance(value, (bool, float)) else None
    if found is None:
        sink.add(who, field, f"{_show(value)} is not a whole number; {skip} skipped")
    return found


def integer(sink: Sink, who: str, field: str, value: object) -> int | None:
    if type(value) is int:
        return value
    if value is None or value == "" or value == b"":
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, (bytes, str)):
        raw = text(sink, who, field, value).strip()
        if re.fullmatch(r"-?\d{1,9}", raw):
            return int(raw)
        value = raw
    sink.add(who, field, f"{_show(value)} is not a whole number")
    return None


def flag(sink: Sink, who: str, field: str, value: object) -> bool:
    if value in (None, 0, 1, "0", "1", b"0", b"1"):
        return value in (1, "1", b"1")
    sink.add(who, field, f"{_show(value)} is not 0 or 1; taken as 0")
    return False


def gender(sink: Sink, who: str, field: str, value: object) -> str:
    raw = text(sink, who, field, value).strip()
    if not raw:
        return ""
    found = _GENDERS.get(raw.lower())
    if found is None:
        sink.add(who, field, f"{_show(raw)} is not M or F; left empty")
        return ""
    return found


def clock(sink: Sink, who: str, field: str, value: object) -> str:
    """'HH:MM' (seconds dropped), or "" if empty or impossible."""
    raw = text(sink, who, field, value).strip()
    if not raw:
        return ""
    match = _TIME.fullmatch(raw)
    if match and int(match[1]) < 24 and int(match[2]) < 60:
        return f"{int(match[1]):02d}:{match[2]}"
    sink.add(who, field, f"{_show(raw)} is not a time (expected HH:MM); left empty")
    return ""
