"""Who may do what through the web view (pure).

The scheme:
- Reading is open to whoever reaches the address: the page shows what ``swarmctl node ls``,
  ``service ls`` and ``events`` show (no secret, key, token or certificate). The address is
  loopback unless written out (actors/http/address.py), as ``--metrics-addr`` is.
- Writing (scaling a service, the one write the page offers) exists only when the operator
  starts the node with ``--web-token-file PATH``: a request must carry ``Authorization:
  Bearer TOKEN`` with that file's token. The two are compared in constant time (digests of
  both, ``hmac.compare_digest``), so neither the token nor its length leaks through timing.
  Without the flag every write is refused: the view is read-only.
- A browser sends no ``Authorization`` header by itself, so another site cannot make a
  visitor's browser write (no cross-site request forgery); the page keeps the token the
  user typed in the tab's session storage only.
- On a loopback address a request must name a loopback host in ``Host``: a web page from
  elsewhere whose name is made to resolve to 127.0.0.1 (DNS rebinding) cannot read the view.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Final

from actors.http.address import is_loopback

__all__ = ["MIN_TOKEN_LENGTH", "WriteAuth", "check_token_text", "host_allowed"]

MIN_TOKEN_LENGTH: Final = 16
MAX_TOKEN_LENGTH: Final = 4096


def check_token_text(text: str, where: str) -> str:
    """The token in a token file's text (surrounding whitespace dropped); ValueError says
    what is wrong with it, naming ``where``."""
    token = text.strip()
    if len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(
            f"{where}: the web token must be at least {MIN_TOKEN_LENGTH} characters "
            "(for example: openssl rand -hex 32)"
        )
    if len(token) > MAX_TOKEN_LENGTH:
        raise ValueError(f"{where}: the web token is longer than {MAX_TOKEN_LENGTH} characters")
    if any(c.isspace() or not c.isprintable() for c in token):
        raise ValueError(f"{where}: the web token must be one line of printable characters")
    return token


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()


@dataclass(frozen=True)
class WriteAuth:
    """``token`` None: the view is read-only."""

    token: str | None = None

    @property
    def writes(self) -> bool:
        return self.token is not None

    def refusal(self, authorization: str | None) -> tuple[int, str] | None:
        """None when ``authorization`` (the header's value) allows a write; otherwise the
        HTTP status and the reason."""
        if self.token is None:
            return 403, (
                "this web view is read-only: start swarm-node with --web-token-file to allow "
                "writes from it"
            )
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return 401, "this write needs the web token: Authorization: Bearer TOKEN"
        if not hmac.compare_digest(_digest(given.strip()), _digest(self.token)):
            return 401, "the web token is wrong"
        return None


def host_allowed(host_header: str | None, bound_host: str) -> bool:
    """On a loopback address, only requests naming a loopback host (DNS rebinding guard);
    on any other address every host name is let through (the operator chose to expose it)."""
    if not is_loopback(bound_host):
        return True
    if not host_header:
        return False
    host = host_header.strip()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else ""
    else:
        host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return is_loopback(host.lower())
