"""``docker swarm ca --rotate`` (the real docker CLI) against a real ``swarm-node
--engine-api``: a rotation to a root the CA makes (ForceRotate), waited for through
Docker's own progress (the swarm's and the nodes' TLSInfo); a rotation to the operator's
root (``--ca-cert``/``--ca-key``); what is refused, naming the flag."""

from __future__ import annotations

import datetime
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from actors.ca.root import create_root_ca
from tests.support.engine_cli import DockerCli, engine_flags
from tests.support.foreign_ca import pem_private_key, self_signed
from tests.support.swarm import Swarm, SwarmNode, poll
from tests.support.waiting import wait_for

pytestmark = pytest.mark.docker


class Cluster:
    def __init__(self, swarm: Swarm, m1: SwarmNode, w1: SwarmNode, docker: DockerCli) -> None:
        self.swarm, self.m1, self.w1, self.docker = swarm, m1, w1, docker


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    sock = tmp_path / "engine.sock"
    with Swarm(tmp_path) as swarm:
        m1 = swarm.start_node("m1", extra=engine_flags(sock))
        m1.wait_ready()
        m1.ctl_json("cluster", "update", "--heartbeat-period", "1s")
        wait_for(sock.exists, "the Engine API socket")
        w1 = swarm.join("w1", m1, m1.join_token("worker"))
        swarm.wait_cluster(1, 1)
        yield Cluster(swarm, m1, w1, DockerCli(sock, cwd=tmp_path))


def root(node: SwarmNode) -> str:
    return str(node.ctl_json("cluster", "ca")["ca_cert"]).strip()


def tls_ready(docker: DockerCli) -> bool:
    return all(row["TLSStatus"] == "Ready" for row in docker.json_lines("node", "ls"))


def test_docker_swarm_ca_rotate(cluster: Cluster, tmp_path: Path) -> None:
    docker, m1 = cluster.docker, cluster.m1
    first = root(m1)
    assert docker.ok("swarm", "ca").strip() == first

    # ForceRotate: a root the CA makes; docker waits through its own progress display
    out = docker.ok("swarm", "ca", "--rotate", timeout=180)
    second = root(m1)
    assert second != first
    assert out.strip().endswith(second)
    assert "rotation" not in m1.ctl_json("cluster", "ca")
    info = docker.inspect("info", "--format", "{{json .Swarm.Cluster}}")
    assert info["RootRotationInProgress"] is False
    assert info["TLSInfo"]["TrustRoot"].strip() == second
    assert tls_ready(docker)  # every node's certificate issued by the new root

    # the operator's root (ECDSA P-256), detached: the rotation completes on its own
    mine = create_root_ca(0.0, random.Random(3), validity=10 * 365 * 24 * 3600.0 * 10)
    cert, key = tmp_path / "root.crt", tmp_path / "root.key"
    cert.write_bytes(mine.cert_pem)
    key.write_bytes(mine.key_pem())
    docker.ok("swarm", "ca", "--rotate", "--detach", "--ca-cert", str(cert), "--ca-key", str(key))
    poll(lambda: root(m1) == mine.cert_pem.decode().strip(), "rotated to the operator's root", 90)
    poll(lambda: tls_ready(docker), "every node on the operator's root", 60)
    # the new worker token names that root; a worker restarted afterwards rejoins
    assert mine.digest in m1.join_token("worker")
    cluster.w1.terminate()
    cluster.w1.start()
    cluster.swarm.wait_cluster(1, 1)


def _rsa_root() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.UTC)
    cert = self_signed(
        key,
        name="rsa-root",
        not_before=now - datetime.timedelta(hours=1),
        not_after=now + datetime.timedelta(days=365),
    )
    return cert, pem_private_key(key)


def test_what_docker_swarm_ca_rotate_refuses(cluster: Cluster, tmp_path: Path) -> None:
    docker, m1 = cluster.docker, cluster.m1
    first = root(m1)
    cert, key = tmp_path / "rsa.crt", tmp_path / "rsa.key"
    pem_cert, pem_key = _rsa_root()
    cert.write_bytes(pem_cert)
    key.write_bytes(pem_key)
    refused = docker.fails("swarm", "ca", "--rotate", "--ca-cert", str(cert), "--ca-key", str(key))
    assert "ECDSA P-256" in refused
    external = docker.fails(
        "swarm",
        "ca",
        "--rotate",
        "--ca-cert",
        str(cert),
        "--external-ca",
        "protocol=cfssl,url=https://ca.example:8888",
    )
    assert "--external-ca" in external and "not supported" in external
    assert root(m1) == first
    assert "rotation" not in m1.ctl_json("cluster", "ca")  # nothing was started
