"""The join protocol over real CURVE sockets: hello, join, admission and authorization."""

from __future__ import annotations

import random
import stat
import time
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import zmq

from actors.ca.authorization import UNAUTHORIZED, ClusterAdmission, authorize
from actors.ca.bootstrap import bootstrap_cluster_security
from actors.ca.certs import create_csr, generate_node_key, issue_node_certificate
from actors.ca.join import JoinError, hello_endpoint, join_cluster
from actors.ca.node_certs import CERTS_DIR, load_node_certs
from actors.ca.root import create_root_ca
from actors.ca.service import CAService
from actors.ca.tokens import new_join_token
from actors.log import get_logger
from actors.store import MemoryStore, clusters, nodes
from api.enums import NodeRole
from api.errors import RemoteError, RequestTimeout
from api.ids import new_id
from api.objects import Cluster, Node
from api.specs import ClusterSpec, NodeSpec
from tests.support.waiting import wait_for
from transport import Client, Endpoint, KeyPair, Request, generate_keypair
from transport.codec import decode, encode
from transport.source import connect_endpoint
from transport.stats import endpoint_stats
from transport.strangers import DEFAULT_STRANGER_LIMITS, StrangerLimits

LOCAL = "tcp://127.0.0.1:0"  # the OS picks free ports
REMOTE = "remote-join-test"  # the remote endpoint's name: its counters (transport.stats)


def heartbeat(request: Request) -> Mapping[str, Any]:
    return {"period": 1.0}


def raft_status(request: Request) -> Mapping[str, Any]:
    fields = ("node_id", "term", "leader_id", "commit", "applied", "last_index")
    return {"state": "leader", **dict.fromkeys(fields, 1)}


@dataclass
class Manager:
    store: MemoryStore
    admission: ClusterAdmission
    service: CAService
    keys: KeyPair
    remote: Endpoint
    hello: Endpoint
    manager_cert: list[bytes]  # what hello serves (a renewal replaces it)

    @property
    def tokens(self) -> Any:
        cluster = self.store.view(clusters.get_default)
        assert cluster is not None
        return cluster.join_tokens

    def client(self, keys: KeyPair, timeout: float = 5.0) -> Client:
        return Client(
            self.remote.address, server_key=self.keys.public, keypair=keys, timeout=timeout
        )


@pytest.fixture
def manager() -> Iterator[Manager]:
    yield from serve_manager(DEFAULT_STRANGER_LIMITS)


def serve_manager(strangers: StrangerLimits) -> Generator[Manager, None, None]:
    """A manager's CA service behind real remote and hello endpoints whose strangers have
    ``strangers``."""
    rng = random.Random(21)
    store = MemoryStore.local(clock=time.time)
    cluster_id, node_id = new_id(rng), new_id(rng)
    keys = generate_keypair()
    sec = bootstrap_cluster_security(
        time.time(), rng, cluster_id=cluster_id, node_id=node_id, curve_public_key=keys.public
    )

    def init(tx: Any) -> None:
        tx.create(sec.cluster(Cluster(id=cluster_id, spec=ClusterSpec(name="default"))))
        tx.create(sec.node(Node(id=node_id, spec=NodeSpec(desired_role=NodeRole.MANAGER))))

    store.update(init)
    admission = ClusterAdmission(sec.ca.cert, cluster_id, clock=time.time, logger=get_logger("ca"))
    remote_box: list[str] = []
    cert_box = [sec.node_cert.cert_pem]
    service = CAService(
        store,
        admission,
        manager_cert=lambda: cert_box[0],
        clock=time.time,
        rng=rng,
        managers=lambda: [{"addr": remote_box[0], "server_key": keys.public.decode()}],
    )
    service.start()
    table = {
        **service.handlers(),
        "dispatcher.heartbeat": heartbeat,
        "raft.status": raft_status,
    }
    remote = Endpoint(
        LOCAL,
        authorize(table, admission),
        keypair=keys,
        admission=admission,
        name=REMOTE,
        strangers=strangers,
    )
    hello = hello_endpoint(LOCAL, service.hello_handlers())
    remote_box.append(remote.start())
    hello.start()
    try:
        yield Manager(store, admission, service, keys, remote, hello, cert_box)
    finally:
        hello.stop()
        remote.stop()
        service.stop()


def join(manager: Manager, token: str, state_dir: Path, **kw: Any) -> Any:
    kw.setdefault("timeout", 5.0)
    return join_cluster(
        manager.remote.address,
        token,
        state_dir=state_dir,
        hostname="joiner",
        hello_addr=manager.hello.address,
        **kw,
    )


def test_worker_join_end_to_end(manager: Manager, tmp_path: Path) -> None:
    state = tmp_path / "worker"
    result = join(manager, manager.tokens.worker, state)
    assert result.role is NodeRole.WORKER
    assert result.managers == (
        {"addr": manager.remote.address, "server_key": manager.keys.public.decode()},
    )
    loaded = load_node_certs(state, now=time.time())
    assert loaded.node_id == result.node_id and loaded.info.role is NodeRole.WORKER
    assert loaded.keypair.public == result.keypair.public
    for path in (state / CERTS_DIR).iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert manager.store.view(lambda tx: nodes.get(tx, result.node_id)) is not None
    # the joined key is admitted by ZAP and authorized for dispatcher.*, not raft.*
    with manager.client(loaded.keypair) as client:
        assert (
            client.request("dispatcher.heartbeat", {"node_id": loaded.node_id, "session_id": "s"})[
                "period"
            ]
            == 1.0
        )
        with pytest.raises(RemoteError) as info:
            client.request("raft.status")
        assert info.value.code == UNAUTHORIZED


def test_a_join_during_a_root_rotation_trusts_both_roots(manager: Manager, tmp_path: Path) -> None:
    """The manager's own certificate is already of the new root, the token names the old:
    the joiner checks the new root by the old one's cross-signature, and keeps both."""
    token = manager.tokens.worker
    rotation = manager.service.rotate_root().root_ca
    assert rotation.root_rotation is not None
    renewed = manager.service.renew(
        create_csr(generate_node_key(), manager.keys.public), manager.keys.public
    )
    manager.manager_cert[0] = renewed["certificate"]
    state = tmp_path / "worker"
    join(manager, token, state)
    loaded = load_node_certs(state, now=time.time())
    assert loaded.ca.cert_pem == rotation.root_rotation.ca_cert  # issued by the new root
    assert loaded.roots_pem == rotation.ca_cert + rotation.root_rotation.ca_cert


def test_manager_join_gets_raft(manager: Manager, tmp_path: Path) -> None:
    result = join(manager, manager.tokens.manager, tmp_path / "m2")
    assert result.role is NodeRole.MANAGER
    with manager.client(result.keypair) as client:
        assert client.request("raft.status")["state"] == "leader"


def test_bad_tokens_are_refused_clearly(manager: Manager, tmp_path: Path) -> None:
    old = manager.tokens.worker
    manager.service.rotate_token(NodeRole.WORKER)
    with pytest.raises(JoinError) as info:
        join(manager, old, tmp_path / "a")
    assert info.value.code == "invalid_token"
    assert "wrong, rotated or forged" in str(info.value)
    digest = manager.tokens.worker.split("-")[2]
    with pytest.raises(JoinError) as info:
        join(manager, f"SWMTKN-1-{digest}-{'0' * 25}", tmp_path / "b")
    assert info.value.code == "invalid_token"
    other = create_root_ca(time.time(), random.Random(5))
    with pytest.raises(JoinError) as info:
        join(manager, new_join_token(other.cert, random.Random(6)), tmp_path / "c")
    assert info.value.code == "wrong_cluster"
    with pytest.raises(JoinError) as info:
        join(manager, "not-a-token", tmp_path / "d")
    assert info.value.code == "invalid_token"
    assert not (tmp_path / "a").exists() and not (tmp_path / "c").exists()


def test_a_certificate_from_another_ca_is_refused(manager: Manager) -> None:
    other = create_root_ca(time.time(), random.Random(7))
    keys = generate_keypair()
    forged = issue_node_certificate(
        other,
        create_csr(generate_node_key(), keys.public),
        node_id=new_id(random.Random(8)),
        role=NodeRole.MANAGER,
        cluster_id=manager.admission.cluster_id,
        now=time.time(),
        rng=random.Random(9),
    )
    with pytest.raises(Exception, match="not issued by this cluster's CA"):
        manager.admission.add_certificate(forged.cert_pem, NodeRole.MANAGER)
    with manager.client(keys) as client:
        for name in ("raft.status", "dispatcher.heartbeat"):
            with pytest.raises(RemoteError) as info:
                body = {"node_id": "x", "session_id": "s"} if name.startswith("d") else None
                client.request(name, body)
            assert info.value.code == UNAUTHORIZED


def test_a_removed_node_is_cut_off_and_cannot_reconnect(manager: Manager, tmp_path: Path) -> None:
    result = join(manager, manager.tokens.manager, tmp_path / "gone")
    hb = {"node_id": result.node_id, "session_id": "s"}
    with manager.client(result.keypair) as connected:
        assert connected.request("raft.status")["state"] == "leader"
        manager.service.remove_node(result.node_id)
        with pytest.raises(RemoteError) as info:  # the very next message on the connection
            connected.request("dispatcher.heartbeat", hb)
        assert info.value.code == UNAUTHORIZED
        assert "revoked" in info.value.message
    wait_for(lambda: manager.admission.check_handshake(result.keypair.public) is not None)
    # a new connection with that key: ZAP refuses the handshake, so no answer ever comes
    with manager.client(result.keypair, timeout=1.0) as again, pytest.raises(RequestTimeout):
        again.request("ca.root")
    # the key of another node is still welcome: the refusal is about that key only
    with manager.client(generate_keypair()) as stranger:
        assert stranger.request("ca.root")["ca_cert"]


def test_a_burst_of_strangers_is_turned_away_while_members_and_joins_get_in(
    tmp_path: Path,
) -> None:
    """Strangers from one address hold its share of the remote port's connections (the
    gate's limits made small here): more of its handshakes are turned away, while a node
    that joined still connects from that address, a join from another address succeeds,
    and once the burst lets go a join from the crowded address succeeds too."""
    serving = serve_manager(replace(DEFAULT_STRANGER_LIMITS, source_connections=3))
    manager = next(serving)
    burst = Burst(manager)
    try:
        member = join(manager, manager.tokens.worker, tmp_path / "member")
        for _ in range(6):  # from 127.0.0.1, each asking ca.root: three get in
            burst.ask_root()
        wait_for(lambda: burst.answered() == 3, "three of the burst answered")
        wait_for(
            lambda: endpoint_stats(REMOTE).refusals().get("stranger.source_connections"),
            "the others turned away at their handshake",
        )
        assert burst.answered() == 3
        # the node that joined connects from the crowded address: it is never counted
        with manager.client(member.keypair) as client:
            hb = {"node_id": member.node_id, "session_id": "s"}
            assert client.request("dispatcher.heartbeat", hb)["period"] == 1.0
        # a join from another address has its own share
        other = join(manager, manager.tokens.worker, tmp_path / "other", source="127.0.0.2")
        assert other.role is NodeRole.WORKER
        # the burst lets go: a join from its address gets in
        burst.close()
        wait_for(lambda: endpoint_stats(REMOTE).strangers == 0, "the burst's connections gone")
        late = join(manager, manager.tokens.worker, tmp_path / "late", timeout=10.0)
        assert late.role is NodeRole.WORKER
    finally:
        burst.close()
        serving.close()


class Burst:
    """Strangers' connections to a manager's remote port from 127.0.0.1 (raw DEALERs: a
    Client may open more than one)."""

    def __init__(self, manager: Manager) -> None:
        self.manager = manager
        self.context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.sockets: list[zmq.Socket[bytes]] = []
        self.replies = 0

    def ask_root(self) -> None:
        sock = self.context.socket(zmq.DEALER)
        sock.linger = 0
        keys = generate_keypair()
        sock.curve_serverkey = self.manager.keys.public
        sock.curve_publickey = keys.public
        sock.curve_secretkey = keys.secret
        sock.connect(connect_endpoint(self.manager.remote.address, "127.0.0.1"))
        sock.send(encode("ca.root", request_id=len(self.sockets) + 1))
        self.sockets.append(sock)

    def answered(self) -> int:
        """How many have had their answer (each gets one)."""
        for sock in self.sockets:
            while sock.poll(0, zmq.POLLIN):
                assert decode(sock.recv()).body["ca_cert"]
                self.replies += 1
        return self.replies

    def close(self) -> None:
        self.context.destroy(linger=0)


class Holders:
    """Strangers' connections to a manager's remote port that say nothing once admitted
    (raw DEALERs: a Client may open more than one), ``each`` from each of ``sources``
    (127.0.0.x: all loopback on Linux). Their ZeroMQ connects again whenever one is closed
    or turned away, as a flood's would."""

    def __init__(self, manager: Manager, sources: list[str], each: int) -> None:
        self.context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.sockets: list[zmq.Socket[bytes]] = []  # a socket let go of is closed
        for source in sources:
            for _ in range(each):
                sock = self.context.socket(zmq.DEALER)
                self.sockets.append(sock)
                sock.linger = 0
                keys = generate_keypair()
                sock.curve_serverkey = manager.keys.public
                sock.curve_publickey = keys.public
                sock.curve_secretkey = keys.secret
                sock.connect(connect_endpoint(manager.remote.address, source))

    def close(self) -> None:
        self.context.destroy(linger=0)


def refusals(code: str) -> int:
    return endpoint_stats(REMOTE).refusals().get(f"stranger.{code}", 0)


def test_addresses_holding_all_strangers_connections_do_not_keep_a_join_out(
    tmp_path: Path,
) -> None:
    """QA's hole: a few addresses holding every connection strangers may hold kept all
    joins out (64 idle connections from 4 addresses; ZeroMQ connects each again when its
    lifetime closes it). Here three addresses hold the 6 of all (2 each): a node joining
    from a fourth takes the place of one of theirs, and joins by token."""
    limits = replace(DEFAULT_STRANGER_LIMITS, source_connections=2, connections=6)
    serving = serve_manager(limits)
    manager = next(serving)
    evicted = refusals("evicted")
    holders = Holders(manager, ["127.0.0.2", "127.0.0.3", "127.0.0.4"], 3)
    try:
        wait_for(lambda: endpoint_stats(REMOTE).strangers == 6, "all six held")
        wait_for(lambda: refusals("source_connections"), "the third of each turned away")
        joined = join(manager, manager.tokens.worker, tmp_path / "w", source="127.0.0.5")
        assert joined.role is NodeRole.WORKER
        assert refusals("evicted") > evicted
        assert endpoint_stats(REMOTE).strangers <= 6
    finally:
        holders.close()
        serving.close()


def test_addresses_spending_the_strangers_rate_of_all_do_not_keep_a_join_out(
    tmp_path: Path,
) -> None:
    """QA's hole, in rates: a few addresses opening connections as fast as they may drained
    the bucket of all addresses. Here it holds 12 and refills once in 100 s: two addresses
    of ten connections each drain it, but only down to the 4 kept for addresses within
    their share (2 at once), and a node joining from a third address gets one."""
    limits = replace(
        DEFAULT_STRANGER_LIMITS, rate=0.01, burst=12, reserve=4, share_rate=0.01, share_burst=2
    )
    serving = serve_manager(limits)
    manager = next(serving)
    turned_away = refusals("rate")
    holders = Holders(manager, ["127.0.0.2", "127.0.0.3"], 10)
    try:
        wait_for(
            lambda: endpoint_stats(REMOTE).strangers + refusals("rate") - turned_away >= 20,
            "each of the flood's connections admitted or turned away",
        )
        held = endpoint_stats(REMOTE).strangers
        assert 8 <= held <= 10  # 12, less the reserve and what it gave them of their share
        joined = join(manager, manager.tokens.worker, tmp_path / "w", source="127.0.0.4")
        assert joined.role is NodeRole.WORKER
    finally:
        holders.close()
        serving.close()
