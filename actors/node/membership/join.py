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
  A non-leader answers with the leader's address when it knows it, which ends the round.
- `raft_join_handler` (every manager's remote endpoint): on the leader,
  `RaftNode.add_member` proposes ``ADD_LEARNER`` with the peer's address and key in the
  change's context (every manager's peer table follows applied changes), then records
  ``manager_status`` (Raft id, address, reachable) on the joiner's Node, which is how
  peers are found again after a restart. It is refused to a node whose desired role is
  worker (demoted), and a Raft id may not be taken over from another node. The learner
  becomes a voter once caught up (actors/node/membership/plan.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from actors.ca.authorization import ClusterAdmission
from actors.log import get_logger
from actors.node.tree.leader_group import RaftHolder
from actors.raft_node.peers import Peer
from actors.store import MemoryStore, WriteTx, nodes
from api.enums import NodeRole, Reachability
from api.errors import TransportError
from api.objects import ManagerStatus
from transport.client import Client
from transport.endpoint import Handler, Request
from transport.keys import KeyPair

__all__ = ["RAFT_JOIN", "JoinAsker", "RaftJoiner", "raft_join_handler"]

RAFT_JOIN: Final = "raft.join"
JOINER_INTERVAL: Final = 1.0  # between rounds
MEMBER_IDLE: Final = 3600.0  # a member asks nothing: its ticks only wait

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
        # it reached the leader just now: reachable until the leader hears otherwise (the
        # keeper leaves a member it has not heard from yet as recorded)
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
        self._left: list[tuple[str, str]] = []  # the current round's managers not asked yet

    @property
    def in_round(self) -> bool:
        """A round has managers left to ask."""
        return bool(self._left)

    def ask_next(self) -> dict[str, Any] | None:
        """Ask the next manager of the current round (a new round when none is under way:
        the leader a previous reply named first, then every manager that is not this
        node). The ``ok`` reply when it accepted; a reply naming the leader ends the
        round (the next starts with it)."""
        if not self._left:
            self._left = [self._hint] if self._hint else []
            self._hint = None
            for m in self._managers():
                entry = (m["addr"], m["server_key"])
                if m.get("raft_id") != str(self._raft_id) and entry not in self._left:
                    self._left.append(entry)
            if not self._left:
                return None
        addr, key = self._left.pop(0)
        reply = self._ask(addr, key)
        if reply is None:
            return None
        if reply.get("ok"):
            self._left.clear()
            _log.info("raft.join.accepted", manager=addr, index=reply.get("index"))
            return reply
        if reply.get("leader_addr"):
            self._left.clear()
            self._hint = (str(reply["leader_addr"]), str(reply["leader_key"]))
        return None

    def round(self) -> dict[str, Any] | None:
        """One whole round: the first ``ok`` reply, or None."""
        reply = self.ask_next()
        while reply is None and self.in_round:
            reply = self.ask_next()
        return reply

    def until_accepted(self, deadline: float, interval: float = 0.5) -> dict[str, Any]:
        """Rounds until one is accepted; TimeoutError after ``deadline`` (monotonic). For
        the first start of a joined manager, before its Raft storage exists."""
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
