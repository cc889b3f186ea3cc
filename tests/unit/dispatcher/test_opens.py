"""Session opens after a leader change: ~1,000 agents open at once, and each must get its
first frame before its connect timeout. The dispatcher serves the queued opens in chunks:
each chunk's frames go out before the next chunk's tasks are read, newest first."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

from actors.dispatcher import Dispatcher, DispatcherLink
from actors.dispatcher.front import DispatcherFront, SessionOpen
from actors.store import MemoryStore, ReadTx, WriteTx
from api.objects import Node, NodeDescription
from tests.support.clocks import ManualClock, ManualTimer
from tests.support.waiting import wait_for
from tests.unit.dispatcher.helpers import session_request, task

T = TypeVar("T")
CHUNK = 4
NODES = [f"node{i:02d}".ljust(25, "x") for i in range(3 * CHUNK + 1)]
DESC = NodeDescription(hostname="box")


class RecordingStore(MemoryStore):
    """A store that records each read in ``events`` (beside the frames the outboxes
    record)."""

    events: list[str]

    def view(self, fn: Callable[[ReadTx], T]) -> T:
        self.events.append("read")
        return super().view(fn)


class RecordingOutbox:
    def __init__(self, events: list[str], node_id: str) -> None:
        self._events = events
        self._node_id = node_id
        self.sent: list[bytes] = []

    def send(self, parts: Sequence[bytes]) -> bool:
        self.sent.append(parts[1])
        self._events.append(self._node_id)
        return True


def test_a_burst_of_opens_is_served_in_chunks_each_sent_before_the_next_is_read() -> None:
    # fails before: the whole queue was opened on one read and every first frame waited
    # for every full assignment set of the queue
    store: Any = RecordingStore.local(clock=time.time)
    store.events = []
    for i, node_id in enumerate(NODES):
        store.update(lambda tx, n=node_id: tx.create(Node(n)))
        store.update(partial(WriteTx.create, obj=task(f"t{i:02d}", node_id)))
    clock = ManualClock()
    link = DispatcherLink()
    ref = Dispatcher.start(
        None, store, link=link, clock=clock, timer=ManualTimer(clock), open_chunk=CHUNK
    )
    try:
        wait_for(link.front, "the dispatcher's front attached")
        front: DispatcherFront | None = link.front()
        assert front is not None
        events: list[str] = store.events
        outboxes = [RecordingOutbox(events, n) for n in NODES]
        held = threading.Event()
        release = threading.Event()

        def hold_the_store() -> None:  # every open queues while the dispatcher waits
            with store.read():
                held.set()
                release.wait(30)

        holder = threading.Thread(target=hold_the_store)
        holder.start()
        held.wait(10)
        events.clear()
        for i, (node_id, outbox) in enumerate(zip(NODES, outboxes, strict=True)):
            key = bytes([65 + i]) * 40
            request = session_request(outbox, key)  # type: ignore[arg-type]
            assert front.request_session(SessionOpen(request, node_id, DESC, ""))
        release.set()
        holder.join(10)
        wait_for(lambda: all(o.sent for o in outboxes), "every session's first frame")
        events = list(events)  # not the final frames of the stop
    finally:
        ref.stop()
    first_frames = [e for e in events if e != "read"]
    assert sorted(set(first_frames)) == sorted(NODES)
    run: list[str] = []  # the frames sent between two store reads
    runs: list[list[str]] = []
    for event in events:
        if event == "read":
            if run:
                runs.append(run)
            run = []
        else:
            run.append(event)
    runs.append(run)
    assert all(len(r) <= CHUNK for r in runs), runs
    # newest first: after the chunk taken before the store was held, the newest of the rest
    rest = [n for n in NODES if n not in runs[0]]
    assert runs[1] == rest[::-1][:CHUNK]
