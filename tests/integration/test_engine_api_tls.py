"""``--engine-api tcp://...`` with mutual TLS from the cluster CA (issue 13 item 1): the
certificates come from ``swarmctl cluster engine-cert``, the real docker CLI connects with
``DOCKER_TLS_VERIFY``, a client without a certificate is refused, a non-loopback address
without TLS and a TLS directory of another CA stop the node's start."""

from __future__ import annotations

import datetime
import socket
import ssl
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.engine_cli import DockerCli
from tests.support.foreign_ca import self_signed
from tests.support.swarm import ROOT, Swarm, free_port
from tests.support.waiting import wait_for


def test_a_non_loopback_address_without_tls_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cli.node_main", "--state-dir", str(tmp_path / "s"),
         "--engine-api", "tcp://0.0.0.0:2376"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "needs --engine-api-tls" in result.stderr
    assert not (tmp_path / "s").exists()  # refused before anything was written


def self_signed_ca() -> bytes:
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    return self_signed(
        key, name="another CA", not_before=now, not_after=now + datetime.timedelta(days=1)
    )


def test_mutual_tls_from_the_cluster_ca(tmp_path: Path) -> None:
    with Swarm(tmp_path) as swarm:
        node = swarm.start_node("m1", executor="process")
        node.wait_ready()
        certs = tmp_path / "certs"
        result = node.ctl("cluster", "engine-cert", str(certs), "--host", "127.0.0.1")
        assert result.returncode == 0, result.stderr
        for name in ("ca.pem", "cert.pem", "key.pem"):
            assert stat.S_IMODE((certs / name).stat().st_mode) == 0o600
        again = node.ctl("cluster", "engine-cert", str(certs))
        assert again.returncode != 0 and "already holds" in again.stderr

        # another CA's ca.pem: the node does not start under it
        foreign = tmp_path / "foreign"
        foreign.mkdir()
        for name in ("cert.pem", "key.pem"):
            (foreign / name).write_bytes((certs / name).read_bytes())
        (foreign / "ca.pem").write_bytes(self_signed_ca())
        port = free_port()  # while the node holds its own ports (remote, hello)
        node.terminate()
        node.extra = ("--engine-api", f"tcp://0.0.0.0:{port}", "--engine-api-tls", str(foreign))
        node.start(wait=False)
        assert node.process is not None
        assert node.process.wait(timeout=60) != 0
        assert any("not this cluster's root CA" in str(e.get("error")) for e in node.log_events())

        # the cluster's own: served on a non-loopback (wildcard) address, over TLS only
        node.extra = ("--engine-api", f"tcp://0.0.0.0:{port}", "--engine-api-tls", str(certs))
        node.start()
        node.wait_ready()
        docker = DockerCli(tmp_path / "unused.sock", cwd=tmp_path)
        docker.env.update(
            DOCKER_HOST=f"tcp://127.0.0.1:{port}",
            DOCKER_TLS_VERIFY="1",
            DOCKER_CERT_PATH=str(certs),
        )
        rows = wait_for(
            lambda: (
                docker.run("node", "ls", "-q").returncode == 0
                and docker.ok("node", "ls", "--format", "{{.Hostname}}").split()
            ),
            "docker node ls over TLS",
        )
        assert rows == ["m1"]

        # a client without a certificate of the cluster's CA gets no answer
        bare = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)),
            bare.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
            if not tls.recv(100):
                raise ConnectionResetError("closed without an answer")
        plain = dict(docker.env)
        plain.pop("DOCKER_TLS_VERIFY")
        plain.pop("DOCKER_CERT_PATH")
        refused = subprocess.run(
            [docker.binary, "node", "ls"], env=plain, capture_output=True, text=True, timeout=60
        )
        assert refused.returncode != 0
