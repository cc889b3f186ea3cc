"""The bounds of a node's TLS report (api/objects.py ``NodeTLSInfo``), checked before a
manager stores it: a node's session request and heartbeats carry it, so every size in it
is the node's to choose.

- ``trust_roots``: at most ``MAX_TLS_ROOTS`` digests (a node trusts the current root, a
  rotation's and those of the rotations it replaced: actors/ca/root.py
  ``MAX_TRUSTED_ROOTS``), each at most ``MAX_ROOT_DIGEST_CHARS`` characters of base 36
  (actors/ca/tokens.py ``ca_digest``).
- ``cert_issuer_subject`` and ``cert_issuer_public_key``: DER, at most
  ``MAX_ISSUER_BYTES`` each. A root the cluster makes has a name and key of about 100
  bytes, but an operator's root (``cluster ca --rotate --ca-cert``) may have a long
  name: the bound is that of the root's whole PEM the CA takes (actors/ca/rotation.py
  ``MAX_ROOT_PEM``), so every node under any root the CA takes can report it (a report
  refused costs the node its session).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from api.spec_limits import InvalidSpec, check_count

if TYPE_CHECKING:
    from api.objects import NodeTLSInfo

__all__ = [
    "MAX_ISSUER_BYTES",
    "MAX_ROOT_DIGEST_CHARS",
    "MAX_TLS_ROOTS",
    "validate_node_tls_info",
]

MAX_TLS_ROOTS: Final = 8
MAX_ROOT_DIGEST_CHARS: Final = 64
MAX_ISSUER_BYTES: Final = 8 * 1024  # actors/ca/rotation.py MAX_ROOT_PEM


def validate_node_tls_info(info: NodeTLSInfo, field: str = "tls") -> None:
    """InvalidSpec naming the field of ``info`` over its bound, or not a digest."""
    # a digest's digits (actors/ca/tokens.py); imported here: a service's commands, which
    # load this module with api/validation.py, need not load api.ids (hashlib, secrets)
    from api.ids import ID_ALPHABET

    check_count(info.trust_roots, f"{field}.trust_roots", MAX_TLS_ROOTS)
    for i, digest in enumerate(info.trust_roots):
        if not digest or len(digest) > MAX_ROOT_DIGEST_CHARS or not set(digest) <= set(ID_ALPHABET):
            raise InvalidSpec(
                f"{field}.trust_roots[{i}]",
                f"not a root CA digest (1 to {MAX_ROOT_DIGEST_CHARS} base-36 characters)",
            )
    for name in ("cert_issuer_subject", "cert_issuer_public_key"):
        size = len(getattr(info, name))
        if size > MAX_ISSUER_BYTES:
            raise InvalidSpec(
                f"{field}.{name}", f"{size} bytes long, over the limit of {MAX_ISSUER_BYTES}"
            )
