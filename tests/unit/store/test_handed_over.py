"""An object its writer hands over (``WriteTx.create/update(..., handed_over=True)``) is
stored as it is by the proposing store, its meta set when the write is applied; any other
is copied (the writer keeps it); a follower stores the same content either way."""

from __future__ import annotations

import random
from dataclasses import replace

from actors.store import MemoryStore, tasks
from api.task_state import TaskState
from tests.unit.store.helpers import FakeClock, service, task
from tests.unit.store.test_own_entries import Tee


def _pair() -> tuple[MemoryStore, MemoryStore]:
    leader = MemoryStore(clock=FakeClock(), rng=random.Random(1))
    follower = MemoryStore(clock=FakeClock(), rng=random.Random(2))
    leader.attach_proposer(Tee(leader, follower))  # type: ignore[arg-type]
    return leader, follower


def test_a_handed_over_create_and_update_are_stored_as_they_are() -> None:
    leader, follower = _pair()
    s = service()
    leader.update(lambda tx: tx.create(s))
    t = task(s.id)
    created = leader.update(lambda tx: tx.create(t, handed_over=True))
    stored = leader.view(lambda tx: tasks.get(tx, t.id))
    assert stored is t and created.objects == (t,)  # fails before: a copy was stored
    assert t.meta.version == created.version  # its meta set in place when applied
    running = replace(t, status=replace(t.status, state=TaskState.RUNNING))
    updated = leader.update(lambda tx: tx.update(running, handed_over=True))
    assert leader.view(lambda tx: tasks.get(tx, t.id)) is running
    assert running.meta.version == updated.version > created.version
    assert running.meta.created_at == t.meta.created_at
    assert leader.snapshot() == follower.snapshot()


def test_an_object_not_handed_over_is_copied_and_keeps_its_meta() -> None:
    leader, follower = _pair()
    s = service()
    leader.update(lambda tx: tx.create(s))
    t = task(s.id)
    before = t.meta
    leader.update(lambda tx: tx.create(t))
    stored = leader.view(lambda tx: tasks.get(tx, t.id))
    assert stored is not t and stored == replace(t, meta=stored.meta)
    assert t.meta is before
    assert leader.snapshot() == follower.snapshot()
