"""Snapshots made off the Raft loop: the loop takes the store's view, a thread encodes it
and writes the file (fsync), the loop adopts it and compacts the log.

Encoding a 100,000-task store takes about a second, and writing it (fsync) more: on the
loop that is a second without heartbeats, which followers take for a dead leader. So:
  1. on the loop, ``start`` takes ``store.snapshot_view()`` (a consistent copy of the
     tables' maps: the objects are immutable) and the snapshot's metadata;
  2. a thread encodes it (``store.encode_snapshot``, a chunk at a time so the loop gets
     the interpreter between chunks) and writes its file (``storage.write_snapshot_file``:
     temp file, fsync, rename);
  3. back on the loop (a ``Call`` on the inbox), ``storage.adopt_snapshot`` makes it the
     storage's snapshot and the log is compacted to it; one the loop has gone past in the
     meantime (a newer snapshot installed from the leader, a re-encryption) is dropped.
One snapshot at a time; a failed one is logged and the next check tries again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from actors.metrics import raft as metrics
from actors.raft_node.commands import Call, Inbox
from actors.raft_node.types import Snapshot, SnapshotMetadata

__all__ = ["Snapshotter"]

_JOIN_S = 60.0  # at most this long for a snapshot in flight when the loop stops


class Snapshotter:
    def __init__(
        self,
        node_id: int,
        storage: Any,
        store: Any,
        inbox: Inbox,
        adopted: Callable[[Snapshot], None],
        *,
        clock: Callable[[], float],
        log: Any,
    ) -> None:
        self._id = node_id
        self._storage = storage
        self._store = store
        self._inbox = inbox
        self._adopted = adopted
        self._clock = clock
        self._log = log
        self._thread: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def start(self, meta: SnapshotMetadata) -> None:
        """On the loop: snapshot the store as it is now (``meta.index`` applied)."""
        started = self._clock()
        view = self._store.snapshot_view()
        thread = threading.Thread(
            target=self._run,
            args=(view, meta, started),
            name=f"raft-{self._id}-snapshot",
            daemon=True,
        )
        self._thread = thread
        thread.start()

    def wait(self) -> None:
        """On the loop: let a snapshot in flight finish writing (before a re-encryption
        or a stop); its adoption stays on the inbox."""
        thread = self._thread
        if thread is not None:
            thread.join(_JOIN_S)

    def _run(self, view: Any, meta: SnapshotMetadata, started: float) -> None:
        try:
            data: bytes = self._store.encode_snapshot(view)
            encoded = self._clock()
            snapshot = Snapshot(meta, data)
            self._storage.write_snapshot_file(snapshot)
        except BaseException as exc:
            self._post(lambda error=exc: self._failed(error))  # type: ignore[misc]
            return
        timings = {"encode_s": round(encoded - started, 3), "seconds": self._clock() - started}
        self._post(lambda: self._adopt(snapshot, timings))

    def _post(self, fn: Callable[[], None]) -> None:
        self._inbox.put(Call(lambda _core: fn(), Future()))

    def _failed(self, exc: BaseException) -> None:
        self._thread = None
        self._log.error("raft.snapshot.failed", error=repr(exc))

    def _adopt(self, snapshot: Snapshot, timings: dict[str, float]) -> None:
        self._thread = None
        meta = snapshot.metadata
        if meta.index <= self._storage.snapshot().metadata.index:
            self._log.info("raft.snapshot.superseded", index=meta.index)
            return
        self._storage.adopt_snapshot(snapshot)
        self._storage.compact(meta.index)
        self._adopted(snapshot)
        metrics.SNAPSHOT_BYTES.set(len(snapshot.data))
        self._log.info(
            "raft.snapshot.created",
            index=meta.index,
            bytes=len(snapshot.data),
            encode_s=timings["encode_s"],
            seconds=round(timings["seconds"], 3),
        )
