"""Managers joining the Raft group: the ``raft.join`` request, its handler, and the joiner.

Rules:
- A manager that joined with a manager token (or was promoted) starts with an empty Raft
  log; it is not a member until the leader adds it. Before it opens its Raft storage the
  first time it asks a manager with ``raft.join`` (`JoinAsker`: its Raft id and
  advertised address; the caller's CURVE key, checked by authorization to hold a
  *manager* certificate, is its Raft server key); the reply carries the group's
  *bootstrap voters*, the configuration the log starts from (the founder), which the
  joiner's storage starts with (a snapshot from the leader replaces it; starting with no
  configuration would let the joiner, once promoted, count itself as the only voter), and
  the managers with their Raft ids, so a node promoted long after it joined finds the
  current members.
- `RaftJoiner` (a periodic job) keeps asking until its Raft node sees itself in the
  configuration (the add may be lost in a leader change): one manager per tick, a round
  over the managers it knows (the leader a previous reply named first), then a pause.
  A non-leader answers with the leader's address when it knows it, which ends the round
  (not when it was removed from the group, or when that leader is the joiner's own old
  member: join_policy.py). A manager whose endpoint is not up fails the request at once
  (refused), as does one whose connection drops: the joiner asks the next. A manager told
  it was removed from the group keeps its list with the member that told it first
  (`keep_remover_first`), so its rejoin asks that group first.
- `raft_join_handler` (every manager's remote endpoint): on the leader,
  `RaftNode.add_member` proposes ``ADD_LEARNER`` with the peer's address and key in the
  change's context (every manager's peer table follows applied changes), then records
  ``manager_status`` (Raft id, address, reachable) on the joiner's Node, which is how
  peers are found again after a restart. It is refused to a node whose desired role is
  worker (demoted), and a Raft id may not be taken over from another node. A leader that
  cannot commit the change (removed from the group, or without a quorum of live voters)
  refuses it at once, ``unavailable`` with the reason (join_policy.py `join_refusal`),
  instead of holding the request until its proposal times out. The learner becomes a
  voter once caught up (actors/node/membership/plan.py).
- The first start's `until_accepted` ends by its deadline: no request it sends is given
  longer than the time left, and its `TimeoutError` says how long it asked and the last
  answer it got (a refusal's reason, a manager that did not answer), which is what the
  failed start says (actors/node/tree/manager_membership.py).
- A refusal (``unauthorized``: the cluster holds the joiner no manager, e.g. demoted while
  it was down before it ever joined) is kept (`JoinAsker.refusal`) for the first start's
  `until_accepted`, whose caller renews the certificate into the role the cluster gives
  it (actors/node/tree/manager_parts.py): a worker one ends the start (`NoLongerManager`)
  and the node starts again as a worker (actors/node/runner.py), as SwarmKit's node
  follows the role its certificate renewal brings.
- The node's stop (``stop``, the runner's: a signal, a leave) ends the first start's
  `until_accepted` at once, during a request or the pause between rounds
  (`StopRequested`, actors/stoppable.py): the start fails and the node stops as asked,
  with nothing written but its Raft id, which its next start asks under again. A
  request in flight is abandoned: an add it brought about commits all the same, and the
  leader accepts the next start's join at once (a member asking again commits nothing).
  The joiner's periodic asks (`RaftJoiner`) end with their actor, as before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from actors.ca.authorization import ClusterAdmission
from actors.ca.node_certs import NodeCertificates
from actors.log import get_logger
from actors.node.membership.join_policy import (
    LeaderView,
    join_refusal,
    leader_to_name,
    remover_first,
)
from actors.node.startup.security import write_managers
from actors.node.tree.leader_group import RaftHolder
from actors.raft_node.peers import Peer
from actors.stoppable import StopRequested, request_unless_stopped
from actors.store import MemoryStore, WriteTx, nodes
from api.enums import NodeRole, Reachability
from api.errors import RemoteError, TransportError
from api.objects import ManagerStatus, Node
from transport.client import Client
from transport.endpoint import Handler, Request
from transport.keys import KeyPair

__all__ = [
    "RAFT_JOIN",
    "JoinAsker",
    "NoLongerManager",
    "RaftJoiner",
    "keep_remover_first",
    "raft_join_handler",
]

RAFT_JOIN: Final = "raft.join"
JOINER_INTERVAL: Final = 1.0  # between rounds
MEMBER_IDLE: Final = 3600.0  # a member asks nothing: its ticks only wait

_log = get_logger("node")

ManagerList = Callable[[], Sequence[Mapping[str, str]]]
REFUSED: Final = "unauthorized"  # the code of a refusal of this node itself, not of a try


class NoLongerManager(Exception):
    """A joining manager's certificate, renewed after a manager refused its ``raft.join``,
    names another role: the node is to start again in it (``certs``)."""

    def __init__(self, certs: NodeCertificates) -> None:
        super().__init__(
            f"the cluster holds this node a {certs.info.role.value} now "
            "(demoted before it joined the Raft group)"
        )
        self.certs = certs


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
    status_timeout: float = 2.0,
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
        raft_id, addr = int(body["raft_id"]), _tcp(str(body["addr"]))
        joiner = store.view(lambda tx: nodes.get(tx, info.node_id))
        old = _old_members(joiner, raft_id)
        if not node.is_leader:
            leader = leader_to_name(node.leader_id, removed_by=node.removed_by, joiner_members=old)
            for m in managers():
                if leader and m.get("raft_id") == str(leader):
                    return {"ok": False, "leader_addr": m["addr"], "leader_key": m["server_key"]}
            return {"ok": False}
        if joiner is not None and joiner.spec.desired_role is not NodeRole.MANAGER:
            request.error("unauthorized", f"node {info.node_id} is not a manager (demoted)")
            return None
        owner = _raft_id_owner(store, raft_id)
        if owner is not None and owner != info.node_id:
            request.error("invalid_argument", f"raft id {raft_id} belongs to node {owner}")
            return None
        try:
            group = node.status(status_timeout)
        except TimeoutError:
            request.error("unavailable", "this manager's Raft node is busy: ask again")
            return None
        view = LeaderView(
            node_id=group.node_id,
            voters=group.voters,
            learners=group.learners,
            reachable=frozenset(pid for pid, p in group.peers.items() if p.reachable),
            removed_by=node.removed_by,
        )
        refusal = (
            join_refusal(view, raft_id, old) if group.is_leader else "this manager lost leadership"
        )
        if refusal is not None:
            _log.info("raft.join.refused", node=info.node_id, raft_id=raft_id, reason=refusal)
            request.error("unavailable", f"cannot add the member: {refusal}")
            return None
        try:
            index = node.add_member(Peer(raft_id, addr, key)).result(timeout)
        except Exception as exc:  # pending change, lost leadership, timeout: the joiner retries
            request.error("unavailable", f"cannot add the member yet: {exc}")
            return None
        # it reached the leader just now: reachable until the leader hears otherwise (the
        # keeper leaves a member it has not heard from yet as recorded, for UNHEARD_GRACE)
        status = ManagerStatus(
            raft_id=raft_id, addr=_host_port(addr), reachability=Reachability.REACHABLE
        )

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


def _old_members(joiner: Node | None, raft_id: int) -> frozenset[int]:
    """The Raft id the joining node held before, if it asks under another one."""
    ms = joiner.manager_status if joiner is not None else None
    if ms is None or not ms.raft_id or ms.raft_id == raft_id:
        return frozenset()
    return frozenset({ms.raft_id})


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
        stop: threading.Event | None = None,
    ) -> None:
        """``stop``: the node's stop, which ends `until_accepted` (`StopRequested`)."""
        self._stop = stop if stop is not None else threading.Event()
        self._body = {"node_id": node_id, "raft_id": raft_id, "addr": advertise}
        self._source = source  # the local address requests leave from (transport.source)
        self._raft_id = raft_id
        self._keypair = keypair
        self._own_key = keypair.public.decode("ascii")
        self._managers = managers
        self._timeout = request_timeout
        self._hint: tuple[str, str] | None = None
        self._left: list[tuple[str, str]] = []  # the current round's managers not asked yet
        self.refusal: str | None = None  # the last ``unauthorized`` answer, until taken
        self.last_answer = ""  # what the last manager asked said, for a join that gives up

    @property
    def in_round(self) -> bool:
        """A round has managers left to ask."""
        return bool(self._left)

    def ask_next(self, deadline: float | None = None) -> dict[str, Any] | None:
        """Ask the next manager of the current round (a new round when none is under way:
        the leader a previous reply named first, then every manager that is not this
        node). The ``ok`` reply when it accepted; a reply naming the leader ends the
        round (the next starts with it). ``deadline`` (monotonic): the request is given
        no longer than the time left, and none is sent once it has passed."""
        timeout = self._timeout
        if deadline is not None:
            timeout = min(timeout, deadline - time.monotonic())
            if timeout <= 0:
                return None
        if not self._left:
            self._left = [self._hint] if self._hint else []
            self._hint = None
            for m in self._managers():
                entry = (m["addr"], m["server_key"])
                own = m.get("raft_id") == str(self._raft_id) or entry[1] == self._own_key
                if not own and entry not in self._left:
                    self._left.append(entry)
            if not self._left:
                return None
        addr, key = self._left.pop(0)
        started = time.monotonic()
        try:
            reply = self._ask(addr, key, timeout)
        except TransportError as exc:
            seconds = round(time.monotonic() - started, 3)
            _log.info("raft.join.retrying", manager=addr, error=str(exc)[:200], seconds=seconds)
            self.last_answer = f"{_host_port(addr)}: {str(exc)[:300]}"
            if isinstance(exc, RemoteError) and exc.code == REFUSED:
                self.refusal = str(exc)
            return None
        seconds = round(time.monotonic() - started, 3)
        if reply.get("ok"):
            self._left.clear()
            _log.info("raft.join.accepted", manager=addr, index=reply.get("index"), seconds=seconds)
            return reply
        leader = (str(reply.get("leader_addr") or ""), str(reply.get("leader_key") or ""))
        _log.info("raft.join.declined", manager=addr, leader=leader[0] or None, seconds=seconds)
        self.last_answer = f"{_host_port(addr)}: not the leader" + (
            f" (the leader is {_host_port(leader[0])})" if leader[0] else ", nor does it know one"
        )
        if leader[0] and leader[1] != self._own_key:  # never this node's old member
            self._left.clear()
            self._hint = leader
        return None

    def round(self, deadline: float | None = None) -> dict[str, Any] | None:
        """One whole round: the first ``ok`` reply, or None (also when the node's stop or
        ``deadline`` cut it short)."""
        reply = self.ask_next(deadline)
        while reply is None and self.in_round and not self._stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            reply = self.ask_next(deadline)
        return reply

    def until_accepted(
        self,
        deadline: float,
        interval: float = 0.5,
        *,
        on_refused: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Rounds until one is accepted; TimeoutError by ``deadline`` (monotonic: no
        request outlasts it), naming the last answer. For the first start of a joined
        manager, before its Raft storage exists. After a round a manager refused this node
        in, ``on_refused`` gets the refusal (it may raise to end the join). `StopRequested`
        once the node's stop is asked."""
        began = time.monotonic()
        while True:
            reply = self.round(deadline)
            if reply is not None:
                return reply
            if self._stop.is_set():
                raise StopRequested("the Raft join")
            refusal, self.refusal = self.refusal, None
            if refusal is not None and on_refused is not None:
                on_refused(refusal)
            if time.monotonic() + interval > deadline:
                raise TimeoutError(
                    "no manager added this node to the Raft group within "
                    f"{deadline - began:.0f}s; last answer: {self.last_answer or 'none'}"
                )
            if self._stop.wait(interval):
                raise StopRequested("the Raft join")

    def _ask(self, addr: str, key: str, timeout: float) -> dict[str, Any]:
        """One request; a manager whose endpoint is not up (nothing listens there, or it
        is starting again) fails at once (``watch_connection``), not after the timeout.
        The node's stop abandons it (`StopRequested`)."""
        with Client(
            addr,
            server_key=key.encode("ascii"),
            keypair=self._keypair,
            timeout=timeout,
            source=self._source,
            watch_connection=True,
        ) as client:
            return request_unless_stopped(client, RAFT_JOIN, self._body, self._stop)


def keep_remover_first(
    state_dir: Path, managers: Sequence[Mapping[str, str]], by: int, *, own_key: str
) -> None:
    """Told by member ``by`` that its Raft member was removed, a manager keeps its manager
    list (STATE_DIR/managers.json, which its rejoin starts from) with that member first:
    it is in the group the manager is to join (join_policy.py). Called on the Raft loop's
    thread: a failed write is logged, the rejoin then asks in the old order."""
    try:
        write_managers(state_dir, remover_first(managers, by, own_key=own_key))
    except OSError as exc:
        _log.warning("node.managers.not_saved", error=str(exc)[:300])


class RaftJoiner:
    """A `actors.periodic.PeriodicJob`: asks the managers, one a tick, to add this node to
    the Raft group until its Raft node sees itself a member; then it only idles."""

    def __init__(
        self,
        *,
        raft: RaftHolder,
        raft_id: int,
        asker: JoinAsker,
        interval: float = JOINER_INTERVAL,
        status_timeout: float = 2.0,
    ) -> None:
        self._raft = raft
        self._raft_id = raft_id
        self._asker = asker
        self._interval = interval
        self._status_timeout = status_timeout
        self.member = False

    def interval(self) -> float:
        if self.member:
            return MEMBER_IDLE
        return 0.0 if self._asker.in_round else self._interval

    def tick(self, now: float) -> None:
        if self.member:
            return
        if not self._asker.in_round and self._is_member():
            self.member = True
            _log.info("raft.join.member", raft_id=self._raft_id)
            return
        self._asker.ask_next()

    def _is_member(self) -> bool:
        node = self._raft.node
        if node is None:
            return False
        try:
            status = node.status(self._status_timeout)
        except TimeoutError:
            return False
        return self._raft_id in (*status.voters, *status.learners)
