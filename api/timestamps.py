"""Log timestamps: nanoseconds since the Unix epoch, read and written as Docker does.

- ``format_rfc3339_ns(ns)`` is Docker's RFC3339Nano with the nanoseconds always nine
  digits (``2014-09-16T06:17:46.000000000Z``), so ``--timestamps`` columns line up.
- ``parse_rfc3339_ns(text)`` reads RFC 3339 with any number of fraction digits and a
  ``Z`` or ``±HH:MM`` zone; without a zone the time is UTC.
- ``parse_since(text, now_ns)`` reads ``--since`` as ``docker logs`` does: an RFC 3339
  time (a date alone is its midnight UTC), a Unix timestamp (``1700000000.5``) or a
  duration back from now (``42m``, ``1h30m``, api/units.py).

Pure: ``now_ns`` is given by the caller. Errors are ``ValueError`` naming the input.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

from api.units import parse_duration

__all__ = ["NS_PER_SECOND", "format_rfc3339_ns", "parse_rfc3339_ns", "parse_since"]

NS_PER_SECOND: Final = 1_000_000_000
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9})\d*)?)?)?"
    r"\s*(Z|z|[+-]\d{2}:?\d{2})?$"
)
_UNIX = re.compile(r"^\d{1,12}(?:\.\d{1,9})?$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def format_rfc3339_ns(ns: int) -> str:
    seconds, fraction = divmod(ns, NS_PER_SECOND)
    when = _EPOCH + dt.timedelta(seconds=seconds)
    return f"{when:%Y-%m-%dT%H:%M:%S}.{fraction:09d}Z"


def _zone_offset(zone: str | None) -> int:
    """Seconds east of UTC."""
    if zone is None or zone in ("Z", "z"):
        return 0
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    return sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)


def parse_rfc3339_ns(text: str) -> int:
    match = _RFC3339.match(text.strip())
    if match is None:
        raise ValueError(f"invalid time {text!r} (expected RFC 3339, e.g. 2013-01-02T13:23:37Z)")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        when = dt.datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=dt.UTC,
        )
    except ValueError as exc:
        raise ValueError(f"invalid time {text!r}: {exc}") from None
    seconds = int((when - _EPOCH).total_seconds()) - _zone_offset(zone)
    nanos = int((fraction or "0").ljust(9, "0"))
    return seconds * NS_PER_SECOND + nanos


def parse_since(text: str, now_ns: int) -> int:
    """``--since``'s value as nanoseconds since the epoch (see the module docstring)."""
    value = text.strip()
    if not value:
        raise ValueError("invalid --since value '' (expected a time or a duration)")
    if _UNIX.match(value):
        whole, _, fraction = value.partition(".")
        return int(whole) * NS_PER_SECOND + int(fraction.ljust(9, "0") or 0)
    if _RFC3339.match(value):
        return parse_rfc3339_ns(value)
    try:
        back = parse_duration(value)
    except ValueError:
        raise ValueError(
            f"invalid --since value {text!r} (expected a time such as 2013-01-02T13:23:37Z, "
            "a Unix timestamp, or a duration such as 42m)"
        ) from None
    return max(0, now_ns - int(back * NS_PER_SECOND))
