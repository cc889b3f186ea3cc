"""When a node renews its certificate.

Rules (as SwarmKit): renew at a random point between 50 % and 80 % of the certificate's
lifetime, so a fleet issued together does not come back together; renew at once when the
certificate's role differs from the node's role (promote / demote) or the certificate is
already past its renewal point. The random draw comes from an injected ``random.Random``.
"""

from __future__ import annotations

import random
from typing import Final

from actors.ca.certs import NodeCertInfo
from api.enums import NodeRole

__all__ = [
    "RENEW_MAX_FRACTION",
    "RENEW_MIN_FRACTION",
    "renewal_delay",
    "renewal_reason",
    "renewal_time",
]

RENEW_MIN_FRACTION: Final = 0.5
RENEW_MAX_FRACTION: Final = 0.8


def renewal_time(not_before: float, not_after: float, rng: random.Random) -> float:
    """A random instant between 50 % and 80 % of the way from ``not_before`` to ``not_after``."""
    if not_after <= not_before:
        raise ValueError("certificate lifetime must be positive")
    fraction = rng.uniform(RENEW_MIN_FRACTION, RENEW_MAX_FRACTION)
    return not_before + (not_after - not_before) * fraction


def renewal_delay(info: NodeCertInfo, now: float, rng: random.Random) -> float:
    """Seconds from ``now`` until the certificate should be renewed (0: renew now)."""
    return max(0.0, renewal_time(info.not_before, info.not_after, rng) - now)


def renewal_reason(
    info: NodeCertInfo, *, now: float, renew_at: float, desired_role: NodeRole
) -> str | None:
    """Why the certificate must be renewed now, or None when it need not be."""
    if info.role is not desired_role:
        return f"role changed from {info.role.value} to {desired_role.value}"
    if now >= info.not_after:
        return "certificate expired"
    if now >= renew_at:
        return "renewal time reached"
    return None
