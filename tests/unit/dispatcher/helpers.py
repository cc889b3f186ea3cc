"""Builders for the dispatcher's unit tests."""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any

import pykka

from actors.dispatcher.front import DispatcherFront
from actors.dispatcher.writer import StoreWriter
from actors.store import MemoryStore, ProposalDropped, WriteTx
from api.objects import Meta, Node, Task, TaskStatus
from api.schema.frame import Envelope
from api.specs import ContainerSpec, TaskSpec
from api.task_state import TaskState
from tests.support.clocks import ManualTimer
from transport.endpoint import Request

NODE_A = "a" * 25
NODE_B = "b" * 25


class RecordingLog:
    """A logger for the pure core: records (level, event, fields)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def info(self, event: str, **kw: Any) -> None:
        self.events.append(("info", event, kw))

    def warning(self, event: str, **kw: Any) -> None:
        self.events.append(("warning", event, kw))

    def names(self) -> list[str]:
        return [e[1] for e in self.events]


def task(
    id: str,
    node_id: str = NODE_A,
    state: TaskState = TaskState.ASSIGNED,
    version: int = 1,
    image: str = "busybox",
    desired: TaskState = TaskState.RUNNING,
) -> Task:
    return Task(
        id=id.ljust(25, "0"),
        meta=Meta(version=version),
        spec=TaskSpec(container=ContainerSpec(image=image)),
        node_id=node_id,
        desired_state=desired,
        status=TaskStatus(state=state),
    )


def bump(t: Task, version: int, **changes: Any) -> Task:
    return replace(t, meta=Meta(version=version), **changes)


def status(state: TaskState, message: str = "") -> TaskStatus:
    return TaskStatus(state=state, message=message)


class GateOutbox:
    """The endpoint's outbox as a request sees it; ``close()`` makes sends wait (a slow
    stream), ``open()`` lets them through."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.gate = threading.Event()
        self.gate.set()
        self.waiting = threading.Event()

    def send(self, parts: Sequence[bytes]) -> bool:
        if not self.gate.is_set():
            self.waiting.set()
            self.gate.wait(30)
        self.sent.append(parts[1])
        return True


def session_request(outbox: GateOutbox, key: bytes, rid: int = 1) -> Request:
    envelope = Envelope("dispatcher.session", rid, {})
    stand_in: Any = outbox  # an Outbox as far as a Request uses one
    return Request(envelope, key, b"peer", stand_in, endpoint="remote", max_size=1 << 20)


class Quorum(enum.Enum):
    UP = "up"
    DROPPING = "dropping"  # each proposal refused: nothing appended
    STALLED = "stalled"  # each proposal appended, not committed: the store times out


class SwitchedProposer:
    """A store's proposer that commits at once while UP (as ``LocalProposer``); while
    DROPPING it fails each proposal (ProposalDropped: a leader's log refusing it), while
    STALLED it holds each one uncommitted, so the store times out waiting for it
    (ProposalTimeout: "may or may not be committed"). ``up()`` commits the held ones in
    order before anything proposed after (a leader's log once its quorum is back)."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._index = store.version
        self._held: list[bytes] = []
        self.quorum = Quorum.UP
        self.refused = 0  # proposals dropped or stalled

    def propose(self, data: bytes) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self.quorum is Quorum.DROPPING:
                self.refused += 1
                future.set_exception(ProposalDropped("no quorum (the test's)"))
            elif self.quorum is Quorum.STALLED:
                self.refused += 1
                self._held.append(data)
            else:
                future.set_result(self._commit(data))
        return future

    def down(self, quorum: Quorum) -> None:
        with self._lock:
            self.quorum = quorum

    def up(self) -> None:
        with self._lock:
            for data in self._held:
                self._commit(data)
            self._held.clear()
            self.quorum = Quorum.UP

    def _commit(self, data: bytes) -> int:
        self._index += 1
        self._store.apply(self._index, data)
        return self._index


def switched_store(proposal_timeout: float = 0.2) -> tuple[MemoryStore, SwitchedProposer]:
    """A real store whose proposer the test switches off and on (``SwitchedProposer``)."""
    store = MemoryStore(clock=time.time, proposal_timeout=proposal_timeout)
    proposer = SwitchedProposer(store)
    store.attach_proposer(proposer)
    return store, proposer


def two_nodes_one_task() -> MemoryStore:
    """A local store holding nodes A and B, and task t1 on A."""
    store = MemoryStore.local(clock=time.time)

    def create(tx: WriteTx) -> None:
        tx.create(Node(NODE_A))
        tx.create(Node(NODE_B))
        tx.create(task("t1", NODE_A))

    store.update(create)
    return store


@dataclass
class TickedDispatcher:
    """A running dispatcher whose ticks a test runs (``timer``, ``window`` apart)."""

    store: MemoryStore
    timer: ManualTimer
    ref: pykka.ActorRef[Any]
    front: DispatcherFront
    window: float

    def sync(self) -> None:
        """Every write handed to the writer committed (its watchers told), and every
        message the dispatcher was told handled."""
        for writer in pykka.ActorRegistry.get_by_class(StoreWriter):
            writer.ask("sync", timeout=10)
        self.ref.proxy().session_count().get(timeout=10)

    def quiet(self) -> None:
        """Run periodic ticks until the work they made (the writes and their changes) is
        done and more than a window passed without any."""
        for _ in range(5):
            self.sync()
            self.timer.advance(self.window)
            self.sync()
