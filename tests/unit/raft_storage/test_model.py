"""Property test: DurableStorage against a plain in-memory model, with reopens."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from actors.raft_node.storage import DurableStorage
from actors.raft_node.types import ConfState, Entry, HardState, Snapshot, SnapshotMetadata

KEEP = 3
CONF = ConfState(voters=(1, 2, 3))


class Model:
    """The log as a list of (index, term, data) after a dummy at the compaction point."""

    def __init__(self) -> None:
        self.hard_state = HardState()
        self.snapshot = Snapshot()
        self.offset, self.offset_term = 0, 0
        self.log: list[Entry] = []

    def last(self) -> int:
        return self.offset + len(self.log)

    def term(self, index: int) -> int:
        return self.offset_term if index == self.offset else self.log[index - self.offset - 1].term

    def apply_snapshot(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.offset, self.offset_term = snapshot.metadata.index, snapshot.metadata.term
        self.log = []

    def append(self, entries: list[Entry]) -> None:
        entries = [e for e in entries if e.index > self.offset]
        if entries:
            self.log = self.log[: entries[0].index - self.offset - 1] + entries

    def compact(self, index: int) -> None:
        target = index - KEEP
        if target > self.offset:
            self.offset_term = self.term(target)
            self.log = self.log[target - self.offset :]
            self.offset = target

    def reopened(self) -> None:
        self.hard_state = replace(self.hard_state, commit=max(self.hard_state.commit, self.offset))


terms = st.integers(min_value=1, max_value=4)
hard_states = st.builds(HardState, terms, st.integers(0, 3), st.integers(0, 50))


class StorageMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="raft-model-"))
        self.model = Model()
        self.storage = self._open()

    def _open(self) -> DurableStorage:
        return DurableStorage.open(
            self.dir,
            segment_bytes=300,
            log_entries_for_slow_followers=KEEP,
            initial_conf_state=CONF,
        )

    def _entries(self, data: st.DataObject) -> list[Entry]:
        """Entries as Raft appends them: any stored suffix after the snapshot may be
        replaced; entries the snapshot covers (committed) come again unchanged."""
        m = self.model
        snap = m.snapshot.metadata.index
        start = data.draw(st.integers(max(1, m.offset - 2), m.last() + 1))
        # Entries the snapshot covers are never truncated: a batch starting at or below
        # it reaches past it.
        at_least = snap - start + 1 if start <= snap else 0
        count = data.draw(st.integers(at_least, at_least + 12))
        term = data.draw(terms)
        out = []
        for i in range(start, start + count):
            t = m.term(i) if i <= snap and i >= m.offset else term
            out.append(Entry(i, t, b"d%d-%d" % (i, t) * 3))
        return out

    def _snapshot(self, data: st.DataObject) -> Snapshot:
        index = self.model.snapshot.metadata.index + data.draw(st.integers(1, 30))
        conf = ConfState(voters=(1, data.draw(st.integers(2, 5))))
        return Snapshot(SnapshotMetadata(index, data.draw(terms), conf), b"snap%d" % index)

    @rule(data=st.data())
    def append(self, data: st.DataObject) -> None:
        entries = self._entries(data)
        self.storage.append(entries)
        self.model.append(entries)

    @rule(hard_state=hard_states)
    def set_hard_state(self, hard_state: HardState) -> None:
        self.storage.set_hard_state(hard_state)
        self.model.hard_state = hard_state

    @rule(data=st.data(), hard_state=st.none() | hard_states, with_snapshot=st.booleans())
    def save(self, data: st.DataObject, hard_state: HardState | None, with_snapshot: bool) -> None:
        snapshot = self._snapshot(data) if with_snapshot else None
        if snapshot is not None:
            self.model.apply_snapshot(snapshot)
        entries = self._entries(data)
        self.storage.save(hard_state, entries, snapshot)
        self.model.append(entries)
        if hard_state is not None:
            self.model.hard_state = hard_state

    @rule(data=st.data())
    def apply_snapshot(self, data: st.DataObject) -> None:
        snapshot = self._snapshot(data)
        self.storage.apply_snapshot(snapshot)
        self.model.apply_snapshot(snapshot)

    @precondition(lambda self: self.model.last() > self.model.snapshot.metadata.index)
    @rule(data=st.data())
    def create_snapshot(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(self.model.snapshot.metadata.index + 1, self.model.last()))
        snapshot = self.storage.create_snapshot(index, CONF, b"at%d" % index)
        assert snapshot.metadata == SnapshotMetadata(index, self.model.term(index), CONF)
        self.model.snapshot = snapshot

    @rule(data=st.data())
    def compact(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(0, self.model.snapshot.metadata.index))
        self.storage.compact(index)
        self.model.compact(index)

    @rule()
    def reopen(self) -> None:
        self.storage.close()
        self.storage = self._open()
        self.model.reopened()

    @invariant()
    def same_state(self) -> None:
        s, m = self.storage, self.model
        assert (s.first_index(), s.last_index()) == (m.offset + 1, m.last())
        assert s.entries(m.offset + 1, m.last() + 1) == m.log
        assert [s.term(i) for i in range(m.offset, m.last() + 1)] == [
            m.term(i) for i in range(m.offset, m.last() + 1)
        ]
        assert s.snapshot() == m.snapshot
        conf = CONF if m.snapshot.is_empty else m.snapshot.metadata.conf_state
        assert s.initial_state() == (m.hard_state, conf)

    def teardown(self) -> None:
        self.storage.close()
        shutil.rmtree(self.dir, ignore_errors=True)


StorageMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestDurableStorageModel = StorageMachine.TestCase
