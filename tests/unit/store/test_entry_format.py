"""Entry format 2 (actors/store/entry.py): a task's spec written once per entry, tasks as
rows; format-1 entries (every object a map) and rows of another layout still apply."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import msgpack
import pytest

from actors.store import MemoryStore, TooLarge, tasks
from actors.store.budget import Budgets, encode_group
from actors.store.entry import Action, Entry, Op, decode_entry, encode_entry, encode_op
from actors.store.errors import EntryDecodeError
from actors.store.task_rows import TASK_ROWS, SpecTable
from api.codec_objects import encode_object
from api.objects import ObjectKind, Task
from api.specs import ContainerSpec, TaskSpec
from tests.unit.store.helpers import FakeClock, make_store, service, task


def _creates(ts: list[Task]) -> Entry:
    return Entry(
        "p" * 25, 5.0, tuple((Op(Action.CREATE, ObjectKind.TASK, t.id, None, t),) for t in ts)
    )


def _tasks_of(sid: str, spec: TaskSpec, count: int) -> list[Task]:
    return [replace(task(sid, slot), spec=spec) for slot in range(1, count + 1)]


def _format_1(entry: Entry) -> bytes:
    """An entry as written before format 2: every object a map."""
    groups = [
        [[op.action.value, op.kind.value, op.id, op.expected, encode_object(op.obj)] for op in g]
        for g in entry.groups
        if all(op.obj is not None for op in g)
    ]
    return msgpack.packb(
        {"v": 1, "p": entry.proposal_id, "t": entry.timestamp, "g": groups}, use_bin_type=True
    )


def test_a_spec_many_tasks_carry_is_written_once_per_entry() -> None:
    s = service()
    ts = _tasks_of(s.id, s.spec.task, 50)
    data = encode_entry(_creates(ts))
    raw = msgpack.unpackb(data, raw=False)
    assert raw["v"] == 3 and len(raw["s"]) == 1 and raw["r"] == TASK_ROWS.layout
    # the spec once and 50 rows: under a third of 50 maps with their spec (format 1)
    assert len(data) * 3 < len(_format_1(_creates(ts)))
    decoded = decode_entry(data)
    objs = [op.obj for g in decoded.groups for op in g]
    assert objs == ts
    assert all(o is not None and o.spec is objs[0].spec for o in objs)  # decoded once


def test_equal_specs_held_apart_get_one_number_and_distinct_specs_their_own() -> None:
    s = service()
    other = TaskSpec(container=ContainerSpec(image="nginx"))
    ts = [replace(t, spec=replace(s.spec.task)) for t in _tasks_of(s.id, s.spec.task, 3)]
    ts.append(replace(task(s.id, 9), spec=other))
    raw = msgpack.unpackb(encode_entry(_creates(ts)), raw=False)
    assert len(raw["s"]) == 2
    assert [op.obj for g in decode_entry(encode_entry(_creates(ts))).groups for op in g] == ts


def test_a_follower_holds_the_service_spec_for_tasks_decoded_from_an_entry() -> None:
    follower = make_store()
    s = service()
    follower.update(lambda tx: tx.create(s))
    stored = follower.view(lambda tx: tx.get(ObjectKind.SERVICE, s.id))
    ts = _tasks_of(s.id, replace(s.spec.task), 20)  # an equal copy, as a decoder makes
    assert follower.apply(follower.version + 1, encode_entry(_creates(ts))).groups_applied == 20
    held = follower.view(tasks.list_all)
    assert len(held) == 20
    assert all(t.spec is stored.spec.task for t in held)  # type: ignore[union-attr]


def test_format_1_entries_still_apply() -> None:
    s = service()
    ts = _tasks_of(s.id, s.spec.task, 3)
    old, new = make_store(), make_store()
    for store in (old, new):
        store.update(lambda tx, store=store: tx.create(s))
    old.apply(old.version + 1, _format_1(_creates(ts)))
    new.apply(new.version + 1, encode_entry(_creates(ts)))
    assert old.view(tasks.list_all) == new.view(tasks.list_all)
    assert len(old.view(tasks.list_all)) == 3


def _with_layout(data: bytes, change: Any) -> bytes:
    raw = msgpack.unpackb(data, raw=False)
    change(raw)
    return msgpack.packb(raw, use_bin_type=True)


def test_rows_of_an_older_writer_take_the_defaults_of_the_fields_it_lacked() -> None:
    s = service()
    (t,) = _tasks_of(s.id, s.spec.task, 1)
    t = replace(t, job_iteration=0)
    position = TASK_ROWS.layout["Task"].index("job_iteration")

    def older(raw: dict[str, Any]) -> None:
        raw["r"]["Task"].pop(position)
        for group in raw["g"]:
            for op in group:
                op[4].pop(position)

    decoded = decode_entry(_with_layout(encode_entry(_creates([t])), older))
    assert decoded.groups[0][0].obj == t


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda raw: raw["g"][0][0][4].__setitem__(2, 7), "spec reference 7 names no spec"),
        (lambda raw: raw["s"][0].__setitem__("force_update", "x"), r"s\[0\]\.force_update"),
        (lambda raw: raw.pop("r"), "layout names no fields of Task"),
        (lambda raw: raw["g"][0][0][4].append(1), "not a list of"),
        (lambda raw: raw.__setitem__("s", {}), "malformed"),
    ],
)
def test_a_bad_format_2_entry_is_refused_with_the_reason(change: Any, message: str) -> None:
    s = service()
    data = _with_layout(encode_entry(_creates(_tasks_of(s.id, s.spec.task, 1))), change)
    with pytest.raises(EntryDecodeError, match=message):
        decode_entry(data)


def test_a_write_over_its_budget_leaves_no_spec_in_the_entry() -> None:
    specs = SpecTable()
    s = service()
    big = TaskSpec(container=ContainerSpec(image="x" * 3000))
    (small,) = _tasks_of(s.id, s.spec.task, 1)
    (large,) = _tasks_of(s.id, big, 1)
    budgets = Budgets(object=2_000, write=4_000, entry=10_000)
    encode_group((Op(Action.CREATE, ObjectKind.TASK, small.id, None, small),), budgets, specs)
    with pytest.raises(TooLarge, match="one object"):
        encode_group((Op(Action.CREATE, ObjectKind.TASK, large.id, None, large),), budgets, specs)
    assert len(specs) == 1
    # its spec is numbered anew (not 1, left by the refused write) when it comes again
    assert specs.ref(big) == 1 and specs.ref(s.spec.task) == 0


def test_a_batch_proposes_each_spec_once_per_entry() -> None:
    entries: list[bytes] = []
    store = MemoryStore(clock=FakeClock(), rng=random.Random(3))

    class Recording:
        def __init__(self) -> None:
            self.index = 0

        def propose(self, data: bytes) -> Any:
            from concurrent.futures import Future

            entries.append(data)
            self.index += 1
            store.apply(self.index, data)
            done: Future[int] = Future()
            done.set_result(self.index)
            return done

    store.attach_proposer(Recording())
    s = service()
    store.update(lambda tx: tx.create(s))
    ts = _tasks_of(s.id, s.spec.task, 30)

    def write(b: Any) -> None:
        for t in ts:
            b.update(lambda tx, t=t: tx.create(t))

    store.batch(write)
    raw = msgpack.unpackb(entries[-1], raw=False)
    assert len(raw["s"]) == 1 and sum(len(g) for g in raw["g"]) == 30
    assert "s" not in msgpack.unpackb(entries[0], raw=False)  # a service: no task rows


def test_encode_op_numbers_a_task_spec_in_the_table() -> None:
    specs = SpecTable()
    s = service()
    (t,) = _tasks_of(s.id, s.spec.task, 1)
    packed = encode_op(Op(Action.CREATE, ObjectKind.TASK, t.id, None, t), specs)
    row = msgpack.unpackb(packed, raw=False)[4]
    assert row[2] == 0 and len(specs) == 1


def test_the_log_kept_for_slow_followers_holds_about_thirty_batches_of_task_writes() -> None:
    from actors.raft_node.compaction import KEEP_LOG_BYTES

    s = service()
    running = [
        replace(t, node_id="n" * 25, status=replace(t.status, message="started"))
        for t in _tasks_of(s.id, s.spec.task, 500)
    ]
    batch = Entry(
        "p" * 25, 5.0, tuple((Op(Action.UPDATE, ObjectKind.TASK, t.id, 3, t),) for t in running)
    )
    assert 20 <= KEEP_LOG_BYTES // len(encode_entry(batch)) <= 60
