"""The CA service's handlers over a local store: join, renew, token rotation, revocation."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import pytest

from actors.ca.authorization import ClusterAdmission
from actors.ca.bootstrap import bootstrap_cluster_security
from actors.ca.certs import create_csr, generate_node_key, verify_node_certificate
from actors.ca.issuance import JoinRefused
from actors.ca.root import create_root_ca, root_ca_from_api
from actors.ca.service import NODE_WRITE_ATTEMPTS, CAService
from actors.ca.tokens import new_join_token, parse_join_token
from actors.store import ConflictError, MemoryStore, clusters, nodes
from api.enums import NodeRole
from api.ids import new_id
from api.objects import Cluster, Node, NodeStatus
from api.specs import ClusterSpec, NodeSpec
from transport.keys import KeyPair, generate_keypair

NOW = 1_700_000_000.0


class Log:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **kw: Any) -> None:
        self.events.append((event, kw))

    info = warning


@dataclass
class World:
    store: MemoryStore
    admission: ClusterAdmission
    service: CAService
    cluster_id: str
    manager_id: str
    manager_keys: KeyPair
    rng: random.Random
    now: list[float]

    def cluster(self) -> Cluster:
        cluster = self.store.view(clusters.get_default)
        assert cluster is not None
        return cluster

    def node(self, node_id: str) -> Node | None:
        return self.store.view(lambda tx: nodes.get(tx, node_id))

    def fresh_admission(self) -> ClusterAdmission:
        ca = root_ca_from_api(self.cluster().root_ca, now=self.now[0])
        return ClusterAdmission(ca.cert, self.cluster_id, clock=lambda: self.now[0], logger=Log())


def make_world(seed: int = 1) -> World:
    rng = random.Random(seed)
    now = [NOW]
    store = MemoryStore.local(clock=lambda: now[0])
    cluster_id, manager_id = new_id(rng), new_id(rng)
    keys = generate_keypair()
    sec = bootstrap_cluster_security(
        NOW, rng, cluster_id=cluster_id, node_id=manager_id, curve_public_key=keys.public
    )

    def init(tx: Any) -> None:
        tx.create(sec.cluster(Cluster(id=cluster_id, spec=ClusterSpec(name="default"))))
        tx.create(sec.node(Node(id=manager_id, spec=NodeSpec(desired_role=NodeRole.MANAGER))))

    store.update(init)
    admission = ClusterAdmission(sec.ca.cert, cluster_id, clock=lambda: now[0], logger=Log())
    service = CAService(
        store,
        admission,
        manager_cert=sec.node_cert.cert_pem,
        clock=lambda: now[0],
        rng=rng,
        managers=lambda: [{"addr": "tcp://10.0.0.1:4242", "server_key": keys.public.decode()}],
    )
    service.start()
    return World(store, admission, service, cluster_id, manager_id, keys, rng, now)


@pytest.fixture
def world() -> Iterator[World]:
    w = make_world()
    yield w
    w.service.stop()


def join(
    world: World, token: str, *, hostname: str = "w1", **extra: Any
) -> tuple[Mapping[str, Any], KeyPair]:
    keys = generate_keypair()
    body = {
        "token": token,
        "csr": create_csr(generate_node_key(), keys.public),
        "hostname": hostname,
    }
    body.update(extra)
    return world.service.join(body, keys.public), keys


def refused(world: World, token: str, **extra: Any) -> JoinRefused:
    with pytest.raises(JoinRefused) as info:
        join(world, token, **extra)
    return info.value


# --- bootstrap ------------------------------------------------------------------------


def test_bootstrap_makes_a_ca_tokens_and_the_first_manager(world: World) -> None:
    cluster = world.cluster()
    ca = root_ca_from_api(cluster.root_ca, now=NOW)
    assert ca.can_sign
    for token in (cluster.join_tokens.worker, cluster.join_tokens.manager):
        assert parse_join_token(token).ca_digest == ca.digest
    manager = world.node(world.manager_id)
    assert manager is not None and manager.role is NodeRole.MANAGER
    info = verify_node_certificate(manager.certificate, ca, now=NOW, cluster_id=world.cluster_id)
    assert info.role is NodeRole.MANAGER
    assert info.curve_public_key == world.manager_keys.public
    assert world.admission.check_request("raft.messages", world.manager_keys.public) is None


def test_bootstrap_can_wrap_the_ca_key() -> None:
    sec = bootstrap_cluster_security(
        NOW,
        random.Random(3),
        cluster_id="c" * 25,
        node_id="n" * 25,
        curve_public_key=generate_keypair().public,
        wrapping_key=b"k" * 32,
    )
    assert b"PRIVATE KEY" in sec.root_ca.ca_key and b"BEGIN PRIVATE KEY" not in sec.root_ca.ca_key
    assert root_ca_from_api(sec.root_ca, now=NOW, wrapping_key=b"k" * 32).can_sign


# --- join -----------------------------------------------------------------------------


def test_worker_token_makes_a_worker(world: World) -> None:
    reply, keys = join(world, world.cluster().join_tokens.worker, hostname="box-1")
    assert reply["role"] == "worker"
    assert reply["cluster_id"] == world.cluster_id
    assert reply["ca_cert"] == world.cluster().root_ca.ca_cert
    assert b"PRIVATE" not in reply["ca_cert"]
    assert reply["managers"] == [
        {"addr": "tcp://10.0.0.1:4242", "server_key": world.manager_keys.public.decode()}
    ]
    node = world.node(reply["node_id"])
    assert node is not None
    assert (node.role, node.spec.desired_role, node.hostname) == (
        NodeRole.WORKER,
        NodeRole.WORKER,
        "box-1",
    )
    assert node.certificate == reply["certificate"]
    info = verify_node_certificate(
        reply["certificate"], create_ca(world), now=NOW, cluster_id=world.cluster_id
    )
    assert (info.node_id, info.role, info.curve_public_key) == (
        reply["node_id"],
        NodeRole.WORKER,
        keys.public,
    )
    assert world.admission.check_request("dispatcher.heartbeat", keys.public) is None
    assert world.admission.check_request("raft.messages", keys.public) is not None


def create_ca(world: World) -> Any:
    return root_ca_from_api(world.cluster().root_ca, now=NOW).cert


def test_manager_token_makes_a_manager(world: World) -> None:
    reply, keys = join(world, world.cluster().join_tokens.manager)
    assert reply["role"] == "manager"
    node = world.node(reply["node_id"])
    assert node is not None and node.role is NodeRole.MANAGER
    assert world.admission.check_request("raft.messages", keys.public) is None


def test_cert_expiry_comes_from_the_cluster(world: World) -> None:
    cluster = world.cluster()
    spec = replace(cluster.spec, ca_config=replace(cluster.spec.ca_config, node_cert_expiry=7200))
    world.store.update(lambda tx: tx.update(replace(cluster, spec=spec)))
    reply, _ = join(world, cluster.join_tokens.worker)
    info = verify_node_certificate(reply["certificate"], create_ca(world), now=NOW)
    assert info.not_after == pytest.approx(NOW + 7200)


def test_wrong_forged_and_malformed_tokens_are_invalid(world: World) -> None:
    worker = parse_join_token(world.cluster().join_tokens.worker)
    forged = f"SWMTKN-1-{worker.ca_digest}-{'z' * 25}"
    assert refused(world, forged).code == "invalid_token"
    assert refused(world, "SWMTKN-1-nonsense").code == "invalid_token"
    assert refused(world, "").code == "invalid_token"
    assert world.store.view(lambda tx: len(nodes.list_all(tx))) == 1


def test_a_token_of_another_cluster_is_wrong_cluster(world: World) -> None:
    other = create_root_ca(NOW, random.Random(99))
    error = refused(world, new_join_token(other.cert, random.Random(5)))
    assert error.code == "wrong_cluster"
    assert "different cluster" in error.message


def test_a_hostname_over_the_kernels_limit_is_refused_at_join(world: World) -> None:
    """Anyone holding a token reaches join: its hostname is bounded before it is stored."""
    token = world.cluster().join_tokens.worker
    error = refused(world, token, hostname="h" * (1 << 20))
    assert error.code == "invalid_argument"
    assert "description.hostname: hostname of 1 MiB, over the limit of 64 bytes" in error.message
    assert refused(world, token, addr="a" * 5000).code == "invalid_argument"
    assert world.store.view(lambda tx: len(nodes.list_all(tx))) == 1


def test_rotation_refuses_the_old_token_and_spares_joined_nodes(world: World) -> None:
    old = world.cluster().join_tokens
    reply, keys = join(world, old.worker)
    new = world.service.rotate_token(NodeRole.WORKER)
    assert new != old.worker and world.cluster().join_tokens.worker == new
    assert world.cluster().join_tokens.manager == old.manager
    assert refused(world, old.worker).code == "invalid_token"
    assert join(world, new)[0]["role"] == "worker"
    assert world.admission.check_request("dispatcher.heartbeat", keys.public) is None
    assert world.node(reply["node_id"]) is not None


def test_the_csr_must_bind_the_callers_key(world: World) -> None:
    other = generate_keypair()
    body = {
        "token": world.cluster().join_tokens.worker,
        "csr": create_csr(generate_node_key(), generate_keypair().public),
        "hostname": "x",
    }
    with pytest.raises(JoinRefused) as info:
        world.service.join(body, other.public)
    assert info.value.code == "invalid_csr"
    body["csr"] = b"not a csr"
    with pytest.raises(JoinRefused) as info:
        world.service.join(body, other.public)
    assert info.value.code == "invalid_csr"


def test_a_requested_id_is_used_unless_taken(world: World) -> None:
    token = world.cluster().join_tokens.worker
    wanted = new_id(random.Random(11))
    assert join(world, token, node_id=wanted)[0]["node_id"] == wanted
    assert refused(world, token, node_id=wanted).code == "invalid_argument"
    assert refused(world, token, node_id=world.manager_id).code == "invalid_argument"
    assert refused(world, token, node_id="short").code == "invalid_argument"


def test_join_handler_answers_errors_on_the_wire(world: World) -> None:
    request = FakeRequest(
        "ca.join", {"token": "bad", "csr": b"", "hostname": "h"}, generate_keypair().public
    )
    assert world.service.handlers()["ca.join"](request) is None  # type: ignore[arg-type]
    assert request.errors[0][0] == "invalid_token"


class FakeRequest:
    def __init__(self, type: str, body: Mapping[str, Any], peer_key: bytes | None) -> None:
        self.type, self.body, self.peer_key, self.endpoint = type, body, peer_key, "remote"
        self.errors: list[tuple[str, str]] = []

    def error(self, code: str, message: str) -> None:
        self.errors.append((code, message))


def test_root_and_hello_hand_out_public_material_only(world: World) -> None:
    for name, table in (("ca.root", world.service.handlers()), ("ca.hello", None)):
        handlers = table if table is not None else world.service.hello_handlers()
        reply = handlers[name](FakeRequest(name, {}, None))  # type: ignore[arg-type]
        assert reply is not None
        assert reply["ca_cert"] == world.cluster().root_ca.ca_cert
        assert b"PRIVATE" not in reply["ca_cert"] + reply["manager_cert"]


# --- renew ----------------------------------------------------------------------------


def test_renew_reissues_for_the_same_node_and_key(world: World) -> None:
    reply, keys = join(world, world.cluster().join_tokens.worker)
    world.now[0] = NOW + 3600
    renewed = world.service.renew(create_csr(generate_node_key(), keys.public), keys.public)
    assert renewed["node_id"] == reply["node_id"] and renewed["role"] == "worker"
    info = verify_node_certificate(renewed["certificate"], create_ca(world), now=world.now[0])
    assert info.curve_public_key == keys.public
    assert info.not_before > NOW
    node = world.node(reply["node_id"])
    assert node is not None and node.certificate == renewed["certificate"]


def test_renew_takes_the_current_role(world: World) -> None:
    reply, keys = join(world, world.cluster().join_tokens.manager)
    node = world.node(reply["node_id"])
    assert node is not None
    world.store.update(lambda tx: tx.update(replace(node, role=NodeRole.WORKER)))
    assert world.admission.check_request("raft.messages", keys.public) is not None
    renewed = world.service.renew(create_csr(generate_node_key(), keys.public), keys.public)
    assert renewed["role"] == "worker"


def test_renew_refuses_another_key_and_unknown_callers(world: World) -> None:
    _, keys = join(world, world.cluster().join_tokens.worker)
    with pytest.raises(JoinRefused) as info:
        world.service.renew(create_csr(generate_node_key(), generate_keypair().public), keys.public)
    assert info.value.code == "invalid_csr"
    stranger = generate_keypair().public
    with pytest.raises(JoinRefused) as info:
        world.service.renew(create_csr(generate_node_key(), stranger), stranger)
    assert info.value.code == "unauthorized"


class RacedStore:
    """The store, with another writer of the node winning the race against the next
    ``races`` updates (as the dispatcher does when the node's session opens meanwhile)."""

    def __init__(self, store: MemoryStore, node_id: str, races: int) -> None:
        self._store, self._node_id, self.races = store, node_id, races

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def update(self, fn: Any, **kw: Any) -> Any:
        if self.races:
            self.races -= 1
            node = self._store.view(lambda tx: nodes.get(tx, self._node_id))
            assert node is not None
            self._store.update(lambda tx: tx.update(replace(node, status=NodeStatus(addr="x"))))
            raise ConflictError("node", self._node_id, node.meta.version, node.meta.version + 1)
        return self._store.update(fn, **kw)


def test_renew_writes_again_when_the_node_changed_meanwhile(world: World) -> None:
    reply, keys = join(world, world.cluster().join_tokens.worker)
    raced = RacedStore(world.store, reply["node_id"], races=NODE_WRITE_ATTEMPTS - 1)
    world.service._store = raced  # type: ignore[assignment]
    renewed = world.service.renew(create_csr(generate_node_key(), keys.public), keys.public)
    node = world.node(reply["node_id"])
    assert node is not None and node.certificate == renewed["certificate"]
    assert node.status.addr == "x" and raced.races == 0
    raced.races = NODE_WRITE_ATTEMPTS
    with pytest.raises(JoinRefused) as info:
        world.service.renew(create_csr(generate_node_key(), keys.public), keys.public)
    assert info.value.code == "unavailable"


# --- revocation and the index ---------------------------------------------------------


def test_remove_node_revokes_at_once_and_in_the_store(world: World) -> None:
    reply, keys = join(world, world.cluster().join_tokens.worker)
    world.service.remove_node(reply["node_id"])
    assert world.node(reply["node_id"]) is None
    (revoked,) = world.cluster().revoked
    assert revoked.node_id == reply["node_id"]
    assert revoked.curve_public_key == keys.public.decode()
    assert world.admission.check_handshake(keys.public) is not None
    assert world.admission.check_request("dispatcher.heartbeat", keys.public) is not None
    assert world.admission.check_request("ca.join", keys.public) is not None
    # the same key cannot come back through a join either
    body = {
        "token": world.cluster().join_tokens.worker,
        "csr": create_csr(generate_node_key(), keys.public),
        "hostname": "again",
    }
    with pytest.raises(JoinRefused):
        world.service.join(body, keys.public)


def test_the_index_is_rebuilt_from_the_store(world: World) -> None:
    _, kept_keys = join(world, world.cluster().join_tokens.worker)
    gone, gone_keys = join(world, world.cluster().join_tokens.manager)
    world.service.remove_node(gone["node_id"])
    admission = world.fresh_admission()
    service = CAService(
        world.store, admission, manager_cert=b"", clock=lambda: world.now[0], rng=world.rng
    )
    service.start()
    try:
        assert admission.check_request("dispatcher.heartbeat", kept_keys.public) is None
        assert admission.check_request("raft.messages", world.manager_keys.public) is None
        assert admission.check_handshake(gone_keys.public) is not None
        assert admission.is_removed(gone["node_id"])
    finally:
        service.stop()


def test_the_watch_follows_writes_of_other_managers(world: World) -> None:
    admission = world.fresh_admission()
    follower = CAService(
        world.store, admission, manager_cert=b"", clock=lambda: world.now[0], rng=world.rng
    )
    follower.start()
    try:
        reply, keys = join(world, world.cluster().join_tokens.manager)  # through the leader
        assert admission.check_request("raft.messages", keys.public) is None
        node = world.node(reply["node_id"])
        assert node is not None
        world.store.update(lambda tx: tx.update(replace(node, role=NodeRole.WORKER)))
        refusal = admission.check_request("raft.messages", keys.public)
        assert refusal is not None and "now a worker" in refusal.reason
        world.service.remove_node(reply["node_id"])
        assert admission.check_handshake(keys.public) is not None
    finally:
        follower.stop()


def test_a_restored_snapshot_rebuilds_the_index(world: World) -> None:
    snapshot = world.store.snapshot()
    reply, keys = join(world, world.cluster().join_tokens.worker)
    assert world.admission.check_request("dispatcher.status", keys.public) is None
    world.store.restore(snapshot)  # the joined node is not in this state
    assert world.admission.check_request("dispatcher.status", keys.public) is not None
    assert world.node(reply["node_id"]) is None
