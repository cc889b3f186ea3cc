"""The fleet loop's timers (actors/node/fleet/timers.py): one session wake-up that counts
per node, task timers handed back as asked, in due order."""

from __future__ import annotations

from actors.node.fleet.tasks import Timer
from actors.node.fleet.timers import FleetTimers

INF = float("inf")


def test_an_earlier_wake_up_supersedes_a_later_one_and_a_later_one_is_ignored() -> None:
    timers = FleetTimers(2)
    timers.wake_at(0, 5.0)
    timers.wake_at(0, 3.0)  # supersedes 5.0
    timers.wake_at(0, 4.0)  # later than the one that counts: ignored
    timers.wake_at(1, INF)  # not at all
    assert timers.next_due() == 3.0
    assert list(timers.due(2.9)) == []
    assert list(timers.due(10.0)) == [(0, None)]  # once: the entry for 5.0 is skipped
    assert timers.next_due() is None


def test_a_wake_up_is_asked_for_again_once_it_fired() -> None:
    timers = FleetTimers(1)
    timers.wake_at(0, 1.0)
    assert list(timers.due(1.0)) == [(0, None)]
    timers.wake_at(0, 2.0)  # after it fired, a later time counts again
    assert list(timers.due(2.0)) == [(0, None)]


def test_task_timers_come_back_as_asked_in_due_order_with_the_wake_ups() -> None:
    timers = FleetTimers(2)
    first, second, stale = Timer(1.0, "t1", 1), Timer(1.0, "t2", 1), Timer(0.5, "t1", 0)
    timers.task_at(1, 2.0, first)
    timers.wake_at(0, 1.5)
    timers.task_at(0, 2.0, second)  # due with ``first``: after it, as asked
    timers.task_at(1, 0.5, stale)  # handed back all the same: its token is for tasks.py
    assert list(timers.due(1.0)) == [(1, stale)]
    assert list(timers.due(2.0)) == [(0, None), (1, first), (0, second)]
    assert timers.next_due() is None
