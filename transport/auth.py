"""ZAP admission of CURVE clients, with a pluggable policy.

ZeroMQ asks the ZAP handler bound to ``inproc://zeromq.zap.01`` *in the socket's context*
whether to accept each CURVE handshake; so there is one handler per `zmq.Context`, and
every endpoint has its own context. A `ZapHandler` asks an `AdmissionPolicy` about each
client key, passing the endpoint's ZAP domain (its name: "remote", "control", ...) so a
policy can allow different roles on different endpoints; an endpoint's I/O thread answers
its ZAP requests itself (transport/router_loop.py: it also bounds the connections of
strangers), `ZapAuthenticator` runs a handler on a thread of its own for other sockets.
An admitted client's key becomes the connection's User-Id, which the endpoint hands to
handlers as ``Request.peer_key``. Each refusal by the policy is logged as
``transport.zap.refused`` with the key's fingerprint. A policy also says which admitted
keys are members (`AdmissionPolicy.is_member`): the endpoint decodes the frames of the
others with the small limits of strangers (`transport.trust`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Final, Protocol, runtime_checkable

import structlog
import zmq
from zmq.utils import z85

from transport.keys import fingerprint

__all__ = [
    "ZAP_ENDPOINT",
    "ZAP_TEMPORARY",
    "AdmissionPolicy",
    "AdmitAll",
    "AllowList",
    "Gate",
    "ZapAuthenticator",
    "ZapHandler",
]

ZAP_ENDPOINT: Final = "inproc://zeromq.zap.01"
# the status of the gate's refusals, and only theirs: the socket's monitor reports each
# as a handshake failed for "auth" with this value
ZAP_TEMPORARY: Final = 300
_ZAP_VERSION: Final = b"1.0"
_POLL_MS: Final = 100

_log = structlog.get_logger(subsystem="transport")


@runtime_checkable
class AdmissionPolicy(Protocol):
    def admit(self, domain: str, client_public_key_z85: bytes) -> bool:
        """Whether the client with this CURVE public key may talk to endpoint ``domain``."""
        ...

    def is_member(self, client_public_key_z85: bytes) -> bool:
        """Whether this key belongs to a member (its frames get member limits) rather than
        a stranger; asked for every frame, from the endpoint's I/O thread: must be cheap."""
        ...


class AllowList:
    """Admits exactly the listed public keys (Z85), on every domain. Safe to update from
    any thread while the authenticator reads it (copy on write)."""

    def __init__(self, keys: Iterable[bytes] = ()) -> None:
        self._lock = threading.Lock()
        self._keys: frozenset[bytes] = frozenset(keys)

    def admit(self, domain: str, client_public_key_z85: bytes) -> bool:
        return client_public_key_z85 in self._keys

    def is_member(self, client_public_key_z85: bytes) -> bool:
        return client_public_key_z85 in self._keys

    def add(self, key: bytes) -> None:
        with self._lock:
            self._keys = self._keys | {key}

    def remove(self, key: bytes) -> None:
        with self._lock:
            self._keys = self._keys - {key}

    def replace(self, keys: Iterable[bytes]) -> None:
        with self._lock:
            self._keys = frozenset(keys)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)


class AdmitAll:
    """Admits any CURVE client (traffic is still encrypted), each as a stranger. For join
    endpoints and benches."""

    def admit(self, domain: str, client_public_key_z85: bytes) -> bool:
        return True

    def is_member(self, client_public_key_z85: bytes) -> bool:
        return False


# (peer address, key, whether the policy admitted it) -> why an admitted key is refused
Gate = Callable[[str, bytes, bool], str | None]


class ZapHandler:
    """Answers the ZAP requests of one context, one list of frames each: a key the policy
    refuses gets 400; ``gate``, when given, hears of every CURVE handshake and may refuse
    one the policy admitted for now (300; the endpoint's stranger gate,
    transport/connections.py: it gives the reason, or None). No socket here: the caller
    receives and sends."""

    def __init__(self, policy: AdmissionPolicy, gate: Gate | None = None) -> None:
        self._policy = policy
        self._gate = gate

    def answer(self, request: list[bytes]) -> list[bytes]:
        if len(request) < 6 or request[0] != _ZAP_VERSION:
            _log.warning("transport.zap.malformed", frames=len(request))
            rid = request[1] if len(request) > 1 else b""
            return [_ZAP_VERSION, rid, b"500", b"malformed ZAP request", b"", b""]
        _, rid, domain_b, address_b, _identity, mechanism, *credentials = request
        domain = domain_b.decode("utf-8", "replace")
        address = address_b.decode("utf-8", "replace")
        if mechanism != b"CURVE" or len(credentials) != 1 or len(credentials[0]) != 32:
            _log.warning(
                "transport.zap.refused",
                domain=domain,
                peer_address=address,
                reason=f"mechanism {mechanism.decode('ascii', 'replace')} not allowed",
            )
            return [_ZAP_VERSION, rid, b"400", b"CURVE required", b"", b""]
        key = z85.encode(credentials[0])
        try:
            admitted = bool(self._policy.admit(domain, key))
            refusal = self._gate(address, key, admitted) if self._gate is not None else None
        except Exception as exc:
            _log.exception("transport.zap.policy_failed", domain=domain, error=repr(exc))
            admitted, refusal = False, None
        if not admitted:
            _log.warning(
                "transport.zap.refused",
                domain=domain,
                peer_address=address,
                key_fingerprint=fingerprint(key),
                reason="key not admitted",
            )
            return [_ZAP_VERSION, rid, b"400", b"key not admitted", b"", b""]
        if refusal is not None:  # the gate logs its refusals (they come in floods)
            # 300, temporary: ZeroMQ sends the client no ERROR (which would end its
            # reconnecting), the gate hangs up on it, and the client tries again later
            status = str(ZAP_TEMPORARY).encode()
            return [_ZAP_VERSION, rid, status, refusal.encode()[:255], b"", b""]
        _log.debug(
            "transport.zap.admitted",
            domain=domain,
            peer_address=address,
            key_fingerprint=fingerprint(key),
        )
        return [_ZAP_VERSION, rid, b"200", b"OK", key, b""]


class ZapAuthenticator:
    """A `ZapHandler` on its own thread, for a `zmq.Context` whose CURVE sockets are not an
    endpoint's (an endpoint answers its ZAP requests on its I/O thread, router_loop.py);
    `start` before any CURVE server socket binds."""

    def __init__(self, context: zmq.Context[zmq.Socket[bytes]], policy: AdmissionPolicy) -> None:
        self._context = context
        self._handler = ZapHandler(policy)
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="zap", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        try:
            sock = self._context.socket(zmq.REP)
            sock.linger = 0
            sock.bind(ZAP_ENDPOINT)
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while not self._stopping.is_set():
                if sock.poll(_POLL_MS, zmq.POLLIN):
                    request = sock.recv_multipart()
                    sock.send_multipart(self._handler.answer(request))
        finally:
            sock.close(linger=0)
