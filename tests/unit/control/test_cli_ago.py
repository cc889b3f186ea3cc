"""How long ago, in the Docker CLI's words: ``service ps`` printed ``Running 0 seconds
ago``, ``1 minutes ago`` and ``72 hours ago`` where ``docker service ps`` says ``less than a
second ago``, ``about a minute ago`` and ``3 days ago`` (go-units ``HumanDuration``)."""

from __future__ import annotations

import pytest

from cli.service_ps import ago

NOW = 1_800_000_000.0
MINUTE = 60
HOUR = 3600
DAY = 24 * HOUR


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "less than a second ago"),
        (0.9, "less than a second ago"),
        (1, "1 second ago"),
        (59, "59 seconds ago"),
        (MINUTE, "about a minute ago"),
        (2 * MINUTE - 1, "about a minute ago"),
        (2 * MINUTE, "2 minutes ago"),
        (59 * MINUTE, "59 minutes ago"),
        (HOUR, "about an hour ago"),
        (90 * MINUTE - 1, "about an hour ago"),
        (90 * MINUTE, "2 hours ago"),
        (47 * HOUR, "47 hours ago"),
        (3 * DAY, "3 days ago"),
        (20 * DAY, "2 weeks ago"),
        (90 * DAY, "3 months ago"),
        (3 * 365 * DAY, "3 years ago"),
    ],
)
def test_ago_says_it_as_the_docker_cli_does(seconds: float, words: str) -> None:
    assert ago(NOW - seconds, NOW) == words


def test_a_clock_behind_the_timestamp_is_now_and_no_timestamp_is_nothing() -> None:
    assert ago(NOW + 5, NOW) == "less than a second ago"
    assert ago(0.0, NOW) == ""
