"""The same Storage behaviour from MemoryStorage and DurableStorage (keeping no extra
entries at compaction, which is MemoryStorage's compact)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.raft_node.core import MemoryStorage
from actors.raft_node.storage import DurableStorage
from actors.raft_node.types import (
    Compacted,
    ConfState,
    Entry,
    HardState,
    Snapshot,
    SnapshotMetadata,
    Storage,
    StorageError,
    Unavailable,
)
from tests.unit.raft_storage.conftest import ents

CONF = ConfState(voters=(1, 2))


@pytest.fixture(params=["memory", "durable"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Storage]]:
    opened: list[Any] = []

    def factory() -> Storage:
        storage: Any
        if request.param == "memory":
            storage = MemoryStorage()
        else:
            storage = DurableStorage.open(tmp_path / "raft", log_entries_for_slow_followers=0)
        opened.append(storage)
        return storage  # type: ignore[no-any-return]

    yield factory
    for storage in opened:
        if isinstance(storage, DurableStorage):
            storage.close()


def test_empty(make: Callable[[], Storage]) -> None:
    s = make()
    assert (s.first_index(), s.last_index(), s.term(0)) == (1, 0, 0)
    assert s.initial_state() == (HardState(), ConfState())
    assert s.snapshot() == Snapshot()
    assert s.entries(1, 1) == []
    with pytest.raises(Unavailable):
        s.term(1)
    with pytest.raises(Unavailable):
        s.entries(1, 2)
    with pytest.raises(Compacted):
        s.entries(0, 1)


def test_append_truncate_and_read(make: Callable[[], Storage]) -> None:
    s = make()
    s.append(ents(1, 6))
    s.append(ents(4, 5, term=2))
    s.append([])
    assert s.entries(1, 6) == [*ents(1, 3), *ents(4, 5, term=2)]
    assert s.entries(2, 6, max_bytes=45) == ents(2, 3)
    assert s.entries(2, 6, max_bytes=1) == ents(2, 2)
    assert [s.term(i) for i in range(6)] == [0, 1, 1, 1, 2, 2]
    with pytest.raises(StorageError):
        s.append(ents(7, 8))  # gap
    s.set_hard_state(HardState(2, 1, 4))
    assert s.initial_state() == (HardState(2, 1, 4), ConfState())


def test_snapshot_compact_and_errors(make: Callable[[], Storage]) -> None:
    s = make()
    s.append(ents(1, 10, term=3))
    with pytest.raises(Unavailable):
        s.create_snapshot(11, CONF, b"")
    snap = s.create_snapshot(7, CONF, b"state")
    assert snap == Snapshot(SnapshotMetadata(7, 3, CONF), b"state")
    assert s.snapshot() == snap and s.initial_state()[1] == CONF
    with pytest.raises(StorageError):
        s.create_snapshot(7, CONF, b"")
    with pytest.raises(StorageError):
        s.compact(8)  # beyond the snapshot
    s.compact(5)
    assert (s.first_index(), s.last_index(), s.term(5)) == (6, 10, 3)
    s.compact(4)  # below the compaction point: nothing happens
    assert s.first_index() == 6
    with pytest.raises(Compacted):
        s.term(4)
    with pytest.raises(Compacted):
        s.entries(5, 7)
    s.append(ents(4, 11, term=3))  # the compacted part is skipped
    assert s.entries(6, 12) == ents(6, 11, term=3)


def test_apply_snapshot(make: Callable[[], Storage]) -> None:
    s = make()
    s.append(ents(1, 20))
    snap = Snapshot(SnapshotMetadata(15, 4, CONF), b"x")
    s.apply_snapshot(snap)
    assert (s.first_index(), s.last_index(), s.term(15), s.snapshot()) == (16, 15, 4, snap)
    with pytest.raises(StorageError):
        s.apply_snapshot(Snapshot(SnapshotMetadata(15, 4, CONF), b"y"))
    s.append([Entry(16, 4, b"a")])
    assert s.entries(16, 17) == [Entry(16, 4, b"a")]
