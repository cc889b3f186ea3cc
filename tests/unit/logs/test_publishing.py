"""A node's publishing of one subscription (actors/logs/publishing.py), over a scripted
broker and in-memory task output: batches, the last one closing, holding back while the
reader is behind. Real threads; waits poll with a deadline."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

from actors.logs.publishing import HOLD_BACK, Publishing
from actors.logs.wire import Kind, LogOptions, SubscriptionMessage
from actors.worker.executors.output import OutputLine, OutputQuery
from api.objects import Task
from api.task_state import TaskState
from tests.support.waiting import wait_for

TASK = Task(id="t1", service_id="s1")


class Lines:
    """Lines 1 to ``count`` (their timestamps), from ``since`` on, as an executor's output
    honours its query: a follow read that ended is opened again from its last line + 1."""

    def __init__(self, count: int, since: int = 0) -> None:
        self.count = count
        self.since = since

    def __iter__(self) -> Iterator[OutputLine]:
        for i in range(max(self.since - 1, 0), self.count):
            yield OutputLine(i + 1, "stdout", f"{i}\n".encode())

    def close(self) -> None:
        pass


class Tasks:
    def __init__(self, count: int) -> None:
        self.count = count

    def tasks(self) -> Sequence[tuple[Task, TaskState]]:
        return [(TASK, TaskState.RUNNING)]

    def output(self, task: Task, query: OutputQuery) -> Lines:
        return Lines(self.count, int(query.since))


class Broker:
    """Answers publishes with the backlog it is set to; records every batch."""

    def __init__(self, backlog: int = 0) -> None:
        self.backlog = backlog
        self.batches: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def request(self, message_type: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        with self.lock:
            self.batches.append(body)
        return {
            "accepted": len(body["records"]),
            "refused": 0,
            "stop": False,
            "backlog": self.backlog,
        }

    def records(self) -> int:
        with self.lock:
            return sum(len(b["records"]) for b in self.batches)


def publishing(broker: Broker, count: int, follow: bool) -> Publishing:
    message = SubscriptionMessage("sub", Kind.TASKS, LogOptions(follow=follow), frozenset({"s1"}))
    return Publishing(message, node_id="n1", client=broker, tasks=Tasks(count), scan_interval=0.05)


def test_a_read_without_follow_is_published_in_batches_and_closed() -> None:
    broker = Broker()
    ended = threading.Event()
    job = publishing(broker, 1200, follow=False)
    job._on_end = lambda _sub: ended.set()
    job.start()
    wait_for(ended.is_set, "the publishing ended")
    assert broker.records() == 1200
    assert broker.batches[-1]["close"] and all(not b["close"] for b in broker.batches[:-1])
    assert all(len(b["records"]) <= 500 for b in broker.batches)


def test_a_node_holds_back_while_its_reader_is_behind() -> None:
    broker = Broker(backlog=HOLD_BACK + 1)
    job = publishing(broker, 3000, follow=True)
    job.start()
    try:
        wait_for(lambda: broker.records() > 0, "a first batch")
        wait_for(lambda: len(broker.batches) > 5, "empty batches asking for the backlog")
        assert broker.records() <= 500  # only the first batch went
        broker.backlog = 0
        wait_for(lambda: broker.records() == 3000, "the rest, once the reader caught up")
    finally:
        job.stop()
        job.join(5.0)


class Following:
    """A followed task's output: one line, then waits for more until closed."""

    def __init__(self) -> None:
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[OutputLine]:
        yield OutputLine(1, "stdout", b"first\n")
        self.closed.wait(30.0)

    def close(self) -> None:
        self.closed.set()


class FollowedTask(Tasks):
    def __init__(self) -> None:
        super().__init__(0)
        self.streams: list[Following] = []

    def output(self, task: Task, query: OutputQuery) -> Following:  # type: ignore[override]
        stream = Following()
        self.streams.append(stream)
        return stream


def test_a_closed_subscription_stops_the_nodes_reads_at_once() -> None:
    """The broker tells the node a subscription is closed (its reader stopped): the
    publishing stops (LogPublisher calls ``stop``), the task's output is no longer read
    and the thread ends, though the task goes on writing nothing."""
    broker = Broker()
    tasks = FollowedTask()
    ended = threading.Event()
    message = SubscriptionMessage("sub", Kind.TASKS, LogOptions(follow=True), frozenset({"s1"}))
    job = Publishing(message, node_id="n1", client=broker, tasks=tasks, scan_interval=0.05)
    job._on_end = lambda _sub: ended.set()
    job.start()
    wait_for(lambda: broker.records() == 1, "the first line published")
    job.stop()
    wait_for(ended.is_set, "the publishing ended")
    assert [s.closed.is_set() for s in tasks.streams] == [True]
    reopened = len(tasks.streams)
    job.join(5.0)
    assert len(tasks.streams) == reopened  # no scan opened the output again
