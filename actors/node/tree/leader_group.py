"""The leader-only group: a nested ``Supervisor`` the node starts when its Raft member wins
leadership and stops when it loses it (DESIGN.md §2).

Children, in start order (stopped in reverse):

    leader Supervisor
     ├─ bootstrap     waits until the store has applied everything committed before this
     │                term, then makes sure the Cluster object exists and this node is
     │                registered as a manager (written once: it checks before creating)
     ├─ dispatcher    Dispatcher (the remote endpoint finds it through a ``DispatcherLink``);
     │                first, so the agents' sessions open while the others read the store
     ├─ orchestrator  OrchestratorActor
     ├─ scheduler     SchedulerActor
     ├─ constraintenforcer  ConstraintEnforcerActor (tasks whose node no longer fits)
     ├─ taskreaper    TaskReaperActor (last: nothing waits for its first pass)
     └─ (extra)       what the node adds: the membership keeper
                      (actors/node/membership/keeper.py), the root CA rotation keeper
                      (actors/ca/rotation_keeper.py)

At cluster init the Cluster object the bootstrap creates is the one cluster init prepared
(root CA, join tokens: actors/node/startup/security.py); this node is registered with its
certificate.

``LeadershipSwitch`` is the Raft leadership subscription: it runs on Raft's notifier
thread and only *tells* the root supervisor to ``start_child``/``stop_child("leader")``,
so the group starts and stops on the supervisor's own thread, in the order of the changes.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pykka
from pykka.messages import ProxyCall

from actors.dispatcher import Dispatcher, DispatcherLink, ManagerAddress
from actors.log import get_logger
from actors.node.tree.node import start_wait
from actors.orchestrator import ConstraintEnforcerActor, OrchestratorActor, TaskReaperActor
from actors.raft_node.actor import LeadershipChange, RaftNode
from actors.scheduler import SchedulerActor
from actors.store import ConflictError, MemoryStore, WriteTx, clusters, nodes
from actors.supervisor import (
    ChildContext,
    ChildSpec,
    Restart,
    SupervisedActor,
    Supervisor,
    start_actor,
)
from api.enums import NodeAvailability, NodeRole, Reachability
from api.ids import new_id
from api.objects import Cluster, ManagerStatus, Node, NodeDescription
from api.specs import ClusterSpec, NodeSpec

__all__ = [
    "LEADER_GROUP",
    "ActorSlot",
    "ClusterBootstrap",
    "LeadershipSwitch",
    "RaftHolder",
    "Registration",
    "leader_child",
    "leader_children",
]

LEADER_GROUP = "leader"
CATCH_UP_TIMEOUT = 30.0

_log = get_logger("node")


class ActorSlot:
    """The current ref of one child, recorded by its start function (for handlers built
    before the child runs, e.g. the dispatcher's on the remote endpoint)."""

    def __init__(self) -> None:
        self._ref: pykka.ActorRef[Any] | None = None

    def record(
        self, start: Callable[[ChildContext], pykka.ActorRef[Any]]
    ) -> Callable[[ChildContext], pykka.ActorRef[Any]]:
        def recording(ctx: ChildContext) -> pykka.ActorRef[Any]:
            ref = start(ctx)
            self._ref = ref
            return ref

        return recording

    def find(self) -> pykka.ActorRef[Any] | None:
        ref = self._ref
        return ref if ref is not None and ref.is_alive() else None


class RaftHolder:
    """The RaftNode the raft child runs now (a restart builds a new one)."""

    def __init__(self) -> None:
        self.node: RaftNode | None = None

    def require(self) -> RaftNode:
        node = self.node
        if node is None:
            raise RuntimeError("the Raft node is not running")
        return node


@dataclass(frozen=True)
class Registration:
    """How this node registers itself in the store."""

    node_id: str
    raft_id: int
    raft_addr: str  # host:port
    description: NodeDescription
    labels: Mapping[str, str]
    certificate: bytes = b""  # this node's certificate (PEM), stored on registration
    # the Cluster object to create when the store has none (cluster init), and what to
    # call once it is committed
    initial_cluster: Callable[[], Cluster | None] = lambda: None
    cluster_committed: Callable[[], None] = lambda: None


class ClusterBootstrap(SupervisedActor):
    """The leader's first child: catch up, then create what is missing (the Cluster
    object, this node) and mark this node the leader in its ``manager_status``."""

    def __init__(
        self,
        ctx: ChildContext | None,
        store: MemoryStore,
        raft: RaftHolder,
        registration: Registration,
        *,
        timeout: float = CATCH_UP_TIMEOUT,
    ) -> None:
        super().__init__(ctx)
        self._store = store
        self._raft = raft
        self._reg = registration
        self._timeout = timeout

    def on_start(self) -> None:
        self._catch_up()
        for attempt in range(5):
            try:
                committed = self._store.update(self._ensure, timeout=self._timeout)
                break
            except ConflictError:
                if attempt == 4:
                    raise
        self._reg.cluster_committed()
        _log.info("node.leader.ready", store_version=committed.version, raft_id=self._reg.raft_id)

    def _catch_up(self) -> None:
        """Wait until everything up to this term's first entry is applied to the store, so
        nothing below reads (or writes over) a store that is still being replayed."""
        node = self._raft.require()
        status = node.status(self._timeout)
        if not status.is_leader:
            raise RuntimeError("lost leadership before the leader group started")
        target = status.last_index
        deadline = time.monotonic() + self._timeout
        while node.status(self._timeout).applied < target:
            # this term's first entry commits only while this node leads a quorum: once
            # it lost leadership, or was told it was removed from the group (it sends
            # nothing), it never will, and waiting on would hold the node's stop (a
            # removed manager's rejoin) past its timeout
            if not node.is_leader or node.removed_by is not None:
                raise RuntimeError(
                    f"lost leadership before the store caught up to index {target}"
                    + (
                        f" (removed from the group by member {node.removed_by})"
                        if node.removed_by is not None
                        else ""
                    )
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"store did not catch up to index {target}")
            time.sleep(0.01)

    def _ensure(self, tx: WriteTx) -> None:
        reg = self._reg
        if clusters.get_default(tx) is None:
            initial = reg.initial_cluster()
            if initial is None:
                initial = Cluster(id=new_id(), spec=ClusterSpec(name=clusters.DEFAULT_NAME))
            tx.create(initial)
            _log.info("node.cluster.created", cluster_id=initial.id)
        status = ManagerStatus(
            raft_id=reg.raft_id,
            addr=reg.raft_addr,
            leader=True,
            reachability=Reachability.REACHABLE,
        )
        node = nodes.get(tx, reg.node_id)
        if node is None:
            tx.create(
                Node(
                    id=reg.node_id,
                    spec=NodeSpec(
                        labels=dict(reg.labels),
                        desired_role=NodeRole.MANAGER,
                        availability=NodeAvailability.ACTIVE,
                    ),
                    description=reg.description,
                    manager_status=status,
                    role=NodeRole.MANAGER,
                    certificate=reg.certificate,
                )
            )
            _log.info("node.registered", hostname=reg.description.hostname)
        else:
            updated = replace(node, manager_status=status, role=NodeRole.MANAGER)
            if not node.certificate and reg.certificate:
                updated = replace(updated, certificate=reg.certificate)
            if updated != node:
                tx.update(updated)


def leader_child(
    store: MemoryStore,
    raft: RaftHolder,
    registration: Registration,
    dispatcher_link: DispatcherLink,
    managers: Callable[[], Sequence[ManagerAddress]],
    *,
    stop_timeout: float = 5.0,
    extra: Sequence[ChildSpec] = (),
) -> ChildSpec:
    """The nested supervisor, declared ``autostart=False``: ``LeadershipSwitch`` runs it."""
    children = leader_children(
        store, raft, registration, dispatcher_link, managers, stop_timeout=stop_timeout
    )
    children.extend(extra)
    return ChildSpec(
        LEADER_GROUP,
        start_actor(Supervisor, children, name=LEADER_GROUP),
        restart=Restart.PERMANENT,
        autostart=False,
        # its children in turn, each within its own timeout (whose error fails the start)
        start_timeout=start_wait(children),
        stop_timeout=stop_timeout * (len(children) + 1),
    )


def leader_children(
    store: MemoryStore,
    raft: RaftHolder,
    registration: Registration,
    dispatcher_link: DispatcherLink,
    managers: Callable[[], Sequence[ManagerAddress]],
    *,
    stop_timeout: float = 5.0,
) -> list[ChildSpec]:
    """The group's own children, in start order (module docstring)."""
    return [
        ChildSpec(
            "bootstrap",
            start_actor(ClusterBootstrap, store, raft, registration),
            start_timeout=CATCH_UP_TIMEOUT * 2 + 5,
            stop_timeout=stop_timeout,
        ),
        # right after the bootstrap: the agents reconnect at once after a leader change,
        # and each give up on a session without a first frame within 5 s; the scheduler's
        # and orchestrator's start read every task (seconds at 100,000), and a dispatcher
        # started after them served its first session ~10 s after the election
        ChildSpec(
            "dispatcher",
            start_actor(Dispatcher, store, managers=managers, link=dispatcher_link),
            stop_timeout=stop_timeout,
        ),
        ChildSpec("orchestrator", start_actor(OrchestratorActor, store), stop_timeout=stop_timeout),
        # before the reaper and the enforcer, which nothing waits for: a child is up once
        # it answers the supervisor, and a first full pass over 100,000 tasks that got into
        # the reaper's mailbox first held the scheduler's start back 7 s
        ChildSpec("scheduler", start_actor(SchedulerActor, store), stop_timeout=stop_timeout),
        ChildSpec(
            "constraintenforcer",
            start_actor(ConstraintEnforcerActor, store),
            stop_timeout=stop_timeout,
        ),
        ChildSpec("taskreaper", start_actor(TaskReaperActor, store), stop_timeout=stop_timeout),
    ]


class LeadershipSwitch:
    """Raft's leadership subscription: tells the root supervisor to start or stop the
    leader group. Changes that arrive before the supervisor is attached are kept (the last
    one wins) and sent on ``attach``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ref: pykka.ActorRef[Any] | None = None
        self._wanted: bool | None = None

    def attach(self, ref: pykka.ActorRef[Any]) -> None:
        with self._lock:
            self._ref = ref
            wanted = self._wanted
        if wanted is not None:
            self._send(ref, wanted)

    def __call__(self, change: LeadershipChange) -> None:
        with self._lock:
            self._wanted = change.is_leader
            ref = self._ref
        # Raft logs the change itself (raft.leadership.changed); a second line here
        # doubled every change in the node's log
        if ref is not None:
            self._send(ref, change.is_leader)

    @staticmethod
    def _send(ref: pykka.ActorRef[Any], leader: bool) -> None:
        method = "start_child" if leader else "stop_child"
        with contextlib.suppress(pykka.ActorDeadError):  # the node is stopping
            ref.tell(ProxyCall(attr_path=(method,), args=(LEADER_GROUP,), kwargs={}))
