"""Log timestamps: RFC3339Nano both ways, and ``--since`` as docker logs reads it."""

from __future__ import annotations

import pytest

from api.timestamps import NS_PER_SECOND, format_rfc3339_ns, parse_rfc3339_ns, parse_since

T = 1_700_000_000 * NS_PER_SECOND + 123_456_789  # 2023-11-14T22:13:20.123456789Z


def test_format_always_has_nine_fraction_digits() -> None:
    assert format_rfc3339_ns(T) == "2023-11-14T22:13:20.123456789Z"
    assert format_rfc3339_ns(1_700_000_000 * NS_PER_SECOND) == "2023-11-14T22:13:20.000000000Z"


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("2023-11-14T22:13:20.123456789Z", T),
        ("2023-11-14T23:13:20.123456789+01:00", T),
        ("2023-11-14T21:13:20.123456789-0100", T),
        ("2023-11-14T22:13:20.1234567891234Z", T),  # digits past nanoseconds are dropped
        ("2023-11-14T22:13:20.5Z", 1_700_000_000 * NS_PER_SECOND + 500_000_000),
        ("2023-11-14T22:13:20", 1_700_000_000 * NS_PER_SECOND),  # no zone: UTC
        ("2023-11-14", 1_699_920_000 * NS_PER_SECOND),
    ],
)
def test_parse_rfc3339(text: str, ns: int) -> None:
    assert parse_rfc3339_ns(text) == ns


@pytest.mark.parametrize("text", ["", "yesterday", "2023-13-01T00:00:00Z", "2023-11-14T25:00Z"])
def test_parse_rfc3339_refuses_what_is_not_a_time(text: str) -> None:
    with pytest.raises(ValueError, match="invalid time"):
        parse_rfc3339_ns(text)


def test_since_takes_times_timestamps_and_durations() -> None:
    now = 2_000_000_000 * NS_PER_SECOND
    assert parse_since("2023-11-14T22:13:20.123456789Z", now) == T
    assert parse_since("1700000000.123456789", now) == T
    assert parse_since("1700000000", now) == 1_700_000_000 * NS_PER_SECOND
    assert parse_since("42m", now) == now - 42 * 60 * NS_PER_SECOND
    assert parse_since("1h30m", now) == now - 5400 * NS_PER_SECOND


@pytest.mark.parametrize("text", ["", "soon", "-5m", "5"])
def test_since_refuses_the_rest_with_the_value_named(text: str) -> None:
    if text == "5":  # a bare number is a Unix timestamp, not an error
        assert parse_since(text, 0) == 5 * NS_PER_SECOND
        return
    with pytest.raises(ValueError, match="--since"):
        parse_since(text, 10**18)
