"""A follower manager's certificate follows a root CA rotation its store applies late.

A heartbeat tells a manager of a rotation as the leader sees it; the manager's renewer
reads the issuer from its own store, which may not have applied the rotation yet, so that
look finds nothing to do. Before the fix the heartbeat was then "seen" and nothing made
the renewer look again until its next timed check (a CI run timed out waiting for m2).
Here: a real `ManagerParts` (its store, its shared parts' renewer child, its CA service
behind a real CURVE endpoint) whose store receives the leader's committed entries through
a replication the test holds, as a follower's Raft apply can lag."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pykka
import pytest

from actors.ca.authorization import authorize
from actors.ca.renewer import CHECK_NOW
from actors.ca.rotation import desired_issuer_digest, root_digests
from actors.ca.rotation_start import rotation_started
from actors.node.config import NodeConfig
from actors.node.leaving import LeaveRefused, LeaveRequest
from actors.node.startup.at_rest import prepare_at_rest
from actors.node.startup.security import prepare_node
from actors.node.tree.manager_parts import ManagerParts
from actors.node.tree.parts_setup import PartsSetup
from actors.store import MemoryStore, clusters
from actors.supervisor import Supervisor
from api.enums import NodeRole
from api.objects import Node, NodeDescription
from api.specs import NodeSpec
from tests.support.ports import free_port
from tests.support.waiting import wait_for
from transport import Endpoint


class RaftLog:
    """The committed log of a two-manager group, without Raft: every proposal (from the
    leader's store or the follower's) is committed at once and applied to the leader's
    store; the follower's store applies it too, in order, unless the test holds it."""

    def __init__(self, leader: MemoryStore, follower: MemoryStore) -> None:
        self._leader, self._follower = leader, follower
        self._lock = threading.Lock()
        self._index = 0
        self._held: list[tuple[int, bytes]] | None = None

    def propose(self, data: bytes) -> Future[Any]:
        with self._lock:
            self._index += 1
            index = self._index
            self._leader.apply(index, data)
            if self._held is not None:
                self._held.append((index, data))
            else:
                self._follower.apply(index, data)
        done: Future[Any] = Future()
        done.set_result(index)
        return done

    def hold(self) -> None:
        with self._lock:
            self._held = []

    def release(self) -> None:
        with self._lock:
            held, self._held = self._held or [], None
            for index, data in held:
                self._follower.apply(index, data)


def _leave(_force: bool) -> LeaveRequest:
    raise LeaveRefused("not in this test")


@dataclass
class Follower:
    parts: ManagerParts
    leader: MemoryStore
    log: RaftLog
    renewer: pykka.ActorRef[Any]


@pytest.fixture
def follower(tmp_path: Path) -> Iterator[Follower]:
    """A manager's parts whose store follows a leader's, with its CA on its remote port
    and its renewer child running (nothing else of its tree)."""
    state_dir = tmp_path / "state"
    addr = f"127.0.0.1:{free_port()}"
    startup = prepare_node(state_dir, hostname="m2", advertise_addr=addr)
    assert startup.keys is not None and startup.initial_cluster.cluster is not None
    setup = PartsSetup(
        config=NodeConfig(
            state_dir=state_dir,
            hostname="m2",
            listen_remote_api=addr,
            listen_control_api=tmp_path / "control.sock",
            advertise_addr=addr,
            executor="process",
        ),
        startup=startup,
        executor="process",
        description=NodeDescription(hostname="m2"),
        on_role_change=lambda _certs: None,
        on_leave=_leave,
        stopping=threading.Event(),
    )
    at_rest = prepare_at_rest(state_dir, startup.keys, init=False, force_new_cluster_id=None)
    parts = ManagerParts(setup, at_rest)
    leader = MemoryStore(clock=time.time)
    log = RaftLog(leader, parts.store)
    leader.attach_proposer(log)
    parts.store.attach_proposer(log)  # the follower's writes go through the leader
    cluster = startup.initial_cluster.cluster
    me = Node(
        id=startup.identity.node_id,
        spec=NodeSpec(desired_role=NodeRole.MANAGER),
        role=NodeRole.MANAGER,
        certificate=startup.certs.cert_pem,
    )

    def create(tx: Any) -> None:
        tx.create(cluster)
        tx.create(me)

    leader.update(create)
    parts.opening()  # the CA service's admission follows the follower's store
    remote = Endpoint(
        f"tcp://{addr}",
        authorize(parts.ca.handlers(), parts.admission),
        keypair=parts.identity.keypair,
        admission=parts.admission,
    )
    remote.start()
    tree = Supervisor.start(None, [parts.shared.renewer_child()], name="m2", watch_interval=None)
    try:
        renewer = tree.proxy().get("renewer").get(timeout=10)
        yield Follower(parts, leader, log, renewer)
    finally:
        tree.stop()
        remote.stop()
        parts.closing()


def test_a_follower_renews_under_a_new_root_its_store_applies_after_the_heartbeat(
    follower: Follower,
) -> None:
    parts, leader = follower.parts, follower.leader
    first = parts.shared.node_certs
    assert first.ca.digest == desired_issuer_digest(leader.view(clusters.get_default).root_ca)  # type: ignore[union-attr]

    # the leader starts a rotation; the follower's store has not applied it yet
    follower.log.hold()

    def rotate(tx: Any) -> None:
        cluster = clusters.get_default(tx)
        assert cluster is not None
        tx.update(
            rotation_started(
                cluster, now=time.time(), rng=random.Random(3), wrapping_key=None, given=None
            )
        )

    leader.update(rotate)
    rotated = leader.view(clusters.get_default)
    assert rotated is not None and rotated.root_ca.root_rotation is not None
    new_root = desired_issuer_digest(rotated.root_ca)

    # the heartbeat names the leader's roots: the agent records them and tells the
    # renewer (SharedParts._session_ca_seen), which reads its own store: nothing to do
    parts.shared._session_ca_seen(
        {"issuer": new_root, "roots": list(root_digests(rotated.root_ca))}
    )
    follower.renewer.tell(CHECK_NOW)
    held = follower.renewer.proxy().certificates().get(timeout=10)  # after the CHECK_NOW
    assert held.info.serial == first.info.serial

    # the store applies the rotation: the renewer looks again, and renews under the new root
    follower.log.release()
    wait_for(
        lambda: parts.shared.node_certs.ca.digest == new_root,
        "the follower's certificate issued by the new root",
        timeout=30,
        describe=lambda: parts.shared.node_certs.ca.digest,
    )
    assert parts.shared.node_certs.info.node_id == first.info.node_id
