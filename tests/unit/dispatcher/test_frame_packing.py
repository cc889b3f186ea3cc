"""Session frames cut to the frame budget (actors/dispatcher/frame_packing.py), through the
wire codec as a session sends and a node reads them, and assembled as a node of this
version does (actors/worker/set_assembly.py)."""

from __future__ import annotations

import random
import time
from dataclasses import replace
from typing import Any

import msgpack
import pytest

from actors.dispatcher.assignments import AssignmentSet
from actors.dispatcher.frame_packing import pack_frame, pack_parts
from actors.dispatcher.networks_and_auth import ServiceAuth
from actors.dispatcher.spec_tables import HeldSpecs, SentSpecs
from actors.dispatcher.wire import (
    ASSIGNMENT_BYTES_PER_FRAME,
    MAX_SET_PARTS,
    ManagerAddress,
    SessionFrame,
    parse_frame,
)
from actors.orchestrator.state import new_task
from actors.scheduler import ASSIGNED_MESSAGE
from actors.worker.set_assembly import SetAssembly
from api.codec_pack import Packed
from api.errors import FrameTooLarge
from api.objects import Meta, Network, RegistryAuth, Service, Task, TaskStatus
from api.schema.frame import DEFAULT_MAX_MESSAGE_SIZE, REPLY_LIMITS
from api.specs import (
    ContainerSpec,
    NetworkAttachmentConfig,
    NetworkSpec,
    ServiceSpec,
    TaskSpec,
)
from api.task_state import TaskState
from transport.codec import decode, encode

NODE = "n" * 25
MANAGERS = (ManagerAddress("tcp://10.0.0.1:4242", b"k" * 40),)


def services(count: int, networks: tuple[str, ...] = ()) -> list[Service]:
    attached = tuple(NetworkAttachmentConfig(n) for n in networks)
    return [
        Service(
            id=f"svc{i}".ljust(25, "0"),
            spec=ServiceSpec(
                name=f"web{i}",
                task=TaskSpec(
                    container=ContainerSpec(image="busybox:latest", args=("sleep", "3600")),
                    networks=attached,
                ),
            ),
            spec_version=1,
        )
        for i in range(count)
    ]


def assigned(count: int, of: list[Service], seed: int = 1) -> list[Task]:
    """Tasks as the scheduler leaves them on the node: ASSIGNED, of ``of`` in turn (the
    tasks of a service share its spec object, as in the store)."""
    rng = random.Random(seed)
    now = time.time()
    tasks = []
    for i in range(count):
        task = new_task(of[i % len(of)], slot=i + 1, node_id=NODE, now=now, rng=rng)
        tasks.append(
            replace(
                task,
                meta=Meta(version=100 + i, created_at=now, updated_at=now),
                status=TaskStatus(
                    timestamp=now, state=TaskState.ASSIGNED, message=ASSIGNED_MESSAGE
                ),
            )
        )
    return tasks


def full_frame(tasks: list[Task], **fields: Any) -> SessionFrame:
    delta = AssignmentSet(NODE, 1, tasks).full()
    return SessionFrame("s" * 25, 5.0, MANAGERS, True, delta.tasks, (), role="worker", **fields)


def over_the_wire(bodies: list[Packed], held: HeldSpecs | None) -> list[SessionFrame]:
    """Each body sent as a session sends it (the frame limit checked) and read as a node
    reads it (the client's limits, then parse_frame against its session's specs)."""
    frames = []
    for body in bodies:
        wire = encode("dispatcher.session.message", body, request_id=7, more=True, check=False)
        envelope = decode(wire, limits=REPLY_LIMITS.capped(DEFAULT_MAX_MESSAGE_SIZE))
        frames.append(parse_frame(envelope.body, held))
    return frames


def test_a_full_set_over_the_frame_limit_goes_in_parts_each_within_the_budget() -> None:
    """45,000 tasks (390 bytes each packed with shared specs: 17 MiB) were one frame over
    the 16 MiB limit, which the manager could not send; cut to the real budget, each
    part is within it, and the node assembles the very set."""
    tasks = assigned(45_000, services(3))
    frame = full_frame(tasks)
    whole = pack_frame(frame, SentSpecs())
    assert len(whole) > DEFAULT_MAX_MESSAGE_SIZE
    with pytest.raises(FrameTooLarge):
        encode("dispatcher.session.message", whole, request_id=7, more=True, check=False)

    bodies = pack_parts(frame, SentSpecs(), in_parts=True)
    assert 2 < len(bodies) <= MAX_SET_PARTS
    assert all(len(b) <= ASSIGNMENT_BYTES_PER_FRAME for b in bodies)
    parts = over_the_wire(bodies, HeldSpecs())
    assert [(p.part, p.parts, p.full) for p in parts] == [
        (i, len(parts), True) for i in range(len(parts))
    ]
    assembly = SetAssembly()
    assert [assembly.take(p) for p in parts[:-1]] == [None] * (len(parts) - 1)
    assembled = assembly.take(parts[-1])
    assert assembled is not None
    assert assembled.tasks == frame.tasks
    assert (assembled.managers, assembled.role, assembled.parts) == (MANAGERS, "worker", len(parts))


def test_a_node_of_an_earlier_version_gets_its_full_set_whole() -> None:
    """A node whose request names no parts cannot assemble: its full set goes in one
    frame, however big (the transport refuses it past the frame limit)."""
    frame = full_frame(assigned(300, services(2)))
    bodies = pack_parts(frame, None, budget=8_000, in_parts=False)
    assert len(bodies) == 1 and len(bodies[0]) > 8_000
    (read,) = over_the_wire(bodies, None)
    assert read == frame


def test_changes_over_the_budget_go_as_frames_of_changes_in_order_to_any_node() -> None:
    """Changes are cut for every node, an earlier version too: each part a frame of
    changes with no part number; applied in order they are the same changes."""
    tasks = assigned(400, services(2))
    removed = tuple(f"gone{i}".ljust(25, "0") for i in range(300))
    frame = SessionFrame("s" * 25, 5.0, (), False, tuple(tasks), removed)
    for sent, held in ((SentSpecs(), HeldSpecs()), (None, None)):
        for in_parts in (True, False):
            bodies = pack_parts(frame, sent, budget=8_000, in_parts=in_parts)
            assert len(bodies) > 5 and all(len(b) <= 8_000 for b in bodies)
            assert all("part" not in msgpack.unpackb(b) for b in bodies)
            parts = over_the_wire(bodies, held)
            assert all(not p.full for p in parts)
            assert tuple(t for p in parts for t in p.tasks) == frame.tasks
            assert tuple(r for p in parts for r in p.removed) == removed


def test_each_part_carries_the_networks_and_credentials_its_tasks_need() -> None:
    net_a, net_b = "a" * 25, "b" * 25
    with_a, with_b = services(1, (net_a,)), services(1, (net_b,))
    with_b = [replace(with_b[0], id="other".ljust(25, "0"))]
    tasks = assigned(60, with_a, seed=1) + assigned(60, with_b, seed=2)
    networks = tuple(Network(id=n, spec=NetworkSpec(name=n[:3])) for n in (net_a, net_b))
    auth = ServiceAuth(with_a[0].id, RegistryAuth("127.0.0.1:5000", "u", "p"))
    frame = SessionFrame(
        "s" * 25, 5.0, (), False, tuple(sorted(tasks, key=lambda t: t.service_id)), (),
        networks=networks, registry_auths=(auth,),
    )  # fmt: skip
    parts = over_the_wire(pack_parts(frame, SentSpecs(), budget=6_000), HeldSpecs())
    assert len(parts) > 4
    for part in parts:
        services_in = {t.service_id for t in part.tasks}
        assert {n.id for n in part.networks} == {
            a.target for t in part.tasks for a in t.spec.networks
        }
        assert [a.service_id for a in part.registry_auths] == (
            [with_a[0].id] if with_a[0].id in services_in else []
        )


def test_a_part_brings_the_specs_its_tasks_need_where_the_nodes_table_stands() -> None:
    """Specs the node lacks come with the first task that needs each, across parts; the
    node's table, started again by the set (more specs than the manager lists), follows
    part by part."""
    of = services(30)
    sent = SentSpecs(limit=40)
    sent.refer([s.spec.task for s in services(20)])  # the node holds 20 other specs
    held = HeldSpecs()
    held.take(0, [s.spec.task for s in services(20)])
    frame = full_frame(assigned(300, of))
    bodies = pack_parts(frame, sent, budget=20_000, in_parts=True)
    raw = [msgpack.unpackb(b) for b in bodies]
    assert raw[0]["specs_base"] == 0  # 20 + 30 is past the limit: the table starts again
    assert all(r["specs_base"] > 0 for r in raw[1:] if r["tasks"])
    assert sum(len(r.get("specs", ())) for r in raw) == 30
    parts = over_the_wire(bodies, held)
    assembly = SetAssembly()
    assembled = [assembly.take(p) for p in parts][-1]
    assert assembled is not None and assembled.tasks == frame.tasks


def test_a_full_set_needing_more_parts_than_a_node_takes_is_refused_naming_why() -> None:
    frame = full_frame(assigned(2_000, services(1)))
    with pytest.raises(FrameTooLarge, match=rf"a node takes a set in at most {MAX_SET_PARTS}"):
        pack_parts(frame, SentSpecs(), budget=4_000, in_parts=True)


def test_a_frame_within_the_budget_is_packed_as_it_always_was() -> None:
    frame = full_frame(assigned(20, services(2)))
    assert pack_parts(frame, SentSpecs(), in_parts=True) == [pack_frame(frame, SentSpecs())]
    assert pack_parts(frame, None) == [pack_frame(frame)]
