"""The routing mesh's table through real sessions: the dispatcher actor behind a transport
``Endpoint`` (real ZeroMQ with CURVE, a real CA's admission), an in-memory store, and the
real agent feeding an ``IngressHolder`` as a node's mesh would (actors/worker/mesh.py).

A port with more backends than the 256 of the earlier version reaches every node whole;
a task that stops travels as a change on the version the node holds (never the whole
table again), and the node's table follows it; a node of the earlier version (its session
request names no ``mesh``) still gets the whole table, cut to the 256 it accepts.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from actors.backoff import Backoff
from actors.dispatcher import Dispatcher, DispatcherLink, ManagerAddress, dispatcher_handlers
from actors.dispatcher.ingress import LEGACY_MAX_BACKENDS, IngressBackend, IngressPort
from actors.dispatcher.spec_tables import HeldSpecs
from actors.dispatcher.wire import SessionFrame, encode_session_request, parse_frame
from actors.store import MemoryStore, WriteTx
from actors.store import nodes as node_queries
from actors.store import tasks as task_queries
from actors.worker.agent import Agent
from actors.worker.mesh import IngressHolder
from api.enums import NodeRole, PublishMode
from api.ids import new_id
from api.objects import Cluster, Node, NodeDescription, Platform, Service, Task, TaskStatus
from api.specs import (
    ClusterSpec,
    ContainerSpec,
    DispatcherConfig,
    EndpointSpec,
    PortConfig,
    ServiceSpec,
    TaskSpec,
)
from api.task_state import TaskState
from tests.support.certified import CertifiedCluster
from tests.support.waiting import wait_for
from transport import Client, Endpoint, KeyPair, generate_keypair

PERIOD = 2.0  # the raw sessions below send no heartbeats: they must outlive the test
DESCRIPTION = NodeDescription(hostname="worker-1", platform=Platform("linux", "x86_64"))
PORT = 8080
REPLICAS = LEGACY_MAX_BACKENDS + 44  # past the earlier version's bound


class NoWork:
    """A worker that runs nothing (the tasks' statuses are the store's, written here)."""

    def apply_assignments(self, full: bool, tasks: Any, removed: Any) -> None:
        pass

    def current_statuses(self) -> list[tuple[str, TaskStatus]]:
        return []


class Cluster1:
    def __init__(self) -> None:
        self.store = MemoryStore.local(clock=time.time)
        spec = ClusterSpec(dispatcher=DispatcherConfig(heartbeat_period=PERIOD))
        self.store.update(lambda tx: tx.create(Cluster(id=new_id(), spec=spec)))
        self.keypair = generate_keypair()
        self.ca = CertifiedCluster()
        self.link = DispatcherLink()
        self.address = "tcp://127.0.0.1:0"
        self.dispatcher = Dispatcher.start(
            None,
            self.store,
            managers=lambda: [ManagerAddress(self.address, self.keypair.public)],
            tick_interval=0.05,
            rng=random.Random(3),
            link=self.link,
        )
        # a session opened before its front attached is refused ``unavailable``
        wait_for(self.link.front, "the dispatcher's front attached")
        self.endpoint = Endpoint(
            self.address,
            self.ca.guard(dispatcher_handlers(self.link, self.ca.admission.certified_node)),
            keypair=self.keypair,
            admission=self.ca.admission,
            name="remote-mesh",
        )
        self.address = self.endpoint.start()

    def join(self, keys: KeyPair) -> str:
        node_id = self.ca.certify(keys, NodeRole.WORKER)
        self.store.update(lambda tx: tx.create(Node(node_id, role=NodeRole.WORKER)))
        return node_id

    def client(self, keys: KeyPair) -> Client:
        return Client(self.address, server_key=self.keypair.public, keypair=keys)

    def close(self) -> None:
        self.endpoint.stop()
        self.dispatcher.stop()


@pytest.fixture
def cluster() -> Iterator[Cluster1]:
    c = Cluster1()
    try:
        yield c
    finally:
        c.close()


def web_service(node_id: str, replicas: int) -> tuple[Service, list[Task]]:
    port = PortConfig(target_port=80, published_port=PORT, publish_mode=PublishMode.INGRESS)
    task_spec = TaskSpec(container=ContainerSpec(image="busybox"), ports=(port,))
    spec = ServiceSpec(name="web", task=task_spec, endpoint=EndpointSpec(ports=(port,)))
    service = Service(id=new_id(), spec=spec)
    tasks = [
        Task(
            id=new_id(),
            spec=task_spec,
            service_id=service.id,
            slot=i + 1,
            node_id=node_id,
            desired_state=TaskState.RUNNING,
            status=TaskStatus(
                state=TaskState.RUNNING,
                port_status=(
                    PortConfig(
                        target_port=80, published_port=20000 + i, publish_mode=PublishMode.HOST
                    ),
                ),
            ),
        )
        for i in range(replicas)
    ]
    return service, tasks


def backends_of(table: tuple[IngressPort, ...] | None) -> set[IngressBackend]:
    """The port's backends in a node's table (``IngressHolder.watch(None)`` reads it)."""
    entries = [e for e in table or () if e.port == PORT]
    return set(entries[0].backends) if entries else set()


def next_with(frames: Iterator[Any], field: str, held: HeldSpecs) -> SessionFrame:
    """The stream's next frame with ``field`` set (``held``: the stream's specs)."""
    while True:
        frame = parse_frame(next(frames), held)
        if getattr(frame, field) is not None:
            return frame


def test_a_port_reaches_every_backend_and_changes_travel_as_changes(cluster: Cluster1) -> None:
    keys, watcher_keys, old_keys = generate_keypair(), generate_keypair(), generate_keypair()
    node_id = cluster.join(keys)
    watcher, old = cluster.join(watcher_keys), cluster.join(old_keys)
    holder = IngressHolder()
    agent = Agent.start(
        None,
        node_id=node_id,
        keypair=keys,
        managers=[ManagerAddress(cluster.address, cluster.keypair.public)],
        sink=NoWork(),
        description=DESCRIPTION,
        connect_timeout=2.0,
        request_timeout=2.0,
        backoff=Backoff.equal_jitter(initial=0.05, maximum=0.5),
        rng=random.Random(5),
        on_ingress=holder.set,
    )
    try:
        # the tasks run on the agent's node: their address is where its session comes from
        def addr() -> str:
            node = cluster.store.view(lambda tx: node_queries.get(tx, node_id))
            return node.status.addr if node is not None else ""

        wait_for(addr, "the agent's session")
        service, tasks = web_service(node_id, REPLICAS)

        def create(tx: WriteTx) -> None:
            tx.create(service)
            for t in tasks:
                tx.create(t)

        cluster.store.update(create)
        every = {IngressBackend("127.0.0.1", 20000 + i) for i in range(REPLICAS)}
        wait_for(lambda: backends_of(holder.watch(None)) == every, "every backend")

        with cluster.client(watcher_keys) as c, cluster.client(old_keys) as c_old:
            frames = c.stream("dispatcher.session", encode_session_request(watcher, DESCRIPTION))
            held = HeldSpecs()
            first = next_with(frames, "mesh", held)
            assert first.mesh is not None and first.mesh.full
            (entry,) = first.mesh.ports
            assert set(entry.added) == every
            # a node of the earlier version: no "mesh" in its request, the whole table
            body = encode_session_request(old, DESCRIPTION)
            del body["mesh"]
            legacy = next_with(c_old.stream("dispatcher.session", body), "ingress", HeldSpecs())
            assert legacy.mesh is None and legacy.ingress is not None
            (old_entry,) = legacy.ingress
            assert isinstance(old_entry, IngressPort)
            assert len(old_entry.backends) == LEGACY_MAX_BACKENDS

            # one task stops: a change on the version the node has, one backend removed
            stopped = tasks[7]

            def stop(tx: WriteTx) -> None:
                current = task_queries.get(tx, stopped.id)
                assert current is not None
                tx.update(replace(current, desired_state=TaskState.SHUTDOWN))

            cluster.store.update(stop)
            change = next_with(frames, "mesh", held).mesh
            assert change is not None and change.base == first.mesh.version
            (port_change,) = change.ports
            assert port_change.added == ()
            assert port_change.removed == (IngressBackend("127.0.0.1", 20007),)

        left = every - {IngressBackend("127.0.0.1", 20007)}
        wait_for(lambda: backends_of(holder.watch(None)) == left, "the change")
        assert agent.proxy().state().get().sessions_opened == 1  # never out of step
    finally:
        agent.stop()
