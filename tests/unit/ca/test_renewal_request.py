"""A renewal attempt ends by its caller's deadline however many managers are silent
(actors/ca/renewal_request.py): real CURVE sockets that take every request and never
answer. Before, each manager got its own timeout (and a probe after it): three silent
managers held a refused join's renewal for a minute past the join's deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

from actors.ca.node_certs import NodeCertificates, load_node_certs, write_node_certs
from actors.ca.renewal_reply import RenewalFailed
from actors.ca.renewal_request import request_renewal
from actors.ca.root import CertificateAuthority
from actors.dispatcher import ManagerAddress
from api.enums import NodeRole
from tests.support.waiting import wait_for
from tests.unit.ca.conftest import Issue
from transport.keys import generate_keypair


@pytest.fixture
def silent_managers() -> Iterator[list[ManagerAddress]]:
    """Three CURVE ROUTER sockets (no ZAP: any client key completes the handshake) that
    are never read: each request is taken and never answered."""
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sockets, managers = [], []
    for _ in range(3):
        keys = generate_keypair()
        sock = context.socket(zmq.ROUTER)
        sock.linger = 0
        sock.curve_server = True
        sock.curve_secretkey = keys.secret
        port = sock.bind_to_random_port("tcp://127.0.0.1")
        sockets.append(sock)
        managers.append(ManagerAddress(f"tcp://127.0.0.1:{port}", keys.public))
    try:
        yield managers
    finally:
        for sock in sockets:
            sock.close()
        context.term()


@pytest.fixture
def certs(tmp_path: Path, ca: CertificateAuthority, issue: Issue) -> NodeCertificates:
    now = time.time()
    issued, keys, key = issue(NodeRole.MANAGER, now=now)
    write_node_certs(
        tmp_path,
        node_id=issued.info.node_id,
        ca_cert=ca.cert_pem,
        cert=issued.cert_pem,
        key=key,
        keypair=keys,
    )
    return load_node_certs(tmp_path, now=now)


def test_a_renewal_ends_by_its_callers_deadline_when_every_manager_is_silent(
    tmp_path: Path, certs: NodeCertificates, silent_managers: list[ManagerAddress]
) -> None:
    outcome: list[BaseException] = []

    def attempt() -> None:
        try:
            # each request may wait 10 s, and a probe after it: a minute without the deadline
            request_renewal(
                tmp_path, certs, silent_managers, timeout=10.0, deadline=time.monotonic() + 1.0
            )
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    wait_for(lambda: not thread.is_alive(), "the renewal attempt to end", timeout=20.0)
    [failed] = outcome
    assert isinstance(failed, RenewalFailed)
    assert failed.code == "unreachable"
    assert failed.reason.startswith("no certificate within the caller's deadline (1 s): ")
    first, *others = silent_managers
    assert f"{first.addr}: no answer within" in failed.reason
    assert "not asked: " in failed.reason
    for manager in others:  # each waited for, or named as never asked
        assert manager.addr in failed.reason
