"""The worker's start queue (actors/worker/start_queue.py): one wake-up in the mailbox at
a time, and at most ``max_starting`` tasks on their way."""

from __future__ import annotations

from actors.worker.start_queue import StartQueue


def test_one_wake_up_at_a_time_until_the_worker_takes_it() -> None:
    starts = StartQueue(chunk=2, max_starting=10)
    assert starts.push("t1") is True
    assert starts.push("t2") is False  # one is in the mailbox already
    starts.woken()
    assert starts.more() is True  # the rest still queued
    assert starts.more() is False


def test_an_empty_queue_asks_for_no_wake_up() -> None:
    starts = StartQueue(chunk=2, max_starting=10)
    starts.woken()
    assert starts.next() is None and starts.more() is False


def test_the_head_comes_off_in_order() -> None:
    starts = StartQueue(chunk=2, max_starting=10)
    for task_id in ("t1", "t2", "t3"):
        starts.push(task_id)
    seen = []
    while (task_id := starts.next()) is not None:
        seen.append(task_id)
        starts.drop()
    assert seen == ["t1", "t2", "t3"]


def test_a_freed_slot_wakes_the_worker_only_if_some_wait() -> None:
    starts = StartQueue(chunk=8, max_starting=2)
    starts.on_its_way("a")
    starts.on_its_way("b")
    assert starts.full() and starts.is_starting("a")
    assert starts.free("a") is False  # nothing queued
    assert not starts.full() and not starts.is_starting("a")
    starts.push("c")  # a wake-up told
    starts.woken()
    assert starts.free("zzz") is False  # never on its way
    assert starts.free("b") is True
    starts.clear()
    assert starts.next() is None
