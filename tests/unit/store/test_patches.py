"""Entry format 3 (actors/store/entry.py, patch.py): an update is written as the fields it
changes and applied to the version it was read at; every manager reaches the same object.
Entries of formats 1 and 2 (updates written whole) still apply.

Fail before format 3: an update's op was ``["update", ..., <the whole task row>]``."""

from __future__ import annotations

import random
import sys
from dataclasses import replace
from typing import Any

import msgpack
import pytest

from actors.store import Batch, MemoryStore, tasks
from actors.store.entry import Action, Op, assemble_entry, decode_entry, encode_op
from actors.store.errors import EntryDecodeError
from actors.store.patch import changed_fields, decode_changes
from actors.store.proposer import LocalProposer
from actors.store.task_rows import TASK_ROWS, SpecTable
from api.objects import ContainerStatus, ObjectKind, Task, TaskStatus
from api.task_state import TaskState
from tests.unit.store.helpers import FakeClock, node, service, task


class Tee:
    """Commits at once on the leader and hands every entry, as bytes, to the followers."""

    def __init__(self, leader: MemoryStore, followers: list[MemoryStore]) -> None:
        self._local = LocalProposer(self._apply_all)
        self._leader, self._followers = leader, followers
        self.entries: list[bytes] = []

    def _apply_all(self, index: int, data: bytes) -> object:
        self.entries.append(data)
        for f in self._followers:
            f.apply(index, data)
        return self._leader.apply(index, data)

    def propose(self, data: bytes) -> object:
        return self._local.propose(data)


def _cluster() -> tuple[MemoryStore, MemoryStore, Tee]:
    leader = MemoryStore(clock=FakeClock(), rng=random.Random(1))
    follower = MemoryStore(clock=FakeClock(), rng=random.Random(2))
    tee = Tee(leader, [follower])
    leader.attach_proposer(tee)  # type: ignore[arg-type]
    return leader, follower, tee


def _ops(data: bytes) -> list[list[Any]]:
    return [op for group in msgpack.unpackb(data, raw=False)["g"] for op in group]


def _running(t: Task) -> Task:
    status = TaskStatus(
        timestamp=7.0,
        state=TaskState.RUNNING,
        message="started",
        container_status=ContainerStatus(container_id="c" * 64, pid=42),
    )
    return replace(t, status=status)


def test_an_update_is_written_as_the_fields_it_changes_and_followers_match() -> None:
    leader, follower, tee = _cluster()
    s = service()
    t = task(s.id)
    leader.update(lambda tx: tx.create(s))
    leader.update(lambda tx: tx.create(t))

    def assign(tx: Any) -> None:
        current = tasks.get(tx, t.id)
        tx.update(replace(current, node_id="n" * 25))

    leader.update(assign)
    ((action, kind, id_, expected, body),) = _ops(tee.entries[-1])
    assert (action, kind, id_, body) == ("patch", "task", t.id, {"node_id": "n" * 25})
    assert expected == 2  # the version it was read at

    def run(tx: Any) -> None:
        tx.update(_running(tasks.get(tx, t.id)))

    leader.update(run)
    (op,) = _ops(tee.entries[-1])
    assert op[0] == "patch" and set(op[4]) == {"status"}
    assert follower.snapshot() == leader.snapshot()
    held = follower.view(lambda tx: tasks.get(tx, t.id))
    assert held is not None and held.node_id == "n" * 25
    assert held.status.state is TaskState.RUNNING and held.meta.version == 4


def test_two_sub_transactions_of_one_proposal_patch_one_task_in_turn() -> None:
    leader, follower, tee = _cluster()
    s = service()
    t = task(s.id)
    leader.update(lambda tx: tx.create(s))
    leader.update(lambda tx: tx.create(t))

    def fill(batch: Batch) -> None:
        batch.update(lambda tx: tx.update(replace(tasks.get(tx, t.id), node_id="n1")))
        batch.update(lambda tx: tx.update(_running(tasks.get(tx, t.id))))

    assert leader.batch(fill).applied == 2
    assert [op[0] for op in _ops(tee.entries[-1])] == ["patch", "patch"]
    assert follower.snapshot() == leader.snapshot()


def test_a_stale_patch_is_refused_on_every_manager_alike() -> None:
    leader, follower, _ = _cluster()
    s = service()
    t = task(s.id)
    leader.update(lambda tx: tx.create(s))
    leader.update(lambda tx: tx.create(t))
    stale = leader.view(lambda tx: tasks.get(tx, t.id))
    assert stale is not None
    leader.update(lambda tx: tx.update(replace(tasks.get(tx, t.id), node_id="n1")))

    # a write built on the stale version, as another manager's would arrive
    specs = SpecTable()
    op = Op(Action.UPDATE, ObjectKind.TASK, t.id, stale.meta.version, replace(stale, slot=9), stale)
    packed = encode_op(op, specs)
    assert msgpack.unpackb(packed, raw=False)[0] == "patch"
    data = assemble_entry("p" * 25, 9.0, [[packed]])
    index = leader.version + 1
    for store in (leader, follower):
        result = store.apply(index, data)
        assert result.groups_rejected == 1
    assert follower.snapshot() == leader.snapshot()


def test_an_update_of_a_replaced_object_is_written_whole() -> None:
    leader, follower, tee = _cluster()
    s = service()
    t = task(s.id)
    leader.update(lambda tx: tx.create(s))
    leader.update(lambda tx: tx.create(t))

    def replace_it(tx: Any) -> None:
        tx.delete_id(ObjectKind.TASK, t.id)
        tx.create(replace(t, slot=5))

    leader.update(replace_it)
    (op,) = _ops(tee.entries[-1])
    assert op[0] == "update" and isinstance(op[4], list)  # a whole row
    assert follower.snapshot() == leader.snapshot()


def test_format_2_entries_with_whole_updates_still_apply() -> None:
    leader, follower, _ = _cluster()
    s = service()
    t = task(s.id)
    leader.update(lambda tx: tx.create(s))
    leader.update(lambda tx: tx.create(t))
    stored = leader.view(lambda tx: tasks.get(tx, t.id))
    assert stored is not None
    # format 2: the same update written whole (no base), under a format-2 header
    specs = SpecTable()
    whole = encode_op(Op(Action.UPDATE, ObjectKind.TASK, t.id, 2, _running(stored)), specs)
    assert msgpack.unpackb(whole, raw=False)[0] == "update"
    data = msgpack.unpackb(assemble_entry("q" * 25, 9.0, [[whole]], specs.packed), raw=False)
    data["v"] = 2
    old = msgpack.packb(data, use_bin_type=True)
    for store in (leader, follower):
        assert store.apply(store.version + 1, old).groups_applied == 1
    held = follower.view(lambda tx: tasks.get(tx, t.id))
    assert held is not None and held.status.state is TaskState.RUNNING
    assert follower.snapshot() == leader.snapshot()


def _patch_entry(body: Any, version: int = 3, expected: Any = 2, layout: bool = True) -> bytes:
    entry: dict[str, Any] = {"v": version, "p": "p" * 25, "t": 1.0}
    if layout:
        entry["r"] = TASK_ROWS.layout
    entry["g"] = [[["patch", "task", "t" * 25, expected, body]]]
    return msgpack.packb(entry, use_bin_type=True)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_patch_entry({"meta": {}}), "task.meta: not a field a patch may change"),
        (_patch_entry({"id": "x"}), "task.id: not a field a patch may change"),
        (_patch_entry({"slot": "one"}), "task.slot"),
        (_patch_entry({"status": [0.0, 999, "", "", None, [], 0.0]}), "task.status.state"),
        (_patch_entry({"status": {"state": 64}}), "task.status: a TaskStatus row is not a list"),
        (_patch_entry({"status": [0.0]}, layout=False), "layout names no fields of TaskStatus"),
        (_patch_entry([1]), "a patch is a map"),
        (_patch_entry({"slot": 1}, expected=None), "the version it applies to"),
        (_patch_entry({"slot": 1}, version=2), "'patch' is not a valid Action"),
    ],
)
def test_a_bad_patch_is_refused_with_the_reason(data: bytes, message: str) -> None:
    with pytest.raises(EntryDecodeError, match=message):
        decode_entry(data)


def test_changed_fields_names_only_what_differs() -> None:
    t = task("s" * 25)
    assert changed_fields(t, t) == {}
    assert changed_fields(t, replace(t, node_id="n")) == {"node_id": "n"}
    assert changed_fields(t, replace(t, meta=replace(t.meta, version=9))) == {}  # not meta
    assert changed_fields(t, replace(t, id="other")) is None  # not the same object
    ran = _running(t)
    changes = changed_fields(t, ran)
    assert changes is not None and set(changes) == {"status"}
    assert isinstance(changes["status"], list)  # a row, as the entry's task rows
    assert decode_changes(ObjectKind.TASK, changes) == {"status": ran.status}


def test_a_status_row_of_another_layout_is_read_by_its_field_names() -> None:
    ran = _running(task("s" * 25))
    changes = changed_fields(task("s" * 25, id=ran.id), ran)
    assert changes is not None
    layout = {name: list(fields) for name, fields in TASK_ROWS.layout.items()}
    # an older writer: TaskStatus without started_at (the last field), which defaults
    layout["TaskStatus"] = layout["TaskStatus"][:-1]
    older = {"status": changes["status"][:-1]}
    assert decode_changes(ObjectKind.TASK, older, layout) == {"status": ran.status}


def test_a_newer_writers_patch_is_read_without_the_fields_this_version_lacks() -> None:
    """A field the class does not have (a newer leader's) is skipped, and so is a field
    more in its status row's layout; ``id`` and ``meta`` stay refused (above)."""
    ran = _running(task("s" * 25))
    changes = changed_fields(task("s" * 25, id=ran.id), ran)
    assert changes is not None
    layout = {name: list(fields) for name, fields in TASK_ROWS.layout.items()}
    layout["TaskStatus"].append("health")
    newer = {"status": [*changes["status"], "healthy"], "restart_budget": 3}
    assert decode_changes(ObjectKind.TASK, newer, layout) == {"status": ran.status}
    assert decode_changes(ObjectKind.TASK, {"restart_budget": 3}) == {}


def test_a_patched_task_on_a_follower_shares_its_node_id_and_status_words() -> None:
    leader, follower, _ = _cluster()
    s = service()
    t = task(s.id)
    n = node("box")
    for obj in (s, n, t):
        leader.update(lambda tx, obj=obj: tx.create(obj))
    leader.update(lambda tx: tx.update(replace(tasks.get(tx, t.id), node_id="".join(n.id))))
    leader.update(lambda tx: tx.update(_running(tasks.get(tx, t.id))))
    held = follower.view(lambda tx: tasks.get(tx, t.id))
    stored_node = follower.view(lambda tx: tx.get(ObjectKind.NODE, n.id))
    assert held is not None and stored_node is not None
    assert held.node_id is stored_node.id  # one copy of the id, not one per task
    assert held.status.message is sys.intern("started")


def test_changed_fields_reports_each_field_alone_encoded_as_its_encoder_does() -> None:
    """The comparer generated per class (patch.py) against the rule it implements: a
    field differs unless identical or equal of one type; its value as encoded whole."""
    base = _running(task("s" * 25, node_id="n" * 25))
    other = {
        "service_id": "x" * 25,
        "service_name": "other",
        "slot": 7,
        "node_id": "m" * 25,
        "desired_state": TaskState.SHUTDOWN,
        "status": replace(base.status, message="stopping"),
        "labels": {"a": "b"},
    }
    for name, value in other.items():
        changes = changed_fields(base, replace(base, **{name: value}))
        whole = TASK_ROWS.encode(replace(base, **{name: value}), 0)
        position = TASK_ROWS.layout["Task"].index(name)
        assert changes == {name: whole[position]}, name
    assert changed_fields(base, replace(base, node_id="".join("n" * 25))) == {}  # equal
    assert changed_fields(base, replace(base, slot=1.0)) == {"slot": 1.0}  # type: ignore[arg-type]


def test_decoded_ops_are_the_ops_the_constructor_builds() -> None:
    leader, _, tee = _cluster()
    s, t = service(), task(service().id)
    leader.update(lambda tx: tx.create(s))
    leader.update(lambda tx: tx.create(t))
    (created,) = leader.view(lambda tx: tasks.list_all(tx))
    leader.update(lambda tx: tx.update(_running(created)))
    (patch,) = decode_entry(tee.entries[-1]).groups[0]
    (whole,) = decode_entry(tee.entries[-2]).groups[0]
    for op in (patch, whole):
        assert type(op) is Op and op.base is None and op.handed_over is False
    assert whole == Op(Action.CREATE, ObjectKind.TASK, t.id, None, whole.obj)
    assert patch == Op(
        Action.UPDATE, ObjectKind.TASK, t.id, created.meta.version, None, changes=patch.changes
    )
    assert patch.changes is not None and set(patch.changes) == {"status"}
