"""Appends without entries, which a leader's loop holds back for a moment before sending.

When followers' acks move the commit index, the core sends every follower an append with
no entries that only tells it the new commit index. Under a stream of writes the next
append, with entries and the same or a newer commit index, follows within a millisecond;
sent at once, the notice costs each follower a round of its own (wake, step, fsync-less
ready, ack) and the leader those acks: a third process round per write, on two cores.

Rules (`CommitNotices`):
- An APPEND without entries to member d is held until ``now + hold``.
- A later APPEND to d in the same term whose commit index is at least the held one's
  replaces it: with entries, the held one is dropped (it carries nothing else: no
  entries); without, the later one is held instead, under the first one's deadline.
- A held append is sent once its deadline has passed (`due`); `clear` drops them all
  (leadership lost: they speak for a term that is over).
Raft tolerates delayed and lost messages, so safety does not depend on this: a follower
learns a commit index (and applies, and completes a write it forwarded) at most ``hold``
later; a probe (an empty append to a member whose log is not known to match) goes out at
most ``hold`` later.
"""

from __future__ import annotations

from collections.abc import Sequence

from actors.raft_node.types import Message, MessageType

__all__ = ["COMMIT_HOLD", "CommitNotices"]

COMMIT_HOLD = 0.002  # seconds an append without entries may wait for the next append

_APPEND = MessageType.APPEND


class CommitNotices:
    __slots__ = ("_held", "_hold")

    def __init__(self, hold: float = COMMIT_HOLD) -> None:
        self._hold = hold
        self._held: dict[int, tuple[float, Message]] = {}  # dst -> (deadline, message)

    def __len__(self) -> int:
        return len(self._held)

    def route(self, messages: Sequence[Message], now: float) -> list[Message]:
        """The messages to send now; appends without entries are held (the rules)."""
        if self._hold <= 0:
            return list(messages)
        held = self._held
        out: list[Message] = []
        for m in messages:
            if m.type is not _APPEND:
                out.append(m)
                continue
            before = held.get(m.dst)
            replaces = (
                before is not None and m.term == before[1].term and m.commit >= before[1].commit
            )
            if m.entries:
                if replaces:
                    del held[m.dst]
                out.append(m)
            elif replaces and before is not None:
                held[m.dst] = (before[0], m)
            else:
                if before is not None:
                    out.append(before[1])  # not replaced (another term): goes as it is
                held[m.dst] = (now + self._hold, m)
        return out

    @property
    def deadline(self) -> float | None:
        """When the first held append is due, or None."""
        if not self._held:
            return None
        return min(deadline for deadline, _ in self._held.values())

    def due(self, now: float) -> list[Message]:
        """The held appends whose deadline has passed (no longer held)."""
        held = self._held
        ready = [dst for dst, (deadline, _) in held.items() if deadline <= now]
        return [held.pop(dst)[1] for dst in ready]

    def clear(self) -> None:
        self._held.clear()
