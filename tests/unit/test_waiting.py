"""The one wait_for: its deadline message, and errors that mean "not yet"."""

from __future__ import annotations

import itertools

import pytest

from tests.support.waiting import any_error, wait_for


def test_returns_the_first_truthy_value() -> None:
    counter = itertools.count()
    assert wait_for(lambda: next(counter) >= 3 and "done", "three calls") == "done"


def test_the_deadline_names_what_was_awaited_and_the_last_value() -> None:
    with pytest.raises(AssertionError, match=r"waiting for the answer \(last seen: 41\)"):
        wait_for(lambda: False, "the answer", 0.05, describe=lambda: 41)


def test_errors_propagate_unless_tolerated() -> None:
    def flaky() -> bool:
        raise ConnectionError("not up yet")

    with pytest.raises(ConnectionError):
        wait_for(flaky, "a connection", 1.0)
    with pytest.raises(AssertionError, match="last error: ConnectionError"):
        wait_for(flaky, "a connection", 0.05, tolerate=any_error)

    calls = itertools.count()

    def starts() -> bool:
        if next(calls) < 3:
            raise ConnectionError("not up yet")
        return True

    assert wait_for(starts, "a connection", tolerate=any_error)
    with pytest.raises(KeyError):  # only what tolerate accepts
        wait_for(lambda: {}["x"], "a key", 1.0, tolerate=lambda e: isinstance(e, ConnectionError))
