"""A root CA rotation asked for (``swarmctl cluster ca --rotate``, ``docker swarm ca
--rotate``), checked and applied to the Cluster: pure.

- An operator's root (`given_root`) must load, come with its private key and be valid for
  at least an hour more (``invalid_argument``): nodes stop trusting it once it expired, so
  a root about to expire would take the whole cluster down soon after the rotation.
- Starting (`rotation_started`) needs the current root's key, to cross-sign the new root
  (``unavailable`` without it); ``spec.ca_config.force_rotate`` goes up by one and the
  rotation is recorded in ``root_ca.root_rotation`` (`actors.ca.rotation.start_rotation`).
"""

from __future__ import annotations

from dataclasses import replace

from actors.ca.certs import MIN_NODE_CERT_EXPIRY
from actors.ca.issuance import JoinRefused, current_authority
from actors.ca.root import CAError, CertificateAuthority, load_root_ca, to_timestamp
from actors.ca.rotation import start_rotation
from api.ids import RandomBits
from api.objects import Cluster

__all__ = ["given_root", "rotation_started"]


def given_root(new_root: tuple[bytes, bytes], *, now: float) -> CertificateAuthority:
    """The operator's new root: its certificate and key PEM, loaded and able to sign."""
    try:
        given = load_root_ca(new_root[0], new_root[1] or None, now=now)
    except CAError as exc:
        raise JoinRefused("invalid_argument", f"the new root CA: {exc}") from None
    if not given.can_sign:
        raise JoinRefused("invalid_argument", "the new root CA needs its private key")
    if to_timestamp(given.cert.not_valid_after_utc) - now < MIN_NODE_CERT_EXPIRY:
        raise JoinRefused(
            "invalid_argument", "the new root CA: its certificate expires within an hour"
        )
    return given


def rotation_started(
    cluster: Cluster,
    *,
    now: float,
    rng: RandomBits,
    wrapping_key: bytes | None,
    given: CertificateAuthority | None,
) -> Cluster:
    """``cluster`` with a rotation to ``given`` (None: a root made here) under way."""
    current = current_authority(cluster.root_ca, now=now, wrapping_key=wrapping_key)
    forced = cluster.spec.ca_config.force_rotate + 1
    spec = replace(cluster.spec, ca_config=replace(cluster.spec.ca_config, force_rotate=forced))
    try:
        root_ca = start_rotation(
            cluster.root_ca,
            current,
            now=now,
            rng=rng,
            force_rotate=forced,
            wrapping_key=wrapping_key,
            new=given,
        )
    except CAError as exc:
        raise JoinRefused("invalid_argument", f"the new root CA: {exc}") from None
    return replace(cluster, spec=spec, root_ca=root_ca)
