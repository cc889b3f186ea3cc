"""A big store's snapshot is encoded in a forked child (snapshotter.py): the same bytes
as on a thread, its errors named, a silent child killed, and a RaftNode adopting it."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from actors.raft_node import snapshotter
from actors.raft_node.snapshotter import SnapshotEncodeError, encode_in_child
from actors.store import MemoryStore, WriteTx, nodes
from tests.support.waiting import wait_for
from tests.unit.orchestrator.helpers import make_node, make_service
from tests.unit.raft_actor.test_raft_snapshot_policy import single


def filled(store: MemoryStore, n: int) -> None:
    def fill(tx: WriteTx) -> None:
        for i in range(n):
            tx.create(make_node(f"node-{i:04d}"))
            tx.create(make_service(f"svc-{i:04d}", replicas=1))

    store.update(fill)


def test_the_child_encodes_the_same_bytes_as_the_store() -> None:
    store = MemoryStore.local(clock=time.time)
    filled(store, 300)
    view = store.snapshot_view()
    data, cpu = encode_in_child(store.encode_snapshot, view)
    assert data == store.encode_snapshot(view) and cpu > 0


def boom(view: Any) -> bytes:
    raise ValueError(f"cannot encode {view!r}")


def test_an_error_in_the_child_is_raised_with_its_name() -> None:
    with pytest.raises(SnapshotEncodeError, match=r"ValueError.*cannot encode 7"):
        encode_in_child(boom, 7)


def silent(view: Any) -> bytes:
    signal.pause()  # never answers: only the parent's SIGKILL ends it
    return b""


def test_a_silent_child_is_killed() -> None:
    with pytest.raises(SnapshotEncodeError, match="silent"):
        encode_in_child(silent, None, timeout=0.2)


def test_a_raft_node_adopts_a_snapshot_encoded_in_a_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    children: list[int] = []

    def counted(encode: Any, view: Any, timeout: float = 300.0) -> tuple[bytes, float]:
        children.append(1)
        return encode_in_child(encode, view, timeout)

    monkeypatch.setattr(snapshotter, "FORK_AT_OBJECTS", 10)
    monkeypatch.setattr(snapshotter, "encode_in_child", counted)
    store = MemoryStore(clock=time.time)
    node = single(tmp_path, store, interval=5)
    try:
        wait_for(lambda: node.is_leader, "leadership", 10)
        for i in range(6):
            filled_at = i * 10

            def more(tx: WriteTx, at: int = filled_at) -> None:
                for j in range(at, at + 10):
                    tx.create(make_node(f"node-{j:04d}"))

            store.update(more)
        wait_for(lambda: node.status().snapshot_index >= 5, "a snapshot adopted", 20)
        assert children
        snap = node._storage.snapshot()  # type: ignore[attr-defined]
        restored = MemoryStore.local(clock=time.time)
        restored.restore(snap.data)
        assert len(restored.view(nodes.list_all)) >= 40
    finally:
        node.stop()


def test_the_pipe_may_be_a_descriptor_past_1024() -> None:
    """A leader holds a descriptor for each of 1,000 sessions: select.select refused."""
    import os

    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        assert encode_in_child(lambda v: b"x" * v, 3)[0] == b"xxx"
    finally:
        for fd in held:
            os.close(fd)
