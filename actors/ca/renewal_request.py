"""One certificate renewal attempt, over the network (the renewer, actors/ca/renewer.py,
runs it in a short-lived thread).

- A new ECDSA key and a CSR binding the node's *unchanged* CURVE key go as ``ca.renew``
  to each manager the node knows in turn, over a CURVE `transport.Client` with the node's
  key pair, pinned to the manager's server key. ``not_leader`` / ``unavailable`` or
  silence moves on to the next manager; another error code ends the attempt.
- A caller with a deadline of its own (a refused Raft join renews within the join's:
  actors/node/tree/manager_membership.py) passes it on: each request and probe gets at
  most the time left, and once none is left the attempt ends (``unreachable``), its
  reason naming the managers it waited for and those it never asked. Without one, the
  attempt takes at most two ``timeout`` per manager.
- A manager whose ZAP refuses the node's key stays silent; a probe with a throwaway key
  (``ca.root``, open to anyone) then tells "refused this node's key" (a removed node, code
  ``unauthorized``) from "no answer".
- The reply is checked (actors/ca/renewal_reply.py); the trusted roots are written first
  when they changed (so the old certificate stays trusted), then the certificate
  atomically (`replace_node_certificate`, 0600), and the state dir is loaded and checked
  again (`load_node_certs`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric import ec

from actors.ca.certs import create_csr, generate_node_key
from actors.ca.node_certs import (
    NodeCertificates,
    NodeCertsError,
    load_node_certs,
    replace_node_certificate,
    replace_trusted_roots,
)
from actors.ca.renewal_reply import RenewalFailed, check_renewed
from actors.dispatcher import ManagerAddress
from api.errors import RemoteError, TransportError
from transport.client import Client
from transport.keys import KeyPair, generate_keypair

__all__ = ["RENEW", "REQUEST_TIMEOUT", "request_renewal"]

RENEW: Final = "ca.renew"
REQUEST_TIMEOUT: Final = 10.0
_NEXT_MANAGER: Final = frozenset({"not_leader", "unavailable"})


def _ask(
    manager: ManagerAddress,
    keypair: KeyPair,
    body: dict[str, Any],
    timeout: float,
    source: str | None = None,
) -> Any:
    with Client(
        manager.addr,
        server_key=manager.server_key,
        keypair=keypair,
        timeout=timeout,
        name="ca-renew",
        source=source,
    ) as client:
        return client.request(RENEW, body)


def _key_refused(manager: ManagerAddress, timeout: float, source: str | None = None) -> bool:
    """After silence: whether the manager answers a throwaway key (so refuses ours)."""
    try:
        with Client(
            manager.addr,
            server_key=manager.server_key,
            keypair=generate_keypair(),
            timeout=timeout,
            name="ca-probe",
            source=source,
        ) as client:
            client.request("ca.root")
        return True
    except TransportError:
        return False


def _accept(
    state_dir: Path,
    certs: NodeCertificates,
    reply: Any,
    key: ec.EllipticCurvePrivateKey,
    clock: Callable[[], float],
) -> NodeCertificates:
    cert, trust = check_renewed(certs, reply, key, clock())
    roots_pem = b"".join(root.cert_pem for root in trust)
    if roots_pem != certs.roots_pem:  # the roots first: the old certificate stays trusted
        kept = {root.digest for root in trust}
        retired = [d for d in certs.root_digests if d not in kept]
        replace_trusted_roots(state_dir, roots_pem, retired=retired)
    replace_node_certificate(state_dir, cert=cert, key=key, vault=certs.vault)
    try:
        return load_node_certs(state_dir, now=clock(), vault=certs.vault)
    except NodeCertsError as exc:
        raise RenewalFailed("untrusted_certificate", str(exc)) from None


def _seconds(value: float) -> str:
    return f"{round(value, 1):g}"


def request_renewal(
    state_dir: Path,
    certs: NodeCertificates,
    managers: Sequence[ManagerAddress],
    *,
    clock: Callable[[], float] = time.time,
    timeout: float = REQUEST_TIMEOUT,
    deadline: float | None = None,
    halt: threading.Event | None = None,
    source: str | None = None,
) -> NodeCertificates:
    """One attempt (see the module docstring): the new, checked certificates, written to
    ``state_dir``; `RenewalFailed` otherwise. ``timeout``: each request's; ``deadline``
    (`time.monotonic`): the caller's, which the attempt never outlasts."""
    began = time.monotonic()

    def time_left() -> float:
        return timeout if deadline is None else min(timeout, deadline - time.monotonic())

    key = generate_node_key()
    body = {"csr": create_csr(key, certs.keypair.public)}
    failures: list[str] = []
    refused = False
    code = "unreachable"
    for asked, manager in enumerate(managers):
        if halt is not None and halt.is_set():
            raise RenewalFailed("stopping", "the node is stopping")
        wait = time_left()
        if wait <= 0:
            failures.append("not asked: " + ", ".join(m.addr for m in managers[asked:]))
            break
        try:
            reply = _ask(manager, certs.keypair, body, wait, source)
        except RemoteError as exc:
            if exc.code in _NEXT_MANAGER:
                code = exc.code
                failures.append(f"{manager.addr}: {exc.code}: {exc.message}")
                continue
            raise RenewalFailed(exc.code, f"{manager.addr} refused: {exc.message}") from None
        except TransportError:
            probe = time_left()
            if probe > 0 and _key_refused(manager, probe, source):
                refused = True
                failures.append(
                    f"{manager.addr} refused this node's key (removed from the cluster, "
                    "or its certificate is no longer accepted)"
                )
            else:
                failures.append(f"{manager.addr}: no answer within {_seconds(wait)} s")
            continue
        return _accept(state_dir, certs, reply, key, clock)
    if not failures:
        raise RenewalFailed("unreachable", "this node knows no manager")
    reason = "; ".join(failures)
    if deadline is not None and time_left() <= 0:
        within = _seconds(deadline - began)
        reason = f"no certificate within the caller's deadline ({within} s): {reason}"
    raise RenewalFailed("unauthorized" if refused else code, reason)
