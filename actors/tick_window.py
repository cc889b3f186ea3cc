"""When a batching actor should next tick: at once on the first work after a quiet period,
then at most one tick per window while work keeps coming (a burst is taken in bulk).

The rule StoreReactor's shells and the dispatcher share; pure (the caller passes ``now``
and holds the lock, and carries out the answer with its timer):
- ``after_work(now, lane)``: work arrived. A tick at once when the lane's last tick with
  work started (or ``ended``) more than ``window`` seconds ago, else ``window`` after that.
- Lanes: work of different kinds has windows of its own (the dispatcher: assignment
  frames out, status writes in), so a tick that only sent frames does not hold back the
  first status that follows it, nor the reverse. One lane (``WORK``) unless given more.
- ``at(now, delay)``: a tick ``delay`` seconds from now (a periodic one, or a first tick).
- One tick is armed at a time: a request for a time at or after the armed one joins it
  (the answer is None), an earlier one replaces it (the answer is the delay to arm; the
  caller cancels its armed timer first).
- ``started(now)``: the armed tick runs now; the next request arms a new one, and work
  that comes while it runs waits for the window it opens. ``finished(now, busy)``: it
  ended at ``now`` with work for the lanes ``busy``. Their windows run from its end, and
  a tick armed meanwhile is put off to then (an actor whose tick can take longer than the
  window, the dispatcher's at a thousand nodes, keeps a window's pause between ticks).
  The other lanes are as before it (it held back none of their work), and their work that
  came while it ran is asked for again by their windows (maybe at once). ``ended(now)``
  is ``finished`` with every lane busy, ``idle(now)`` with none.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

__all__ = ["WORK", "TickWindow"]

WORK = "work"  # the one lane of a window that is given none


class TickWindow:
    def __init__(self, window: float, lanes: Sequence[str] = (WORK,)) -> None:
        if window <= 0:
            raise ValueError(f"tick window must be positive, got {window}")
        if not lanes:
            raise ValueError("a tick window needs at least one lane")
        self.window = window
        self.armed_at: float | None = None
        # per lane: when its last tick with work started (or ended)
        self.last_busy: dict[str, float | None] = dict.fromkeys(lanes)
        self._before: dict[str, float | None] = dict(self.last_busy)  # before the running tick
        self._waiting: set[str] = set()  # lanes given work since the running tick started

    def after_work(self, now: float, lane: str = WORK) -> float | None:
        self._waiting.add(lane)
        return self.at(now, self._delay(lane, now))

    def _delay(self, lane: str, now: float) -> float:
        last = self.last_busy[lane]
        return 0.0 if last is None else max(0.0, last + self.window - now)

    def at(self, now: float, delay: float) -> float | None:
        when = now + delay
        if self.armed_at is not None and self.armed_at <= when:
            return None
        self.armed_at = when
        return delay

    def started(self, now: float) -> None:
        self.armed_at = None
        self._before = dict(self.last_busy)
        self.last_busy = dict.fromkeys(self.last_busy, now)
        self._waiting = set()

    def finished(self, now: float, busy: Collection[str]) -> float | None:
        """The delay to arm (with ``busy`` lanes: replacing the armed tick); None: nothing
        to ask for (no lane busy and no work came while it ran)."""
        for lane in self.last_busy:
            self.last_busy[lane] = now if lane in busy else self._before[lane]
        waiting, self._waiting = self._waiting - set(busy), set()
        sooner = min((self._delay(lane, now) for lane in waiting), default=None)
        if not busy:
            return None if sooner is None else self.at(now, sooner)
        delay = self.window if sooner is None else min(self.window, sooner)
        self.armed_at = now + delay
        return delay

    def ended(self, now: float) -> float:
        """The delay to arm (replacing the armed tick)."""
        delay = self.finished(now, self.last_busy)
        assert delay is not None
        return delay

    def idle(self, now: float) -> float | None:
        return self.finished(now, ())
