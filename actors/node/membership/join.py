"""Managers joining the Raft group, and the leader keeping ``Node.manager_status`` current.

Rules:
- A manager that joined with a manager token starts with an empty Raft log; it is not a
  member until the leader adds it. Before it opens its Raft storage the first time it asks
  a manager with ``raft.join`` (`JoinAsker`: its Raft id and advertised address; the
  caller's CURVE key, checked by authorization to hold a *manager* certificate, is its
  Raft server key); the reply carries the group's *bootstrap voters*, the configuration
  the log starts from (the founder), which the joiner's storage starts with (a snapshot
  from the leader replaces it; starting with no configuration would let the joiner, once
  promoted, count itself as the only voter). `RaftJoiner` keeps asking until its Raft node
  sees itself in the configuration (the add may be lost in a leader change). A non-leader
  answers with the leader's address when it knows it.
- `raft_join_handler` (every manager's remote endpoint): on the leader, `RaftNode.add_member`
  proposes ``ADD_LEARNER`` with the peer's address and key in the change's context (every
  manager's peer table follows applied changes), then records ``manager_status`` (Raft id,
  address) on the joiner's Node, which is how peers are found again after a restart.
- `ManagerStatusKeeper` (leader-only, periodic): from the leader's `RaftStatus`, writes
  each manager's ``leader`` flag and reachability, only when they change; and promotes a
  learner whose Node wants the manager role once its match index is within
  `PROMOTE_GAP` of the leader's last index (``PROMOTE`` conf change).
- Role changes (`reconcile_roles`, run by the keeper, one membership change per round):
  the control API records ``spec.desired_role`` after its own safety check
  (api/roles.py `check_demotion`). *Demote*: if the node is the leader it first hands leadership to
  the most caught-up reachable voter (`transfer_leadership`); the new leader proposes
  ``REMOVE``; once the node is out of the configuration its ``role`` becomes worker (so
  authorization refuses it Raft) and its ``manager_status`` is cleared. *Promote* (any
  worker, whether it joined as one or was demoted): the leader sets ``role`` to manager at
  once; no membership change yet. ``raft.join`` is refused to a node whose desired role is
  worker.
- The node follows (actors/node/tree/manager_parts.py, actors/node/runner.py): each dispatcher
  heartbeat reply names the Node's role; when it differs from the certificate's the node
  renews, and the CA issues the role `issued_role` allows (a manager certificate only when
  the desired role is manager; none while a demotion is under way, worker once the node
  has left Raft). A certificate of the other role restarts the node's subsystems in place:
  a demoted manager stops Raft, the leader group, the remote and hello endpoints and the
  full control API, removes its Raft data and continues as a worker with the manager list
  its sessions sent; a promoted worker starts the manager set with an empty Raft log and
  joins through ``raft.join`` under a new Raft id, as a learner promoted when caught up
  (exactly as a manager-token joiner). The ``raft.join`` reply carries the managers with
  their Raft ids, so a node promoted long after it joined finds the current members.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from actors.ca.authorization import ClusterAdmission
from actors.ca.certs import CertificateError, read_node_certificate
from actors.log import get_logger
from actors.node.membership.roles import RoleStep, role_step
from actors.node.tree.leader_group import RaftHolder
from actors.raft_node.peers import Peer
from actors.raft_node.types import ConfChange, ConfChangeType
from actors.store import MemoryStore, WriteTx, nodes
from actors.supervisor import ChildContext, SupervisedActor
from api.enums import NodeRole, Reachability
from api.errors import TransportError
from api.objects import ManagerStatus, Node
from transport.client import Client
from transport.endpoint import Handler, Request
from transport.keys import KeyPair

__all__ = [
    "PROMOTE_GAP",
    "RAFT_JOIN",
    "JoinAsker",
    "ManagerStatusKeeper",
    "RaftJoiner",
    "raft_join_handler",
]

RAFT_JOIN: Final = "raft.join"
PROMOTE_GAP: Final = 20  # entries a learner may lag and still be promoted
KEEPER_INTERVAL: Final = 0.5

_log = get_logger("node")

ManagerList = Callable[[], Sequence[Mapping[str, str]]]


def _host_port(addr: str) -> str:
    return addr.split("://", 1)[-1]


def _tcp(addr: str) -> str:
    return addr if "://" in addr else f"tcp://{addr}"


# --- the leader's side --------------------------------------------------------------------


def raft_join_handler(
    raft: RaftHolder,
    store: MemoryStore,
    admission: ClusterAdmission,
    managers: ManagerList,
    bootstrap_voters: Callable[[], Sequence[int]],
    *,
    timeout: float = 10.0,
) -> Handler:
    def handle(request: Request) -> Mapping[str, Any] | None:
        node = raft.node
        body = request.body
        key = request.peer_key
        info = admission.lookup(key) if key is not None else None
        if info is None or key is None or info.node_id != body["node_id"]:
            request.error("unauthorized", "raft.join must come from the joining node's own key")
            return None
        if node is None:
            request.error("unavailable", "raft is not running on this manager")
            return None
        if not node.is_leader:
            leader = node.leader_id
            for m in managers():
                if leader and m.get("raft_id") == str(leader):
                    return {"ok": False, "leader_addr": m["addr"], "leader_key": m["server_key"]}
            return {"ok": False}
        joiner = store.view(lambda tx: nodes.get(tx, info.node_id))
        if joiner is not None and joiner.spec.desired_role is not NodeRole.MANAGER:
            request.error("unauthorized", f"node {info.node_id} is not a manager (demoted)")
            return None
        raft_id, addr = int(body["raft_id"]), _tcp(str(body["addr"]))
        owner = _raft_id_owner(store, raft_id)
        if owner is not None and owner != info.node_id:
            request.error("invalid_argument", f"raft id {raft_id} belongs to node {owner}")
            return None
        try:
            index = node.add_member(Peer(raft_id, addr, key)).result(timeout)
        except Exception as exc:  # pending change, lost leadership, timeout: the joiner retries
            request.error("unavailable", f"cannot add the member yet: {exc}")
            return None
        status = ManagerStatus(raft_id=raft_id, addr=_host_port(addr))

        def record(tx: WriteTx) -> None:
            current = nodes.get(tx, info.node_id)
            if current is None:
                return
            ms = current.manager_status
            if ms is None or (ms.raft_id, ms.addr) != (raft_id, status.addr):
                tx.update(replace(current, manager_status=status))

        store.update(record)
        _log.info("raft.member.added", node=info.node_id, raft_id=raft_id, addr=addr, index=index)
        return {
            "ok": True,
            "index": index,
            "voters": list(bootstrap_voters()),
            "managers": [dict(m) for m in managers()],
        }

    return handle


def _raft_id_owner(store: MemoryStore, raft_id: int) -> str | None:
    """The node whose ``manager_status`` holds ``raft_id`` (a manager may only re-announce
    its own address, never take over another member's)."""
    for n in store.view(nodes.list_all):
        if n.manager_status is not None and n.manager_status.raft_id == raft_id:
            return n.id
    return None


# --- the joiner's side --------------------------------------------------------------------


class JoinAsker:
    """One node's ``raft.join`` requests to the managers it knows, leader first."""

    def __init__(
        self,
        *,
        node_id: str,
        raft_id: int,
        advertise: str,
        keypair: KeyPair,
        managers: ManagerList,
        request_timeout: float = 12.0,
        source: str | None = None,
    ) -> None:
        self._body = {"node_id": node_id, "raft_id": raft_id, "addr": advertise}
        self._source = source  # the local address requests leave from (transport.source)
        self._raft_id = raft_id
        self._keypair = keypair
        self._managers = managers
        self._timeout = request_timeout
        self._hint: tuple[str, str] | None = None

    def round(self, halt: threading.Event | None = None) -> dict[str, Any] | None:
        """Ask each manager in turn (the leader a previous reply named first); the first
        ``ok`` reply, or None."""
        candidates: list[tuple[str, str]] = [self._hint] if self._hint else []
        for m in self._managers():
            entry = (m["addr"], m["server_key"])
            if m.get("raft_id") != str(self._raft_id) and entry not in candidates:
                candidates.append(entry)
        self._hint = None
        for addr, key in candidates:
            if halt is not None and halt.is_set():
                return None
            reply = self._ask(addr, key)
            if reply is None:
                continue
            if reply.get("ok"):
                _log.info("raft.join.accepted", manager=addr, index=reply.get("index"))
                return reply
            if reply.get("leader_addr"):
                self._hint = (str(reply["leader_addr"]), str(reply["leader_key"]))
                return None
        return None

    def until_accepted(self, deadline: float, interval: float = 0.5) -> dict[str, Any]:
        """Rounds until one is accepted; TimeoutError after ``deadline`` (monotonic)."""
        while True:
            reply = self.round()
            if reply is not None:
                return reply
            if time.monotonic() + interval > deadline:
                raise TimeoutError("no manager added this node to the Raft group")
            time.sleep(interval)

    def _ask(self, addr: str, key: str) -> dict[str, Any] | None:
        try:
            with Client(
                addr,
                server_key=key.encode("ascii"),
                keypair=self._keypair,
                timeout=self._timeout,
                source=self._source,
            ) as client:
                return client.request(RAFT_JOIN, self._body)
        except TransportError as exc:
            _log.info("raft.join.retrying", manager=addr, error=str(exc)[:200])
            return None


class RaftJoiner(SupervisedActor):
    """Asks the managers to add this node to the Raft group until it is a member."""

    def __init__(
        self,
        ctx: ChildContext | None,
        *,
        raft: RaftHolder,
        raft_id: int,
        asker: JoinAsker,
        interval: float = 1.0,
    ) -> None:
        super().__init__(ctx)
        self._raft = raft
        self._raft_id = raft_id
        self._asker = asker
        self._interval = interval
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def on_start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="raft-join", daemon=True)
        self._thread.start()

    def on_stop(self) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def _member(self) -> bool:
        node = self._raft.node
        if node is None:
            return False
        try:
            status = node.status(2.0)
        except Exception:
            return False
        return self._raft_id in (*status.voters, *status.learners)

    def _run(self) -> None:
        while not self._halt.is_set():
            if self._member():
                _log.info("raft.join.member", raft_id=self._raft_id)
                return
            self._asker.round(self._halt)
            self._halt.wait(self._interval)


# --- the leader keeps manager_status current ----------------------------------------------


class ManagerStatusKeeper(SupervisedActor):
    """Leader-only: manager reachability and leader flags; learner promotion."""

    def __init__(
        self,
        ctx: ChildContext | None,
        store: MemoryStore,
        raft: RaftHolder,
        *,
        interval: float = KEEPER_INTERVAL,
    ) -> None:
        super().__init__(ctx)
        self._store = store
        self._raft = raft
        self._interval = interval
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def on_start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="manager-status", daemon=True)
        self._thread.start()

    def on_stop(self) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._halt.wait(self._interval):
            try:
                self.round()
            except Exception as exc:  # not leader any more, a conflict: try next round
                _log.info("node.manager_status.skipped", error=str(exc)[:200])

    def round(self) -> None:
        node = self._raft.node
        if node is None:
            return
        status = node.status(5.0)
        if not status.is_leader:
            return
        members = set(status.voters) | set(status.learners)
        reach = {node.id: Reachability.REACHABLE}
        for pid, peer in status.peers.items():
            reach[pid] = Reachability.REACHABLE if peer.reachable else Reachability.UNREACHABLE

        def wanted(n: Node) -> ManagerStatus | None:
            ms = n.manager_status
            if ms is None or not ms.raft_id:
                return None
            if ms.raft_id in members:
                want = replace(
                    ms,
                    leader=ms.raft_id == node.id,
                    reachability=reach.get(ms.raft_id, ms.reachability),
                )
            else:
                want = replace(ms, leader=False, reachability=Reachability.UNKNOWN)
            return want if want != ms else None

        all_nodes = self._store.view(nodes.list_all)
        if any(wanted(n) is not None for n in all_nodes):

            def write(tx: WriteTx) -> None:
                for n in nodes.list_all(tx):
                    want = wanted(n)
                    if want is not None:
                        tx.update(replace(n, manager_status=want))

            self._store.update(write)
            all_nodes = self._store.view(nodes.list_all)
        if reconcile_roles(self._store, node, status, all_nodes):
            return  # one membership change at a time
        self._promote(node, status, all_nodes)

    def _promote(self, node: Any, status: Any, all_nodes: Sequence[Node]) -> None:
        wants = {
            n.manager_status.raft_id
            for n in all_nodes
            if n.manager_status is not None and n.spec.desired_role is NodeRole.MANAGER
        }
        for pid in status.learners:
            peer = status.peers.get(pid)
            if pid not in wants or peer is None or peer.match is None:
                continue
            if peer.match + PROMOTE_GAP >= status.last_index:
                with contextlib.suppress(Exception):
                    index = node.propose_conf_change(
                        ConfChange(ConfChangeType.PROMOTE, pid)
                    ).result(5.0)
                    _log.info("raft.learner.promoted", raft_id=pid, index=index)
                return  # one change at a time


# --- role changes (leader side) -----------------------------------------------------------


def _transfer_target(status: Any) -> int | None:
    """The reachable voter (not the leader) with the highest match index."""
    best: tuple[int, int] | None = None
    for pid in status.voters:
        peer = status.peers.get(pid)
        if pid == status.node_id or peer is None or not peer.reachable:
            continue
        key = (peer.match or 0, pid)
        if best is None or key > best:
            best = key
    return best[1] if best is not None else None


def reconcile_roles(store: MemoryStore, node: Any, status: Any, all_nodes: Sequence[Node]) -> bool:
    """One step towards every node's desired role; True when it acted (a change is under
    way: the caller does nothing else with membership this round)."""
    members = set(status.voters) | set(status.learners)
    for n in all_nodes:
        ms = n.manager_status
        member = ms is not None and bool(ms.raft_id) and ms.raft_id in members
        step = role_step(n.role, n.spec.desired_role, _cert_role(n), member)
        if step is RoleStep.MARK_WORKER:
            _demoted(store, n.id)
            return True
        if step is RoleStep.LEAVE_RAFT and ms is not None:
            if ms.raft_id == status.node_id:
                target = _transfer_target(status)
                if target is None:
                    _log.warning("raft.demote.waiting", node=n.id, reason="no reachable voter")
                    return True
                _log.info("raft.leadership.transferring", node=n.id, to=target)
                with contextlib.suppress(Exception):
                    node.transfer_leadership(target).result(5.0)
                return True
            try:
                index = node.propose_conf_change(
                    ConfChange(ConfChangeType.REMOVE, ms.raft_id)
                ).result(5.0)
                _log.info("raft.member.removed", node=n.id, raft_id=ms.raft_id, index=index)
            except Exception as exc:
                _log.info("raft.member.remove_retrying", node=n.id, error=str(exc)[:200])
            return True
        if step is RoleStep.MARK_MANAGER:
            # the node renews into a manager certificate, restarts as a manager and joins
            # Raft afresh (raft.join: a learner, promoted when caught up)
            _set_role(store, n.id, NodeRole.MANAGER)
            return True
    return False


def _cert_role(n: Node) -> NodeRole | None:
    if not n.certificate:
        return None
    try:
        return read_node_certificate(n.certificate).role
    except (CertificateError, ValueError):
        return None


def _demoted(store: MemoryStore, node_id: str) -> None:
    def write(tx: WriteTx) -> None:
        current = nodes.get(tx, node_id)
        if current is None or current.role is NodeRole.WORKER:
            return
        # out of Raft: its Raft data goes; a later promotion joins afresh with a new id
        tx.update(replace(current, role=NodeRole.WORKER, manager_status=None))

    store.update(write)
    _log.info("node.role.changed", node=node_id, role="worker")


def _set_role(store: MemoryStore, node_id: str, role: NodeRole) -> None:
    def write(tx: WriteTx) -> None:
        current = nodes.get(tx, node_id)
        if current is not None and current.role is not role:
            tx.update(replace(current, role=role))

    store.update(write)
    _log.info("node.role.changed", node=node_id, role=role.value)
