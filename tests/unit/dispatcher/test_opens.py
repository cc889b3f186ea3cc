"""Session opens after a leader change: ~1,000 agents open at once, and each must get its
first frame before its connect timeout. The dispatcher serves the queued opens in chunks:
each chunk's frames go out before the next chunk's tasks are read, newest first."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

from actors.dispatcher import Dispatcher, DispatcherLink
from actors.dispatcher.core import DispatcherCore
from actors.dispatcher.front import DispatcherFront, SessionOpen
from actors.dispatcher.heartbeats import HeartbeatConfig
from actors.dispatcher.opens import SessionOpener
from actors.dispatcher.streams import SessionStreams
from actors.log import get_logger
from actors.store import MemoryStore, ReadTx, WriteTx
from api.enums import NodeRole
from api.objects import Node, NodeDescription
from tests.support.clocks import ManualClock, ManualTimer
from tests.support.waiting import wait_for
from tests.unit.dispatcher.helpers import session_request, task
from transport.codec import decode

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


def test_a_chunk_is_opened_on_one_read_and_a_node_not_stored_is_refused() -> None:
    """The opener alone (opens.py), on the core, front and streams the actor gives it."""
    store: Any = RecordingStore.local(clock=time.time)
    store.events = []
    known, unknown = NODES[0], NODES[1]
    store.update(lambda tx: tx.create(Node(known, role=NodeRole.MANAGER)))
    store.update(partial(WriteTx.create, obj=task("t0", known)))
    core = DispatcherCore(HeartbeatConfig(), random.Random(1), get_logger("test"))
    front = DispatcherFront(core, store, time.monotonic, lambda: None)
    streams = SessionStreams(store, core, front.lock, roles=lambda: front.roles)
    opener = SessionOpener(store, core, front, streams, tuple, time.monotonic)
    events: list[str] = store.events
    events.clear()
    boxes = {n: RecordingOutbox(events, n) for n in (known, unknown)}
    opens = [
        SessionOpen(session_request(boxes[n], bytes([65 + i]) * 40), n, DESC, "")  # type: ignore[arg-type]
        for i, n in enumerate((known, unknown))
    ]
    assert opener.open(opens) == 1
    # one read for the chunk, the refusal at once, one read of what the opened sessions'
    # tasks need (streams.py), then their frames
    assert events == ["read", unknown, "read", known]
    first = decode(boxes[known].sent[0]).body
    assert first["full"] and [t["id"] for t in first["tasks"]] == [task("t0").id]
    assert first["role"] == "manager"  # as read: the front's roles had not the node yet
    (refusal,) = [decode(sent).body for sent in boxes[unknown].sent]
    assert refusal["code"] == "unauthorized" and "not in the cluster" in refusal["message"]
    assert front.session_count() == 1
