"""Who sent a frame decides how much of it is decoded; refused frames are tallied.

Rules (DESIGN.md §7: peers that hold no certificate get small frames and no CPU):
- An endpoint without CURVE (the ``ipc://`` control socket, mode 0600: only the node's own
  user reaches it) decodes every frame with member limits.
- With CURVE, a key the admission policy calls a member (a live node certificate) gets
  member limits, any other key stranger limits: the join-hello port admits anyone and calls
  no one a member. The policy is asked per frame, so a node removed while connected is a
  stranger from its next frame on.
- Both stay within the socket's own frame cap (``ZMQ_MAXMSGSIZE``).

`RefusalTally` counts refused frames per reason and says when to log one: the first of a
reason at once, then at most one line per reason every ``interval`` seconds carrying how
many were refused since the last line. A flood thus costs a counter per frame, not a log
line per frame. Pure: the caller passes the time.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from api.schema.frame import MEMBER_LIMITS, STRANGER_LIMITS, DecodeLimits

__all__ = ["FrameTrust", "RefusalTally", "Trust"]

LOG_INTERVAL: Final = 1.0


class Trust(enum.Enum):
    LOCAL = "local"  # no CURVE: the ipc:// socket's file mode admits the node's user only
    MEMBER = "member"  # a CURVE key with a live node certificate
    STRANGER = "stranger"  # any other CURVE key


@dataclass(frozen=True, slots=True)
class FrameTrust:
    """The decode limits of an endpoint's peers. ``is_member``: the admission policy's
    judgement of a CURVE key; None when the endpoint has no CURVE (local peers only)."""

    is_member: Callable[[bytes], bool] | None
    member: DecodeLimits = MEMBER_LIMITS
    stranger: DecodeLimits = STRANGER_LIMITS

    @classmethod
    def capped(cls, is_member: Callable[[bytes], bool] | None, max_message_size: int) -> FrameTrust:
        """Member and stranger limits within the socket's frame cap."""
        return cls(
            is_member,
            MEMBER_LIMITS.capped(max_message_size),
            STRANGER_LIMITS.capped(max_message_size),
        )

    def classify(self, peer_key: bytes | None) -> Trust:
        if self.is_member is None:
            return Trust.LOCAL
        if peer_key is not None and self.is_member(peer_key):
            return Trust.MEMBER
        return Trust.STRANGER

    def limits(self, trust: Trust) -> DecodeLimits:
        return self.stranger if trust is Trust.STRANGER else self.member


class RefusalTally:
    """Refused frames by reason; `refuse` says how many to report now (None: stay quiet)."""

    def __init__(self, interval: float = LOG_INTERVAL) -> None:
        self.interval = interval
        self.totals: Counter[str] = Counter()
        self._unlogged: Counter[str] = Counter()
        self._logged_at: dict[str, float] = {}

    def refuse(self, reason: str, now: float) -> int | None:
        """Count one refusal; the number refused since the last report of ``reason`` when
        it is time to log it, else None."""
        self.totals[reason] += 1
        self._unlogged[reason] += 1
        last = self._logged_at.get(reason)
        if last is not None and now - last < self.interval:
            return None
        self._logged_at[reason] = now
        count = self._unlogged.pop(reason)
        return count
