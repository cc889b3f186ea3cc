"""A root CA rotation completes by what the nodes report, never by what the CA wrote in
the store (real processes, real CURVE, a real full disk: tests/support/small_disk.py).

A worker whose state dir is on a full disk renews under the new root: the CA issues,
writes the new certificate to the store and replies, and the worker fails to install it
(ENOSPC) and keeps its old one, retrying. The store says "new root", the worker still
reports the old one: the rotation must wait (before, it completed, and the old root left
the trust set while that worker still held its certificate). Once the disk has room, the
worker installs a certificate, reports it at its next heartbeat, and the rotation
completes.

An operator's root whose subject is long (twenty organizational units: 1.5 KB of DER),
which the CA takes: every node reports it as its certificate's issuer, and the rotation
completes with every node in session (before, the managers refused each report over a
1 KiB bound, so every node lost its session and went down, the leader's own too, and the
rotation waited forever)."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from actors.ca.certs import issuing_root
from actors.ca.rotation import MAX_ROOT_PEM
from tests.integration.test_ca_rotation import certified_by, progress, root_pem
from tests.support.foreign_ca import pem_private_key, self_signed
from tests.support.small_disk import SmallDisk
from tests.support.swarm import Swarm, SwarmNode, poll

RENEWAL_FAILED = "ca.renewal.failed"


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    # the worker's state dir itself (Swarm names it tmp_path / NAME)
    with SmallDisk.mount(tmp_path / "w1", mib=4) as small:
        yield small


def node_document(manager: SwarmNode, node: SwarmNode) -> dict[str, Any]:
    [doc] = manager.ctl_json("node", "inspect", node.node_id)
    return dict(doc)


def reported_issuer_key(manager: SwarmNode, node: SwarmNode) -> str | None:
    """The issuer public key (base64) the node reported, as ``node inspect`` shows it."""
    tls = (node_document(manager, node).get("description") or {}).get("tls_info")
    return str(tls["cert_issuer_public_key"]) if tls else None


def renewal_failures(node: SwarmNode) -> int:
    return sum(1 for e in node.log_events() if e.get("event") == RENEWAL_FAILED)


def test_a_rotation_waits_for_a_node_that_could_not_install_its_certificate(
    tmp_path: Path, disk: SmallDisk
) -> None:
    with Swarm(tmp_path) as swarm:
        m1 = swarm.start_node("m1")
        m1.wait_ready()
        m1.ctl_json("cluster", "update", "--heartbeat-period", "1s")
        w1 = swarm.join("w1", m1, m1.join_token("worker"))
        swarm.wait_cluster(1, 1)
        assert w1.state_dir == disk.path
        first_root = root_pem(m1)
        poll(lambda: reported_issuer_key(m1, w1), "w1 reported its certificate", 60)
        old_key = reported_issuer_key(m1, w1)

        disk.fill()
        assert m1.ctl("cluster", "ca", "--rotate", "--detach").returncode == 0
        rotation = m1.ctl_json("cluster", "inspect")["root_ca"]["root_rotation"]
        new_root = x509.load_pem_x509_certificate(rotation["ca_cert"].encode())

        def stored_new() -> bool:
            pem = node_document(m1, w1)["certificate"].encode()
            return issuing_root(pem, [new_root]) is not None

        # the hole: the store holds a certificate of the new root for w1, m1 reports the
        # new root, and w1 failed to install its certificate
        poll(stored_new, "the CA stored a certificate of the new root for w1", 60)
        poll(lambda: renewal_failures(w1) >= 1, "w1 failed to install it", 60)
        poll(
            lambda: (progress(m1) or {}).get("waiting") == [w1.node_id],
            "m1 reported the new root, w1 waits",
            60,
        )
        # w1 tries again twice, the CA stores a new certificate each time, and the keeper
        # looks each second meanwhile: the rotation still waits for w1's own report
        failed = renewal_failures(w1)
        poll(lambda: renewal_failures(w1) >= failed + 2, "two more failed installs", 60)
        assert stored_new()
        shown = progress(m1)
        assert shown is not None and shown["waiting"] == [w1.node_id], shown
        assert shown["converged"] == 1 and shown["total"] == 2
        assert root_pem(m1) == first_root  # the old root is still the cluster's
        assert not any(e.get("event") == "ca.root.rotation_complete" for e in m1.log_events())
        assert certified_by(w1, first_root)  # w1 holds and trusts the old root alone
        assert reported_issuer_key(m1, w1) == old_key
        tls = m1.ctl_json("cluster", "ca")["tls"]
        assert (tls["certificates"], tls["total"]) == (1, 2)

        # room again: w1 installs a certificate at its next attempt and reports it
        disk.free()
        poll(lambda: progress(m1) is None, "the rotation completed", 120)
        final_root = root_pem(m1)
        assert final_root == rotation["ca_cert"] != first_root
        assert reported_issuer_key(m1, w1) != old_key
        poll(lambda: certified_by(w1, final_root), "w1 on the new root alone", 60)
        done = poll(
            lambda: (t := m1.ctl_json("cluster", "ca")["tls"])["roots"] == 2 and t,
            "both nodes report trusting the new root alone",
            60,
        )
        assert done["certificates"] == 2


def long_subject_root(tmp_path: Path) -> tuple[Path, Path, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    pem = self_signed(
        key,
        name="operator-root",
        not_before=now - datetime.timedelta(hours=1),
        not_after=now + datetime.timedelta(days=365),
        units=[f"unit-{i:02d}-" + "u" * 55 for i in range(20)],
    )
    assert len(pem) <= MAX_ROOT_PEM  # the CA takes it
    cert, key_file = tmp_path / "root.crt", tmp_path / "root.key"
    cert.write_bytes(pem)
    key_file.write_bytes(pem_private_key(key))
    return cert, key_file, pem


def test_a_rotation_to_a_root_with_a_long_subject_completes_with_every_node_in_session(
    tmp_path: Path,
) -> None:
    cert, key, pem = long_subject_root(tmp_path)
    subject = x509.load_pem_x509_certificate(pem).subject.public_bytes()
    assert len(subject) > 1024  # over the bound the managers had
    with Swarm(tmp_path) as swarm:
        m1, w1 = swarm.start_cluster(managers=1, workers=1, heartbeat_period="1s")
        given = ("--ca-cert", str(cert), "--ca-key", str(key))
        rotated = m1.ctl("cluster", "ca", "--rotate", "-d", *given)
        assert rotated.returncode == 0, rotated.stderr
        poll(lambda: progress(m1) is None, "the rotation completed", 120)
        assert root_pem(m1).strip() == pem.decode().strip()
        poll(lambda: certified_by(w1, pem.decode()), "w1 on the operator's root alone", 60)
        done = poll(
            lambda: (t := m1.ctl_json("cluster", "ca")["tls"])["roots"] == 2 and t,
            "both nodes report trusting the operator's root alone",
            60,
        )
        assert done["certificates"] == 2
        assert {r["status"] for r in swarm.node_rows()} == {"ready"}
        refused = [e for e in w1.log_events() if "tls.cert_issuer_subject" in str(e)]
        assert not refused, refused[-1]
