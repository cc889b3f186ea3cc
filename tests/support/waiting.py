"""`wait_for`: the one way tests wait: poll a condition until it holds or a deadline passes.

Never a bare sleep: the condition is checked every ``interval`` and the test goes on as
soon as it holds; the deadline only bounds a failure, and its message says what was
awaited (and the last value seen, when ``describe`` is given; the last error, when
``tolerate`` let errors mean "not yet")."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["DEFAULT_TIMEOUT", "any_error", "wait_for"]

T = TypeVar("T")
DEFAULT_TIMEOUT = 15.0


def any_error(error: Exception) -> bool:
    """A ``tolerate`` for conditions that fail until they hold (a node still starting)."""
    return True


def wait_for(
    condition: Callable[[], T],
    what: str = "the condition",
    timeout: float = DEFAULT_TIMEOUT,
    *,
    interval: float = 0.01,
    describe: Callable[[], object] | None = None,
    tolerate: Callable[[Exception], bool] | None = None,
) -> T:
    """The first truthy value of ``condition()``; AssertionError naming ``what`` after
    ``timeout`` seconds. Exceptions from ``condition`` propagate, except those for which
    ``tolerate(error)`` is true: they count as "not yet"."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = condition()
        except Exception as exc:
            if tolerate is None or not tolerate(exc):
                raise
            last_error = exc
        else:
            if value:
                return value
        if time.monotonic() >= deadline:
            detail = f" (last seen: {describe()!r})" if describe is not None else ""
            if last_error is not None:
                detail += f" (last error: {last_error!r})"
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{detail}")
        time.sleep(interval)
