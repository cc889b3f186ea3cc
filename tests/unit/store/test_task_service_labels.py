"""A task carries its service's labels (for templates, api/templates.py): the orchestrator
gives a new task the service's map itself, and the store points a decoded copy at the
service's one (an empty map at the one shared empty map), as it shares a task's spec,
and so does a restore."""

from __future__ import annotations

import random

from actors.orchestrator.state import new_task
from actors.store import MemoryStore, services, tasks
from actors.store.sharing import NO_LABELS, share_task_parts
from api.codec_objects import decode, encode
from api.objects import Service, Task
from api.specs import ServiceSpec
from tests.unit.store.helpers import FakeClock, make_store


def _service(labels: dict[str, str]) -> Service:
    return Service(id="s1", spec=ServiceSpec(name="web", labels=labels))


def test_a_new_task_holds_its_service_s_labels() -> None:
    service = _service({"tier": "front"})
    task = new_task(service, slot=1, node_id="", now=1.0, rng=random.Random(1))
    assert task.service_labels is service.spec.labels


def test_a_decoded_task_shares_its_service_s_labels_or_the_empty_map() -> None:
    service = _service({"tier": "front"})
    task = new_task(service, slot=1, node_id="", now=1.0, rng=random.Random(1))
    copy = decode(Task, encode(task), strict=False)
    assert copy.service_labels is not service.spec.labels
    share_task_parts(copy, None, {"s1": service}, {})
    assert copy.service_labels is service.spec.labels

    bare = _service({})
    copy = decode(
        Task,
        encode(new_task(bare, slot=1, node_id="", now=1.0, rng=random.Random(1))),
        strict=False,
    )
    share_task_parts(copy, None, {"s1": bare}, {})
    assert copy.service_labels is NO_LABELS


def test_a_restored_task_holds_its_service_s_labels() -> None:
    store = make_store()
    labelled = _service({"tier": "front"})
    bare = Service(id="s2", spec=ServiceSpec(name="api"))
    made = [
        new_task(svc, slot=i + 1, node_id="", now=1.0, rng=random.Random(i))
        for i, svc in enumerate((labelled, labelled, bare))
    ]
    store.update(lambda tx: [tx.create(o) for o in (labelled, bare, *made)])
    restored = MemoryStore(clock=FakeClock())
    restored.restore(store.snapshot())
    with restored.read() as tx:
        by_id = {s.id: s for s in services.list_all(tx)}
        held = tasks.list_all(tx)
    assert len(held) == 3
    for t in held:
        labels = by_id[t.service_id].spec.labels
        assert t.service_labels is (labels if labels else NO_LABELS)
