"""Control API: ``control.cluster.engine_cert``, the Engine API's TLS certificates
(actors/ca/engine_certs.py), signed by this manager's CA service."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from actors.ca.certs import CertificateError
from actors.ca.issuance import JoinRefused
from actors.control.errors import Body, ControlCode, ControlError, guarded
from transport.endpoint import Handler

__all__ = ["engine_cert_handlers"]

Signer = Callable[[bytes, Sequence[str]], tuple[bytes, bytes]]


def engine_cert_handlers(sign: Signer) -> dict[str, Handler]:
    def engine_cert(body: Body) -> Body:
        hosts = [str(h) for h in body.get("hosts") or ()]
        try:
            cert, ca_cert = sign(bytes(body["csr"]), hosts)
        except JoinRefused as exc:
            raise ControlError(ControlCode.UNAVAILABLE, exc.message) from None
        except (CertificateError, ValueError) as exc:
            raise ControlError(ControlCode.INVALID_ARGUMENT, str(exc)) from None
        return {"cert": cert, "ca_cert": ca_cert}

    return {"control.cluster.engine_cert": guarded(engine_cert)}
