"""The Engine API's small wire forms (pure): times, durations, ``filters`` and query flags.

- Times are RFC 3339 with nanoseconds in UTC (``2016-06-07T21:07:29.962229872Z``); our
  objects keep float seconds since the epoch.
- Durations are integer nanoseconds; our specs keep float seconds.
- ``filters`` is a JSON object of key → list of values (or, from old clients, key →
  {value: true}); a key the endpoint does not know is refused naming it, as Docker does.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from actors.engine_api.errors import bad_request

__all__ = [
    "ZERO_TIME",
    "Filters",
    "from_ns",
    "label_matches",
    "parse_filters",
    "parse_time",
    "query_bool",
    "query_int",
    "registry_auth",
    "rfc3339",
    "to_ns",
]

ZERO_TIME: Final = "0001-01-01T00:00:00Z"
MAX_FILTER_VALUES: Final = 256

Filters = dict[str, list[str]]


def rfc3339(seconds: float | None) -> str:
    if not seconds:
        return ZERO_TIME
    whole = int(seconds)
    nanos = round((seconds - whole) * 1e9)
    if nanos >= 1_000_000_000:
        whole, nanos = whole + 1, 0
    stamp = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos:09d}Z"


def to_ns(seconds: float) -> int:
    return round(seconds * 1e9)


def from_ns(value: Any, field: str) -> float:
    """A duration in nanoseconds (``None``: 0) → seconds; 400 naming ``field`` otherwise."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise bad_request(f"{field}: expected a duration in nanoseconds, got {value!r}")
    return value / 1e9


def parse_filters(text: str | None, known: Iterable[str]) -> Filters:
    """The ``filters`` query value → {key: [values]}; 400 for bad JSON or an unknown key."""
    if not text:
        return {}
    try:
        raw = json.loads(text)
    except ValueError:
        raise bad_request(f"invalid filters: not JSON: {text[:80]!r}") from None
    if not isinstance(raw, dict):
        raise bad_request("invalid filters: expected a JSON object")
    allowed = set(known)
    out: Filters = {}
    count = 0
    for key, values in raw.items():
        if key not in allowed:
            raise bad_request(f"invalid filter '{key}'")
        if isinstance(values, Mapping):
            listed = [str(v) for v, on in values.items() if on]
        elif isinstance(values, list):
            listed = [str(v) for v in values]
        else:
            raise bad_request(f"invalid filter '{key}': expected a list of values")
        count += len(listed)
        if count > MAX_FILTER_VALUES:
            raise bad_request(f"too many filter values (at most {MAX_FILTER_VALUES})")
        out[str(key)] = listed
    return out


def label_matches(labels: Mapping[str, str], wanted: Iterable[str]) -> bool:
    """Every ``key`` or ``key=value`` of ``wanted`` holds for ``labels``, by the daemon's
    rule for its own objects (events, networks): ``key=`` wants an empty value. (Swarm
    objects follow SwarmKit's: `api.list_filters.labels_match`.)"""
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def query_bool(query: Mapping[str, str], name: str) -> bool:
    value = query.get(name, "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise bad_request(f"invalid value for {name}: {value!r} (expected true or false)")


def query_int(query: Mapping[str, str], name: str) -> int | None:
    value = query.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise bad_request(f"invalid value for {name}: {value!r} (expected an integer)") from None


def registry_auth(header: str | None) -> dict[str, str] | None:
    """``X-Registry-Auth`` (base64url of Docker's AuthConfig JSON) → the control API's
    ``registry_auth``; None when absent or empty (``{}``). 400 when it cannot be read."""
    if not header or not header.strip():
        return None
    text = header.strip()
    try:
        raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, binascii.Error):
        raise bad_request("X-Registry-Auth is not base64 of a JSON object") from None
    if not isinstance(raw, dict):
        raise bad_request("X-Registry-Auth is not base64 of a JSON object")
    fields = {k.lower(): v for k, v in raw.items() if isinstance(v, str)}
    auth = {
        "server_address": fields.get("serveraddress", ""),
        "username": fields.get("username", ""),
        "password": fields.get("password", ""),
        "identity_token": fields.get("identitytoken", ""),
    }
    if not any(auth.values()):
        return None
    return auth


def parse_time(value: str, name: str) -> float:
    """A ``since``/``until`` of ``docker events``: Unix seconds with an optional fraction
    (``1700000000.000000001``), as the CLI sends it after resolving durations and dates."""
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise bad_request(f"invalid {name}: {value!r} (expected a Unix time)") from None
