"""Root CA rotation on real processes (2 managers, 1 worker, real CURVE): a service keeps
running; a node down when the rotation starts holds it, and restarted mid-rotation (still
on the old root) renews and lets it complete; a waiting ``cluster ca --rotate`` shows its
progress and prints the new root; every node ends with a certificate of the new root and
trusts it alone; a node restarted afterwards (with its old --join-token) rejoins; the old
worker token is refused, the new one joins; a ``--rotate`` during a rotation keeps the
nodes the replaced one certified, and ``node rm`` of a down straggler completes it."""

from __future__ import annotations

import base64
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from actors.ca.certs import issuing_root
from actors.ca.node_certs import CA_CERT_FILE, CERTS_DIR, NODE_CERT_FILE
from actors.ca.root import create_root_ca
from tests.support.swarm import Swarm, SwarmNode, poll


@pytest.fixture
def swarm(tmp_path: Path) -> Iterator[Swarm]:
    with Swarm(tmp_path) as s:
        yield s


def root_pem(node: SwarmNode) -> str:
    return str(node.ctl_json("cluster", "ca")["ca_cert"])


def progress(node: SwarmNode) -> dict[str, Any] | None:
    rotation = node.ctl_json("cluster", "ca").get("rotation")
    return dict(rotation) if rotation else None


def certified_by(node: SwarmNode, root: str) -> bool:
    """The node's certificate is issued by ``root`` and it trusts ``root`` alone."""
    certs = node.state_dir / CERTS_DIR
    trusted = x509.load_pem_x509_certificates((certs / CA_CERT_FILE).read_bytes())
    wanted = x509.load_pem_x509_certificate(root.encode())
    issuer = issuing_root((certs / NODE_CERT_FILE).read_bytes(), [wanted])
    return issuer is not None and trusted == [wanted]


def ready(swarm: Swarm, node: SwarmNode) -> bool:
    return any(r["id"] == node.node_id and r["status"] == "ready" for r in swarm.node_rows())


def test_root_rotation_on_a_live_cluster(swarm: Swarm) -> None:
    m1, m2, w1 = swarm.start_cluster(managers=2, workers=1, heartbeat_period="1s")
    old_worker_token = m1.join_token("worker")
    first_root = root_pem(m1)
    m1.ctl_json(
        "service",
        "create",
        "--name",
        "web",
        "--replicas",
        "3",
        "--detach",
        "busybox",
        "sleep",
        "600",
    )
    poll(lambda: len(m1.running("web")) == 3, "3 tasks running", 60)

    # w1 is down when the rotation starts: it holds the rotation (as in SwarmKit)
    w1.terminate()
    assert m1.ctl("cluster", "ca", "--rotate", "--detach").stdout == ""

    def only_w1_waits() -> bool:
        shown = progress(m1)
        return shown is not None and shown["waiting"] == [w1.node_id] and shown["total"] == 3

    poll(only_w1_waits, "the managers renewed under the new root, w1 waits", 60)
    assert root_pem(m1) == first_root  # not complete: the current root is still the old one
    assert "Root rotation in progress: yes" in m1.ctl("cluster", "inspect").stdout

    # restarted mid-rotation, on its old certificate and root: it renews, and completes it
    w1.start()
    poll(lambda: progress(m1) is None, "the rotation completed", 60)
    second_root = root_pem(m1)
    assert second_root != first_root
    poll(lambda: ready(swarm, w1), "w1 ready again", 60)

    # a second rotation, waited for: progress, then the new root
    before = {t["id"] for t in m1.running("web")}
    rotated = m1.ctl("cluster", "ca", "--rotate")
    assert rotated.returncode == 0, rotated.stderr
    assert "rotated TLS certificates:" in rotated.stdout
    assert "rotated CA certificates: 3/3 nodes" in rotated.stdout
    final_root = root_pem(m1)
    assert final_root not in (first_root, second_root)
    assert rotated.stdout.strip().endswith(final_root.strip())
    poll(
        lambda: all(certified_by(n, final_root) for n in (m1, m2, w1)),
        "every node on the new root",
        60,
    )
    assert {t["id"] for t in m1.running("web")} == before  # nothing restarted meanwhile
    assert len(before) == 3

    # a node restarted afterwards, with its old --join-token, resumes and rejoins
    w1.terminate()
    w1.start()
    poll(lambda: ready(swarm, w1), "w1 ready after its restart", 60)
    assert certified_by(w1, final_root)

    # the old worker token is refused (it names a root the cluster no longer has)
    stale = swarm.join("w2", m1, old_worker_token, wait=False)
    assert stale.process is not None
    assert stale.process.wait(timeout=60) != 0
    log = stale.log_path.read_text()
    assert "wrong_cluster" in log and "root CA was rotated" in log
    fresh = swarm.join("w3", m1, m1.join_token("worker"))
    poll(lambda: ready(swarm, fresh), "w3 joined with the new token", 60)
    assert certified_by(fresh, final_root)
    assert "rotation" not in m1.ctl_json("cluster", "ca")
    assert "Root rotation in progress: no" in m1.ctl("cluster", "inspect").stdout


def test_rotation_to_the_operators_root(swarm: Swarm, tmp_path: Path) -> None:
    """``--ca-cert``/``--ca-key``: the cluster moves to the root the operator gave; the
    flags are refused without --rotate, or one without the other, or for a root the
    cluster already has."""
    m1 = swarm.start_node("m1")
    m1.wait_ready()
    mine = create_root_ca(time.time(), random.Random(8))
    cert, key = tmp_path / "root.crt", tmp_path / "root.key"
    cert.write_bytes(mine.cert_pem)
    key.write_bytes(mine.key_pem())
    for args, words in (
        (("--ca-cert", str(cert), "--ca-key", str(key)), "--ca-cert applies only with --rotate"),
        (("--rotate", "--ca-cert", str(cert)), "--ca-cert and --ca-key go together"),
    ):
        refused = m1.ctl("cluster", "ca", *args)
        assert refused.returncode != 0 and words in refused.stderr
    quiet = m1.ctl("cluster", "ca", "--rotate", "-q", "--ca-cert", str(cert), "--ca-key", str(key))
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout == ""
    assert root_pem(m1).strip() == mine.cert_pem.decode().strip()
    poll(lambda: certified_by(m1, root_pem(m1)), "m1 on the operator's root alone", 60)
    again = m1.ctl("cluster", "ca", "--rotate", "--ca-cert", str(cert), "--ca-key", str(key))
    assert again.returncode != 0 and "already the cluster's" in again.stderr

    # the key is nowhere but the operator's file and the encrypted Raft log: no state dir
    # (a joined worker's either), log file or inspect answer holds it in any form
    w1 = swarm.join("w1", m1, m1.join_token("worker"))
    poll(lambda: ready(swarm, w1), "w1 joined under the operator's root", 60)
    assert mine.key is not None
    der = mine.key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    scalar = mine.key.private_numbers().private_value.to_bytes(32, "big")
    body = "".join(mine.key_pem().decode().splitlines()[1:-1])  # 64-character lines
    forms = [der, scalar, body[64:128].encode(), base64.b64encode(scalar)]
    shown = [m1.ctl("cluster", "inspect", "--format", "json").stdout.encode()]
    shown.append(m1.ctl("cluster", "ca", "--format", "json").stdout.encode())
    assert body[64:128].encode() in key.read_bytes()  # the search finds what is there
    files = [f for f in tmp_path.rglob("*") if f.is_file() and f != key and not f.is_socket()]
    assert {m1.state_dir, w1.state_dir} <= {p for f in files for p in f.parents}
    for blob in shown + [f.read_bytes() for f in files]:
        assert not any(form in blob for form in forms)


def test_a_rotation_replaced_mid_way_and_a_removed_straggler(swarm: Swarm) -> None:
    """``--rotate`` again while a rotation waits for a down node: the nodes the first new
    root already certified stay in (renew under the second), and ``node rm`` of the
    straggler lets the rotation complete."""
    m1, w1, w2 = swarm.start_cluster(managers=1, workers=2, heartbeat_period="1s")
    first_root = root_pem(m1)
    w2.terminate()
    m1.ctl("cluster", "ca", "--rotate", "--detach")
    poll(lambda: (progress(m1) or {}).get("waiting") == [w2.node_id], "only w2 waits", 60)
    between = m1.ctl_json("cluster", "inspect")["root_ca"]["root_rotation"]["ca_cert"]

    m1.ctl("cluster", "ca", "--rotate", "--detach")
    second = m1.ctl_json("cluster", "inspect")["root_ca"]["root_rotation"]
    assert second["ca_cert"] != between and second["superseded_ca_certs"] == [between]
    assert "ca_key" not in second
    poll(lambda: (progress(m1) or {}).get("waiting") == [w2.node_id], "w2 alone waits", 60)
    poll(lambda: ready(swarm, w1), "w1 still in the cluster", 60)

    def w2_down() -> bool:
        return any(r["id"] == w2.node_id and r["status"] == "down" for r in swarm.node_rows())

    poll(w2_down, "w2 seen down", 60)
    removed = m1.ctl("node", "rm", w2.node_id)
    assert removed.returncode == 0, removed.stderr
    poll(lambda: progress(m1) is None, "the rotation completed", 60)
    final_root = root_pem(m1)
    assert final_root == second["ca_cert"] != first_root
    poll(
        lambda: all(certified_by(n, final_root) for n in (m1, w1)),
        "m1 and w1 on the new root alone",
        60,
    )
    assert ready(swarm, w1)
