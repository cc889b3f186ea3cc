"""A stop carried out step by step: each step runs whatever the steps before it raised,
each wait is bounded, and a step that fails is logged with what it left undone
(``dispatcher.stop.step_failed``: ``step``, ``skipped``, ``error``).

A stop that ended at its first exception left the rest undone: a status intake that did
not stop within its wait (``pykka.Timeout``) skipped the sessions' final frames (their
agents learnt of the leader change only when a heartbeat was refused) and the writer's
stop (its thread was left running, with nothing to stop it again).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pykka

from actors.log import get_logger

__all__ = ["StopSteps", "stop_and_wait"]

_log = get_logger("dispatcher")

T = TypeVar("T")


class StopSteps:
    def __init__(self) -> None:
        self.failed: list[str] = []  # the steps that failed, in order

    @contextmanager
    def step(self, name: str, skipped: str) -> Iterator[None]:
        """Run the block as step ``name``; an exception it raises is logged with
        ``skipped`` (what the step leaves undone when it fails) and goes no further."""
        try:
            yield
        except Exception as exc:
            self._failed(name, skipped, exc)

    def each(self, name: str, items: Iterable[T], do: Callable[[T], None], skipped: str) -> None:
        """``do`` each of ``items``, whatever the others raised; the failures logged once,
        with how many failed and the first one's error."""
        failures = 0
        first: Exception | None = None
        for item in items:
            try:
                do(item)
            except Exception as exc:
                failures += 1
                first = first or exc
        if first is not None:
            self._failed(name, skipped, first, failures=failures)

    def _failed(self, name: str, skipped: str, exc: Exception, **fields: Any) -> None:
        self.failed.append(name)
        _log.error(
            "dispatcher.stop.step_failed",
            step=name,
            skipped=skipped,
            error=str(exc) or type(exc).__name__,
            exc_info=None if isinstance(exc, TimeoutError) else exc,  # a wait it bounded
            **fields,
        )


def stop_and_wait(ref: pykka.ActorRef[Any] | None, timeout: float, what: str) -> None:
    """Stop the actor ``ref`` and wait for it at most ``timeout`` seconds; TimeoutError
    naming ``what`` past it (it stops after the message it is handling). An actor
    already dead, or None (never started), is stopped."""
    if ref is None:
        return
    try:
        ref.stop(block=True, timeout=timeout)
    except pykka.ActorDeadError:
        pass
    except pykka.Timeout:
        raise TimeoutError(f"{what} did not stop within {timeout}s") from None
