"""The orchestrator's writes against a real MemoryStore: creates of one service are written
in groups (one sub-transaction each), and a group over the write budget is written again
create by create."""

from __future__ import annotations

import functools
import random
import time
from dataclasses import replace

from actors.orchestrator import (
    CreateTask,
    DeleteTask,
    Effect,
    SetDesiredState,
    SetServiceSpec,
    SetServiceStatus,
    SetUpdateStatus,
)
from actors.orchestrator.restart import replacement
from actors.orchestrator.writes import stops_first, write_batch, write_groups, writer
from actors.store import MemoryStore, TooLarge, WriteTx, services, tasks
from actors.store.batch import WRITES_TOGETHER
from actors.store.budget import Budgets
from api.enums import UpdateState
from api.objects import JobStatus, Service, UpdateStatus
from api.task_state import TaskState
from tests.unit.orchestrator.helpers import make_service


def creates(service: Service, slots: range, rng: random.Random) -> list[CreateTask]:
    return [
        CreateTask(replacement(service, slot=s, node_id="", now=1.0, rng=rng, restart=False))
        for s in slots
    ]


def create(service: Service, tx: WriteTx) -> None:
    tx.create(service)


def store_with(*created: Service, budgets: Budgets | None = None) -> MemoryStore:
    store = MemoryStore.local(clock=time.time, rng=random.Random(5), budgets=budgets)
    for service in created:
        store.update(functools.partial(create, service))
    return store


def test_consecutive_creates_of_one_service_and_version_share_a_group() -> None:
    rng = random.Random(1)
    web, db = make_service("web"), make_service("db")
    web2 = replace(web, spec_version=web.spec_version + 1)
    stop = SetDesiredState("t" * 25, web.id, TaskState.SHUTDOWN)
    effects: list[Effect] = [
        *creates(web, range(1, 41), rng),
        stop,
        *creates(db, range(1, 4), rng),
        *creates(web2, range(41, 43), rng),
        *creates(db, range(4, 5), rng),
    ]
    groups = [list(g) for g in write_groups(effects)]
    assert [len(g) for g in groups] == [WRITES_TOGETHER, 40 - WRITES_TOGETHER, 1, 3, 2, 1]
    assert [e for g in groups for e in g] == effects  # every effect once, in order
    assert groups[2] == [stop]


def test_a_batch_writes_every_create_and_skips_a_removed_service() -> None:
    rng = random.Random(2)
    web, gone = make_service("web"), make_service("gone")
    store = store_with(web)  # "gone" was never created
    effects = [*creates(web, range(1, 101), rng), *creates(gone, range(1, 4), rng)]
    written, failed = write_batch(store, effects)
    assert (written, failed) == (100, [])
    stored = store.view(lambda tx: tasks.by_service(tx, web.id))
    assert sorted(t.slot for t in stored) == list(range(1, 101))
    assert store.view(lambda tx: tasks.by_service(tx, gone.id)) == []


def test_a_group_over_the_write_budget_is_written_create_by_create() -> None:
    rng = random.Random(3)
    web = make_service("web")
    budgets = Budgets(object=4096, write=4096, entry=1 << 20)
    effects = creates(web, range(1, WRITES_TOGETHER + 1), rng)
    probe = store_with(web, budgets=budgets)
    outcomes = probe.batch(lambda b: b.update(lambda tx: [writer(e)(tx) for e in effects])).outcomes
    assert isinstance(outcomes[0], TooLarge)  # the group together does not fit

    store = store_with(web, budgets=budgets)
    written, failed = write_batch(store, effects)
    assert (written, failed) == (WRITES_TOGETHER, [])
    assert len(store.view(lambda tx: tasks.by_service(tx, web.id))) == WRITES_TOGETHER
    assert store.view(lambda tx: services.get(tx, web.id)) is not None


def stops(service: Service, ids: list[str]) -> list[SetDesiredState]:
    return [SetDesiredState(i, service.id, TaskState.SHUTDOWN, "node drained") for i in ids]


def test_a_drain_s_shutdowns_go_first_and_in_groups() -> None:
    """A drain makes a shutdown and a replacement per task, alternating: each slice is
    written shutdowns first, both kinds in groups of WRITES_TOGETHER (they were one
    sub-transaction each)."""
    rng = random.Random(4)
    web = make_service("web")
    news = creates(web, range(1, 41), rng)
    olds = stops(web, [f"old{i:02d}" for i in range(1, 41)])
    effects: list[Effect] = [e for pair in zip(olds, news, strict=True) for e in pair]
    ordered = stops_first(effects)
    assert ordered == [*olds, *news]
    groups = [list(g) for g in write_groups(ordered)]
    assert [len(g) for g in groups] == [32, 8, 32, 8]


def test_stops_first_keeps_other_effects_in_place_and_a_task_changed_after_its_create() -> None:
    rng = random.Random(6)
    web = make_service("web")
    (new,) = creates(web, range(1, 2), rng)
    (old,) = stops(web, ["old"])
    removal = DeleteTask(new.task)
    own = SetDesiredState(new.task.id, web.id, TaskState.SHUTDOWN)
    assert stops_first([new, old, removal, new, old]) == [old, new, removal, old, new]
    assert stops_first([new, own, old]) == [new, own, old]  # left as it is


def test_changes_of_one_task_are_never_in_one_group() -> None:
    web = make_service("web")
    (a, b) = stops(web, ["a", "b"])
    a_removed = replace(a, state=TaskState.REMOVE)
    groups = [list(g) for g in write_groups([a, b, a_removed])]
    assert groups == [[a, b], [a_removed]]


def test_a_batch_writes_grouped_shutdowns() -> None:
    rng = random.Random(7)
    web = make_service("web")
    store = store_with(web)
    olds = creates(web, range(1, 41), rng)
    assert write_batch(store, olds) == (40, [])
    effects = stops(web, [c.task.id for c in olds])
    assert write_batch(store, [*effects, *stops(web, ["gone"])]) == (40, [])
    stored = store.view(lambda tx: tasks.by_service(tx, web.id))
    assert {t.desired_state for t in stored} == {TaskState.SHUTDOWN}


def test_a_service_removed_between_plan_and_write_keeps_its_status_and_spec() -> None:
    """``service rm`` committed after the orchestrator planned: the removed service's
    update status, spec and job status are not written (each would be an update after its
    removal, which docker events shows as a ``remove`` then an ``update``)."""
    web = make_service("web")
    removing = replace(web, pending_delete=True)
    store = store_with(removing)
    status = UpdateStatus(state=UpdateState.UPDATING, message="update in progress")
    rolled = replace(web, update_status=status, spec_version=web.spec_version + 1)
    effects: list[Effect] = [
        SetUpdateStatus(web.id, web.spec_version, status),
        SetServiceSpec(web.id, web.spec_version, rolled),
        SetServiceStatus(web.id, web.spec_version, job_status=JobStatus(iteration=2)),
    ]
    before = store.view(lambda tx: services.get(tx, web.id))
    for effect in effects:
        store.update(writer(effect))
    assert store.view(lambda tx: services.get(tx, web.id)) == before
