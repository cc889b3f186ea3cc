"""Object identifiers: 25 random base-36 characters, as SwarmKit's ``identity.NewID``.

128 random bits written in base 36 take at most 25 digits; shorter values are
left-padded with ``0`` so every id has the same length and sorts consistently.
"""

from __future__ import annotations

import secrets
from typing import Protocol

__all__ = ["ID_ALPHABET", "ID_LENGTH", "RandomBits", "is_valid_id", "new_id"]

ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
ID_LENGTH = 25
_ID_BITS = 128


class RandomBits(Protocol):
    """Anything with ``getrandbits``: the ``secrets`` module or a seeded ``random.Random``."""

    def getrandbits(self, k: int, /) -> int: ...


_SYSTEM_RANDOM = secrets.SystemRandom()


def new_id(rng: RandomBits = _SYSTEM_RANDOM) -> str:
    """Return a new 25-character base-36 id drawn from ``rng``."""
    value = rng.getrandbits(_ID_BITS)
    digits: list[str] = []
    while value:
        value, rem = divmod(value, 36)
        digits.append(ID_ALPHABET[rem])
    return "".join(reversed(digits)).rjust(ID_LENGTH, "0")


def is_valid_id(value: str) -> bool:
    """True when ``value`` has the shape of an id made by :func:`new_id`."""
    return len(value) == ID_LENGTH and all(c in ID_ALPHABET for c in value)
