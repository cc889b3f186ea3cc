"""Read-modify-write against the store, retried a few times on a version conflict.

A control write reads the object and writes it back with the version it read (DESIGN §4).
When another component changed the object in between (the orchestrator bumping a
service's update status, the dispatcher a node's status), the write is a conflict; for
edits that are relative to what is stored (scale, label edits, ``--env-add``) the right
answer is to re-read and apply the edit again. A write the caller pinned to a version
(``version`` in the request) is never retried: its conflict is the caller's answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from actors.control.errors import ControlCode, ControlError
from actors.store import Committed, ConflictError, MemoryStore, WriteTx

__all__ = ["ATTEMPTS", "check_version", "modify"]

T = TypeVar("T")
ATTEMPTS = 5


def modify(
    store: MemoryStore, fn: Callable[[WriteTx], T], *, attempts: int = ATTEMPTS
) -> Committed[T]:
    """``store.update(fn)``, re-run up to ``attempts`` times on a ConflictError."""
    last: ConflictError | None = None
    for _ in range(attempts):
        try:
            return store.update(fn)
        except ConflictError as exc:
            last = exc
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
