"""The HTTP listen address parser (actors/http/address.py)."""

from __future__ import annotations

import pytest

from actors.http.address import HttpAddress, parse_http_address


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("unix:///run/swarm/engine.sock", HttpAddress(path="/run/swarm/engine.sock")),
        ("tcp://0.0.0.0:2376", HttpAddress(host="0.0.0.0", port=2376)),
        ("tcp://[::1]:2375", HttpAddress(host="::1", port=2375)),
        ("127.0.0.1:8080", HttpAddress(host="127.0.0.1", port=8080)),
        (":8080", HttpAddress(host="127.0.0.1", port=8080)),
        ("8080", HttpAddress(host="127.0.0.1", port=8080)),
    ],
)
def test_parses(text: str, expected: HttpAddress) -> None:
    assert parse_http_address(text) == expected


@pytest.mark.parametrize(
    "text", ["unix://relative.sock", "http://host:1", "tcp://host:99999", "host:", "tcp://host"]
)
def test_bad_input_names_the_flag(text: str) -> None:
    with pytest.raises(ValueError, match="--engine-api"):
        parse_http_address(text, flag="--engine-api")


def test_loopback_and_url() -> None:
    assert parse_http_address("unix:///x.sock").is_loopback()
    assert parse_http_address("tcp://127.0.0.1:1").is_loopback()
    assert parse_http_address("tcp://localhost:1").is_loopback()
    assert not parse_http_address("tcp://0.0.0.0:1").is_loopback()
    assert parse_http_address("tcp://[::1]:5").url() == "tcp://[::1]:5"
