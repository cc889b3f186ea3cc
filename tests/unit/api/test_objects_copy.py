"""api/objects_copy.py: the store's copier builds what ``dataclasses.replace`` builds.

Fails before: the module did not exist (the store copied with ``dataclasses.replace``)."""

from __future__ import annotations

import dataclasses

import pytest

from api.objects import OBJECT_TYPES, Meta, Node, Service, Task, TaskStatus
from api.objects_copy import copy_object, field_names
from api.specs import ServiceSpec
from api.task_state import TaskState


def test_no_stored_object_class_has_a_post_init_the_copier_would_skip() -> None:
    for cls in OBJECT_TYPES.values():
        assert not hasattr(cls, "__post_init__"), cls


@pytest.mark.parametrize("cls", list(OBJECT_TYPES.values()))
def test_a_copy_with_a_new_meta_equals_replace(cls: type) -> None:
    obj = cls(id="x" * 25)
    meta = Meta(7, 1.0, 2.0)
    copied = copy_object(obj, meta)
    assert copied == dataclasses.replace(obj, meta=meta)
    assert copied is not obj and obj.meta == Meta()  # the original is untouched
    with pytest.raises(dataclasses.FrozenInstanceError):
        copied.id = "y"  # type: ignore[misc]


def test_a_copy_with_changes_equals_replace_with_them() -> None:
    task = Task(id="t" * 25, service_id="s", slot=3)
    status = TaskStatus(state=TaskState.RUNNING, message="started")
    changes = {"node_id": "n" * 25, "status": status}
    meta = Meta(9, 1.0, 3.0)
    assert copy_object(task, meta, changes) == dataclasses.replace(task, meta=meta, **changes)
    service = Service(id="s" * 25, spec=ServiceSpec(name="web"))
    assert copy_object(service, meta, {"spec_version": 2}).spec_version == 2


def test_changes_name_every_field_but_the_id_and_meta() -> None:
    assert "id" not in field_names(Node) and "meta" not in field_names(Node)
    assert {"status", "node_id", "spec"} <= field_names(Task)


def test_only_stored_objects_are_copied() -> None:
    with pytest.raises(TypeError, match="not a stored object type: Meta"):
        copy_object(Meta(), Meta())
