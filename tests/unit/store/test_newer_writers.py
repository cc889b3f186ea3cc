"""A rolling upgrade (README "Upgrading"): a manager of this version applies the Raft
entries a newer leader writes, whose objects, specs, task rows and patches carry fields
this version does not have. They are skipped (api/codec_objects.py's rule for the
cluster's data, SwarmKit's protobuf rule), so the follower holds what it would hold had
the leader been of its own version. Refused before: ``unknown field``."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import msgpack
import pytest

from actors.store import MemoryStore, WriteTx, services, tasks
from actors.store.entry import decode_entry
from actors.store.errors import EntryDecodeError
from actors.store.task_rows import TASK_ROWS
from tests.unit.store.helpers import FakeClock, node, service, task
from tests.unit.store.test_patches import Tee, _running


def _newer(data: bytes) -> bytes:
    """``data`` as a newer version would write it: a field more in the task row layout
    (Task and TaskStatus), in every spec, object and patch."""
    entry = msgpack.unpackb(data, raw=False)
    layout = entry.get("r")
    if layout is not None:
        layout["Task"].append("restart_budget")
        layout["TaskStatus"].append("health")
    status_at = layout["Task"].index("status") if layout is not None else None
    for spec in entry.get("s", []):
        spec["container"]["newer_option"] = 500
    for group in entry["g"]:
        for action, kind, _, _, obj in group:
            if obj is None:
                continue
            if action == "patch":
                obj["restart_budget"] = 3
                if obj.get("status") is not None:
                    obj["status"].append("healthy")
            elif kind == "task":
                obj[status_at].append("healthy")
                obj.append(3)
            else:
                obj["observed_by"] = "newer"
                if kind == "service":
                    obj["spec"]["task"]["container"]["newer_option"] = 500
    packed: bytes = msgpack.packb(entry, use_bin_type=True)
    return packed


def _writes(leader: MemoryStore) -> None:
    """Creates, whole updates and patches of services, nodes and tasks."""
    s, n = service(), node("h1")
    created = [replace(task(s.id, slot), spec=s.spec.task) for slot in range(3)]

    def create(tx: WriteTx) -> None:
        for obj in (s, n, *created):
            tx.create(obj)

    leader.update(create)
    for t in created:

        def assign(tx: WriteTx, id: str = t.id) -> None:
            current = tasks.get(tx, id)
            assert current is not None
            tx.update(replace(current, node_id=n.id))
            tx.update(_running(replace(current, node_id=n.id)))

        leader.update(assign)

    def rename(tx: WriteTx) -> None:
        current = services.get(tx, s.id)
        assert current is not None
        tx.update(replace(current, spec=replace(current.spec, name="renamed")))

    leader.update(rename)


def test_an_older_follower_applies_a_newer_leaders_entries_without_the_new_fields(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its task rows and status patches reordered into this version's layout, not read
    as maps (about ten times the CPU per task)."""
    monkeypatch.setattr(TASK_ROWS, "as_map", _not_as_maps)
    leader = MemoryStore(clock=FakeClock(), rng=random.Random(1))
    tee = Tee(leader, [])
    leader.attach_proposer(tee)  # type: ignore[arg-type]
    _writes(leader)
    follower = MemoryStore(clock=FakeClock(), rng=random.Random(2))
    kinds = set()
    for index, data in enumerate(tee.entries, start=1):
        newer = _newer(data)
        assert newer != data
        kinds |= {op[0] for group in msgpack.unpackb(newer, raw=False)["g"] for op in group}
        result: Any = follower.apply(index, newer)
        assert result.groups_applied == len(msgpack.unpackb(data, raw=False)["g"])
    assert kinds == {"create", "patch"}
    assert follower.snapshot() == leader.snapshot()


def _not_as_maps(*args: object) -> None:
    raise AssertionError("a row of a newer layout was read as a map")


def test_a_newer_leaders_unknown_action_or_kind_is_refused() -> None:
    entry = {"v": 3, "p": "p" * 25, "t": 1.0, "r": {}, "s": []}
    entry["g"] = [[["upsert", "task", "t" * 25, None, {}]]]
    with pytest.raises(EntryDecodeError, match="'upsert' is not a valid Action"):
        decode_entry(msgpack.packb(entry))
    entry["g"] = [[["create", "volume", "v" * 25, None, {"id": "v" * 25}]]]
    with pytest.raises(EntryDecodeError, match="'volume' is not a valid ObjectKind"):
        decode_entry(msgpack.packb(entry))
    entry["v"] = 4
    with pytest.raises(EntryDecodeError, match="not a store entry of format"):
        decode_entry(msgpack.packb(entry))
