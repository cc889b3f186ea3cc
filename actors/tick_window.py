"""When a batching actor should next tick: at once on the first work after a quiet period,
then at most one tick per window while work keeps coming (a burst is taken in bulk).

The rule StoreReactor's shells and the dispatcher share; pure (the caller passes ``now``
and holds the lock, and carries out the answer with its timer):
- ``after_work(now)``: work arrived. A tick at once when the last tick with work started
  (or ``ended``) more than ``window`` seconds ago, else ``window`` after that.
- ``at(now, delay)``: a tick ``delay`` seconds from now (a periodic one, or a first tick).
- One tick is armed at a time: a request for a time at or after the armed one joins it
  (the answer is None), an earlier one replaces it (the answer is the delay to arm; the
  caller cancels its armed timer first).
- ``started(now)``: the armed tick runs now; the next request arms a new one, and work
  that comes while it runs waits for the window it opens. ``idle(now)``: it found no work
  after all (a periodic tick), so it holds back no work: the window is as before it, and
  work that came while it ran is asked for again by that window (the answer as above).
  ``ended(now)``: it had work and ended at ``now``; the window runs from its end, and a
  tick armed meanwhile is put off to then (an actor whose tick can take longer than the
  window, the dispatcher's at a thousand nodes, keeps a window's pause between ticks).
"""

from __future__ import annotations

__all__ = ["TickWindow"]


class TickWindow:
    def __init__(self, window: float) -> None:
        if window <= 0:
            raise ValueError(f"tick window must be positive, got {window}")
        self.window = window
        self.armed_at: float | None = None
        self.last_busy: float | None = None  # when the last tick that had work started
        self._before: float | None = None  # last_busy before the running tick started
        self._work_since_start = False

    def after_work(self, now: float) -> float | None:
        self._work_since_start = True
        last = self.last_busy
        delay = 0.0 if last is None else max(0.0, last + self.window - now)
        return self.at(now, delay)

    def at(self, now: float, delay: float) -> float | None:
        when = now + delay
        if self.armed_at is not None and self.armed_at <= when:
            return None
        self.armed_at = when
        return delay

    def started(self, now: float) -> None:
        self.armed_at = None
        self._before, self.last_busy = self.last_busy, now
        self._work_since_start = False

    def idle(self, now: float) -> float | None:
        self.last_busy = self._before
        return self.after_work(now) if self._work_since_start else None

    def ended(self, now: float) -> float:
        """The delay to arm (replacing the armed tick)."""
        self.last_busy = now
        self.armed_at = now + self.window
        return self.window
