"""The web view's write scheme: read-only without a token, bearer token compared safely."""

from __future__ import annotations

import pytest

from actors.web.auth import WriteAuth, check_token_text, host_allowed

TOKEN = "0123456789abcdef0123"


def test_without_a_token_every_write_is_refused() -> None:
    auth = WriteAuth(None)
    assert not auth.writes
    refusal = auth.refusal(f"Bearer {TOKEN}")
    assert refusal is not None and refusal[0] == 403 and "read-only" in refusal[1]


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),
        ("", 401),
        (TOKEN, 401),  # no scheme
        (f"Basic {TOKEN}", 401),
        ("Bearer ", 401),
        ("Bearer wrong-token-of-some-length", 401),
        (f"Bearer {TOKEN}x", 401),
        (f"Bearer {TOKEN[:-1]}", 401),
    ],
)
def test_a_write_without_the_right_bearer_token_is_refused(header: str | None, status: int) -> None:
    refusal = WriteAuth(TOKEN).refusal(header)
    assert refusal is not None and refusal[0] == status


def test_the_right_bearer_token_allows_a_write() -> None:
    auth = WriteAuth(TOKEN)
    assert auth.writes
    assert auth.refusal(f"Bearer {TOKEN}") is None
    assert auth.refusal(f"bearer  {TOKEN} ") is None


def test_token_text_rules() -> None:
    assert check_token_text(f"  {TOKEN}\n", "t") == TOKEN
    with pytest.raises(ValueError, match="at least 16"):
        check_token_text("short\n", "/etc/tok")
    with pytest.raises(ValueError, match="one line"):
        check_token_text("0123456789 abcdef0123", "t")
    with pytest.raises(ValueError, match="longer"):
        check_token_text("a" * 5000, "t")


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        ("127.0.0.1:8080", True),
        ("localhost:8080", True),
        ("LOCALHOST", True),
        ("[::1]:8080", True),
        ("evil.example:8080", False),
        ("evil.example", False),
        ("10.0.0.5:8080", False),
        (None, False),
        ("[", False),
    ],
)
def test_a_loopback_view_answers_loopback_host_names_only(
    header: str | None, allowed: bool
) -> None:
    assert host_allowed(header, "127.0.0.1") is allowed


def test_an_exposed_view_answers_any_host_name() -> None:
    assert host_allowed("swarm.example:8080", "0.0.0.0")
