"""The real timer (actors/supervised.ThreadTimer): every timer of the process on one
thread, in due order; cancelled ones never run; a callback that raises stops nothing."""

from __future__ import annotations

import threading
import time

from actors.supervised import ThreadTimer
from tests.support.waiting import wait_for


def test_many_timers_share_one_thread_and_fire_in_due_order() -> None:
    fired: list[int] = []
    threads: set[str] = set()
    before = threading.active_count()
    timer = ThreadTimer()

    def callback(i: int) -> None:
        fired.append(i)
        threads.add(threading.current_thread().name)

    start = time.monotonic()
    for i in reversed(range(50)):  # due at fixed instants, however long adding takes
        timer.call_later(start + 0.1 + i * 0.002 - time.monotonic(), lambda i=i: callback(i))
    assert threading.active_count() <= before + 1  # fails with a thread per call
    wait_for(lambda: len(fired) == 50, "every timer fired")
    assert fired == sorted(fired) and threads == {"timers"}


def test_a_cancelled_timer_never_fires_and_a_raising_callback_stops_nothing() -> None:
    fired: list[str] = []
    timer = ThreadTimer()

    def boom() -> None:
        raise RuntimeError("a broken owner")

    cancel = timer.call_later(0.02, lambda: fired.append("cancelled"))
    timer.call_later(0.01, boom)
    timer.call_later(0.03, lambda: fired.append("later"))
    cancel()
    wait_for(lambda: fired == ["later"], "the later timer after the raising one")
    assert fired == ["later"]


def test_an_earlier_timer_added_while_the_thread_waits_fires_first() -> None:
    fired: list[str] = []
    timer = ThreadTimer()
    timer.call_later(5.0, lambda: fired.append("late"))
    timer.call_later(0.01, lambda: fired.append("early"))
    wait_for(lambda: fired == ["early"], "the early timer, not after the late one")
