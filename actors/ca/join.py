"""The joining node's side of the join protocol, and the hello endpoint's key.

The problem: every TCP socket uses CURVE (DESIGN.md §6), and a CURVE client must know the
server's public key *before* it connects, but a joining node only has an address and a
token (``SWMTKN-1-<CA digest>-<secret>``, whose format we keep), and the token pins the CA,
not any manager's key.

The design: a manager runs, next to its remote endpoint, a small **join-hello endpoint**
that serves only ``ca.hello`` (public material: the root CA certificate and the manager's
own certificate). Its CURVE server key pair is a fixed, published one (`hello_keypair`,
derived from a constant): CURVE there only satisfies the transport's rule, it gives the
hello channel neither secrecy nor authenticity, and the channel never carries a secret.
(A key derived from the token's CA digest was considered: it hides nothing worth hiding
and turns a token of another cluster into a silent handshake failure instead of a clear
``wrong_cluster``.) The joiner then:

1. asks ``ca.hello`` with a throwaway CURVE key;
2. checks the CA certificate against the digest in the token (else ``wrong_cluster``: a
   man in the middle or another cluster) and that the manager certificate is a *manager*
   certificate of that CA, valid now; the CURVE server key it binds is the key to use;
3. generates its own ECDSA key and CURVE key pair and connects to the remote endpoint
   with CURVE, pinned to that certified server key: the handshake succeeds only against
   the holder of the certified secret, so an impostor learns nothing and never sees the
   token;
4. asks ``ca.root`` (checked against the pin again), then sends ``ca.join`` with the token
   and a CSR binding its CURVE key; the manager checks the request comes from that key;
5. checks the returned certificate chains to the pinned CA (during a root CA rotation, or to
   the new root the pinned CA cross-signed: hello and join replies carry it, and the node
   then trusts both, actors/ca/rotation.py), is for the cluster of the
   manager certificate, names the role and id the reply claims, binds its CURVE key and
   matches its ECDSA key; writes the files (`actors.ca.node_certs`, mode 0600).

Where the hello endpoint listens: ``--join-addr HOST:PORT`` names the manager's remote
endpoint; its hello endpoint is at ``HOST:PORT+1`` (`hello_address`) unless told otherwise.
Any failure raises `JoinError` with a ``code`` (``invalid_token``, ``wrong_cluster``,
``untrusted_manager``, ``unreachable``, or a code the manager sent) and a message fit to
print before exiting non-zero.

The node's stop (``stop``: a signal while it starts) ends the hello and ``ca.root``
waits and a pause before asking a busy (or leaderless) manager again (`StopRequested`,
actors/stoppable.py): nothing is written yet. ``ca.join`` itself is waited for: the
manager may have issued the certificate, and a node that left without keeping it would
leave a Node that never registers.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import zmq
from zmq.utils import z85

from actors.backoff import Backoff
from actors.ca.certs import (
    CertificateError,
    NodeCertInfo,
    certificate_matches_key,
    create_csr,
    generate_node_key,
    verify_node_certificate,
)
from actors.ca.node_certs import write_node_certs
from actors.ca.root import CAError, CertificateAuthority, load_root_ca
from actors.ca.rotation import vouched_root
from actors.ca.tokens import JoinToken, JoinTokenError, WrongClusterToken, check_token_ca
from actors.ca.tokens import parse_join_token as _parse_token
from actors.log import get_logger
from actors.stoppable import StopRequested, request_unless_stopped
from api.enums import NodeRole
from api.errors import ClientClosed, ErrorCode, RemoteError, RequestTimeout
from transport.auth import AdmitAll
from transport.client import Client
from transport.endpoint import Endpoint, Handler
from transport.keys import KeyPair, generate_keypair

__all__ = [
    "HELLO_MAX_MESSAGE_SIZE",
    "HELLO_PORT_OFFSET",
    "JoinError",
    "JoinResult",
    "hello_address",
    "hello_endpoint",
    "hello_keypair",
    "join_cluster",
]

HELLO_PORT_OFFSET: Final = 1
# the hello endpoint serves only ca.hello, whose body is empty: ZeroMQ drops a peer that
# sends a bigger frame before anything is decrypted or decoded (well within a stranger's
# 64 KiB)
HELLO_MAX_MESSAGE_SIZE: Final = 4 * 1024
# refusals of a request the manager did not carry out, asked again after a pause: busy
# (its queue for strangers was full), not_leader (ca.join's write was not appended: no
# leader was known, an election); 6 pauses of up to 2 s outlast an election (1-2 s)
_ASKED_AGAIN: Final = frozenset({ErrorCode.BUSY, "not_leader"})
_RETRIES: Final = 6
_BACKOFF: Final = Backoff(initial=0.2, maximum=2.0, jitter=0.5)
_JITTER = random.Random()  # joiners turned away together do not come back together
_HELLO_LABEL: Final = b"swarmnode join-hello v1\x00"

_log = get_logger("ca")


class JoinError(Exception):
    """Joining failed; ``code`` says how, the message says what to do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"cannot join the cluster: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class JoinResult:
    node_id: str
    role: NodeRole
    cluster_id: str
    managers: tuple[Mapping[str, str], ...]
    manager_server_key: bytes  # the CURVE key of the manager that admitted us
    keypair: KeyPair
    info: NodeCertInfo


def hello_keypair() -> KeyPair:
    """The join-hello endpoint's CURVE key pair: the same, published, for every manager
    (see the module docstring: the hello carries public material only)."""
    secret = z85.encode(hashlib.sha256(_HELLO_LABEL).digest())
    return KeyPair(zmq.curve_public(secret), secret)


def hello_endpoint(bind: str, handlers: Mapping[str, Handler]) -> Endpoint:
    """A manager's join-hello endpoint (not started): ``handlers`` from
    `CAService.hello_handlers`, CURVE with the published hello key, any client admitted."""
    return Endpoint(
        bind,
        handlers,
        keypair=hello_keypair(),
        admission=AdmitAll(),
        max_message_size=HELLO_MAX_MESSAGE_SIZE,
        name="hello",
    )


def hello_address(remote: str) -> str:
    """``tcp://HOST:PORT`` (or ``HOST:PORT``) of a remote endpoint → its hello endpoint."""
    address = remote if "://" in remote else f"tcp://{remote}"
    head, _, port = address.rpartition(":")
    if not port.isdigit():
        raise JoinError("invalid_argument", f"join address {remote!r} has no port")
    return f"{head}:{int(port) + HELLO_PORT_OFFSET}"


def _tcp(address: str) -> str:
    return address if "://" in address else f"tcp://{address}"


def _ask(
    client: Client,
    message_type: str,
    body: Mapping[str, Any] | None,
    what: str,
    stop: threading.Event | None = None,
) -> Any:
    """The reply; ``stop`` (set: `StopRequested`) ends the wait and the pauses. Without
    one, a private event that is never set: waited for until the client's timeout."""
    stop = stop if stop is not None else threading.Event()
    attempt = 0
    while True:
        try:
            return request_unless_stopped(client, message_type, body, stop)
        except RemoteError as exc:
            # a manager busy with other strangers, or without a leader, did not carry the
            # request out: ask again
            attempt += 1
            if exc.code in _ASKED_AGAIN and attempt <= _RETRIES:
                if stop.wait(_BACKOFF.delay(attempt, _JITTER)):
                    raise StopRequested(f"the reply to {message_type!r}") from None
                continue
            raise JoinError(exc.code, f"the manager refused: {exc.message}") from None
        except (RequestTimeout, ClientClosed):
            raise JoinError(
                "unreachable",
                f"no answer from {what} at {client.address} within {client.timeout:g} s "
                "(wrong address, manager down, our key refused, or the manager turning away "
                "too many joins at once, from this address or from all: try again)",
            ) from None


def _pinned_ca(token: JoinToken, ca_cert: bytes, now: float) -> CertificateAuthority:
    try:
        check_token_ca(token, ca_cert)
        return load_root_ca(ca_cert, now=now)
    except WrongClusterToken as exc:
        raise JoinError(
            "wrong_cluster",
            f"{exc} (a token made before the cluster's root CA was rotated is no longer "
            "valid: get the current one with 'swarmctl cluster join-token')",
        ) from None
    except (CAError, ValueError) as exc:
        message = f"the manager sent an unusable CA certificate: {exc}"
        raise JoinError("wrong_cluster", message) from None


def _trusted(
    ca: CertificateAuthority, reply: Mapping[str, Any], now: float
) -> tuple[CertificateAuthority, ...]:
    """The pinned root, and during a root rotation the new root it cross-signed."""
    rotation = reply.get("rotation")
    if not rotation:
        return (ca,)
    try:
        return (ca, vouched_root([ca], rotation["ca_cert"], rotation["cross_signed"], now=now))
    except CAError as exc:
        raise JoinError("untrusted_manager", f"the manager's rotation root: {exc}") from None


def _manager_key(
    ca: tuple[CertificateAuthority, ...], manager_cert: bytes, now: float
) -> NodeCertInfo:
    try:
        return verify_node_certificate(manager_cert, ca, now=now, allowed_roles=(NodeRole.MANAGER,))
    except CertificateError as exc:
        raise JoinError("untrusted_manager", f"the manager's certificate: {exc}") from None


def join_cluster(
    addr: str,
    token: str,
    *,
    state_dir: Path,
    hostname: str,
    hello_addr: str | None = None,
    node_id: str = "",
    advertise_addr: str = "",
    timeout: float = 10.0,
    clock: Callable[[], float] = time.time,
    source: str | None = None,
    stop: threading.Event | None = None,
) -> JoinResult:
    """Join the cluster of the manager at ``addr`` with ``token``; on success the node's
    certificate, keys and id are in ``state_dir``. Raises `JoinError`, or
    `StopRequested` once ``stop`` is set before ``ca.join`` (the module's rules)."""
    try:
        parsed = _parse_token(token)
    except JoinTokenError as exc:
        raise JoinError("invalid_token", str(exc)) from None
    remote = _tcp(addr)
    hello = _tcp(hello_addr) if hello_addr else hello_address(remote)
    _log.info("ca.join.started", addr=remote, hello_addr=hello)

    # 1-2: the hello, then the pins: the CA by the token's digest, the server key by the CA
    with Client(hello, server_key=hello_keypair().public, timeout=timeout, source=source) as c:
        greeting = _ask(c, "ca.hello", None, "the join-hello endpoint", stop)
    pinned = _pinned_ca(parsed, greeting["ca_cert"], clock())
    ca = _trusted(pinned, greeting, clock())
    manager = _manager_key(ca, greeting["manager_cert"], clock())

    # 3-4: our keys, then the join over CURVE pinned to the certified server key
    key = generate_node_key()
    keypair = generate_keypair()
    body: dict[str, Any] = {
        "token": str(parsed),
        "csr": create_csr(key, keypair.public),
        "hostname": hostname,
    }
    if node_id:
        body["node_id"] = node_id
    if advertise_addr:
        body["addr"] = advertise_addr
    with Client(
        remote,
        server_key=manager.curve_public_key,
        keypair=keypair,
        timeout=timeout,
        source=source,
    ) as client:
        root = _ask(client, "ca.root", None, "the manager", stop)
        if root["ca_cert"] != greeting["ca_cert"]:
            _pinned_ca(parsed, root["ca_cert"], clock())  # raises unless the same CA
        reply = _ask(client, "ca.join", body, "the manager")

    # 5: check what we got before we keep it (a rotation may have started meanwhile)
    if reply["ca_cert"] != greeting["ca_cert"]:
        _pinned_ca(parsed, reply["ca_cert"], clock())  # raises unless the same CA
    ca = _trusted(pinned, reply, clock())
    cert: bytes = reply["certificate"]
    try:
        info = verify_node_certificate(cert, ca, now=clock(), cluster_id=manager.cluster_id)
    except CertificateError as exc:
        raise JoinError("untrusted_manager", f"the issued certificate: {exc}") from None
    if (
        info.curve_public_key != keypair.public
        or not certificate_matches_key(cert, key)
        or info.node_id != reply["node_id"]
        or info.role.value != reply["role"]
    ):
        raise JoinError("untrusted_manager", "the issued certificate does not match our request")
    write_node_certs(
        Path(state_dir),
        node_id=info.node_id,
        ca_cert=b"".join(root.cert_pem for root in ca),
        cert=cert,
        key=key,
        keypair=keypair,
    )
    _log.info("ca.join.complete", node=info.node_id, role=info.role.value)
    return JoinResult(
        node_id=info.node_id,
        role=info.role,
        cluster_id=info.cluster_id,
        managers=tuple(dict(m) for m in reply["managers"]),
        manager_server_key=manager.curve_public_key,
        keypair=keypair,
        info=info,
    )
