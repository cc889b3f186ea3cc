"""Values as Docker parses them: memory, CPUs, durations, key=value."""

from __future__ import annotations

import pytest

from api.units import (
    format_bytes,
    format_cpus,
    format_duration,
    parse_cpus,
    parse_duration,
    parse_key_value,
    parse_memory,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("64M", 64 * 1024**2),
        ("64m", 64 * 1024**2),
        ("1G", 1024**3),
        ("1g", 1024**3),
        ("512mb", 512 * 1024**2),
        ("1.5GiB", int(1.5 * 1024**3)),
        ("1024", 1024),
        ("10k", 10 * 1024),
        ("2b", 2),
    ],
)
def test_memory(text: str, expected: int) -> None:
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["", "M", "12Q", "-1M", "1.2.3g", "64 MB extra"])
def test_bad_memory(text: str) -> None:
    with pytest.raises(ValueError, match="invalid memory size"):
        parse_memory(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0.5", 500_000_000), ("2", 2_000_000_000), ("0.000000001", 1), ("0", 0)],
)
def test_cpus(text: str, expected: int) -> None:
    assert parse_cpus(text) == expected


@pytest.mark.parametrize("text", ["abc", "-1", "0.0000000001", "nan", "inf"])
def test_bad_cpus(text: str) -> None:
    with pytest.raises(ValueError, match="CPU count"):
        parse_cpus(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5s", 5.0),
        ("1m30s", 90.0),
        ("500ms", 0.5),
        ("1.5h", 5400.0),
        ("2h45m", 9900.0),
        ("0", 0.0),
        ("300us", 0.0003),
        ("1m0.5s", 60.5),
    ],
)
def test_durations(text: str, expected: float) -> None:
    assert parse_duration(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["5", "", "s", "5x", "1m30", "-5s", "5s3", "1 m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_missing_unit_is_named() -> None:
    with pytest.raises(ValueError, match="missing unit"):
        parse_duration("30")


def test_key_value() -> None:
    assert parse_key_value("a=b") == ("a", "b")
    assert parse_key_value("a=b=c") == ("a", "b=c")
    assert parse_key_value("a") == ("a", "")
    assert parse_key_value("a=") == ("a", "")
    for bad in ("=b", "", " a=b"):
        with pytest.raises(ValueError):
            parse_key_value(bad)
    with pytest.raises(ValueError):
        parse_key_value("a", value_required=True)


def test_formatting_round_trips() -> None:
    assert format_bytes(parse_memory("64M")) == "64MiB"
    assert format_bytes(parse_memory("1g")) == "1GiB"
    assert format_cpus(parse_cpus("0.5")) == "0.5"
    assert format_cpus(parse_cpus("2")) == "2"
    assert format_duration(parse_duration("1m30s")) == "1m30s"
    assert format_duration(0.5) == "500ms"
    assert format_duration(90 * 24 * 3600.0) == "2160h0m0s"
