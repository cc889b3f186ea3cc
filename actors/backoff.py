"""Exponential backoff with jitter: the one schedule for every retry loop.

``delay(attempt)`` for attempt 1, 2, 3, ... is ``initial * factor**(attempt-1)`` capped at
``maximum``, then spread by ``jitter`` (0.2 = ±20 %) with the caller's ``random.Random``,
so retries of many nodes after one event do not arrive together. Pure: no clock, no sleep.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    initial: float = 0.1
    maximum: float = 10.0
    factor: float = 2.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < self.initial or self.factor < 1:
            raise ValueError(f"bad backoff {self!r}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"backoff jitter must be in [0, 1), not {self.jitter}")

    @classmethod
    def equal_jitter(cls, initial: float, maximum: float, factor: float = 2.0) -> Backoff:
        """A random point in the upper half of ``initial * factor**(attempt-1)`` capped at
        ``maximum`` ("equal jitter", SwarmKit's agent): three quarters of that ceiling,
        spread by a third."""
        return cls(0.75 * initial, 0.75 * maximum, factor, jitter=1 / 3)

    def base(self, attempt: int) -> float:
        """The delay before ``attempt`` (1-based) without jitter."""
        exponent = max(0, attempt - 1)
        if exponent > 64:  # factor**exponent would overflow long before any cap matters
            return float(self.maximum)
        return float(min(self.maximum, self.initial * self.factor**exponent))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The delay before ``attempt``; jittered with ``rng`` when jitter is set."""
        base = self.base(attempt)
        if not self.jitter or rng is None:
            return base
        return base * (1 + self.jitter * (2 * rng.random() - 1))
