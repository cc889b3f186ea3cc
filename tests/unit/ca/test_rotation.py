"""Root CA rotation: the pure decisions (actors/ca/rotation.py, renewal.py) and the CA
service's side of it over a local store (start, issue under the new root, complete)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import replace
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from actors.ca.admission import CertificateAdmission
from actors.ca.certs import (
    CertificateError,
    UntrustedCertificate,
    create_csr,
    generate_node_key,
    issuing_root,
    verify_node_certificate,
)
from actors.ca.issuance import JoinRefused
from actors.ca.renewal import renewal_reason, trust_to_keep
from actors.ca.renewal_reply import RenewalFailed, reply_trust
from actors.ca.root import (
    MAX_TRUSTED_ROOTS,
    CAError,
    create_root_ca,
    cross_sign,
    load_root_ca,
)
from actors.ca.rotation import (
    desired_issuer_digest,
    root_digests,
    rotation_progress,
    start_rotation,
    trust_fields,
    vouched_root,
)
from actors.ca.rotation_keeper import RootRotationKeeper
from actors.ca.tls_info import issuer_identity
from actors.ca.tokens import ca_digest
from actors.control.views import cluster_document
from actors.store import ReadTx, WriteTx, clusters, nodes
from api.enums import NodeRole
from api.objects import Node, NodeDescription, NodeTLSInfo
from tests.unit.ca.conftest import CLUSTER, NOW, Issue
from tests.unit.ca.test_service import Log, World, join, make_world

# --- pure ------------------------------------------------------------------------------


def test_the_new_root_is_cross_signed_by_the_current_one() -> None:
    old = create_root_ca(NOW, random.Random(1))
    root_ca = start_rotation(
        old.to_api(), old, now=NOW, rng=random.Random(2), force_rotate=1, wrapping_key=b"k" * 32
    )
    rotation = root_ca.root_rotation
    assert rotation is not None and root_ca.last_forced_rotation == 1
    assert root_ca.ca_cert == old.cert_pem  # the current root stays until completion
    new = load_root_ca(rotation.ca_cert, rotation.ca_key, now=NOW, wrapping_key=b"k" * 32)
    assert new.can_sign and new.digest != old.digest
    assert b"WRAPPED" in rotation.ca_key  # stored wrapped, as the current key is
    vouched = vouched_root([old], rotation.ca_cert, rotation.cross_signed_ca_cert, now=NOW)
    assert vouched.cert == new.cert
    assert desired_issuer_digest(root_ca) == new.digest
    assert root_digests(root_ca) == (old.digest, new.digest)
    assert trust_fields(root_ca)["rotation"]["cross_signed"] == rotation.cross_signed_ca_cert


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.PEM)


def test_a_new_root_is_trusted_only_through_a_trusted_cross_signature() -> None:
    old, new, stranger = (create_root_ca(NOW, random.Random(i)) for i in (1, 2, 3))
    crossed = cross_sign(old, new.cert, random.Random(4))
    assert vouched_root([old], new.cert_pem, pem(crossed), now=NOW).digest == new.digest
    with pytest.raises(CAError, match="not vouched for"):
        vouched_root([stranger], new.cert_pem, pem(crossed), now=NOW)
    with pytest.raises(CAError, match="not vouched for"):  # signed by the stranger
        vouched_root(
            [old], new.cert_pem, pem(cross_sign(stranger, new.cert, random.Random(5))), now=NOW
        )
    with pytest.raises(CAError, match="not for the new root"):  # another key than the root's
        vouched_root([old], stranger.cert_pem, pem(crossed), now=NOW)


def test_renewal_is_due_at_once_when_the_issuer_is_not_the_desired_root(issue: Issue) -> None:
    issued, _, _ = issue(NodeRole.WORKER)
    far = NOW + 3600.0 * 24 * 30

    def reason(issuer: str, desired: str | None) -> str | None:
        return renewal_reason(
            issued.info,
            now=NOW,
            renew_at=far,
            desired_role=NodeRole.WORKER,
            issuer=issuer,
            desired_issuer=desired,
        )

    assert reason("a", "a") is None
    assert reason("a", None) is None  # the desired root unknown
    why = reason("a", "b")
    assert why is not None and "root CA rotation" in why


def test_which_roots_a_node_keeps() -> None:
    assert trust_to_keep(("old", "new"), ("new",), "new") == ("new",)  # completed: drop old
    assert trust_to_keep(("old", "new"), ("old", "new"), "new") is None  # still rotating
    assert trust_to_keep(("old",), ("old", "new"), "old") is None  # the renewal brings it
    assert trust_to_keep(("old", "new"), ("new",), "old") is None  # renew first
    assert trust_to_keep(("old", "new"), None, "new") is None  # the cluster's unknown
    assert trust_to_keep(("old",), ("new",), "old") is None  # unknown root: never drop all


def test_admission_stops_accepting_certificates_of_a_root_no_longer_trusted(
    issue: Issue,
) -> None:
    old, new = create_root_ca(NOW, random.Random(1)), create_root_ca(NOW, random.Random(2))
    admission = CertificateAdmission([old, new], CLUSTER, clock=lambda: NOW, logger=Log())
    by_old, old_keys, _ = issue(NodeRole.WORKER, authority=old)
    by_new, new_keys, _ = issue(NodeRole.WORKER, authority=new)
    admission.add(by_old.cert_pem)
    admission.add(by_new.cert_pem)
    assert admission.admit("dispatcher", old_keys.public)
    assert admission.set_roots([new]) == 1
    assert not admission.admit("dispatcher", old_keys.public)
    assert admission.admit("dispatcher", new_keys.public)
    with pytest.raises(UntrustedCertificate):
        admission.add(by_old.cert_pem)


# --- the CA service over a store -------------------------------------------------------


@pytest.fixture
def world() -> Iterator[World]:
    w = make_world(seed=3)
    yield w
    w.service.stop()


def _progress(world: World) -> tuple[int, int, tuple[str, ...]]:
    def read(tx: ReadTx) -> tuple[int, int, tuple[str, ...]]:
        cluster = clusters.get_default(tx)
        assert cluster is not None
        progress = rotation_progress(cluster.root_ca, nodes.list_all(tx))
        assert progress is not None
        return progress.converged, progress.total, progress.waiting

    return world.store.view(read)


def report(world: World, node_id: str, *, issuer: bytes, trusted: tuple[bytes, ...]) -> None:
    """What the node's session does once it installed a certificate of ``issuer``: its
    report reaches its Node's description (actors/dispatcher/writer.py)."""
    subject, key = issuer_identity(x509.load_pem_x509_certificate(issuer))
    info = NodeTLSInfo(
        trust_roots=tuple(ca_digest(pem) for pem in (*trusted, issuer)),
        cert_issuer_subject=subject,
        cert_issuer_public_key=key,
    )

    def write(tx: WriteTx) -> None:
        node = nodes.get(tx, node_id)
        assert node is not None
        described = replace(node.description or NodeDescription(), tls_info=info)
        tx.update(replace(node, description=described))

    world.store.update(write)


def test_a_rotation_issues_under_the_new_root_and_completes_when_every_node_reported(
    world: World,
) -> None:
    old_tokens = world.cluster().join_tokens
    worker, worker_keys = join(world, old_tokens.worker)
    cluster = world.service.rotate_root()
    rotation = cluster.root_ca.root_rotation
    assert rotation is not None
    assert cluster.spec.ca_config.force_rotate == 1
    doc = cluster_document(world.cluster())
    assert "ca_key" not in doc["root_ca"]["root_rotation"]  # the new key never leaves
    old_root = x509.load_pem_x509_certificate(cluster.root_ca.ca_cert)
    new_root = x509.load_pem_x509_certificate(rotation.ca_cert)

    # during: the old tokens still join, and everything is issued by the new root
    late, _ = join(world, old_tokens.worker, hostname="w2")
    assert late["rotation"]["ca_cert"] == rotation.ca_cert
    assert issuing_root(late["certificate"], [old_root, new_root]) == new_root
    # a joined node counts once its session reports the certificate it uses
    everyone = (world.manager_id, worker["node_id"], late["node_id"])
    assert _progress(world) == (0, 3, tuple(sorted(everyone)))

    keeper = RootRotationKeeper(world.store, world.service.finish_rotation)
    renewals = ((worker["node_id"], worker_keys), (world.manager_id, world.manager_keys))
    for node_id, keys in renewals:
        keeper.tick(NOW)
        assert world.cluster().root_ca.root_rotation is not None  # someone still waits
        renewed = world.service.renew(create_csr(generate_node_key(), keys.public), keys.public)
        assert issuing_root(renewed["certificate"], [old_root, new_root]) == new_root
        # the store holds the new certificate, but the node has not installed it (its
        # reply lost, its disk full): the node still reports the old root, and waits
        keeper.tick(NOW)
        assert world.cluster().root_ca.root_rotation is not None
        assert node_id in _progress(world)[2]
        report(world, node_id, issuer=rotation.ca_cert, trusted=(cluster.root_ca.ca_cert,))
    report(world, late["node_id"], issuer=rotation.ca_cert, trusted=(cluster.root_ca.ca_cert,))
    assert _progress(world)[:2] == (3, 3)

    keeper.tick(NOW)  # every node reports a certificate of the new root: complete
    done = world.cluster()
    assert done.root_ca.root_rotation is None
    assert done.root_ca.ca_cert == rotation.ca_cert
    assert done.root_ca.ca_cert_hash == ca_digest(rotation.ca_cert)
    assert done.root_ca.last_forced_rotation == 1
    new_tokens = done.join_tokens
    assert ca_digest(rotation.ca_cert) in new_tokens.worker
    with pytest.raises(JoinRefused) as refused:
        join(world, old_tokens.worker, hostname="w3")
    assert refused.value.code == "wrong_cluster"
    fresh, _ = join(world, new_tokens.worker, hostname="w3")
    assert "rotation" not in fresh
    # the old root is no longer trusted: a certificate of it is refused by the index
    with pytest.raises(CertificateError):
        world.admission.add_certificate(worker["certificate"], NodeRole.WORKER)
    verify_node_certificate(fresh["certificate"], new_root, now=NOW)
    assert not world.service.finish_rotation(cluster.root_ca)  # already done: no write


def test_a_down_node_holds_the_rotation_until_it_is_removed(world: World) -> None:
    worker, _ = join(world, world.cluster().join_tokens.worker)
    cluster = world.service.rotate_root()
    assert cluster.root_ca.root_rotation is not None
    keys = world.manager_keys
    world.service.renew(create_csr(generate_node_key(), keys.public), keys.public)
    new = cluster.root_ca.root_rotation.ca_cert
    report(world, world.manager_id, issuer=new, trusted=(cluster.root_ca.ca_cert,))
    keeper = RootRotationKeeper(world.store, world.service.finish_rotation)
    keeper.tick(NOW)
    assert world.cluster().root_ca.root_rotation is not None
    world.service.remove_node(worker["node_id"])
    keeper.tick(NOW)
    assert world.cluster().root_ca.root_rotation is None


def test_a_rotation_during_a_rotation_replaces_it_cross_signed_by_the_current_root(
    world: World,
) -> None:
    first = world.service.rotate_root().root_ca
    second = world.service.rotate_root().root_ca
    assert first.root_rotation is not None and second.root_rotation is not None
    assert second.root_rotation.ca_cert != first.root_rotation.ca_cert
    assert second.ca_cert == first.ca_cert
    current = load_root_ca(second.ca_cert, now=NOW)
    rotation = second.root_rotation
    assert vouched_root([current], rotation.ca_cert, rotation.cross_signed_ca_cert, now=NOW)
    assert world.cluster().spec.ca_config.force_rotate == 2
    # completing the first is refused: the cluster's root CA is no longer the one read
    assert not world.service.finish_rotation(first)


def test_a_manager_without_the_ca_key_cannot_start_a_rotation(world: World) -> None:
    world.store.update(
        lambda tx: tx.update(
            replace(world.cluster(), root_ca=replace(world.cluster().root_ca, ca_key=b""))
        )
    )
    with pytest.raises(JoinRefused, match="holds no CA key"):
        world.service.rotate_root()


def test_progress_counts_nodes_that_never_reported_as_waiting() -> None:
    old = create_root_ca(NOW, random.Random(1))
    root_ca = start_rotation(old.to_api(), old, now=NOW, rng=random.Random(2), force_rotate=1)
    progress = rotation_progress(root_ca, [Node(id="a" * 25)])
    assert progress is not None and progress.waiting == ("a" * 25,) and not progress.complete
    assert rotation_progress(old.to_api(), [Node(id="a" * 25)]) is None


def test_a_rotation_replaced_mid_way_keeps_the_nodes_its_root_certified(world: World) -> None:
    # a node renewed under the first rotation's root; a second --rotate replaces that
    # rotation: the node must stay admitted (it would be cut off for good: no renewal, no
    # session, and the second rotation waiting for it forever)
    worker, worker_keys = join(world, world.cluster().join_tokens.worker)
    world.service.rotate_root()
    world.service.renew(create_csr(generate_node_key(), worker_keys.public), worker_keys.public)
    second = world.service.rotate_root().root_ca
    assert world.admission.admit("dispatcher", worker_keys.public)
    renewed = world.service.renew(
        create_csr(generate_node_key(), worker_keys.public), worker_keys.public
    )
    assert second.root_rotation is not None
    new_pem = second.root_rotation.ca_cert
    new_root = x509.load_pem_x509_certificate(new_pem)
    assert issuing_root(renewed["certificate"], [new_root]) == new_root
    keys = world.manager_keys
    world.service.renew(create_csr(generate_node_key(), keys.public), keys.public)
    for node_id in (worker["node_id"], world.manager_id):
        report(world, node_id, issuer=new_pem, trusted=(second.ca_cert,))
    RootRotationKeeper(world.store, world.service.finish_rotation).tick(NOW)
    done = world.cluster().root_ca
    assert done.root_rotation is None and done.ca_cert == second.root_rotation.ca_cert
    assert root_digests(done) == (ca_digest(second.root_rotation.ca_cert),)
    assert world.admission.admit("dispatcher", worker_keys.public)


def test_rotations_replaced_in_a_row_keep_only_as_many_roots_as_a_node_holds(
    world: World,
) -> None:
    roots = [world.service.rotate_root().root_ca for _ in range(4)]
    last = roots[-1]
    assert last.root_rotation is not None
    assert len(root_digests(last)) == MAX_TRUSTED_ROOTS
    kept = last.root_rotation.superseded_ca_certs
    assert kept == tuple(r.root_rotation.ca_cert for r in roots[1:3] if r.root_rotation)
    doc = cluster_document(world.cluster())
    json.dumps(doc)  # the superseded roots as PEM text, never a key
    assert doc["root_ca"]["root_rotation"]["superseded_ca_certs"][0].startswith("-----BEGIN")


def test_a_node_back_on_the_old_root_still_renews_after_the_rotation(
    world: World,
) -> None:
    # the rotation completed (every node reported the new root), and then a node holds
    # the old root alone again (its state dir restored from before): it must still be able
    # to take the new root, by the old root's cross-signature
    worker, worker_keys = join(world, world.cluster().join_tokens.worker)
    old = load_root_ca(world.cluster().root_ca.ca_cert, now=NOW)
    rotation = world.service.rotate_root().root_ca.root_rotation
    assert rotation is not None
    for keys in (worker_keys, world.manager_keys):
        world.service.renew(create_csr(generate_node_key(), keys.public), keys.public)
    for node_id in (worker["node_id"], world.manager_id):
        report(world, node_id, issuer=rotation.ca_cert, trusted=(old.cert_pem,))
    RootRotationKeeper(world.store, world.service.finish_rotation).tick(NOW)
    done = world.cluster().root_ca
    assert done.root_rotation is None
    reply = world.service.renew(
        create_csr(generate_node_key(), worker_keys.public), worker_keys.public
    )
    trust = reply_trust(SimpleNamespace(trusted=(old,)), reply, NOW)  # type: ignore[arg-type]
    assert [root.cert_pem for root in trust] == [done.ca_cert]
    # a root the node never trusted is not vouched for by the old root's cross-signature
    stranger = create_root_ca(NOW, random.Random(11))
    with pytest.raises(RenewalFailed):
        reply_trust(SimpleNamespace(trusted=(stranger,)), reply, NOW)  # type: ignore[arg-type]
