"""The node-side renewer against a real CAService (MemoryStore.local) behind a real CURVE
endpoint, with an injected wall clock, timer and rng (no wall-clock timing is asserted)."""

from __future__ import annotations

import random
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pykka
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from actors.ca.authorization import ClusterAdmission, authorize
from actors.ca.bootstrap import bootstrap_cluster_security
from actors.ca.certs import create_csr, generate_node_key
from actors.ca.node_certs import (
    CERTS_DIR,
    NODE_CERT_FILE,
    NODE_KEY_FILE,
    NodeCertificates,
    load_node_certs,
    retired_root_digests,
    write_node_certs,
)
from actors.ca.renewal import RenewalSettings
from actors.ca.renewal_reply import RenewalFailed, reply_trust
from actors.ca.renewer import CertRenewer
from actors.ca.root import create_root_ca, cross_sign
from actors.ca.service import CAService
from actors.ca.store_settings import StoreSettings
from actors.dispatcher import ManagerAddress
from actors.store import MemoryStore, clusters, nodes
from actors.supervisor import Backoff
from api.enums import NodeRole
from api.ids import new_id
from api.objects import Cluster, Node
from api.specs import ClusterSpec, NodeSpec
from tests.support.clocks import ManualClock, ManualTimer
from tests.support.waiting import wait_for
from transport import Endpoint, generate_keypair

HOUR = 3600.0
DAY = 24 * HOUR


class Log:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def _record(self, event: str, **kw: Any) -> None:
        with self._lock:
            self.events.append((event, kw))

    info = warning = error = _record

    def named(self, event: str) -> list[dict[str, Any]]:
        with self._lock:
            return [kw for name, kw in self.events if name == event]


def armed(timer: ManualTimer) -> int:
    return len(timer.pending)


def fire(timer: ManualTimer) -> float:
    """Run the one armed timer; its delay (the timer's clock stays at 0)."""
    wait_for(lambda: armed(timer) == 1, "one armed timer")
    [(due, _)] = timer.pending
    timer.fire_all()
    return due


@dataclass
class World:
    now: list[float]
    store: MemoryStore
    service: CAService
    remote: Endpoint
    manager: ManagerAddress
    node_id: str
    state: Path
    log: Log = field(default_factory=Log)
    timer: ManualTimer = field(default_factory=lambda: ManualTimer(ManualClock(0.0)))

    def certs(self) -> NodeCertificates:
        return load_node_certs(self.state, now=self.now[0])

    def renewer(self, **kw: Any) -> pykka.ActorProxy[CertRenewer]:
        ref = CertRenewer.start(
            None,
            state_dir=self.state,
            certs=self.certs(),
            managers=lambda: [self.manager],
            clock=lambda: self.now[0],
            rng=random.Random(5),
            timer=self.timer,
            check_interval=1e9,
            request_timeout=1.0,
            logger=self.log,
            **kw,
        )
        return ref.proxy()

    def set_cluster(self, change: Callable[[Cluster], Cluster]) -> None:
        def write(tx: Any) -> None:
            cluster = clusters.get_default(tx)
            assert cluster is not None
            tx.update(change(cluster))

        self.store.update(write)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    rng = random.Random(11)
    now = [time.time()]
    clock = lambda: now[0]  # noqa: E731
    store = MemoryStore.local(clock=clock)
    cluster_id, manager_id = new_id(rng), new_id(rng)
    mkeys = generate_keypair()
    sec = bootstrap_cluster_security(
        now[0], rng, cluster_id=cluster_id, node_id=manager_id, curve_public_key=mkeys.public
    )

    def init(tx: Any) -> None:
        tx.create(sec.cluster(Cluster(id=cluster_id, spec=ClusterSpec(name="default"))))
        tx.create(sec.node(Node(id=manager_id, spec=NodeSpec(desired_role=NodeRole.MANAGER))))

    store.update(init)
    admission = ClusterAdmission(sec.ca.cert, cluster_id, clock=clock, logger=Log())
    service = CAService(store, admission, manager_cert=sec.node_cert.cert_pem, clock=clock, rng=rng)
    service.start()
    remote = Endpoint(
        "tcp://127.0.0.1:0",
        authorize(service.handlers(), admission),
        keypair=mkeys,
        admission=admission,
    )
    remote.start()
    # a worker joins (the service's own join), and keeps its identity in a state dir
    key, keys = generate_node_key(), generate_keypair()
    token = sec.join_tokens.worker
    reply = service.join(
        {"token": token, "csr": create_csr(key, keys.public), "hostname": "w1"}, keys.public
    )
    state = tmp_path / "worker"
    write_node_certs(
        state,
        node_id=reply["node_id"],
        ca_cert=sec.ca.cert_pem,
        cert=reply["certificate"],
        key=key,
        keypair=keys,
    )
    manager = ManagerAddress(remote.address, mkeys.public)
    w = World(now, store, service, remote, manager, reply["node_id"], state)
    try:
        yield w
    finally:
        pykka.ActorRegistry.stop_all()
        remote.stop()
        service.stop()


def renewed(proxy: pykka.ActorProxy[CertRenewer], serial: int) -> Callable[[], bool]:
    return lambda: proxy.certificates().get().info.serial != serial


def test_renews_within_the_window_and_writes_the_files(world: World) -> None:
    before = world.certs()
    proxy = world.renewer()
    renew_at = proxy.renew_at().get()
    life = before.info.lifetime
    assert before.info.not_before + 0.5 * life <= renew_at <= before.info.not_before + 0.8 * life
    # the first timer is set for the renewal point; an early wake-up does nothing
    delay = fire(world.timer)
    assert delay == pytest.approx(renew_at - world.now[0])
    wait_for(lambda: armed(world.timer) == 1)
    assert world.log.named("ca.renewal.started") == []

    world.now[0] = renew_at + 1.0
    fire(world.timer)
    wait_for(renewed(proxy, before.info.serial))
    wait_for(lambda: armed(world.timer) == 1)  # the next renewal is scheduled

    after = world.certs()
    assert after.info.serial != before.info.serial
    assert after.info.not_after > before.info.not_after
    assert after.node_id == before.node_id
    assert after.keypair.public == before.keypair.public
    assert after.info.role is NodeRole.WORKER
    for name in (NODE_CERT_FILE, NODE_KEY_FILE):
        mode = stat.S_IMODE((world.state / CERTS_DIR / name).stat().st_mode)
        assert mode == 0o600, name
    stored = world.store.view(lambda tx: nodes.get(tx, world.node_id))
    assert stored is not None and stored.certificate == after.cert_pem
    assert proxy.certificates().get().cert_pem == after.cert_pem
    next_at = proxy.renew_at().get()
    life = after.info.lifetime
    assert after.info.not_before + 0.5 * life <= next_at <= after.info.not_before + 0.8 * life
    [done] = world.log.named("ca.renewal.complete")
    assert done["node"] == world.node_id


def test_a_refusal_is_logged_and_retried_with_backoff(world: World) -> None:
    before = world.certs()
    proxy = world.renewer()
    world.now[0] = proxy.renew_at().get() + 1.0
    ca_key = world.store.view(clusters.get_default).root_ca.ca_key  # type: ignore[union-attr]
    world.set_cluster(lambda c: replace(c, root_ca=replace(c.root_ca, ca_key=b"")))
    fire(world.timer)
    wait_for(lambda: len(world.log.named("ca.renewal.failed")) == 1)
    first = world.log.named("ca.renewal.failed")[0]
    assert first["code"] == "unavailable"
    assert "holds no CA key" in first["reason"]
    assert fire(world.timer) == RETRY_DELAYS[0]  # the retry, after the first backoff
    wait_for(lambda: len(world.log.named("ca.renewal.failed")) == 2)
    assert world.log.named("ca.renewal.failed")[1]["attempt"] == 2
    wait_for(lambda: armed(world.timer) == 1)
    assert world.certs().info.serial == before.info.serial  # nothing written

    world.set_cluster(lambda c: replace(c, root_ca=replace(c.root_ca, ca_key=ca_key)))
    assert fire(world.timer) == RETRY_DELAYS[1]
    wait_for(renewed(proxy, before.info.serial))
    assert world.certs().info.not_after > before.info.not_after


RETRY_DELAYS = (Backoff(1.0, 300.0).delay(1), Backoff(1.0, 300.0).delay(2))


def test_a_removed_nodes_renewal_is_refused_and_logged(world: World) -> None:
    before = world.certs()
    proxy = world.renewer()
    world.now[0] = proxy.renew_at().get() + 1.0
    world.service.remove_node(world.node_id)
    fire(world.timer)
    wait_for(lambda: world.log.named("ca.renewal.failed"))
    failed = world.log.named("ca.renewal.failed")[0]
    assert failed["code"] == "unauthorized"
    assert "refused" in failed["reason"]
    wait_for(lambda: armed(world.timer) == 1)  # retried later, with backoff
    assert world.timer.pending[0][0] == RETRY_DELAYS[0]
    assert world.certs().cert_pem == before.cert_pem
    assert world.log.named("ca.renewal.complete") == []


def test_a_shorter_cluster_expiry_renews_early(world: World) -> None:
    before = world.certs()
    assert before.info.lifetime > 80 * DAY
    proxy = world.renewer(settings=StoreSettings(world.store, world.node_id))
    fire(world.timer)  # not due: the certificate is fresh
    wait_for(lambda: armed(world.timer) == 1)
    assert world.log.named("ca.renewal.started") == []

    def shorten(c: Cluster) -> Cluster:
        return replace(
            c, spec=replace(c.spec, ca_config=replace(c.spec.ca_config, node_cert_expiry=2 * HOUR))
        )

    world.set_cluster(shorten)
    fire(world.timer)
    wait_for(renewed(proxy, before.info.serial))
    [started] = world.log.named("ca.renewal.started")
    assert "shortened" in started["reason"]
    after = world.certs()
    assert after.info.not_after - world.now[0] <= 2 * HOUR
    # the new certificate fits the setting: no renewal loop
    wait_for(lambda: armed(world.timer) == 1)
    fire(world.timer)
    wait_for(lambda: armed(world.timer) == 1)
    assert len(world.log.named("ca.renewal.started")) == 1


def test_a_role_change_in_the_store_renews_with_the_new_role(world: World) -> None:
    before = world.certs()
    settings = lambda: RenewalSettings(role=NodeRole.MANAGER)  # noqa: E731

    def promote(tx: Any) -> None:
        node = nodes.get(tx, world.node_id)
        assert node is not None
        # as the control API and the leader record it: desired role, then role
        spec = replace(node.spec, desired_role=NodeRole.MANAGER)
        tx.update(replace(node, spec=spec, role=NodeRole.MANAGER))

    world.store.update(promote)
    proxy = world.renewer(settings=settings)  # checks at start: renews at once
    wait_for(renewed(proxy, before.info.serial))
    assert world.certs().info.role is NodeRole.MANAGER


def test_a_root_rotation_renews_under_the_new_root_then_drops_the_old(world: World) -> None:
    """A node trusting the old root renews at once when a rotation starts (its issuer is
    not the desired one), checks the new root by its cross-signature, writes both roots
    before the certificate; once the rotation completes it keeps the new root alone and
    records the old one's digest as retired."""
    before = world.certs()
    old_digest = before.ca.digest
    proxy = world.renewer(settings=StoreSettings(world.store, world.node_id))
    fire(world.timer)  # fresh certificate, one root: nothing to do
    wait_for(lambda: armed(world.timer) == 1)
    assert world.log.named("ca.renewal.started") == []

    cluster = world.service.rotate_root()
    rotation = cluster.root_ca.root_rotation
    assert rotation is not None
    fire(world.timer)
    wait_for(renewed(proxy, before.info.serial))
    [started] = world.log.named("ca.renewal.started")
    assert "root CA rotation" in started["reason"]
    during = world.certs()
    assert during.ca.cert_pem == rotation.ca_cert  # issued by the new root
    assert during.roots_pem == cluster.root_ca.ca_cert + rotation.ca_cert  # trusts both

    assert world.service.finish_rotation(cluster.root_ca)
    wait_for(lambda: armed(world.timer) == 1)
    fire(world.timer)
    wait_for(lambda: world.log.named("ca.trust.updated"))
    after = world.certs()
    assert after.roots_pem == rotation.ca_cert
    assert after.cert_pem == during.cert_pem  # no second renewal
    assert retired_root_digests(world.state) == (old_digest,)
    assert proxy.certificates().get().roots_pem == rotation.ca_cert


def test_a_rotation_root_not_cross_signed_by_a_trusted_root_is_refused(world: World) -> None:
    """A manager's reply naming a new root that no trusted root vouches for is refused
    (``untrusted_certificate``) and nothing is written."""
    before = world.certs()
    cluster = world.service.rotate_root()
    rotation = cluster.root_ca.root_rotation
    assert rotation is not None
    stranger = create_root_ca(world.now[0], random.Random(99))
    forged = cross_sign(
        stranger, x509.load_pem_x509_certificate(rotation.ca_cert), random.Random(1)
    )
    reply: dict[str, Any] = {
        "ca_cert": cluster.root_ca.ca_cert,
        "rotation": {
            "ca_cert": rotation.ca_cert,
            "cross_signed": forged.public_bytes(serialization.Encoding.PEM),
        },
    }
    with pytest.raises(RenewalFailed) as failed:
        reply_trust(before, reply, world.now[0])
    assert failed.value.code == "untrusted_certificate"
    assert "not vouched for" in failed.value.reason
    good = {
        **reply,
        "rotation": {**reply["rotation"], "cross_signed": rotation.cross_signed_ca_cert},
    }
    assert [r.cert_pem for r in reply_trust(before, good, world.now[0])] == [
        cluster.root_ca.ca_cert,
        rotation.ca_cert,
    ]
    assert world.certs().roots_pem == before.roots_pem


def test_a_root_a_renewal_leaves_behind_is_recorded_as_retired(world: World) -> None:
    """A rotation that starts before the node dropped the previous rotation's old root:
    the renewal keeps the cluster's two roots only, and records the third as retired (so
    a restart with the --join-token of that root still resumes)."""
    first = world.certs().ca.digest
    proxy = world.renewer(settings=StoreSettings(world.store, world.node_id))
    one = world.service.rotate_root().root_ca
    fire(world.timer)
    wait_for(lambda: len(world.log.named("ca.renewal.complete")) == 1)
    assert world.service.finish_rotation(one)
    two = world.service.rotate_root().root_ca  # before the renewer looked again
    assert two.root_rotation is not None
    wait_for(lambda: armed(world.timer) == 1)
    fire(world.timer)
    wait_for(lambda: len(world.log.named("ca.renewal.complete")) == 2)
    certs = world.certs()
    assert certs.roots_pem == two.ca_cert + two.root_rotation.ca_cert
    assert retired_root_digests(world.state) == (first,)
    assert proxy.certificates().get().ca.cert_pem == two.root_rotation.ca_cert


def test_a_managers_store_tells_of_the_changes_that_matter_to_its_renewer(world: World) -> None:
    """`StoreSettings.watch`: a rotation applied, this node's role changed, and the store
    restored from a snapshot (a follower far behind installs the leader's) each call back;
    a change that does not matter does not, nor anything once the watch is cancelled."""
    settings = StoreSettings(world.store, world.node_id)
    calls: list[int] = []
    cancel = settings.watch(lambda: calls.append(1))
    world.set_cluster(lambda c: replace(c, spec=replace(c.spec, labels={"a": "b"})))
    world.service.rotate_root()
    assert len(calls) == 1  # told on the thread that applied it, before update returned
    assert settings().issuer != world.certs().ca.digest

    def promote(tx: Any) -> None:
        node = nodes.get(tx, world.node_id)
        assert node is not None
        tx.update(replace(node, role=NodeRole.MANAGER))

    world.store.update(promote)
    assert len(calls) == 2
    world.store.restore(world.store.snapshot())
    assert len(calls) == 3
    world.service.rotate_root()  # watched again after the restore
    assert len(calls) == 4
    cancel()
    world.service.rotate_root()
    assert len(calls) == 4


def test_a_change_told_after_the_renewer_stopped_does_not_raise(world: World) -> None:
    """The store's watch calls back on the thread that applied the change (Raft's): a
    renewer stopping meanwhile must not make it raise."""
    callbacks: list[Callable[[], None]] = []

    def watch(changed: Callable[[], None]) -> Callable[[], None]:
        callbacks.append(changed)
        return lambda: None  # as if the change was already on its way when it stopped

    proxy = world.renewer(watch_settings=watch)
    proxy.renew_at().get()  # started
    proxy.actor_ref.stop()
    [changed] = callbacks
    changed()
