"""Read-modify-write against the store, retried a few times on a version conflict.

A control write reads the object and writes it back with the version it read (DESIGN §4).
When another component changed the object in between (the orchestrator bumping a
service's update status, the dispatcher a node's status), the write is a conflict; for
edits that are relative to what is stored (scale, label edits, ``--env-add``) the right
answer is to re-read and apply the edit again. A write the caller pinned to a version
(``version`` in the request) is never retried: its conflict is the caller's answer.

A write lost to a leader change (``ProposalDropped``: a follower forwarded it to a leader
that died before answering; ``NotLeader``: no leader was elected in time) is retried too,
within ``RETRY_WINDOW`` seconds, so a write made during a failover succeeds as soon as a
new leader is elected. That is safe because these writes are version-checked: if the lost
attempt did commit after all, the retry re-reads it (an edit already made changes nothing;
a duplicate of the lost entry is rejected as a conflict when applied).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from actors.backoff import Backoff
from actors.control.errors import ControlCode, ControlError
from actors.store import (
    Committed,
    ConflictError,
    MemoryStore,
    NotLeader,
    ProposalDropped,
    WriteTx,
)

__all__ = ["ATTEMPTS", "RETRY_WINDOW", "check_version", "modify"]

T = TypeVar("T")
ATTEMPTS = 5
RETRY_WINDOW = 5.0  # seconds a write lost to a leader change is retried for
_PAUSE = Backoff(initial=0.02, maximum=0.5)  # after the first retry, which waits none


def modify(
    store: MemoryStore,
    fn: Callable[[WriteTx], T],
    *,
    attempts: int = ATTEMPTS,
    window: float = RETRY_WINDOW,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Committed[T]:
    """``store.update(fn)``, re-run up to ``attempts`` times on a ConflictError, and on
    ProposalDropped / NotLeader until ``window`` seconds have passed (then raised)."""
    last: ConflictError | None = None
    deadline = clock() + window
    conflicts = 0
    lost = 0  # writes lost to a leader change so far
    while conflicts < attempts:
        try:
            return store.update(fn)
        except ConflictError as exc:
            last = exc
            conflicts += 1
        except (NotLeader, ProposalDropped):
            if clock() >= deadline:
                raise
            # the Raft node holds a write until a leader is known, so the retry waits for
            # the election; the growing pause only spaces retries against a stopped node
            sleep(_PAUSE.delay(lost) if lost else 0.0)
            lost += 1
    raise ControlError(
        ControlCode.CONFLICT,
        f"{last.kind} {last.id} kept changing: gave up after {attempts} attempts; retry"
        if last is not None
        else "conflict",
    )


def check_version(kind: str, id: str, wanted: int | None, current: int) -> None:
    """A request pinned to ``wanted`` fails when the object moved on (not retried)."""
    if wanted is not None and wanted != current:
        raise ControlError(
            ControlCode.CONFLICT,
            f"{kind} {id} is at version {current}, not {wanted}: it changed since it was "
            "read; inspect it again and retry",
        )
