"""How a proposed write can fail: `NotLeader`, `ProposalDropped` and `StorageFull`.

The Raft core raises them when it refuses a proposal; the Raft shell and its peers hand
them on (a write forwarded to a leader that lost its place, a lost leadership, a stopped
node); the store fails its writes with them; the control API and the CA turn them into
their wire error codes (``not_leader``, ``unavailable``). They live here, below all of
those, so each is defined once; this module imports nothing.

Every one is a `StoreError`: the store's callers catch every way a write can end badly as
one error (``actors.store.errors`` re-exports these with the store's other errors).
"""

from __future__ import annotations

__all__ = ["NotLeader", "ProposalDropped", "ProposalError", "StorageFull", "StoreError"]


class StoreError(Exception):
    """Base of every error the store raises, a failed proposal included."""


class ProposalError(StoreError):
    """The write was not committed (or its outcome is unknown)."""


class NotLeader(ProposalError):
    """This node is not the Raft leader, so it did not append the write. ``leader_id`` is
    the leader it knows of (None: no leader is known)."""

    def __init__(self, leader_id: int | None = None, leader_addr: str = "") -> None:
        self.leader_id = leader_id or None
        self.leader_addr = leader_addr
        known = f"; the leader is {leader_id}" if leader_id else "; no leader is known"
        super().__init__(f"this manager is not the Raft leader{known}")


class ProposalDropped(ProposalError):
    """The proposal was dropped. Raised by the core when it refuses one (a configuration
    change or a leadership transfer is in progress): nothing was appended. Raised later
    (leadership changed, the node stopped, the store was restored from a snapshot): whether
    it was committed is unknown."""


class StorageFull(ProposalError):
    """The leader refused the write before appending it: the disk of its Raft log has no
    room left for new writes (the message says where and how much is free). Nothing was
    appended; it fails the same way until space is freed."""
