"""A node's assignments bigger than a frame, over real ZeroMQ with CURVE: the dispatcher
behind a transport ``Endpoint`` (admission by a real CA's index), the agent and a fleet
node connecting with their own keys and certificates (tests/integration/
test_dispatcher_agent.py has the harness).

The budget a frame's body is cut at is lowered through the dispatcher's ``frame_bytes``
(16 KiB instead of 8 MiB), so that a few hundred tasks take the path 45,000 take at the
real budget (tests/unit/dispatcher/test_frame_packing.py measures that one):
- the full set reaches the agent in parts and is handed to the worker once, whole,
  again for the session a restarted endpoint makes the agent open, and never a part of
  it alone (a worker shuts down the tasks a full set lacks);
- the changes after a big create arrive as several frames, in order;
- every part counts against the frames the manager says it streamed: no session is
  reopened for frames lost;
- a node of the earlier version (no ``parts`` in its request) gets its set in one frame;
- a fleet node assembles the set as the agent does.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from actors.dispatcher.wire import encode_session_request, parse_frame
from actors.log import configure, ring
from actors.node.fleet.fleet import Fleet
from actors.node.fleet.members import FleetMember
from actors.node.fleet.session import SessionConfig
from actors.store import MemoryStore
from api.ids import new_id
from api.objects import Task
from api.specs import ContainerSpec, TaskSpec
from tests.integration.test_dispatcher_agent import (
    DESCRIPTION,
    Manager,
    RecordingSink,
    create,
    make_task,
    running_manager,
    start_agent,
)
from tests.support.waiting import wait_for
from transport import Client, KeyPair, generate_keypair

BUDGET = 16 * 1024
TASKS = 400  # about 140 KiB: 9 frames of the lowered budget
ADDED = 300


@pytest.fixture
def log_ring() -> None:
    configure("json", force=True, stream=io.StringIO())


@pytest.fixture
def manager() -> Iterator[Manager]:
    with running_manager(MemoryStore.local(clock=time.time), frame_bytes=BUDGET) as m:
        yield m


def tasks_of(node_id: str, count: int) -> list[Task]:
    """Tasks of two services, each service's tasks sharing its spec."""
    specs = [
        TaskSpec(container=ContainerSpec(image="busybox", args=("sleep", str(i)))) for i in range(2)
    ]
    services = [new_id(), new_id()]
    return [
        replace(make_task(node_id), spec=specs[i % 2], service_id=services[i % 2], slot=i + 1)
        for i in range(count)
    ]


def events(name: str) -> list[dict[str, Any]]:
    return [e for e in ring().snapshot() if e.get("event") == name]


class HeartbeatCount:
    """The heartbeats the manager's front answered (it still answers each)."""

    def __init__(self, manager: Manager) -> None:
        front = wait_for(manager.link.front, "the dispatcher's front")
        self.count = 0
        answer: Callable[..., Any] = front.heartbeat

        def counted(*args: Any, **kwargs: Any) -> Any:
            reply = answer(*args, **kwargs)
            self.count += 1
            return reply

        front.heartbeat = counted  # type: ignore[method-assign]

    def wait_past(self, beats: int) -> None:
        now = self.count
        wait_for(lambda: self.count >= now + beats, f"{beats} more heartbeats")


def test_a_full_set_bigger_than_a_frame_reaches_the_agent_whole_and_changes_in_order(
    manager: Manager, log_ring: None
) -> None:
    keys = generate_keypair()
    node_id = manager.join(keys)
    placed = tasks_of(node_id, TASKS)
    create(manager.store, *placed)
    beats = HeartbeatCount(manager)
    sink = RecordingSink()
    agent = start_agent(manager, node_id, keys, sink)
    try:
        (first,) = wait_for(sink.full_sets, "the full set")
        assert sorted(t.id for t in first) == sorted(t.id for t in placed)
        (cut,) = events("dispatcher.session.frame_cut")
        assert cut["full"] and cut["tasks"] == TASKS and cut["frames"] > 2
        (assembled,) = events("agent.assignments.set_assembled")
        assert assembled["parts"] == cut["frames"] and assembled["tasks"] == TASKS

        # a new session (the endpoint restarted): the set in parts again, whole again
        manager.stop_endpoint()
        manager.start_endpoint()
        wait_for(lambda: len(sink.full_sets()) == 2, "the next session's full set")
        assert [len(s) for s in sink.full_sets()] == [TASKS, TASKS]  # never a part alone

        added = tasks_of(node_id, ADDED)
        create(manager.store, *added)  # one commit: one delta over the budget
        wait_for(lambda: {t.id for t in added} <= sink.holds(), "the added tasks")
        changes = [tasks for full, tasks, _ in sink.calls if not full]
        assert len(changes) > 1
        arrived = [t.id for tasks in changes for t in tasks]
        assert arrived == sorted(t.id for t in added)  # in order, each once

        beats.wait_past(3)  # heartbeats compare the frames received, parts each
        assert agent.proxy().state().get(timeout=5).sessions_opened == 2
        assert len(sink.full_sets()) == 2
        ended = [e["reason"] for e in events("agent.session.ended")]
        assert not any("lost frames" in reason for reason in ended), ended
        assert not events("agent.assignments.set_refused")
    finally:
        agent.stop()


def test_a_node_of_the_earlier_version_gets_its_full_set_in_one_frame(manager: Manager) -> None:
    keys = generate_keypair()
    node_id = manager.join(keys)
    create(manager.store, *tasks_of(node_id, TASKS))
    request = encode_session_request(node_id, DESCRIPTION)
    del request["parts"]  # what a node of the earlier version sends
    with Client(manager.address, server_key=manager.keypair.public, keypair=keys) as client:
        body = next(client.stream("dispatcher.session", request, timeout=15.0))
    assert "part" not in body and "parts" not in body
    frame = parse_frame(body)
    assert frame.full and len(frame.tasks) == TASKS


def test_a_fleet_node_takes_a_full_set_in_parts(
    manager: Manager, tmp_path: Path, log_ring: None
) -> None:
    keys: KeyPair = generate_keypair()
    node_id = manager.join(keys)
    create(manager.store, *tasks_of(node_id, TASKS))
    member = FleetMember(node_id, "fleet-1", tmp_path, keys, (manager.manager_address,))
    config = SessionConfig(connect_timeout=5.0, request_timeout=2.0, flush_interval=0.05)
    with Fleet([member], config=config, seed=3) as fleet:
        wait_for(lambda: fleet.stats().tasks == TASKS, "the fleet node's tasks")
        stats = fleet.stats()
        assert (stats.sessions_opened, stats.ends) == (1, {})
    (cut,) = events("dispatcher.session.frame_cut")
    assert cut["full"] and cut["frames"] > 2
