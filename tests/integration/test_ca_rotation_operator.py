"""Root CA rotation while the operator does other things, on real processes (1 manager
with autolock, 2 workers): a worker promoted and demoted again mid-rotation renews under
the new root in each role; the (only) manager restarted mid-rotation comes back locked
and, unlocked, carries the rotation on; the worker down when it started holds it until it
comes back; every node ends on the new root alone. After a completed rotation, a worker
that joined before it is promoted, and a manager joins: each takes its leader's Raft
messages (a leader's entry in the manager lists it hands out held the certificate it
started with, of the retired root)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from actors.ca.certs import issuing_root, read_node_certificate
from actors.ca.node_certs import CERTS_DIR, NODE_CERT_FILE
from api.enums import NodeRole
from tests.integration.test_ca_rotation import certified_by, progress, ready, root_pem
from tests.support.swarm import DEADLINE, ROOT, Swarm, SwarmNode, poll


@pytest.fixture
def swarm(tmp_path: Path) -> Iterator[Swarm]:
    with Swarm(tmp_path) as s:
        yield s


def cert_role(node: SwarmNode) -> NodeRole:
    return read_node_certificate((node.state_dir / CERTS_DIR / NODE_CERT_FILE).read_bytes()).role


def on_root(node: SwarmNode, root_pem_text: str, role: NodeRole) -> bool:
    """The node's certificate is issued by ``root_pem_text`` (it may trust more) in ``role``."""
    wanted = x509.load_pem_x509_certificate(root_pem_text.encode())
    cert = (node.state_dir / CERTS_DIR / NODE_CERT_FILE).read_bytes()
    return issuing_root(cert, [wanted]) is not None and cert_role(node) is role


def unlock(node: SwarmNode, key: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.ctl", "--socket", str(node.socket), "unlock"],
        cwd=ROOT,
        input=key + "\n",
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )


def test_rotation_through_promote_demote_and_a_locked_restart(swarm: Swarm) -> None:
    m1, w1, w2 = swarm.start_cluster(managers=1, workers=2, heartbeat_period="1s")
    on = m1.ctl("cluster", "update", "--autolock=true")
    assert on.returncode == 0, on.stderr
    key = m1.ctl("cluster", "unlock-key", "-q").stdout.strip()
    first_root = root_pem(m1)

    w2.terminate()
    m1.ctl("cluster", "ca", "--rotate", "--detach")
    new_root = m1.ctl_json("cluster", "inspect")["root_ca"]["root_rotation"]["ca_cert"]
    poll(lambda: (progress(m1) or {}).get("waiting") == [w2.node_id], "only w2 waits", 60)

    # promoted mid-rotation: a manager certificate of the new root; demoted: a worker's
    m1.ctl_json("node", "promote", w1.node_id)
    poll(lambda: on_root(w1, new_root, NodeRole.MANAGER), "w1 a manager of the new root", 60)
    m1.ctl_json("node", "demote", w1.node_id)
    poll(lambda: on_root(w1, new_root, NodeRole.WORKER), "w1 a worker of the new root", 60)

    # the only manager restarted mid-rotation: locked, then unlocked, it carries on
    assert m1.terminate() == 0
    m1.start(wait=False)
    poll(lambda: m1.ctl("node", "ls").returncode != 0 and "locked" in m1.ctl("node", "ls").stderr,
         "m1 locked", 60)  # fmt: skip
    unlocked = unlock(m1, key)
    assert unlocked.returncode == 0, unlocked.stderr
    poll(lambda: (progress(m1) or {}).get("waiting") == [w2.node_id], "w2 still waits", 60)
    assert root_pem(m1) == first_root

    w2.start()
    poll(lambda: progress(m1) is None, "the rotation completed", 90)
    assert root_pem(m1) == new_root
    poll(
        lambda: all(certified_by(n, new_root) for n in (m1, w1, w2)),
        "every node on the new root alone",
        60,
    )
    poll(lambda: ready(swarm, w1) and ready(swarm, w2), "the workers ready", 60)


def test_rotation_carried_through_force_new_cluster_and_a_leave(swarm: Swarm) -> None:
    """Quorum lost mid-rotation: the survivor restarted with --force-new-cluster carries
    the rotation on, the worker that held it completes it; the lost manager is demoted
    and removed; a worker then leaves, and one joins with the new token."""
    m1, m2, w1 = swarm.start_cluster(managers=2, workers=1, heartbeat_period="1s")
    w1.terminate()
    rotated = m1.ctl("cluster", "ca", "--rotate", "--detach")
    assert rotated.returncode == 0, rotated.stderr
    new_root = m1.ctl_json("cluster", "inspect")["root_ca"]["root_rotation"]["ca_cert"]
    poll(lambda: (progress(m1) or {}).get("waiting") == [w1.node_id], "only w1 waits", 60)
    m2.kill()
    assert m1.terminate() == 0
    m1.extra = (*m1.extra, "--force-new-cluster")
    m1.start()
    m1.wait_ready(timeout=60)
    poll(lambda: (progress(m1) or {}).get("waiting") == [w1.node_id], "w1 still waits", 60)

    w1.start()
    poll(lambda: progress(m1) is None, "the rotation completed", 60)
    assert root_pem(m1) == new_root
    poll(lambda: all(certified_by(n, new_root) for n in (m1, w1)), "m1, w1 on the new root", 60)
    demoted = m1.ctl("node", "demote", m2.node_id)
    assert demoted.returncode == 0, demoted.stderr
    poll(lambda: m1.ctl("node", "rm", "--force", m2.node_id).returncode == 0, "m2 removed", 60)

    left = w1.ctl("cluster", "leave")
    assert left.returncode == 0, left.stderr
    fresh = swarm.join("w3", m1, m1.join_token("worker"))
    poll(lambda: ready(swarm, fresh), "w3 joined with the new token", 60)
    assert certified_by(fresh, new_root)


def test_a_worker_that_joined_before_a_rotation_is_promoted_after_it(swarm: Swarm) -> None:
    """Found on a live cluster: a worker promoted after a completed rotation became a
    manager that never caught up (``Unreachable``): it trusted only the new root but
    seeded its admission with the managers' certificates it kept from its join, all of the
    old root, so it refused the leader's Raft messages ("raft.messages needs a node
    certificate") and its store, where it would find the leader's new certificate, stayed
    empty."""
    m1, w1 = swarm.start_cluster(managers=1, workers=1, heartbeat_period="1s")
    rotated = m1.ctl("cluster", "ca", "--rotate")
    assert rotated.returncode == 0, rotated.stderr
    new_root = root_pem(m1)
    poll(lambda: all(certified_by(n, new_root) for n in (m1, w1)), "both on the new root", 60)

    m1.ctl_json("node", "promote", w1.node_id)

    def reachable_manager() -> bool:
        row = next((r for r in m1.ctl_json("node", "ls") if r["id"] == w1.node_id), {})
        status = row.get("manager_status") or {}
        return row.get("role") == "manager" and status.get("reachability") == "reachable"

    poll(reachable_manager, "w1 a reachable manager", 90)
    poll(lambda: w1.ctl("service", "ls").returncode == 0, "swarmctl service ls on w1", 60)


def test_a_manager_joins_after_a_rotation(swarm: Swarm) -> None:
    """A manager joining after a completed rotation seeds its admission with the managers
    its join reply names: the leader's entry held the certificate the leader started with
    (of the retired root), which the joiner refused, and with it the leader's Raft
    messages."""
    (m1,) = swarm.start_cluster(managers=1, workers=0, heartbeat_period="1s")
    rotated = m1.ctl("cluster", "ca", "--rotate")
    assert rotated.returncode == 0, rotated.stderr
    m2 = swarm.join("m2", m1, m1.join_token("manager"))
    swarm.wait_cluster(2, 0)
    poll(lambda: m2.ctl("service", "ls").returncode == 0, "swarmctl service ls on m2", 60)
    assert certified_by(m2, root_pem(m1))
