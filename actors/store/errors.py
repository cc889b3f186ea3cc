"""Errors of the store. Every one is a ``StoreError``; each names the object it is about.
The ways a proposal fails (`NotLeader`, `ProposalDropped`, `StorageFull`) are defined once,
below the store and the Raft node that both raise them (``actors.proposal_errors``)."""

from __future__ import annotations

from actors.proposal_errors import (
    NotLeader,
    ProposalDropped,
    ProposalError,
    StorageFull,
    StoreError,
)
from api.limits import format_bytes

__all__ = [
    "AlreadyExists",
    "AmbiguousReference",
    "ConflictError",
    "EntryDecodeError",
    "NameConflict",
    "NoProposer",
    "NotFound",
    "NotLeader",
    "ProposalAbandoned",
    "ProposalDropped",
    "ProposalError",
    "ProposalTimeout",
    "StorageFull",
    "StoreError",
    "TooLarge",
    "WatchClosed",
    "WatchHistoryTooOld",
]


class NotFound(StoreError):
    def __init__(self, kind: str, ref: str) -> None:
        self.kind = kind
        self.ref = ref
        super().__init__(f"{kind} {ref!r} not found")


class AmbiguousReference(StoreError):
    """A name or id prefix that matches more than one object."""

    def __init__(self, kind: str, ref: str, matches: list[str]) -> None:
        self.kind = kind
        self.ref = ref
        self.matches = matches
        shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
        super().__init__(f"{kind} reference {ref!r} is ambiguous: matches {shown}")


class ConflictError(StoreError):
    """A write carried a version that is no longer the object's current one."""

    def __init__(self, kind: str, id: str, expected: int, actual: int) -> None:
        self.kind = kind
        self.id = id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"update of {kind} {id} conflicts: written from version {expected}, "
            f"current version is {actual}; re-read and retry"
        )


class AlreadyExists(StoreError):
    def __init__(self, kind: str, id: str) -> None:
        self.kind = kind
        self.id = id
        super().__init__(f"{kind} {id} already exists")


class NameConflict(StoreError):
    """A unique index's key another object holds (``what``: "name", "ingress port")."""

    def __init__(self, kind: str, name: str, holder: str, what: str = "name") -> None:
        self.kind = kind
        self.name = name
        self.holder = holder
        super().__init__(f"{kind} {what} {name!r} is already in use by {kind} {holder}")


class TooLarge(StoreError):
    """A write over its byte budget (``api.limits``): refused before it was proposed, so
    nothing was written. ``what`` names the object (or the write), ``size`` and ``limit``
    are encoded bytes."""

    def __init__(self, what: str, size: int, limit: int, budget: str) -> None:
        self.what = what
        self.size = size
        self.limit = limit
        super().__init__(
            f"{what} encodes to {format_bytes(size)}, over the {format_bytes(limit)} budget "
            f"of {budget}; nothing was written"
        )


class EntryDecodeError(StoreError):
    """A committed entry that is not a store batch. Every manager reaches the same
    verdict: the entry is skipped and its proposer, if local, gets this error."""


class ProposalTimeout(ProposalError):
    """No verdict in time; whether the write was committed is unknown."""


class ProposalAbandoned(ProposalError):
    """Its writer stopped waiting for the verdict (it is stopping: ``stop_waiting``);
    whether the write was committed is unknown."""


class NoProposer(ProposalError):
    def __init__(self) -> None:
        super().__init__("the store has no proposer attached: it is read-only")


class WatchClosed(StoreError):
    """The watcher was closed; ``reset`` is true when the store was restored from a
    snapshot. Either way: re-read the store (``view``) and watch again from its version."""

    def __init__(self, reason: str, *, reset: bool = False) -> None:
        self.reason = reason
        self.reset = reset
        super().__init__(reason)


class WatchHistoryTooOld(StoreError):
    def __init__(self, since: int, oldest: int) -> None:
        self.since = since
        self.oldest = oldest
        super().__init__(
            f"cannot resume the watch from version {since}: changes up to version {oldest} "
            "are no longer kept; re-read the store with view() and watch from its version"
        )
