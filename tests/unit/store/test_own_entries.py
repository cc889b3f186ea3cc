"""The proposer's store applies its own entries as it built them; every other store decodes
the same bytes and reaches the same content."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from actors.store import MemoryStore, tasks
from actors.store import entry as entry_module
from actors.store.entry import assemble_entry, encode_op, entry_proposal_id
from actors.store.proposer import LocalProposer
from actors.store.task_rows import SpecTable
from api.objects import ObjectKind
from api.task_state import TaskState
from tests.unit.store.helpers import FakeClock, service, task


class Tee:
    """A proposer that commits at once here and hands every entry to a second store."""

    def __init__(self, here: MemoryStore, there: MemoryStore) -> None:
        self._local = LocalProposer(self._apply_both)
        self._here, self._there = here, there

    def _apply_both(self, index: int, data: bytes) -> object:
        self._there.apply(index, data)
        return self._here.apply(index, data)

    def propose(self, data: bytes) -> object:
        return self._local.propose(data)


def test_own_entries_are_not_decoded_and_a_follower_gets_the_same_objects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    leader = MemoryStore(clock=FakeClock(), rng=random.Random(1))
    follower = MemoryStore(clock=FakeClock(), rng=random.Random(2))
    leader.attach_proposer(Tee(leader, follower))  # type: ignore[arg-type]
    decoded: list[int] = []
    real = entry_module.decode_entry

    def counting(data: bytes) -> object:
        decoded.append(len(data))
        return real(data)

    monkeypatch.setattr("actors.store.memory.decode_entry", counting)
    s = service()
    leader.update(lambda tx: tx.create(s))
    ts = [task(s.id, slot=i) for i in range(1, 40)]

    def write(b: object) -> None:
        for t in ts:
            b.update(lambda tx, t=t: tx.create(t))  # type: ignore[attr-defined]

    leader.batch(write)  # type: ignore[arg-type]
    running = replace(ts[0].status, state=TaskState.RUNNING)
    leader.update(lambda tx: tx.update(replace(tasks.get(tx, ts[0].id), status=running)))
    entries = 3
    assert len(decoded) == entries  # the follower's three; the leader decoded none (was 6)
    for kind in (ObjectKind.SERVICE, ObjectKind.TASK):
        here = leader.view(lambda tx, k=kind: sorted(tx.list_objects(k), key=lambda o: o.id))
        there = follower.view(lambda tx, k=kind: sorted(tx.list_objects(k), key=lambda o: o.id))
        assert here == there and len(here) > 0
    assert leader.snapshot() == follower.snapshot()


def test_the_proposal_id_is_read_from_the_first_bytes() -> None:
    specs = SpecTable()
    data = assemble_entry("p" * 25, 12.5, [[encode_op_of_a_task(specs)]], specs.packed)
    assert entry_proposal_id(data) == "p" * 25
    assert entry_proposal_id(assemble_entry("q" * 25, 1.0, [])) == "q" * 25  # no specs
    assert entry_proposal_id(b"\x80") is None
    assert entry_proposal_id(b"") is None
    assert entry_proposal_id(data[:10]) is None  # cut short
    assert entry_proposal_id(data[:7]) is None
    assert entry_proposal_id(assemble_entry("r" * 40, 1.0, [])) == "r" * 40  # not a fixstr


def test_the_proposal_id_read_in_place_agrees_with_msgpack() -> None:
    """The head read in place (assemble_entry's layout) and through msgpack (any other)
    give the same answers."""
    head = b"\x84\xa1v\x03\xa1p"
    assert entry_proposal_id(head + b"\xa3abc" + b"\xa1t\xcb" + bytes(8)) == "abc"
    assert entry_proposal_id(head + b"\xa3a\xffc" + bytes(8)) is None  # not utf-8
    assert entry_proposal_id(b"\x84\xa1v\x09\xa1p\xa3abc" + bytes(8)) is None  # format 9
    assert entry_proposal_id(b"\x84\xa1v\x01\xa1p\xa3abc" + bytes(8)) == "abc"  # format 1
    assert entry_proposal_id(head + b"\x03" + bytes(8)) is None  # an int, not an id
    assert entry_proposal_id(b"\x84\xa1p\xa3abc\xa1v\x03" + bytes(8)) is None  # "p" first


def encode_op_of_a_task(specs: SpecTable) -> bytes:
    from actors.store.entry import Action, Op

    t = task("s" * 25)
    return encode_op(Op(Action.CREATE, ObjectKind.TASK, t.id, None, t), specs)
