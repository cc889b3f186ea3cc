"""The node side of certificate renewal: a supervised actor on every node.

`CertRenewer` keeps the node's certificate (`actors.ca.node_certs`) alive:

- **When.** At a random point between 50 % and 80 % of the current certificate's lifetime
  (`actors.ca.renewal.renewal_time`, rng injected), at once when the certificate has
  expired, when the node's role in the store differs from the certificate's (promotion or
  demotion), or when the cluster's certificate expiry (``cluster update --cert-expiry``)
  was shortened below what the certificate has left. Role and expiry come from
  ``settings``: the role its dispatcher session last named (the leader's word, which a
  demoted manager's own store no longer hears), else a manager's own store
  (`store_settings`); the expiry from a manager's store (a worker picks up an expiry
  change at its scheduled renewal). Telling the actor ``CHECK_NOW`` (the agent saw the
  role change) looks again at once.
  The actor wakes at least every ``check_interval`` seconds (wall-clock jumps, settings
  changes) through the injected timer; the certificate's dates are compared with the
  injected wall ``clock``.
- **How.** In a short-lived thread (the actor never blocks on the network): a new ECDSA
  key, a CSR binding the node's *unchanged* CURVE key, and ``ca.renew`` to each manager the
  node knows in turn (``managers``: the list its agent uses, this manager first on a
  manager), over a CURVE `transport.Client` with the node's key pair, pinned to the
  manager's server key. ``not_leader`` / ``unavailable`` or silence moves on to the next
  manager. A manager whose ZAP refuses the node's key stays silent; a probe with a
  throwaway key (``ca.root``, open to anyone) then tells "refused this node's key" (a
  removed node) from "no answer".
- **Root rotation** (actors/ca/rotation.py). ``settings`` also name the root the cluster
  issues under and the roots it trusts: a certificate of another issuer is renewed at
  once; once a rotation completed, the roots the cluster dropped are dropped from the
  state dir too (``ca.trust.updated``).
- **Checks.** The returned certificate must chain to a root the node trusts (the ones in
  the state dir, not the reply's; during a rotation also the reply's new root, if a root
  the node trusts cross-signed it, and the roots are then written before the
  certificate), be for this cluster and node id, bind this node's CURVE key
  and match the new ECDSA key; then `replace_node_certificate` writes it atomically (0600)
  and the state dir is loaded and checked again (`load_node_certs`).
- **After.** ``on_renewed`` gets the new `NodeCertificates` (the assembly points the CA
  service's hello at the new manager certificate); the next renewal is drawn from the new
  certificate. A failure is logged as ``ca.renewal.failed`` with its ``code`` and
  ``reason`` and retried after a backoff (``RETRY_BACKOFF``, reset by a success).
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from actors.backoff import Backoff
from actors.ca.certs import (
    CERT_BACKDATE,
    CertificateError,
    certificate_matches_key,
    create_csr,
    generate_node_key,
    verify_node_certificate,
)
from actors.ca.node_certs import (
    NodeCertificates,
    NodeCertsError,
    load_node_certs,
    replace_node_certificate,
    replace_trusted_roots,
)
from actors.ca.renewal import renewal_reason, renewal_time, trust_to_keep
from actors.ca.root import CAError, CertificateAuthority
from actors.ca.rotation import desired_issuer_digest, root_digests, vouched_root
from actors.dispatcher import ManagerAddress
from actors.log import get_logger
from actors.store import MemoryStore, clusters, nodes
from actors.supervisor import ChildContext, SupervisedActor, ThreadTimer, Timer
from api.enums import NodeRole
from api.errors import RemoteError, TransportError
from transport.client import Client
from transport.keys import KeyPair, generate_keypair

__all__ = [
    "CHECK_INTERVAL",
    "CHECK_NOW",
    "RENEW",
    "RETRY_BACKOFF",
    "CertRenewer",
    "RenewalFailed",
    "RenewalSettings",
    "request_renewal",
    "store_settings",
]

RENEW: Final = "ca.renew"
CHECK_INTERVAL: Final = 60.0
REQUEST_TIMEOUT: Final = 10.0
RETRY_BACKOFF: Final = Backoff(initial=1.0, maximum=300.0, factor=2.0)
_NEXT_MANAGER: Final = frozenset({"not_leader", "unavailable"})

CHECK_NOW: Final = "ca.renewal.check_now"  # a message: look at the settings again now

Managers = Callable[[], Sequence[ManagerAddress]]
Cancel = Callable[[], None]


class RenewalFailed(Exception):
    """One renewal attempt failed; ``code`` says how (a manager's error code, or
    ``unreachable``, ``unauthorized``, ``untrusted_certificate``, ``stopping``)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class RenewalSettings:
    """What the node knows of the cluster: its own current role, the certificate expiry
    (None: unknown, e.g. a worker or a manager whose store has not caught up), the root
    the cluster issues under and the roots it trusts (digests; None: unknown)."""

    role: NodeRole | None = None
    cert_expiry: float | None = None
    issuer: str | None = None
    roots: tuple[str, ...] | None = None


def store_settings(store: MemoryStore, node_id: str) -> Callable[[], RenewalSettings]:
    """A manager's settings: its Node's role and the cluster's expiry, from its store."""

    def read() -> RenewalSettings:
        def view(tx: Any) -> RenewalSettings:
            node = nodes.get(tx, node_id)
            cluster = clusters.get_default(tx)
            has_root = cluster is not None and bool(cluster.root_ca.ca_cert)
            return RenewalSettings(
                role=node.role if node is not None else None,
                cert_expiry=cluster.spec.ca_config.node_cert_expiry if cluster else None,
                issuer=desired_issuer_digest(cluster.root_ca) if has_root and cluster else None,
                roots=root_digests(cluster.root_ca) if has_root and cluster else None,
            )

        return store.view(view)

    return read


# --- one attempt (runs off the actor thread) ------------------------------------------


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


def reply_trust(
    certs: NodeCertificates, reply: Any, now: float
) -> tuple[CertificateAuthority, ...]:
    """The roots to trust after a renewal: those of the cluster's (the reply's ``ca_cert``
    and, during a rotation, its new root) that this node trusts already or that a root it
    trusts cross-signed (`actors.ca.rotation.vouched_root`)."""
    held = certs.trusted
    current = reply["ca_cert"]
    keep = [root for root in held if root.cert_pem == current]
    rotation = reply.get("rotation")
    if rotation:
        new_pem = rotation["ca_cert"]
        known = [root for root in held if root.cert_pem == new_pem]
        try:
            keep += known or [vouched_root(held, new_pem, rotation["cross_signed"], now=now)]
        except CAError as exc:
            raise RenewalFailed(
                "untrusted_certificate", f"the rotation's new root: {exc}"
            ) from None
    if not keep:
        raise RenewalFailed(
            "untrusted_certificate", "the manager's root CA is none this node trusts"
        )
    return tuple(keep)


def _accept(
    state_dir: Path,
    certs: NodeCertificates,
    reply: Any,
    key: Any,
    clock: Callable[[], float],
) -> NodeCertificates:
    try:
        cert = reply["certificate"]
        if not isinstance(cert, bytes):
            raise CertificateError("the reply holds no certificate")
        trust = reply_trust(certs, reply, clock())
        info = verify_node_certificate(cert, trust, now=clock(), cluster_id=certs.info.cluster_id)
    except (CertificateError, KeyError, TypeError, ValueError) as exc:
        raise RenewalFailed("untrusted_certificate", f"the renewed certificate: {exc}") from None
    if info.node_id != certs.node_id:
        raise RenewalFailed(
            "untrusted_certificate", f"the renewed certificate names node {info.node_id}"
        )
    if info.curve_public_key != certs.keypair.public or not certificate_matches_key(cert, key):
        raise RenewalFailed(
            "untrusted_certificate", "the renewed certificate does not bind this node's keys"
        )
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


def request_renewal(
    state_dir: Path,
    certs: NodeCertificates,
    managers: Sequence[ManagerAddress],
    *,
    clock: Callable[[], float] = time.time,
    timeout: float = REQUEST_TIMEOUT,
    halt: threading.Event | None = None,
    source: str | None = None,
) -> NodeCertificates:
    """One attempt (see the module docstring): the new, checked certificates, written to
    ``state_dir``; `RenewalFailed` otherwise."""
    key = generate_node_key()
    body = {"csr": create_csr(key, certs.keypair.public)}
    failures: list[str] = []
    refused = False
    code = "unreachable"
    for manager in managers:
        if halt is not None and halt.is_set():
            raise RenewalFailed("stopping", "the node is stopping")
        try:
            reply = _ask(manager, certs.keypair, body, timeout, source)
        except RemoteError as exc:
            if exc.code in _NEXT_MANAGER:
                code = exc.code
                failures.append(f"{manager.addr}: {exc.code}: {exc.message}")
                continue
            raise RenewalFailed(exc.code, f"{manager.addr} refused: {exc.message}") from None
        except TransportError:
            if _key_refused(manager, timeout, source):
                refused = True
                failures.append(
                    f"{manager.addr} refused this node's key (removed from the cluster, "
                    "or its certificate is no longer accepted)"
                )
            else:
                failures.append(f"{manager.addr}: no answer within {timeout:g} s")
            continue
        return _accept(state_dir, certs, reply, key, clock)
    if not failures:
        raise RenewalFailed("unreachable", "this node knows no manager")
    raise RenewalFailed("unauthorized" if refused else code, "; ".join(failures))


# --- the actor --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tick:
    generation: int


@dataclass(frozen=True)
class _Outcome:
    result: NodeCertificates | RenewalFailed


class CertRenewer(SupervisedActor):
    """Renews this node's certificate before it expires (see the module docstring)."""

    def __init__(
        self,
        ctx: ChildContext | None,
        *,
        state_dir: Path,
        certs: NodeCertificates,
        managers: Managers,
        settings: Callable[[], RenewalSettings] | None = None,
        on_renewed: Callable[[NodeCertificates], None] | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        timer: Timer | None = None,
        backoff: Backoff = RETRY_BACKOFF,
        check_interval: float = CHECK_INTERVAL,
        request_timeout: float = REQUEST_TIMEOUT,
        logger: Any = None,
        source: str | None = None,
    ) -> None:
        super().__init__(ctx)
        self._state_dir = Path(state_dir)
        self._source = source  # the local address requests leave from (transport.source)
        self._certs = certs
        self._managers = managers
        self._settings = settings
        self._on_renewed = on_renewed
        self._clock = clock
        self._rng = rng if rng is not None else secrets.SystemRandom()
        self._timer = timer or (ctx.timer if ctx is not None else ThreadTimer())
        self._backoff = backoff
        self._check_interval = check_interval
        self._timeout = request_timeout
        self._log = logger if logger is not None else get_logger("ca")
        self._renew_at = 0.0
        self._generation = 0
        self._cancel: Cancel | None = None
        self._failures = 0
        self._busy = False
        self._halt = threading.Event()

    # -- lifecycle ------------------------------------------------------------------
    def on_start(self) -> None:
        self._draw()
        self._check()

    def on_stop(self) -> None:
        self._halt.set()
        self._disarm()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _Tick):
            if message.generation == self._generation and not self._halt.is_set():
                self._cancel = None
                self._check()
        elif isinstance(message, _Outcome):
            self._finished(message.result)
        elif message == CHECK_NOW and not self._halt.is_set():
            self._check()
        return None

    # -- queries (for tests and status) ---------------------------------------------
    def certificates(self) -> NodeCertificates:
        return self._certs

    def renew_at(self) -> float:
        return self._renew_at

    # -- scheduling -----------------------------------------------------------------
    def _draw(self) -> None:
        info = self._certs.info
        self._renew_at = renewal_time(info.not_before, info.not_after, self._rng)
        self._log.info(
            "ca.renewal.scheduled",
            node=self._certs.node_id,
            not_after=info.not_after,
            renew_at=self._renew_at,
            in_seconds=round(max(0.0, self._renew_at - self._clock()), 1),
        )

    def _arm(self, delay: float) -> None:
        self._disarm()
        self._generation += 1
        generation = self._generation
        ref = self.actor_ref

        def fire() -> None:
            if ref.is_alive():
                ref.tell(_Tick(generation))

        self._cancel = self._timer.call_later(max(0.0, delay), fire)

    def _disarm(self) -> None:
        cancel, self._cancel = self._cancel, None
        if cancel is not None:
            cancel()

    def reason(self) -> str | None:
        """Why the certificate must be renewed now (None: not yet)."""
        now = self._clock()
        info = self._certs.info
        settings = self._settings() if self._settings is not None else RenewalSettings()
        why = renewal_reason(
            info,
            now=now,
            renew_at=self._renew_at,
            desired_role=settings.role or info.role,
            issuer=self._certs.ca.digest,
            desired_issuer=settings.issuer,
        )
        if why is not None:
            return why
        expiry = settings.cert_expiry
        # a certificate issued under a longer expiry, with more left than the new one
        if (
            expiry is not None
            and info.not_after - now > expiry
            and info.lifetime > expiry + CERT_BACKDATE + 1.0
        ):
            return f"the cluster's certificate expiry was shortened to {expiry:g} s"
        return None

    def _drop_roots(self) -> None:
        """A root rotation completed: stop trusting the roots the cluster no longer does."""
        settings = self._settings() if self._settings is not None else RenewalSettings()
        certs = self._certs
        keep = trust_to_keep(certs.root_digests, settings.roots, certs.ca.digest)
        if keep is None:
            return
        roots = b"".join(root.cert_pem for root in certs.trusted if root.digest in keep)
        retired = [d for d in certs.root_digests if d not in keep]
        replace_trusted_roots(self._state_dir, roots, retired=retired)
        self._certs = load_node_certs(self._state_dir, now=self._clock(), vault=certs.vault)
        self._log.info("ca.trust.updated", node=certs.node_id, roots=list(keep))
        if self._on_renewed is not None:
            self._on_renewed(self._certs)

    def _check(self) -> None:
        if self._busy or self._halt.is_set():
            return
        try:
            self._drop_roots()
            why = self.reason()
        except Exception as exc:  # the store view failed: look again later
            self._log.warning("ca.renewal.check_failed", error=str(exc)[:200])
            self._arm(self._check_interval)
            return
        if why is None:
            self._arm(min(self._check_interval, self._renew_at - self._clock()))
            return
        self._start(why)

    def _start(self, why: str) -> None:
        self._busy = True
        managers = tuple(self._managers())
        certs = self._certs
        self._log.info(
            "ca.renewal.started", node=certs.node_id, reason=why, attempt=self._failures + 1
        )
        ref = self.actor_ref

        def run() -> None:
            try:
                result: NodeCertificates | RenewalFailed = request_renewal(
                    self._state_dir,
                    certs,
                    managers,
                    clock=self._clock,
                    timeout=self._timeout,
                    halt=self._halt,
                    source=self._source,
                )
            except RenewalFailed as exc:
                result = exc
            except Exception as exc:  # an OSError writing the files, a bug: retry later
                result = RenewalFailed("internal", f"{type(exc).__name__}: {exc}")
            if ref.is_alive():
                ref.tell(_Outcome(result))

        threading.Thread(target=run, name="ca-renew", daemon=True).start()

    def _finished(self, result: NodeCertificates | RenewalFailed) -> None:
        self._busy = False
        if self._halt.is_set():
            return
        if isinstance(result, RenewalFailed):
            self._failures += 1
            delay = self._backoff.delay(self._failures)
            self._log.error(
                "ca.renewal.failed",
                node=self._certs.node_id,
                code=result.code,
                reason=result.reason[:500],
                attempt=self._failures,
                retry_in=delay,
            )
            self._arm(delay)
            return
        old = self._certs.info
        self._certs = result
        self._failures = 0
        self._log.info(
            "ca.renewal.complete",
            node=result.node_id,
            role=result.info.role.value,
            serial=format(result.info.serial, "x"),
            not_after=result.info.not_after,
            previous_not_after=old.not_after,
        )
        if self._on_renewed is not None:
            try:
                self._on_renewed(result)
            except Exception as exc:
                self._log.error("ca.renewal.notify_failed", error=str(exc)[:200])
        self._draw()
        self._check()
