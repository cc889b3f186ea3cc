"""On the wire: a worker's session carries the secrets and configs of its own node's tasks
and nothing else. The dispatcher actor behind a real CURVE endpoint (admission by a real
CA's index, tests/support/certified.py), raw ``dispatcher.session`` streams read by the
test: every frame a node receives is checked as bytes for another node's secret."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import msgpack
import pytest

from actors.dispatcher.spec_tables import HeldSpecs
from actors.dispatcher.wire import SessionFrame, encode_session_request, parse_frame
from actors.store import MemoryStore, WriteTx
from actors.store import tasks as task_queries
from api.errors import RemoteError, TransportError
from api.ids import new_id
from api.objects import Cluster, Config, Secret, Task, TaskStatus
from api.specs import (
    ClusterSpec,
    ConfigReference,
    ConfigSpec,
    DispatcherConfig,
    SecretReference,
    SecretSpec,
)
from api.task_state import TaskState
from tests.integration.test_dispatcher_agent import DESCRIPTION, Manager, create, make_task
from tests.support.certified import CertifiedCluster
from tests.support.waiting import wait_for
from transport import Client, KeyPair, generate_keypair

# long enough that no session of this test expires: they send no heartbeats
PERIOD = 60.0


def secret(name: str) -> Secret:
    return Secret(id=new_id(), spec=SecretSpec(name=name, data=f"{name}-{new_id()}".encode()))


class RawSession:
    """One node's session stream, every frame body kept as it came off the wire."""

    def __init__(self, manager: Manager, node_id: str, keys: KeyPair) -> None:
        self.client = Client(manager.address, server_key=manager.keypair.public, keypair=keys)
        self.bodies: list[dict[str, Any]] = []
        self._frames_read: list[SessionFrame] = []  # in order, with the session's specs
        self._held = HeldSpecs()
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        body = encode_session_request(node_id, DESCRIPTION)
        self._frames = self.client.stream("dispatcher.session", body, timeout=PERIOD)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for body in self._frames:
                frame = parse_frame(body, self._held)
                with self._lock:
                    self.bodies.append(body)
                    self._frames_read.append(frame)
        except (TransportError, RemoteError, ValueError) as exc:  # ValueError: undecodable
            self.error = exc

    def wire(self) -> bytes:
        with self._lock:
            return b"".join(msgpack.packb(b, use_bin_type=True) for b in self.bodies)

    def holds(self, task_id: str) -> bool:
        with self._lock:
            frames = list(self._frames_read)
        return any(t.id == task_id for f in frames for t in f.tasks)

    def frames(self) -> list[Any]:
        with self._lock:
            return list(self._frames_read)

    def close(self) -> None:
        self.client.close()
        self._thread.join(timeout=5.0)


@pytest.fixture
def manager() -> Iterator[Manager]:
    store = MemoryStore.local(clock=time.time)
    spec = ClusterSpec(dispatcher=DispatcherConfig(heartbeat_period=PERIOD))
    store.update(lambda tx: tx.create(Cluster(id=new_id(), spec=spec)))
    m = Manager(store, generate_keypair(), CertifiedCluster())
    m.start_dispatcher()
    m.start_endpoint()
    try:
        yield m
    finally:
        m.stop_endpoint()
        m.stop_dispatcher()


def using(task: Task, *secrets: Secret, config: Config | None = None) -> Task:
    c = replace(
        task.spec.container,
        secrets=tuple(SecretReference(s.id, s.spec.name, s.spec.name) for s in secrets),
        configs=(ConfigReference(config.id, config.spec.name, "/c"),) if config else (),
    )
    return replace(task, spec=replace(task.spec, container=c))


def test_a_session_carries_only_its_own_tasks_secrets(manager: Manager) -> None:
    keys_a, keys_b = generate_keypair(), generate_keypair()
    node_a, node_b = manager.join(keys_a), manager.join(keys_b)
    early, later, unscheduled = secret("early"), secret("later"), secret("unscheduled")
    config = Config(id=new_id(), spec=ConfigSpec(name="conf", data=b"conf-" + new_id().encode()))
    create(manager.store, early, later, unscheduled, config)
    a_first = using(make_task(node_a), early, config=config)
    pending_on_b = using(make_task(node_b, state=TaskState.PENDING), unscheduled)
    create(manager.store, a_first, pending_on_b, make_task(node_b))
    a, b = RawSession(manager, node_a, keys_a), RawSession(manager, node_b, keys_b)
    try:
        wait_for(lambda: a.frames() and b.frames(), "both full sets")
        first = a.frames()[0]
        assert first.full and [s.id for s in first.secrets] == [early.id]
        assert [c.id for c in first.configs] == [config.id]
        # a later task of A's brings its secret to A alone
        a_later = using(make_task(node_a), later)
        create(manager.store, a_later)
        wait_for(lambda: later.spec.data in a.wire(), "A gets the later secret")
        # a change for B after that: B's stream has carried everything meant for it
        b_marker = make_task(node_b)
        create(manager.store, b_marker)
        wait_for(lambda: b.holds(b_marker.id), "B gets its own new task")
        seen_by_b = b.wire()
        for obj in (early, later, unscheduled, config):
            assert obj.spec.data not in seen_by_b, f"B received {obj.spec.name}"
            assert obj.id.encode() not in seen_by_b
        assert unscheduled.spec.data not in a.wire()  # pending on B: nobody's yet

        # A's task finishes: A is told to drop that secret (the other task keeps its own)
        def complete(tx: WriteTx) -> None:
            current = task_queries.get(tx, a_first.id)
            assert current is not None
            tx.update(replace(current, status=TaskStatus(state=TaskState.COMPLETE)))

        manager.store.update(complete)
        dropped = wait_for(
            lambda: [f for f in a.frames() if early.id in f.secrets_removed], "early dropped"
        )
        assert dropped[0].configs_removed == (config.id,)
        assert later.id not in dropped[0].secrets_removed
    finally:
        a.close()
        b.close()


def test_a_node_cannot_open_another_nodes_session(manager: Manager) -> None:
    keys_a, keys_b = generate_keypair(), generate_keypair()
    node_a = manager.join(keys_a)
    manager.join(keys_b)
    hidden = secret("hidden")
    create(manager.store, hidden, using(make_task(node_a), hidden))
    with Client(manager.address, server_key=manager.keypair.public, keypair=keys_b) as c:
        frames = c.stream("dispatcher.session", encode_session_request(node_a, DESCRIPTION))
        with pytest.raises(RemoteError) as err:
            next(frames)
    assert err.value.code == "unauthorized"


def test_more_secrets_than_one_frame_holds_arrive_in_several(manager: Manager) -> None:
    """40 secrets of 500 KiB (20 MiB, over the 16 MiB frame limit) for one node's tasks."""
    keys = generate_keypair()
    node = manager.join(keys)
    big = [
        Secret(id=new_id(), spec=SecretSpec(name=f"big{i}", data=bytes([i]) * (500 * 1024)))
        for i in range(40)
    ]
    for one in big:  # a write holds one such secret (1 MiB budget)
        create(manager.store, one)
    tasks = [using(make_task(node), *big[i : i + 10]) for i in range(0, 40, 10)]
    create(manager.store, *tasks)
    session = RawSession(manager, node, keys)
    try:
        got = wait_for(
            lambda: (
                (ids := {s.id for f in session.frames() for s in f.secrets}) == {s.id for s in big}
                and ids
            ),
            "every secret",
        )
        frames = session.frames()
        assert len(got) == 40 and frames[0].full and len(frames) >= 3
        assert {t.id for t in frames[0].tasks} == {t.id for t in tasks}
        assert session.error is None
    finally:
        session.close()
