"""``StoreReactor``: the shell of the leader-only actors that react to the store's watch
queue (the orchestrator, the task reaper and the scheduler; STYLE.md rule 4).

Rules:
- A subclass's ``on_start`` calls ``_resync`` (read what it needs and start watching, with
  ``notify=self._on_events``) and then ``_request_tick``.
- The store's watch callback only asks for a tick: at once when no tick started within
  the last ``tick_interval`` seconds (an idle actor reacts without a batching delay), else
  ``tick_interval`` after the last one started (a burst of events is still taken in bulk,
  at most one tick per interval). One tick is armed at a time: a request for a time at or
  after the armed one joins it, an earlier one replaces it (the rule: tick_window.py).
  Nothing is armed once the actor is stopping.
- The timer tells the actor a ``_Tick``; ``tick()`` starts with ``_tick_started()`` and
  calls ``_drain()``, which hands every queued event to ``_apply``. A tick that found
  nothing to do may end with ``_tick_idle()``: it holds back no work (the next event
  ticks at once when the tick before it was quiet long enough). A closed watch (reset
  after a snapshot restore, or overflow) is logged and reopened through ``_resync``.
- ``on_stop`` cancels the armed tick and closes the watch.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import pykka

from actors.log import get_logger
from actors.store import Event, MemoryStore, WatchClosed, Watcher
from actors.supervisor import ChildContext, SupervisedActor, ThreadTimer, Timer
from actors.tick_window import TickWindow

__all__ = ["DEFAULT_TICK_INTERVAL", "StoreReactor"]

DEFAULT_TICK_INTERVAL = 0.05


@dataclass(frozen=True)
class _Tick:
    pass


class StoreReactor(SupervisedActor):
    subsystem: ClassVar[str]

    def __init__(
        self,
        ctx: ChildContext | None,
        store: MemoryStore,
        *,
        tick_interval: float = DEFAULT_TICK_INTERVAL,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        timer: Timer | None = None,
    ) -> None:
        super().__init__(ctx)
        self._store = store
        self._tick_interval = tick_interval
        self._clock = clock
        self._rng = rng or random.Random()
        self._timer: Timer = timer or (ctx.timer if ctx is not None else ThreadTimer())
        self._log = get_logger(self.subsystem)
        self._watcher: Watcher | None = None
        self._lock = threading.Lock()
        self._window = TickWindow(tick_interval)  # every tick counts as one with work
        self._cancel: Callable[[], None] | None = None
        self._stopping = False

    # --- what subclasses decide -----------------------------------------------------------

    def tick(self) -> object:
        raise NotImplementedError

    def _apply(self, event: Event) -> None:
        """Take in one event from the watch queue."""
        raise NotImplementedError

    def _resync(self) -> None:
        """Read everything again and (re)open ``self._watcher``."""
        raise NotImplementedError

    # --- lifecycle ---------------------------------------------------------------------

    def on_stop(self) -> None:
        with self._lock:
            self._stopping = True
            cancel, self._cancel = self._cancel, None
        if cancel is not None:
            cancel()
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
        self._log.info(f"{self.subsystem}.stopped")

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _Tick):
            return self.tick()
        return None

    # --- the watch queue ---------------------------------------------------------------

    def _tick_started(self) -> None:
        """The armed tick (if any) is this one: the next request arms a new one."""
        with self._lock:
            self._window.started(self._clock())
            self._cancel = None

    def _tick_idle(self) -> None:
        """The running tick found nothing to do: the window is as before it, and events
        that came while it ran are asked for again (tick_window.py ``idle``)."""
        with self._lock:
            if self._stopping:
                return
            armed = self._window.idle(self._clock())
            if armed is None:
                return
            if self._cancel is not None:
                self._cancel()
            self._cancel = self._timer.call_later(armed, self._fire)

    def _drain(self) -> tuple[int, bool]:
        """Hand every queued event to ``_apply``: (how many, whether it resynced)."""
        count = 0
        resynced = False
        while True:
            if self._watcher is None:
                self._resync()
                resynced = True
            assert self._watcher is not None
            try:
                events = self._watcher.poll()
            except WatchClosed as exc:
                self._log.warning(
                    f"{self.subsystem}.watch.closed", reason=exc.reason, reset=exc.reset
                )
                self._watcher = None
                continue
            if not events:
                return count, resynced
            for event in events:
                self._apply(event)
            count += len(events)

    # --- waking up ---------------------------------------------------------------------

    def _on_events(self) -> None:
        """Called by the store, from the thread that applied a change, without locks."""
        self._request_tick(self._tick_interval, after_last=True)

    def _request_tick(self, delay: float, *, after_last: bool = False) -> None:
        """A tick ``delay`` seconds from now; ``after_last``: ``delay`` after the last
        tick started instead (at once if that is past)."""
        with self._lock:
            if self._stopping:
                return
            now = self._clock()
            armed = self._window.after_work(now) if after_last else self._window.at(now, delay)
            if armed is None:
                return
            if self._cancel is not None:
                self._cancel()
            self._cancel = self._timer.call_later(armed, self._fire)

    def _fire(self) -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            self.actor_ref.tell(_Tick())
