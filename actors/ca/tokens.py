"""Join tokens: ``SWMTKN-1-<CA digest>-<secret>``, one for workers and one for managers.

Rules:
- The CA digest is the SHA-256 of the root CA certificate (DER) written as a base-36
  integer, zero-padded to 50 digits; the secret is 16 random bytes as a base-36 integer,
  zero-padded to 25 digits. Both parts are lowercase.
- A joining node checks the CA certificate it fetched against the digest in its token
  (`check_token_ca`) before it trusts anything that CA says.
- The CA grants a role only for a token equal to one of the current tokens
  (`role_for_token`); comparisons of secrets are constant time and both tokens are always
  compared. A rotated token is simply no longer current, so it is refused; rotation never
  touches certificates already issued.
- Error messages never contain a token or a secret.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field, replace
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from api.enums import NodeRole
from api.ids import ID_ALPHABET, RandomBits
from api.objects import JoinTokens

__all__ = [
    "DIGEST_LENGTH",
    "SECRET_LENGTH",
    "TOKEN_PREFIX",
    "InvalidJoinToken",
    "JoinToken",
    "JoinTokenError",
    "MalformedJoinToken",
    "WrongClusterToken",
    "ca_digest",
    "check_token_ca",
    "new_join_token",
    "new_join_tokens",
    "parse_join_token",
    "role_for_token",
    "rotate_join_token",
    "to_base36",
]

TOKEN_PREFIX: Final = "SWMTKN"
TOKEN_VERSION: Final = "1"
DIGEST_LENGTH: Final = 50
SECRET_LENGTH: Final = 25
_SECRET_BITS: Final = 128
_ALPHABET = frozenset(ID_ALPHABET)


class JoinTokenError(Exception):
    """Base of the join token errors."""


class MalformedJoinToken(JoinTokenError, ValueError):
    """The text does not have the shape of a join token."""


class WrongClusterToken(JoinTokenError):
    """The token names another CA: another cluster, or a man in the middle."""


class InvalidJoinToken(JoinTokenError):
    """Well formed and for this cluster, but not a current token (wrong, rotated, forged)."""


def to_base36(value: int, width: int) -> str:
    """``value`` in lowercase base 36, left-padded with ``0`` to ``width`` digits."""
    if value < 0:
        raise ValueError("base 36 of a negative number")
    digits: list[str] = []
    while value:
        value, rem = divmod(value, 36)
        digits.append(ID_ALPHABET[rem])
    text = "".join(reversed(digits)).rjust(width, "0")
    if len(text) > width:
        raise ValueError(f"value needs {len(text)} base-36 digits, more than {width}")
    return text


def _cert_der(ca_cert: bytes | x509.Certificate) -> bytes:
    if isinstance(ca_cert, x509.Certificate):
        return ca_cert.public_bytes(Encoding.DER)
    if ca_cert.lstrip().startswith(b"-----BEGIN"):
        try:
            return x509.load_pem_x509_certificate(ca_cert).public_bytes(Encoding.DER)
        except ValueError as exc:
            raise ValueError(f"CA certificate is not valid PEM: {exc}") from None
    return ca_cert


def ca_digest(ca_cert: bytes | x509.Certificate) -> str:
    """The 50-digit base-36 SHA-256 of the CA certificate (PEM, DER or parsed)."""
    digest = hashlib.sha256(_cert_der(ca_cert)).digest()
    return to_base36(int.from_bytes(digest, "big"), DIGEST_LENGTH)


@dataclass(frozen=True, slots=True)
class JoinToken:
    """A parsed join token; ``str()`` gives it back, ``repr`` hides the secret."""

    ca_digest: str
    secret: str = field(repr=False)

    def __str__(self) -> str:
        return f"{TOKEN_PREFIX}-{TOKEN_VERSION}-{self.ca_digest}-{self.secret}"


def new_join_token(ca_cert: bytes | x509.Certificate, rng: RandomBits) -> str:
    """A fresh token for the CA; ``rng`` should be ``secrets.SystemRandom()`` outside tests."""
    secret = to_base36(rng.getrandbits(_SECRET_BITS), SECRET_LENGTH)
    return str(JoinToken(ca_digest(ca_cert), secret))


def new_join_tokens(ca_cert: bytes | x509.Certificate, rng: RandomBits) -> JoinTokens:
    """A worker and a manager token, made at cluster init."""
    return JoinTokens(worker=new_join_token(ca_cert, rng), manager=new_join_token(ca_cert, rng))


def rotate_join_token(
    tokens: JoinTokens, role: NodeRole, ca_cert: bytes | x509.Certificate, rng: RandomBits
) -> JoinTokens:
    """``tokens`` with the token of ``role`` replaced; the other is kept."""
    fresh = new_join_token(ca_cert, rng)
    if role is NodeRole.MANAGER:
        return replace(tokens, manager=fresh)
    return replace(tokens, worker=fresh)


def _check_part(part: str, length: int, what: str) -> None:
    if len(part) != length:
        raise MalformedJoinToken(
            f"join token: the {what} must be {length} base-36 characters, not {len(part)}"
        )
    if not set(part) <= _ALPHABET:
        raise MalformedJoinToken(f"join token: the {what} has characters outside [0-9a-z]")


def parse_join_token(text: str) -> JoinToken:
    """Parse ``SWMTKN-1-<digest>-<secret>`` (surrounding whitespace ignored)."""
    text = text.strip()
    if not text:
        raise MalformedJoinToken("join token is empty")
    parts = text.split("-")
    if parts[0] != TOKEN_PREFIX:
        raise MalformedJoinToken(f"join token must start with '{TOKEN_PREFIX}-'")
    if len(parts) != 4:
        raise MalformedJoinToken(
            f"join token must have 4 dash-separated parts "
            f"({TOKEN_PREFIX}-{TOKEN_VERSION}-<digest>-<secret>), not {len(parts)}"
        )
    if parts[1] != TOKEN_VERSION:
        raise MalformedJoinToken(
            f"join token version must be {TOKEN_VERSION!r}, not {parts[1][:8]!r}"
        )
    _check_part(parts[2], DIGEST_LENGTH, "CA digest")
    _check_part(parts[3], SECRET_LENGTH, "secret")
    return JoinToken(parts[2], parts[3])


def _as_token(token: str | JoinToken) -> JoinToken:
    return token if isinstance(token, JoinToken) else parse_join_token(token)


def check_token_ca(token: str | JoinToken, ca_cert: bytes | x509.Certificate) -> None:
    """Raise `WrongClusterToken` unless ``ca_cert`` is the CA the token names."""
    if not hmac.compare_digest(_as_token(token).ca_digest, ca_digest(ca_cert)):
        raise WrongClusterToken(
            "join token is for a different cluster: the CA certificate does not match "
            "the digest in the token"
        )


def role_for_token(token: str | JoinToken, current: JoinTokens) -> NodeRole:
    """The role a current token grants; raises for malformed, foreign or stale tokens."""
    presented = _as_token(token)
    worker = _maybe_parse(current.worker)
    manager = _maybe_parse(current.manager)
    known = worker or manager
    if known is not None and presented.ca_digest != known.ca_digest:
        raise WrongClusterToken("join token is for a different cluster (CA digest differs)")
    wire = str(presented).encode("ascii")
    is_worker = worker is not None and hmac.compare_digest(wire, str(worker).encode("ascii"))
    is_manager = manager is not None and hmac.compare_digest(wire, str(manager).encode("ascii"))
    if is_manager:
        return NodeRole.MANAGER
    if is_worker:
        return NodeRole.WORKER
    raise InvalidJoinToken("join token is not valid for this cluster (wrong, rotated or forged)")


def _maybe_parse(text: str) -> JoinToken | None:
    if not text:
        return None
    return parse_join_token(text)
