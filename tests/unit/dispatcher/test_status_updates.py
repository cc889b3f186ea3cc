"""A node's status batch (actors/dispatcher/status_updates.py): items that do not decode
are named, not fatal."""

from __future__ import annotations

from actors.dispatcher.status_updates import encode_status_updates, parse_status_updates
from api.objects import TaskStatus
from api.task_state import TaskState


def test_undecodable_status_items_are_named_not_fatal() -> None:
    items = encode_status_updates([("t1", TaskStatus(state=TaskState.RUNNING))])
    items.append({"task_id": "t2", "status": {"state": "no-such-state"}})
    good, bad = parse_status_updates(items)
    assert [t for t, _ in good] == ["t1"]
    assert [t for t, _ in bad] == ["t2"] and "undecodable" in bad[0][1]
