"""Dispatcher and agent over real ZeroMQ with CURVE, against an in-memory store.

Both ends run in this process: the dispatcher actor behind a transport ``Endpoint`` bound to
a port the OS picks (admission and per-request authorization by a real CA's index, as on a
manager: tests/support/certified.py), the agent connecting to it with the node's key pair
and certificate, a ``RecordingSink`` standing in for the worker (a small real
implementation of the seam). Short heartbeat periods; every wait polls with a deadline; no
timing is asserted.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pykka
import pytest

from actors.backoff import Backoff
from actors.dispatcher import Dispatcher, DispatcherLink, ManagerAddress, dispatcher_handlers
from actors.dispatcher.heartbeats import HEARTBEAT_FAILURE
from actors.dispatcher.held_writes import HeldWrites
from actors.dispatcher.wire import (
    ASSIGNMENT_BYTES_PER_FRAME,
    encode_session_request,
    encode_status_updates,
    parse_frame,
)
from actors.log import configure, ring
from actors.node.fleet.fleet import Fleet
from actors.node.fleet.loop import SimSettings
from actors.node.fleet.members import FleetMember
from actors.node.fleet.session import SessionConfig
from actors.store import MemoryStore, WriteTx, clusters
from actors.store import nodes as node_queries
from actors.store import tasks as task_queries
from actors.worker.agent import Agent
from actors.worker.resources import TaskResources
from api.codec_objects import encode
from api.enums import NodeRole, NodeState
from api.errors import RemoteError
from api.ids import new_id
from api.objects import (
    Cluster,
    Node,
    NodeDescription,
    NodeTLSInfo,
    ObjectKind,
    Platform,
    Task,
    TaskStatus,
)
from api.specs import ClusterSpec, ContainerSpec, DispatcherConfig, TaskSpec
from api.task_state import TaskState
from tests.support.certified import CertifiedCluster
from tests.support.waiting import wait_for
from tests.unit.dispatcher.helpers import Quorum, switched_store
from transport import Client, Endpoint, KeyPair, generate_keypair

PERIOD = 0.2
DESCRIPTION = NodeDescription(hostname="worker-1", platform=Platform("linux", "x86_64"))


class RecordingSink:
    """The worker's side of the seam, recorded: every call, and the tasks it now holds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[tuple[bool, tuple[Task, ...], tuple[str, ...]]] = []
        self.tasks: dict[str, Task] = {}
        self.statuses: dict[str, TaskStatus] = {}

    def apply_assignments(self, full: bool, tasks: Sequence[Task], removed: Sequence[str]) -> None:
        with self._lock:
            self.calls.append((full, tuple(tasks), tuple(removed)))
            if full:
                self.tasks = {}
            for t in tasks:
                self.tasks[t.id] = t
            for task_id in removed:
                self.tasks.pop(task_id, None)

    def current_statuses(self) -> Sequence[tuple[str, TaskStatus]]:
        with self._lock:
            return list(self.statuses.items())

    def full_sets(self) -> list[tuple[Task, ...]]:
        with self._lock:
            return [tasks for full, tasks, _ in self.calls if full]

    def holds(self) -> set[str]:
        with self._lock:
            return set(self.tasks)

    def held(self, task_id: str) -> Task | None:
        with self._lock:
            return self.tasks.get(task_id)


@dataclass
class Manager:
    store: MemoryStore
    keypair: KeyPair
    cluster: CertifiedCluster
    dispatcher: pykka.ActorRef[Dispatcher] | None = None
    endpoint: Endpoint | None = None
    address: str = "tcp://127.0.0.1:0"
    link: DispatcherLink = field(default_factory=DispatcherLink)
    held_writes: Callable[[], HeldWrites] = HeldWrites
    frame_bytes: int = ASSIGNMENT_BYTES_PER_FRAME  # the body a session frame carries at most

    def start_dispatcher(self) -> None:
        self.dispatcher = Dispatcher.start(
            None,
            self.store,
            managers=lambda: [ManagerAddress(self.address, self.keypair.public)],
            tick_interval=0.05,
            rng=random.Random(11),
            link=self.link,
            held_writes=self.held_writes,
            frame_bytes=self.frame_bytes,
        )
        # its front attaches as its start ends: a session opened before is refused
        # ``unavailable`` (an agent retries; a test's own client does not)
        wait_for(self.link.front, "the dispatcher's front attached")

    def stop_dispatcher(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.stop()
            self.dispatcher = None

    def start_endpoint(self) -> None:
        handlers = dispatcher_handlers(self.link, self.cluster.admission.certified_node)
        self.endpoint = Endpoint(
            self.address,
            self.cluster.guard(handlers),
            keypair=self.keypair,
            admission=self.cluster.admission,
            name=f"remote-{new_id()[:6]}",
        )
        self.address = self.endpoint.start()

    def stop_endpoint(self) -> None:
        if self.endpoint is not None:
            self.endpoint.stop()
            self.endpoint = None

    @property
    def manager_address(self) -> ManagerAddress:
        return ManagerAddress(self.address, self.keypair.public)

    def node(self, node_id: str) -> Node | None:
        return self.store.view(lambda tx: node_queries.get(tx, node_id))

    def join(self, keys: KeyPair, role: NodeRole = NodeRole.WORKER) -> str:
        """What ``ca.join`` does: a certificate for ``keys`` and the Node; its id."""
        node_id = self.cluster.certify(keys, role)
        self.store.update(lambda tx: tx.create(Node(node_id, role=role)))
        return node_id

    def nodes(self) -> list[Node]:
        return self.store.view(node_queries.list_all)

    def task(self, task_id: str) -> Task | None:
        return self.store.view(lambda tx: task_queries.get(tx, task_id))


@pytest.fixture
def worker_keys() -> KeyPair:
    return generate_keypair()


@contextlib.contextmanager
def running_manager(store: MemoryStore, **options: Any) -> Iterator[Manager]:
    """A manager's dispatcher and endpoint over ``store`` (its Cluster created here)."""
    spec = ClusterSpec(dispatcher=DispatcherConfig(heartbeat_period=PERIOD))
    store.update(lambda tx: tx.create(Cluster(id=new_id(), spec=spec)))
    m = Manager(store, generate_keypair(), CertifiedCluster(), **options)
    m.start_dispatcher()
    m.start_endpoint()
    try:
        yield m
    finally:
        m.stop_endpoint()
        m.stop_dispatcher()


@pytest.fixture
def manager(worker_keys: KeyPair) -> Iterator[Manager]:
    with running_manager(MemoryStore.local(clock=time.time)) as m:
        yield m


def start_agent(
    manager: Manager,
    node_id: str,
    keys: KeyPair,
    sink: RecordingSink,
    resources: TaskResources | None = None,
    on_role: Callable[[str], None] | None = None,
    tls_info: Callable[[], NodeTLSInfo | None] = lambda: None,
) -> pykka.ActorRef[Agent]:
    return Agent.start(
        None,
        node_id=node_id,
        keypair=keys,
        managers=[manager.manager_address],
        sink=sink,
        description=DESCRIPTION,
        connect_timeout=2.0,
        request_timeout=2.0,
        backoff=Backoff.equal_jitter(initial=0.05, maximum=0.5),
        rng=random.Random(5),
        resources=resources,
        on_role=on_role,
        tls_info=tls_info,
    )


@pytest.fixture
def agent_of(
    manager: Manager, worker_keys: KeyPair
) -> Iterator[Callable[[str, RecordingSink], pykka.ActorRef[Agent]]]:
    started: list[pykka.ActorRef[Agent]] = []

    def start(node_id: str, sink: RecordingSink) -> pykka.ActorRef[Agent]:
        ref = start_agent(manager, node_id, worker_keys, sink)
        started.append(ref)
        return ref

    yield start
    for ref in started:
        if ref.is_alive():
            ref.stop()


def make_task(node_id: str, state: TaskState = TaskState.ASSIGNED, image: str = "busybox") -> Task:
    return Task(
        id=new_id(),
        spec=TaskSpec(container=ContainerSpec(image=image)),
        service_id=new_id(),
        slot=1,
        node_id=node_id,
        desired_state=TaskState.RUNNING,
        status=TaskStatus(state=state),
    )


def task_id(task: Task) -> str:
    return task.id


def create(store: MemoryStore, *tasks: Task) -> None:
    def fn(tx: WriteTx) -> None:
        for t in tasks:
            tx.create(t)

    store.update(fn)


# --- tests --------------------------------------------------------------------------------


def test_session_registers_the_node_ready(
    manager: Manager, agent_of: Any, worker_keys: KeyPair
) -> None:
    node_id = manager.join(worker_keys)
    sink = RecordingSink()
    agent_of(node_id, sink)
    node = wait_for(
        lambda: (n := manager.node(node_id)) and n.status.state is NodeState.READY and n,
        "node READY",
    )
    assert node.description == DESCRIPTION
    assert node.status.addr == "127.0.0.1"
    # the session's first frame (the full set) and the READY write travel separately
    wait_for(lambda: sink.full_sets(), "the first full assignment set")
    assert sink.full_sets() == [()]


def test_the_agent_reports_its_certificate_and_again_once_it_changed(
    manager: Manager, worker_keys: KeyPair
) -> None:
    """The session request carries the node's TLS report; a renewal installed later is
    reported in the next heartbeat, within the same session (no reopen, no resent
    assignments); the manager writes it to the Node's description."""
    node_id = manager.join(worker_keys)
    old = NodeTLSInfo(("oldroot",), b"subject", b"old-key")
    new = NodeTLSInfo(("oldroot", "newroot"), b"subject", b"new-key")
    installed = [old]
    sink = RecordingSink()
    agent = start_agent(manager, node_id, worker_keys, sink, tls_info=lambda: installed[-1])
    try:

        def reported() -> NodeTLSInfo | None:
            node = manager.node(node_id)
            return node.description.tls_info if node and node.description else None

        wait_for(lambda: reported() == old, "the session request's report stored")
        installed.append(new)  # what the renewer does once it installed a certificate
        wait_for(lambda: reported() == new, "the heartbeat's report stored")
        node = manager.node(node_id)
        assert node is not None and node.description == replace(DESCRIPTION, tls_info=new)
        assert agent.proxy().state().get(timeout=5).sessions_opened == 1
        assert len(sink.full_sets()) == 1
    finally:
        agent.stop()


def test_assignments_arrive_full_then_incrementally(
    manager: Manager, agent_of: Any, worker_keys: KeyPair
) -> None:
    node_id = manager.join(worker_keys)
    mine = make_task(node_id)
    pending = make_task(node_id, state=TaskState.PENDING)
    elsewhere = make_task(new_id())
    create(manager.store, mine, pending, elsewhere)
    sink = RecordingSink()
    agent_of(node_id, sink)

    full = wait_for(sink.full_sets, "the full assignment set")[0]
    assert [t.id for t in full] == [mine.id]

    added = make_task(node_id)
    create(manager.store, added)
    wait_for(lambda: added.id in sink.holds(), "an added task")

    def shut_down(tx: WriteTx) -> None:
        current = task_queries.get(tx, mine.id)
        assert current is not None
        tx.update(replace(current, desired_state=TaskState.SHUTDOWN))

    manager.store.update(shut_down)
    wait_for(
        lambda: (t := sink.held(mine.id)) and t.desired_state is TaskState.SHUTDOWN,
        "an updated task",
    )

    manager.store.update(lambda tx: tx.delete_id(ObjectKind.TASK, added.id))
    wait_for(lambda: added.id not in sink.holds(), "a removed task")
    assert any(added.id in removed for full, _, removed in sink.calls if not full)
    assert len(sink.full_sets()) == 1
    assert pending.id not in sink.holds() and elsewhere.id not in sink.holds()


def test_status_batches_land_in_the_store(
    manager: Manager, agent_of: Any, worker_keys: KeyPair
) -> None:
    node_id = manager.join(worker_keys)
    tasks = [make_task(node_id) for _ in range(20)]
    create(manager.store, *tasks)
    sink = RecordingSink()
    agent = agent_of(node_id, sink)
    wait_for(sink.full_sets, "the session")
    reporter = agent.proxy().statuses.get()
    for state in (TaskState.ACCEPTED, TaskState.PREPARING, TaskState.RUNNING):
        reporter.report_status(
            [(t.id, TaskStatus(state=state, message=state.label)) for t in tasks]
        )
    for t in tasks:
        wait_for(
            lambda t=t: (s := manager.task(t.id)) and s.status.state is TaskState.RUNNING,
            "statuses written",
        )
    assert manager.task(tasks[0].id).status.message == "running"  # type: ignore[union-attr]


def test_a_node_whose_writes_were_given_up_registers_again(worker_keys: KeyPair) -> None:
    """The store takes no write for as long as the writer tries (here two attempts; a
    leader without its quorum): the writer gives up the node's writes, among them a status
    its agent was told was accepted, and the dispatcher closes the node's session. Its
    agent opens a new one and resends its statuses: once the store takes writes again,
    the status and the node's READY are in it. Before, the session stayed up, and the
    status was lost until the node's next session, whenever that came."""
    store, proposer = switched_store(proposal_timeout=2.0)
    with running_manager(store, held_writes=lambda: HeldWrites(limit=2)) as manager:
        node_id = manager.join(worker_keys)
        task = make_task(node_id)
        create(store, task)
        sink = RecordingSink()
        agent = start_agent(manager, node_id, worker_keys, sink)
        try:
            wait_for(sink.full_sets, "the session")
            proposer.down(Quorum.DROPPING)
            running = TaskStatus(state=TaskState.RUNNING, message="started")
            with sink._lock:  # what the worker holds, and resends in a new session
                sink.statuses[task.id] = running
            agent.proxy().statuses.get().report_status([(task.id, running)])
            wait_for(
                lambda: agent.proxy().state().get(timeout=5).sessions_opened >= 2,
                "the session closed and opened again",
            )
            assert (s := manager.task(task.id)) and s.status.state is TaskState.ASSIGNED
            proposer.up()
            wait_for(
                lambda: (s := manager.task(task.id)) and s.status == running,
                "the resent status written",
            )
            wait_for(
                lambda: (n := manager.node(node_id)) and n.status.state is NodeState.READY,
                "the node READY",
            )
        finally:
            agent.stop()


@contextlib.contextmanager
def store_read_held(store: MemoryStore) -> Iterator[None]:
    """A big read holding the store's lock for as long as the block runs."""
    read_ends, holding = threading.Event(), threading.Event()
    reader = threading.Thread(
        target=lambda: store.view(lambda tx: (holding.set(), read_ends.wait(30.0))), daemon=True
    )
    reader.start()
    try:
        assert holding.wait(5.0), "the read began"
        yield
    finally:
        read_ends.set()
        reader.join(5.0)


def test_a_status_batch_held_past_the_request_timeout_keeps_the_session(
    manager: Manager, agent_of: Any, worker_keys: KeyPair, log_ring: None
) -> None:
    """A big read holds the store's lock past the agent's request timeout (2 s): the status
    batch waiting for it gets no reply in time, heartbeats still do. The session stays and
    the batch, put back, lands once the read is over."""
    node_id = manager.join(worker_keys)
    task = make_task(node_id)
    create(manager.store, task)
    sink = RecordingSink()
    agent = agent_of(node_id, sink)
    wait_for(sink.full_sets, "the session")
    session_id = agent.proxy().state().get().session_id
    with store_read_held(manager.store):
        agent.proxy().statuses.get().report_status(
            [(task.id, TaskStatus(state=TaskState.RUNNING, message="started"))]
        )
        wait_for(
            lambda: any(e.get("event") == "agent.status.late" for e in ring().snapshot()),
            "the status batch late",
        )
    wait_for(
        lambda: (t := manager.task(task.id)) and t.status.state is TaskState.RUNNING,
        "the status written",
    )
    state = agent.proxy().state().get()
    assert (state.session_id, state.sessions_opened) == (session_id, 1)
    node = manager.node(node_id)
    assert node is not None and node.status.state is NodeState.READY


def test_a_fleet_node_keeps_its_session_through_a_status_batch_held_past_the_timeout(
    manager: Manager, worker_keys: KeyPair, tmp_path: Path
) -> None:
    """The same for a fleet node (bench/fleet.py): its batch, put back, lands after the
    read."""
    node_id = manager.join(worker_keys)
    member = FleetMember(node_id, "fleet-1", tmp_path, worker_keys, (manager.manager_address,))
    config = SessionConfig(connect_timeout=2.0, request_timeout=1.0, flush_interval=0.05)
    sim = SimSettings(start_delay=2.0)  # the task runs after the read has begun
    with Fleet([member], sim=sim, config=config, seed=3) as fleet:
        wait_for(lambda: fleet.stats().sessions_open == 1, "the fleet node's session")
        task = make_task(node_id)
        create(manager.store, task)
        wait_for(lambda: fleet.stats().tasks == 1, "the task on the fleet node")
        with store_read_held(manager.store):
            wait_for(lambda: fleet.stats().late_status_batches >= 1, "a status batch late")
        wait_for(
            lambda: (t := manager.task(task.id)) and t.status.state is TaskState.RUNNING,
            "the status written",
        )
        stats = fleet.stats()
        assert (stats.sessions_opened, stats.ends) == (1, {})


def test_status_for_another_nodes_task_is_refused(
    manager: Manager, agent_of: Any, worker_keys: KeyPair
) -> None:
    node_id = manager.join(worker_keys)
    mine = make_task(node_id)
    theirs = make_task(new_id())
    create(manager.store, mine, theirs)
    agent = agent_of(node_id, RecordingSink())
    session_id = wait_for(lambda: agent.proxy().state().get().session_id, "the session")
    with Client(manager.address, server_key=manager.keypair.public, keypair=worker_keys) as c:
        reply = c.request(
            "dispatcher.status",
            {
                "node_id": node_id,
                "session_id": session_id,
                "updates": encode_status_updates(
                    [
                        (mine.id, TaskStatus(state=TaskState.RUNNING)),
                        (theirs.id, TaskStatus(state=TaskState.RUNNING)),
                    ]
                ),
            },
        )
    assert reply["accepted"] == 1
    assert [r["task_id"] for r in reply["refused"]] == [theirs.id]
    assert "not assigned to this node" in reply["refused"][0]["reason"]
    wait_for(
        lambda: manager.task(mine.id).status.state is TaskState.RUNNING,  # type: ignore[union-attr]
        "the accepted status",
    )
    assert manager.task(theirs.id).status.state is TaskState.ASSIGNED  # type: ignore[union-attr]


def test_session_stays_with_the_key_that_opened_it(
    manager: Manager, agent_of: Any, worker_keys: KeyPair
) -> None:
    node_id = manager.join(worker_keys)
    agent = agent_of(node_id, RecordingSink())
    session_id = wait_for(lambda: agent.proxy().state().get().session_id, "the session")
    other = generate_keypair()  # a second key certified for the same node (a re-issue)
    manager.cluster.certify(other, node_id=node_id)
    with (
        Client(manager.address, server_key=manager.keypair.public, keypair=other) as c,
        pytest.raises(RemoteError) as err,
    ):
        c.request("dispatcher.heartbeat", {"node_id": node_id, "session_id": session_id})
    assert err.value.code == "wrong_key"


def test_a_nodes_address_is_where_its_session_comes_from_not_what_its_body_claims(
    manager: Manager, worker_keys: KeyPair
) -> None:
    node_id = manager.join(worker_keys)
    # an earlier version's body carried the node's address: a worker could claim another
    # host's (and the tasks constrained to node.ip with it)
    body = {**encode_session_request(node_id, DESCRIPTION), "addr": "10.9.9.9"}
    with Client(manager.address, server_key=manager.keypair.public, keypair=worker_keys) as c:
        frames = c.stream("dispatcher.session", body, timeout=15.0)
        assert parse_frame(next(frames)).full
        node = wait_for(
            lambda: (n := manager.node(node_id)) and n.status.state is NodeState.READY and n,
            "node READY",
        )
    assert node.status.addr == "127.0.0.1"


def test_node_that_stops_heartbeating_goes_down(manager: Manager, worker_keys: KeyPair) -> None:
    node_id = manager.join(worker_keys)
    with Client(manager.address, server_key=manager.keypair.public, keypair=worker_keys) as c:
        frames = c.stream(
            "dispatcher.session", encode_session_request(node_id, DESCRIPTION), timeout=15.0
        )
        first = parse_frame(next(frames))
        assert first.full and first.closed is None
        wait_for(
            lambda: (n := manager.node(node_id)) and n.status.state is NodeState.READY,
            "node READY",
        )
        # no heartbeats: after three periods the node is DOWN and the session closed
        node = wait_for(
            lambda: (n := manager.node(node_id)) and n.status.state is NodeState.DOWN and n,
            "node DOWN",
        )
        assert node.status.message == HEARTBEAT_FAILURE
        # the closing frame, by what it says: a frame of its own may come before it (a
        # change the session is told of), and the stream ends with it
        last = next(f for f in map(parse_frame, frames) if f.closed is not None)
        assert last.closed == HEARTBEAT_FAILURE
        with pytest.raises(RemoteError) as err:
            c.request("dispatcher.heartbeat", {"node_id": node_id, "session_id": first.session_id})
        assert err.value.code == "no_session"


def test_agent_reconnects_after_the_endpoint_restarts(
    manager: Manager, agent_of: Any, worker_keys: KeyPair
) -> None:
    node_id = manager.join(worker_keys)
    sink = RecordingSink()
    agent = agent_of(node_id, sink)
    wait_for(lambda: agent.proxy().state().get().sessions_opened == 1, "the first session")
    manager.stop_endpoint()
    manager.start_endpoint()  # same address; the dispatcher and its session live on
    # heartbeats pass through the new endpoint, but the session's stream went with the old
    # one: the next assignment is lost on the way, the agent notices at its next heartbeat
    # and reopens its session, whose full set brings the task
    added = make_task(node_id)
    create(manager.store, added)
    wait_for(lambda: added.id in sink.holds(), "the task assigned after the restart")
    assert agent.proxy().state().get().sessions_opened >= 2
    assert len(sink.full_sets()) >= 2
    # the node stays (or is back) READY with the new session
    wait_for(
        lambda: (n := manager.node(node_id)) and n.status.state is NodeState.READY,
        "node READY",
    )


def test_agent_reopens_its_session_with_a_new_dispatcher(
    manager: Manager, agent_of: Any, worker_keys: KeyPair
) -> None:
    node_id = manager.join(worker_keys)
    sink = RecordingSink()
    sink.statuses["x" * 25] = TaskStatus(state=TaskState.RUNNING)  # resent on each session
    agent = agent_of(node_id, sink)
    wait_for(lambda: agent.proxy().state().get().sessions_opened == 1, "the first session")
    manager.stop_dispatcher()  # leadership lost: sessions closed
    manager.start_dispatcher()  # a new leader: the node starts UNKNOWN
    wait_for(lambda: agent.proxy().state().get().sessions_opened >= 2, "a new session")
    wait_for(
        lambda: (n := manager.node(node_id)) and n.status.state is NodeState.READY,
        "node READY again",
    )


def test_a_role_change_reaches_the_agent_in_a_frame_not_at_its_next_heartbeat(
    manager: Manager, worker_keys: KeyPair
) -> None:
    """A demotion recorded (the leader marks the node a worker once it left Raft) is told
    on the session's stream at once; heartbeats are a minute apart here, so only a frame
    can bring it (the node then renews its certificate into the new role)."""

    def slow_heartbeats(tx: WriteTx) -> None:
        cluster = clusters.get_default(tx)
        assert cluster is not None
        spec = replace(cluster.spec, dispatcher=DispatcherConfig(heartbeat_period=60.0))
        tx.update(replace(cluster, spec=spec))

    manager.store.update(slow_heartbeats)
    node_id = manager.join(worker_keys, NodeRole.MANAGER)
    roles: list[str] = []
    agent = start_agent(manager, node_id, worker_keys, RecordingSink(), on_role=roles.append)
    try:
        wait_for(lambda: roles == ["manager"], "the role on the session's first frame")
        assert agent.proxy().state().get().sessions_opened == 1

        def demoted(tx: WriteTx) -> None:
            node = node_queries.get(tx, node_id)
            assert node is not None
            tx.update(replace(node, role=NodeRole.WORKER))

        manager.store.update(demoted)
        wait_for(lambda: roles[-1:] == ["worker"], "the new role, on the session's stream")
        assert agent.proxy().state().get().sessions_opened == 1
    finally:
        agent.stop()


def test_no_dispatcher_means_unavailable(manager: Manager, worker_keys: KeyPair) -> None:
    node_id = manager.join(worker_keys)
    manager.stop_dispatcher()
    with (
        Client(manager.address, server_key=manager.keypair.public, keypair=worker_keys) as c,
        pytest.raises(RemoteError) as err,
    ):
        c.request("dispatcher.heartbeat", {"node_id": node_id, "session_id": "s"})
    assert err.value.code == "unavailable"


# --- every call speaks for the caller's certificate (issue 8, item 1) ---------------------


def unauthorized_events() -> list[dict[str, Any]]:
    return [e for e in ring().snapshot() if e.get("event") == "dispatcher.call.unauthorized"]


@pytest.fixture
def log_ring() -> None:
    configure("json", force=True, stream=_Discard())


class _Discard:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def test_session_naming_another_node_is_refused(
    manager: Manager, worker_keys: KeyPair, log_ring: None
) -> None:
    victim_keys = generate_keypair()
    victim = manager.join(victim_keys, NodeRole.MANAGER)
    mine = make_task(victim)  # its env is what a thief would be after
    create(manager.store, mine)
    manager.join(worker_keys)
    with (
        Client(manager.address, server_key=manager.keypair.public, keypair=worker_keys) as c,
        pytest.raises(RemoteError) as err,
    ):
        next(c.stream("dispatcher.session", encode_session_request(victim, DESCRIPTION)))
    assert err.value.code == "unauthorized"
    assert manager.node(victim).status.state is NodeState.UNKNOWN  # type: ignore[union-attr]
    [event] = unauthorized_events()
    assert event["named_node"] == victim
    assert event["certified_node"] != victim
    assert event["key_fingerprint"] == worker_keys.fingerprint


def test_heartbeat_and_status_naming_another_node_are_refused(
    manager: Manager, agent_of: Any, worker_keys: KeyPair, log_ring: None
) -> None:
    victim_keys = generate_keypair()
    victim = manager.join(victim_keys)
    theirs = make_task(victim)
    create(manager.store, theirs)
    victim_agent = start_agent(manager, victim, victim_keys, RecordingSink())
    try:
        stolen = wait_for(lambda: victim_agent.proxy().state().get().session_id, "its session")
        thief = manager.join(worker_keys)
        thief_agent = agent_of(thief, RecordingSink())
        own = wait_for(lambda: thief_agent.proxy().state().get().session_id, "its own session")
        attempts = [
            ("dispatcher.heartbeat", {"node_id": victim, "session_id": stolen}),
            ("dispatcher.heartbeat", {"node_id": victim, "session_id": own}),
            *(
                (
                    "dispatcher.status",
                    {
                        "node_id": victim,
                        "session_id": session_id,
                        "updates": encode_status_updates(
                            [(theirs.id, TaskStatus(state=TaskState.FAILED))]
                        ),
                    },
                )
                for session_id in (stolen, own)
            ),
        ]
        with Client(manager.address, server_key=manager.keypair.public, keypair=worker_keys) as c:
            for kind, body in attempts:
                with pytest.raises(RemoteError) as err:
                    c.request(kind, body)
                assert err.value.code == "unauthorized", (kind, err.value)
        events = unauthorized_events()
        assert [(e["type"], e["named_node"], e["certified_node"]) for e in events] == [
            (kind, victim, thief) for kind, _ in attempts
        ]
        assert manager.task(theirs.id).status.state is TaskState.ASSIGNED  # type: ignore[union-attr]
        assert victim_agent.proxy().state().get().session_id == stolen  # still its session
    finally:
        victim_agent.stop()


def test_a_session_never_creates_a_node(
    manager: Manager, agent_of: Any, worker_keys: KeyPair, log_ring: None
) -> None:
    phantom = new_id()
    unjoined_keys = generate_keypair()  # certified, but its Node is not in the store
    unjoined = manager.cluster.certify(unjoined_keys)
    before = {n.id for n in manager.nodes()}
    for keys, node_id in ((worker_keys, phantom), (unjoined_keys, unjoined)):
        with (
            Client(manager.address, server_key=manager.keypair.public, keypair=keys) as c,
            pytest.raises(RemoteError) as err,
        ):
            next(c.stream("dispatcher.session", encode_session_request(node_id, DESCRIPTION)))
        assert err.value.code == "unauthorized"
    # a session that may open goes through the same writer after them: once its node is
    # READY, the refused ones would have been written too
    joined_keys = generate_keypair()
    joined = manager.join(joined_keys)
    agent = start_agent(manager, joined, joined_keys, RecordingSink())
    try:
        wait_for(
            lambda: (n := manager.node(joined)) and n.status.state is NodeState.READY,
            "the joined node READY",
        )
    finally:
        agent.stop()
    assert {n.id for n in manager.nodes()} == before | {joined}


class RecordingResources(TaskResources):
    """The worker's book, with every network and credential a session frame brought."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[tuple[str, str]] = []  # (kind, id): ("auth", service id), ...

    def apply(self, **frame: Any) -> None:
        self.received += [("auth", a.service_id) for a in frame.get("auths", ())]
        self.received += [("network", n.id) for n in frame.get("networks", ())]
        super().apply(**frame)


def test_credentials_and_networks_reach_only_the_nodes_that_need_them(
    manager: Manager,
) -> None:
    from api.objects import Network, RegistryAuth, Service
    from api.specs import NetworkAttachmentConfig, NetworkSpec, ServiceSpec

    keys_a, keys_b = generate_keypair(), generate_keypair()
    node_a, node_b = manager.join(keys_a), manager.join(keys_b)
    network = Network(id=new_id(), spec=NetworkSpec(name="backend"))
    auth = RegistryAuth("127.0.0.1:5000", "alice", "first-secret")
    private = Service(id=new_id(), spec=ServiceSpec(name="private"), registry_auth=auth)
    public = Service(id=new_id(), spec=ServiceSpec(name="public"))
    attached = TaskSpec(
        container=ContainerSpec(image="127.0.0.1:5000/app"),
        networks=(NetworkAttachmentConfig(network.id),),
    )
    on_a = replace(make_task(node_a), service_id=private.id, spec=attached)
    on_b = replace(make_task(node_b), service_id=public.id)

    def setup(tx: WriteTx) -> None:
        for obj in (network, private, public, on_a, on_b):
            tx.create(obj)

    manager.store.update(setup)
    book_a, book_b = RecordingResources(), RecordingResources()
    agents = [
        start_agent(manager, node_a, keys_a, RecordingSink(), book_a),
        start_agent(manager, node_b, keys_b, RecordingSink(), book_b),
    ]
    try:
        wait_for(lambda: book_a.registry_auth(private.id) == auth, "node a's credentials")
        held = book_a.network(network.id)
        assert held is not None and held.spec == network.spec
        wait_for(lambda: manager.node(node_b).status.state is NodeState.READY, "node b's session")  # type: ignore[union-attr]

        # new credentials (no new task): resent to node a only
        fresh = replace(auth, password="second-secret")

        def rotate(tx: WriteTx) -> None:
            current = tx.get(ObjectKind.SERVICE, private.id)
            tx.update(replace(current, registry_auth=fresh))  # type: ignore[type-var]

        manager.store.update(rotate)
        wait_for(lambda: book_a.registry_auth(private.id) == fresh, "the new credentials")

        # the task leaves node a: the book forgets what it needed
        manager.store.update(lambda tx: tx.delete_id(ObjectKind.TASK, on_a.id))
        wait_for(lambda: book_a.held() == (frozenset(), frozenset()), "forgotten")
        # node b, with no task of the service, never received either
        assert ("auth", private.id) not in book_b.received
        assert ("network", network.id) not in book_b.received
        assert book_a.received.count(("auth", private.id)) >= 2
    finally:
        for ref in agents:
            ref.stop()


def test_a_node_that_asks_gets_each_spec_once_and_an_earlier_one_inline(
    manager: Manager,
) -> None:
    """Over a real session: a node whose request names ``specs`` gets a frame whose tasks
    index the session's specs (three tasks of one service, one spec, sent once); a node
    of the earlier version (no ``specs``) gets each task's spec inline; both read the
    same tasks."""
    keys = {name: generate_keypair() for name in ("new", "old")}
    nodes = {name: manager.join(k) for name, k in keys.items()}
    spec = TaskSpec(container=ContainerSpec(image="busybox", args=("sleep", "9")))
    service_id = new_id()
    placed = {
        name: [
            replace(make_task(node_id), spec=spec, service_id=service_id, slot=i + 1)
            for i in range(3)
        ]
        for name, node_id in nodes.items()
    }
    create(manager.store, *placed["new"], *placed["old"])
    bodies = {}
    for name, node_id in nodes.items():
        request = encode_session_request(node_id, DESCRIPTION)
        if name == "old":
            del request["specs"]
        with Client(manager.address, server_key=manager.keypair.public, keypair=keys[name]) as c:
            bodies[name] = next(c.stream("dispatcher.session", request, timeout=15.0))
    assert bodies["new"]["specs"] == [encode(spec)] and bodies["new"]["specs_base"] == 0
    assert [t["spec"] for t in bodies["new"]["tasks"]] == [0, 0, 0]
    assert "specs" not in bodies["old"] and "specs_base" not in bodies["old"]
    assert [t["spec"] for t in bodies["old"]["tasks"]] == [encode(spec)] * 3
    for name, node_id in nodes.items():
        frame = parse_frame(bodies[name])
        stored = manager.store.view(lambda tx, node_id=node_id: task_queries.by_node(tx, node_id))
        assert frame.full
        assert sorted(frame.tasks, key=task_id) == sorted(stored, key=task_id)
