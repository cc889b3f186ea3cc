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

A big store (``FORK_AT_OBJECTS``) is encoded in a forked child that hands the bytes back
(``encode_in_child``): the encoding is pure Python, so on a thread it shares the
interpreter with every other thread of a busy leader (the Raft loop, the dispatcher, the
transports, the orchestrators): a 100,000-task store that encodes in 0.6 s alone took
3-4 s on the leader of a cluster placing tasks, and slowed all of them meanwhile. The
child is a copy of the process at the fork (the view's objects shared copy-on-write),
encodes with its own interpreter lock and exits; it runs nothing else of the node.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from actors.durable import write_all
from actors.metrics import raft as metrics
from actors.raft_node.commands import Call, Inbox
from actors.raft_node.types import Snapshot, SnapshotMetadata
from actors.store.gc_pause import reset_after_fork

__all__ = ["FORK_AT_OBJECTS", "SnapshotEncodeError", "Snapshotter", "encode_in_child"]

_JOIN_S = 60.0  # at most this long for a snapshot in flight when the loop stops
# a store of at least this many objects is encoded in a child: a fork of a big process
# costs some milliseconds (its page tables), less than what the child saves from here on
FORK_AT_OBJECTS = 5_000
CHILD_TIMEOUT_S = 300.0  # a child silent this long is killed (it never should be)


class SnapshotEncodeError(Exception):
    """The child encoding a snapshot failed, or was killed."""


def encode_in_child(
    encode: Callable[[Any], bytes], view: Any, timeout: float = CHILD_TIMEOUT_S
) -> tuple[bytes, float]:
    """``encode(view)`` in a forked child, and the CPU seconds the child spent (a figure
    the machine's load does not stretch). The child resets the node's signal handlers,
    encodes, writes the bytes to an anonymous in-memory file made before the fork and
    exits (``os._exit``: no atexit, no cleanup of what it shares with the parent); on an
    error it writes the error's repr to a pipe and exits 1. The parent reads the bytes
    once the child has exited, in one call: through a pipe (64 KiB at a time) each read
    woke the parent's thread, which then waited for the interpreter lock of a busy leader
    before the child could go on. Raises SnapshotEncodeError on the child's error, or when
    it has not finished within ``timeout`` seconds (it is killed)."""
    data_fd = _anonymous_file()
    read_fd, write_fd = os.pipe()
    try:
        pid = os.fork()
        if pid == 0:  # the child: nothing but the encoding
            status = 1
            try:
                os.close(read_fd)
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    signal.signal(sig, signal.SIG_DFL)
                reset_after_fork()  # the store's encoding pauses the collector under a lock
                write_all(data_fd, encode(view))
                status = 0
            except BaseException as exc:
                with contextlib.suppress(BaseException):
                    write_all(write_fd, repr(exc).encode()[:4096])
            finally:
                os._exit(status)
        os.close(write_fd)
        write_fd = -1
        why = _await_child(pid, read_fd, timeout)
        _, status, usage = os.wait4(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            reason = why.decode(errors="replace") if code == 1 and why else f"exit status {code}"
            raise SnapshotEncodeError(f"the encoding child failed: {reason}")
        return _read_all(data_fd), usage.ru_utime + usage.ru_stime
    finally:
        for fd in (data_fd, read_fd, write_fd):
            if fd >= 0:
                os.close(fd)


def _anonymous_file() -> int:
    """A file descriptor of a file without a name, in memory where the system has them."""
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is not None:
        fd: int = memfd_create("swarmnode-snapshot", os.MFD_CLOEXEC)
        return fd
    with tempfile.TemporaryFile() as f:  # unlinked at once; the duplicate keeps it
        return os.dup(f.fileno())


def _await_child(pid: int, read_fd: int, timeout: float) -> bytes:
    """What the child wrote to the pipe (its error, if any) by the time it closed it
    (exited); SIGKILL and SnapshotEncodeError when that takes longer than ``timeout``."""
    poller = select.poll()  # not select.select: a leader's descriptors pass 1024
    poller.register(read_fd, select.POLLIN)
    deadline = time.monotonic() + timeout
    out = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not poller.poll(left * 1000):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise SnapshotEncodeError(f"the encoding child was silent for {timeout:g}s")
        chunk = os.read(read_fd, 4096)
        if not chunk:
            return out
        out = (out + chunk)[:4096]


def _read_all(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    chunks = []
    offset = 0
    while offset < size:
        chunk = os.pread(fd, size - offset, offset)
        if not chunk:
            raise SnapshotEncodeError(f"the encoding child's {size} bytes ended at {offset}")
        chunks.append(chunk)
        offset += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _objects(view: Any) -> int:
    tables = getattr(view, "tables", None)
    return sum(len(t) for t in tables.values()) if isinstance(tables, dict) else 0


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
        fork_at_objects: int | None = None,
    ) -> None:
        self._id = node_id
        self._storage = storage
        self._store = store
        self._inbox = inbox
        self._adopted = adopted
        self._clock = clock
        self._log = log
        self._thread: threading.Thread | None = None
        self._fork_at = FORK_AT_OBJECTS if fork_at_objects is None else fork_at_objects

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
            encode = self._store.encode_snapshot
            if _objects(view) >= self._fork_at:
                data, cpu = encode_in_child(encode, view)
            else:
                cpu = time.thread_time()
                data = encode(view)
                cpu = time.thread_time() - cpu
            encoded = self._clock()
            snapshot = Snapshot(meta, data)
            self._storage.write_snapshot_file(snapshot)
        except BaseException as exc:
            self._post(lambda error=exc: self._failed(error))  # type: ignore[misc]
            return
        timings = {
            "encode_s": round(encoded - started, 3),
            "encode_cpu_s": round(cpu, 3),
            "seconds": self._clock() - started,
        }
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
            encode_cpu_s=timings["encode_cpu_s"],
            seconds=round(timings["seconds"], 3),
        )
