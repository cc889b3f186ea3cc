"""StoreReactor's batching window: an event after a quiet period ticks at once (no fixed
delay on an idle manager's first reaction), events close behind a tick join one tick a
window after it (a burst is still taken in bulk)."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pykka
import pytest

from actors.store import Event, MemoryStore, tasks
from actors.store_reactor import StoreReactor
from tests.support.clocks import ManualClock, ManualTimer
from tests.support.waiting import wait_for
from tests.unit.scheduler.helpers import task

WINDOW = 0.05


class Counting(StoreReactor):
    subsystem: ClassVar[str] = "test-reactor"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen = 0
        self.ticks = 0

    def on_start(self) -> None:
        self._resync()

    def _resync(self) -> None:
        self._watcher = self._store.watch(kinds={tasks.KIND}, notify=self._on_events)

    def _apply(self, event: Event) -> None:
        self.seen += 1

    def tick(self) -> tuple[int, int]:
        self._tick_started()
        self._drain()
        self.ticks += 1
        return self.ticks, self.seen


@pytest.fixture
def reactor() -> Iterator[tuple[MemoryStore, ManualTimer, Any]]:
    store = MemoryStore.local(clock=time.time, rng=random.Random(5))
    clock = ManualClock()
    timer = ManualTimer(clock)
    ref: pykka.ActorRef[Any] = Counting.start(
        None, store, tick_interval=WINDOW, clock=clock, timer=timer
    )
    yield store, timer, ref.proxy()
    ref.stop(block=True, timeout=5)


def add_task(store: MemoryStore, name: str) -> None:
    store.update(lambda tx: tx.create(task(name)))


def test_an_event_after_a_quiet_period_ticks_at_once(reactor: Any) -> None:
    store, timer, proxy = reactor
    add_task(store, "t1")
    assert timer.delays == [0.0]
    timer.advance(0.0)
    wait_for(lambda: proxy.ticks.get(timeout=5) == 1, "the first tick")
    assert proxy.seen.get(timeout=5) == 1


def test_events_right_after_a_tick_join_one_tick_a_window_later(reactor: Any) -> None:
    store, timer, proxy = reactor
    add_task(store, "t1")
    timer.advance(0.0)
    wait_for(lambda: proxy.ticks.get(timeout=5) == 1, "the first tick")
    timer.clock.advance(WINDOW / 5)
    add_task(store, "t2")
    add_task(store, "t3")
    assert timer.delays[1:] == [pytest.approx(WINDOW * 4 / 5)]  # one armed tick for both
    assert timer.advance(WINDOW) == 1
    wait_for(lambda: proxy.ticks.get(timeout=5) == 2, "the second tick")
    assert proxy.seen.get(timeout=5) == 3
    timer.clock.advance(WINDOW * 2)  # quiet again: the next event ticks at once
    add_task(store, "t4")
    assert timer.delays[-1] == 0.0
