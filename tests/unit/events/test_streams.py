"""The ``control.events`` shell on a local store: frames, leases, resuming, and a gone
history refused, never skipped. Time is driven by hand; ticks are called directly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from actors.events.streams import EventStreams
from actors.store import MemoryStore, nodes
from api.enums import NodeAvailability, NodeState
from api.objects import Node, NodeDescription, NodeStatus
from api.specs import NodeSpec
from tests.support.clocks import ManualClock


class FakeRequest:
    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body = body
        self.frames: list[dict[str, Any]] = []
        self.errors: list[tuple[str, str]] = []
        self.done = False

    def reply(self, body: Mapping[str, Any] | None = None, *, more: bool = False) -> None:
        assert not self.done, "a frame after the final one"
        self.frames.append({**(body or {}), "more": more})
        self.done = not more

    def error(self, code: str, message: str) -> None:
        self.errors.append((code, message))
        self.done = True

    def events(self) -> list[dict[str, Any]]:
        return [e for f in self.frames for e in f["events"]]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_000_000.0)


@pytest.fixture
def store(clock: ManualClock) -> MemoryStore:
    return MemoryStore.local(clock=clock, history_size=8)


def add_node(store: MemoryStore, hostname: str) -> str:
    node = Node(
        id=f"{hostname:0>25}",
        description=NodeDescription(hostname=hostname),
        status=NodeStatus(state=NodeState.READY),
    )
    store.update(lambda tx: tx.create(node))
    return node.id


def drain(store: MemoryStore, node_id: str) -> None:
    def write(tx: Any) -> None:
        node = nodes.get(tx, node_id)
        assert node is not None
        tx.update(replace(node, spec=NodeSpec(availability=NodeAvailability.DRAIN)))

    store.update(write)


def streams(store: MemoryStore, clock: ManualClock, **kw: Any) -> EventStreams:
    return EventStreams(store, clock=clock, monotonic=clock, **kw)


def open_watch(s: EventStreams, body: Mapping[str, Any]) -> FakeRequest:
    request = FakeRequest(body)
    s.handler()(request)  # type: ignore[arg-type]
    return request


def test_a_watch_opens_at_the_stores_position_and_streams_changes(
    store: MemoryStore, clock: ManualClock
) -> None:
    add_node(store, "w1")
    s = streams(store, clock)
    req = open_watch(s, {"wait": 5.0})
    s.tick(clock())
    assert req.frames == [{"events": [], "position": store.version, "end": "", "more": True}]
    node_id = add_node(store, "w2")
    drain(store, node_id)
    s.tick(clock())
    got = [(e["action"], e["changes"], e["position"]) for e in req.events()]
    assert got == [("create", ["join"], store.version - 1), ("update", ["drain"], store.version)]
    assert req.frames[-1]["position"] == store.version
    clock.advance(5.0)
    s.tick(clock())
    assert req.frames[-1] == {
        "events": [],
        "position": store.version,
        "end": "lease",
        "more": False,
    }
    assert s.open_watches == 0


def test_a_resumed_watch_misses_and_repeats_nothing(store: MemoryStore, clock: ManualClock) -> None:
    s = streams(store, clock)
    first = add_node(store, "w1")
    mark = store.version
    drain(store, first)
    add_node(store, "w2")
    req = open_watch(s, {"since_position": mark, "wait": 0.0, "filters": ["type=node"]})
    s.tick(clock())
    assert [e["position"] for e in req.events()] == [mark + 1, mark + 2]
    assert req.frames[-1]["end"] == "lease"


def test_until_a_position_ends_the_watch(store: MemoryStore, clock: ManualClock) -> None:
    s = streams(store, clock)
    ids = [add_node(store, f"w{i}") for i in range(3)]
    req = open_watch(s, {"since_position": 0, "until_position": 2, "wait": 30.0})
    s.tick(clock())
    assert [e["id"] for e in req.events()] == ids[:2]
    assert req.frames[-1]["end"] == "until" and req.frames[-1]["position"] == 2


def test_a_position_no_longer_held_is_refused_as_gone(
    store: MemoryStore, clock: ManualClock
) -> None:
    s = streams(store, clock)
    node_id = add_node(store, "w1")
    for _ in range(10):  # the ring holds 8 changes
        drain(store, node_id)
        store.update(lambda tx: tx.update(replace(nodes.get(tx, node_id), spec=NodeSpec())))  # type: ignore[arg-type]
    req = open_watch(s, {"since_position": 1})
    assert req.frames == []
    ((code, message),) = req.errors
    assert code == "gone"
    assert f"after position {store.oldest_resumable}" in message
    ok = open_watch(s, {"since_position": store.oldest_resumable, "wait": 0.0})
    s.tick(clock())
    assert not ok.errors and len(ok.events()) == store.version - store.oldest_resumable


def test_a_time_before_the_held_history_is_gone(store: MemoryStore, clock: ManualClock) -> None:
    s = streams(store, clock)
    start = clock()
    node_id = add_node(store, "w1")
    for _ in range(9):
        clock.advance(1.0)
        drain(store, node_id)
        store.update(lambda tx: tx.update(replace(nodes.get(tx, node_id), spec=NodeSpec())))  # type: ignore[arg-type]
    gone = open_watch(s, {"since_time": start})
    assert gone.errors and gone.errors[0][0] == "gone"
    # as Docker's events: what is held of the changes since then, from the oldest
    held = open_watch(s, {"since_time": start, "since_held": True, "wait": 0.0})
    s.tick(clock())
    assert not held.errors
    assert [e["position"] for e in held.events()] == list(
        range(store.oldest_resumable + 1, store.version + 1)
    )
    # and its first frame says where the held history starts (the client tells the user)
    first, *rest = held.frames
    assert first["held_after"] == store.oldest_resumable
    assert first["held_oldest_time"] == held.events()[0]["time"] > start
    assert all("held_after" not in f for f in rest)
    recent = open_watch(s, {"since_time": clock() - 1.5, "wait": 0.0})
    s.tick(clock())
    assert not recent.errors
    assert recent.events() and all(e["time"] >= clock() - 1.5 for e in recent.events())


def test_a_time_before_a_history_holding_nothing_gives_what_comes(
    store: MemoryStore, clock: ManualClock
) -> None:
    """As after a restart or a snapshot: no change held. A since_held time is not gone; its
    first frame says the history starts after the store's position, with nothing held."""
    s = streams(store, clock)
    asked = clock()
    for i in range(3):
        add_node(store, f"x{i}")
    store.restore(store.snapshot())  # the store as a restart rebuilds it: nothing held
    clock.advance(5.0)
    assert open_watch(s, {"since_time": asked}).errors[0][0] == "gone"
    held = open_watch(s, {"since_time": asked, "since_held": True, "wait": 30.0})
    s.tick(clock())
    assert not held.errors
    [first] = held.frames
    assert (first["events"], first["held_after"]) == ([], store.oldest_resumable)
    assert "held_oldest_time" not in first
    node_id = add_node(store, "w1")
    s.tick(clock())
    assert [e["id"] for e in held.events()] == [node_id]
    assert "held_after" not in held.frames[-1]


def test_a_snapshot_mid_watch_ends_it_as_gone(store: MemoryStore, clock: ManualClock) -> None:
    s = streams(store, clock)
    add_node(store, "w1")
    req = open_watch(s, {"wait": 30.0})
    s.tick(clock())
    other = MemoryStore.local(clock=clock)
    for i in range(3):
        add_node(other, f"x{i}")
    store.restore(other.snapshot())  # a follower installs a leader's snapshot
    s.tick(clock())
    assert req.errors and req.errors[0][0] == "gone"
    assert s.open_watches == 0


def test_an_until_before_the_since_is_refused_naming_both(
    store: MemoryStore, clock: ManualClock
) -> None:
    s = streams(store, clock)
    for body, said in [
        ({"since_position": 50, "until_position": 10}, "until @10 is before since @50"),
        (
            {"since_time": 200.5, "until_time": 100.0},
            "until 1970-01-01T00:01:40Z is before since 1970-01-01T00:03:20.500000Z",
        ),
    ]:
        req = open_watch(s, body)
        assert req.errors == [("invalid_argument", said)] and req.frames == []
    ok = open_watch(s, {"since_position": 0, "until_position": 0, "wait": 0.0})
    assert not ok.errors


def test_watches_are_bounded_and_bad_requests_refused(
    store: MemoryStore, clock: ManualClock
) -> None:
    s = streams(store, clock, max_streams=2)
    open_watch(s, {})
    open_watch(s, {})
    busy = open_watch(s, {})
    assert busy.errors and busy.errors[0][0] == "busy"
    for body, why in (
        ({"filters": ["type=volume"]}, "unknown type"),
        ({"wait": 61.0}, "wait"),
        ({"since_position": 1, "since_time": 1.0}, "not both"),
    ):
        req = open_watch(streams(store, clock), body)
        assert req.errors and req.errors[0][0] == "invalid_argument", body
        assert why in req.errors[0][1]


def test_stopping_ends_every_watch_with_its_position(
    store: MemoryStore, clock: ManualClock
) -> None:
    s = streams(store, clock)
    add_node(store, "w1")
    req = open_watch(s, {})
    s.tick(clock())
    s.close_all("closed")
    assert req.frames[-1]["end"] == "closed" and req.frames[-1]["position"] == store.version


def test_after_stopping_a_watch_is_refused_until_the_pump_runs_again(
    store: MemoryStore, clock: ManualClock
) -> None:
    # between the events actor's stop and the control socket's, a watch that opened would
    # wait for a pump that is gone: it is refused at once instead
    s = streams(store, clock)
    s.close_all("closed")
    late = open_watch(s, {})
    assert late.errors == [
        ("unavailable", "this manager is stopping: watch events on another manager")
    ]
    assert s.open_watches == 0
    s.bind(lambda: None)  # the actor started again (a restart after a crash)
    again = open_watch(s, {})
    assert not again.errors and s.open_watches == 1
