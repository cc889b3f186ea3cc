"""The node side of certificate renewal: a supervised actor on every node.

`CertRenewer` keeps the node's certificate (`actors.ca.node_certs`) alive:

- **When** (rules: actors/ca/renewal.py). At a random point between 50 % and 80 % of the
  current certificate's lifetime (rng injected), at once when the certificate has expired,
  when the node's role in the store differs from the certificate's (promotion or
  demotion), when its issuer is not the root the cluster issues under (a root CA
  rotation), or when the cluster's certificate expiry was shortened below what the
  certificate has left. Role, issuer and expiry come from ``settings``: the role its
  dispatcher session last named (the leader's word, which a demoted manager's own store no
  longer hears), else a manager's own store (actors/ca/store_settings.py); the expiry from
  a manager's store (a worker picks up an expiry change at its scheduled renewal); the
  cluster's roots from a manager's store, else the dispatcher's heartbeats. Telling the
  actor ``CHECK_NOW`` (the agent saw the role or the roots change) looks again at once,
  and so does each change ``watch_settings`` reports (a manager's store applied one: a
  heartbeat can tell of a rotation before this manager's store has it, and that check
  finds nothing to do). The actor also wakes at least every ``check_interval`` seconds
  (wall-clock jumps) through the injected timer; the certificate's dates are compared
  with the injected wall ``clock``.
- **How.** In a short-lived thread (the actor never blocks on the network), one attempt
  (actors/ca/renewal_request.py) asks each manager the node knows in turn (``managers``:
  the list its agent uses, this manager first on a manager) and checks the reply
  (actors/ca/renewal_reply.py) before it writes the state dir.
- **Root rotation.** Once a rotation completed, the roots the cluster dropped (``settings``
  name the roots it trusts) are dropped from the state dir too (``ca.trust.updated``).
- **After.** ``on_renewed`` gets the new `NodeCertificates` (the assembly points the CA
  service's hello at the new manager certificate); the next renewal is drawn from the new
  certificate. A failure is logged as ``ca.renewal.failed`` with its ``code`` and
  ``reason`` and retried after a backoff (``RETRY_BACKOFF``, reset by a success).
"""

from __future__ import annotations

import contextlib
import random
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pykka

from actors.backoff import Backoff
from actors.ca.node_certs import NodeCertificates, load_node_certs, replace_trusted_roots
from actors.ca.renewal import RenewalSettings, renewal_reason, renewal_time, trust_to_keep
from actors.ca.renewal_reply import RenewalFailed
from actors.ca.renewal_request import REQUEST_TIMEOUT, request_renewal
from actors.ca.store_settings import Cancel, SettingsWatch
from actors.dispatcher import ManagerAddress
from actors.log import get_logger
from actors.supervisor import ChildContext, SupervisedActor, ThreadTimer, Timer

__all__ = [
    "CHECK_INTERVAL",
    "CHECK_NOW",
    "RETRY_BACKOFF",
    "CertRenewer",
]

CHECK_INTERVAL: Final = 60.0
RETRY_BACKOFF: Final = Backoff(initial=1.0, maximum=300.0, factor=2.0)

CHECK_NOW: Final = "ca.renewal.check_now"  # a message: look at the settings again now

Managers = Callable[[], Sequence[ManagerAddress]]


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
        watch_settings: SettingsWatch | None = None,
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
        self._watch_settings = watch_settings
        self._unwatch: Cancel | None = None
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
        if self._watch_settings is not None:  # before the first look: no change slips by
            ref = self.actor_ref

            def changed() -> None:  # on the thread that applied the change: never raise
                with contextlib.suppress(pykka.ActorDeadError):  # stopping meanwhile
                    ref.tell(CHECK_NOW)

            self._unwatch = self._watch_settings(changed)
        self._draw()
        self._check()

    def on_stop(self) -> None:
        self._halt.set()
        self._disarm()
        unwatch, self._unwatch = self._unwatch, None
        if unwatch is not None:
            unwatch()

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
        return renewal_reason(
            info,
            now=now,
            renew_at=self._renew_at,
            desired_role=settings.role or info.role,
            issuer=self._certs.ca.digest,
            desired_issuer=settings.issuer,
            cert_expiry=settings.cert_expiry,
        )

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
