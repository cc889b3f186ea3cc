"""Periodic jobs as supervised actors: the one shell for "do this every N seconds".

Rules:
- A `PeriodicJob` says how often (``interval()``) and what (``tick(now)``); a
  `PeriodicActor` runs it. The job holds the state and the I/O, the actor only the timing.
- ``tick(now)`` runs on the actor's own thread, never on a timer thread, so it needs no
  lock against the actor's other messages; ``now`` is the supervisor's clock.
- The next tick is scheduled through the supervisor's timer (``ctx.timer``) after the
  current one returns (a fixed delay, so a slow tick never overlaps itself); a test drives
  ticks with a manual timer and clock, and never sleeps.
- ``interval()`` is asked before each wait, so a job can follow a setting that changes or
  add jitter from an injected ``random.Random``.
- An exception in ``tick`` is a crash: the supervisor logs it and restarts the actor (with
  its backoff), instead of a private thread that dies unseen.
- ``poke()`` (any thread) asks for a tick now; ticks already due are not doubled.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from actors.supervised import Cancel, ChildContext, Clock, SupervisedActor, ThreadTimer, Timer

__all__ = ["PeriodicActor", "PeriodicJob"]


class PeriodicJob(Protocol):
    def interval(self) -> float:
        """Seconds until the next tick (asked before each wait)."""
        ...

    def tick(self, now: float) -> None:
        """One round of the job; an exception crashes (and restarts) its actor."""
        ...


class _Tick:
    __slots__ = ("generation",)

    def __init__(self, generation: int) -> None:
        self.generation = generation


class _Poke:
    __slots__ = ()


class PeriodicActor(SupervisedActor):
    """Runs ``job`` every ``job.interval()`` seconds; the first tick after ``first_delay``
    (default: the interval; 0 runs one at once)."""

    def __init__(
        self, ctx: ChildContext | None, job: PeriodicJob, *, first_delay: float | None = None
    ) -> None:
        super().__init__(ctx)
        self.job = job
        self.clock: Clock = ctx.clock if ctx is not None else time.monotonic
        self._timer: Timer = ctx.timer if ctx is not None else ThreadTimer()
        self._first_delay = first_delay
        self._cancel: Cancel | None = None
        self._generation = 0

    def poke(self) -> None:
        """Ask for a tick as soon as the actor gets to it (thread-safe)."""
        self.actor_ref.tell(_Poke())

    def on_start(self) -> None:
        first = self._first_delay
        self._schedule(self.job.interval() if first is None else first)

    def on_stop(self) -> None:
        self._unschedule()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _Tick):
            if message.generation == self._generation:
                self._run_tick()
            return None
        if isinstance(message, _Poke):
            self._run_tick()
            return None
        return super().on_receive(message)

    def _run_tick(self) -> None:
        self._unschedule()
        try:
            self.job.tick(self.clock())
        finally:
            # A crash stops the actor (on_stop cancels this); otherwise the next tick waits.
            self._schedule(self.job.interval())

    def _schedule(self, delay: float) -> None:
        self._generation += 1
        generation = self._generation
        ref = self.actor_ref

        def fire() -> None:
            if ref.is_alive():
                ref.tell(_Tick(generation))

        self._cancel = self._timer.call_later(max(0.0, delay), fire)

    def _unschedule(self) -> None:
        if self._cancel is not None:
            self._cancel()
            self._cancel = None
