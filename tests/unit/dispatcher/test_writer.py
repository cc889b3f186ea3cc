"""The dispatcher's store writer: task statuses a group to a sub-transaction, and a group
that was rejected written again one status at a time."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from actors.dispatcher.statuses import PendingStatus
from actors.dispatcher.writer import STATUS_GROUP, write_batch
from actors.store import Batch, BatchResult, ConflictError, MemoryStore
from actors.store import tasks as task_queries
from api.objects import TaskStatus
from api.task_state import TaskState
from tests.unit.dispatcher.helpers import NODE_A, task


def ids(n: int) -> list[str]:
    return [task(f"t{i:07d}").id for i in range(n)]


def running(n: int) -> list[PendingStatus]:
    return [PendingStatus(i, NODE_A, TaskStatus(state=TaskState.RUNNING)) for i in ids(n)]


class CountingStore(MemoryStore):
    """A local store that keeps each batch's result (one outcome per sub-transaction)."""

    results: list[BatchResult]

    def batch(
        self,
        fn: Callable[[Batch], None],
        *,
        timeout: float | None = None,
        stop_waiting: Future[Any] | None = None,
    ) -> BatchResult:
        result = super().batch(fn, timeout=timeout, stop_waiting=stop_waiting)
        self.results.append(result)
        return result


def test_statuses_are_written_a_group_to_a_sub_transaction() -> None:
    store = CountingStore.local(clock=time.time)
    store.results = []
    n = 2 * STATUS_GROUP + 2
    store.batch(lambda b: [b.update(lambda tx, t=t: tx.create(task(t[:8]))) for t in ids(n)])
    write_batch(store, (), running(n))
    assert len(store.results[-1].outcomes) == 3
    states = store.view(lambda tx: [task_queries.get(tx, i) for i in ids(n)])
    assert all(t is not None and t.status.state is TaskState.RUNNING for t in states)


class RejectingStore:
    """Fails the first sub-transaction of its first batch; records what each batch held."""

    def __init__(self) -> None:
        self.updates: list[int] = []

    def batch(
        self,
        fn: Callable[[Batch], None],
        *,
        timeout: float | None = None,
        stop_waiting: Future[Any] | None = None,
    ) -> BatchResult:
        calls: list[Any] = []

        class Recorder:
            def update(self, f: Any) -> None:
                calls.append(f)

        fn(Recorder())  # type: ignore[arg-type]
        first = not self.updates
        self.updates.append(len(calls))
        outcomes = [None] * len(calls)
        if first:
            outcomes[0] = ConflictError("task", "x", 1, 2)  # type: ignore[call-overload]
        return BatchResult(tuple(outcomes), 1)


def test_a_rejected_group_is_written_again_a_status_at_a_time() -> None:
    store = RejectingStore()
    write_batch(store, (), running(STATUS_GROUP + 1))  # type: ignore[arg-type]
    assert store.updates == [2, STATUS_GROUP]  # two groups; the first again, one by one


def test_a_status_that_lost_a_race_again_is_retried_not_dropped() -> None:
    # the orchestrator gave a removed service's task desired REMOVE while its SHUTDOWN came
    # in: the status was dropped, the task never terminal, the service never deleted
    store = CountingStore.local(clock=time.time)
    store.results = []
    (only,) = ids(1)
    store.batch(lambda b: b.update(lambda tx: tx.create(task(only[:8]))))
    attempts: list[int] = []
    original = store.batch

    def racing(
        fn: Callable[[Batch], None],
        *,
        timeout: float | None = None,
        stop_waiting: Future[Any] | None = None,
    ) -> BatchResult:
        attempts.append(1)
        if len(attempts) <= 2:  # another writer's change landed first, twice
            return BatchResult((ConflictError("task", only, 1, 2),), 1)  # type: ignore[call-overload]
        return original(fn, timeout=timeout, stop_waiting=stop_waiting)

    store.batch = racing  # type: ignore[method-assign]
    shutdown = PendingStatus(only, NODE_A, TaskStatus(state=TaskState.SHUTDOWN))
    write_batch(store, (), [shutdown])
    assert len(attempts) == 3
    found = store.view(lambda tx: task_queries.get(tx, only))
    assert found is not None and found.status.state is TaskState.SHUTDOWN
