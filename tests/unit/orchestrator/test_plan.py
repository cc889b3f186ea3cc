"""The dry-run plan (issue 10 item 10): starts, stops, replaces and pending tasks, with
nodes and reasons, from the real orchestrator and scheduler on a copy; pure."""

from __future__ import annotations

from dataclasses import replace

from actors.orchestrator.plan import plan_service
from actors.orchestrator.rollback import rolled_back
from api.enums import UpdateOrder
from api.objects import Service
from api.specs import ContainerSpec, Dependency, ReplicatedService, UpdateConfig
from tests.unit.orchestrator.helpers import World, make_node, make_service


def world_with_web(replicas: int = 3) -> tuple[World, Service]:
    w = World()
    w.add(make_node("n1"), make_node("n2"))
    web = make_service("web", replicas=replicas)
    w.add(web)
    w.settle()
    return w, w.services[web.id]


def actions(plan: object) -> list[tuple[str, str, str]]:
    return sorted((s.action, s.slot, s.node) for s in plan.steps)  # type: ignore[attr-defined]


def test_a_new_service_starts_its_tasks_on_nodes_and_explains_what_stays_pending() -> None:
    w = World()
    w.add(make_node("n1"), make_node("n2"))
    new = replace(make_service("api", replicas=3), id="(new)")
    plan = plan_service(w.snapshot(), new, w.now)
    assert [a for a, _, _ in actions(plan)] == ["start"] * 3
    assert {n for _, _, n in actions(plan)} == {"n1", "n2"}
    nowhere = replace(make_service("gpu", replicas=1, constraints=("node.labels.gpu==yes",)))
    (step,) = plan_service(w.snapshot(), replace(nowhere, id="(new)"), w.now).steps
    assert step.action == "pending"
    assert step.why == "no suitable node (constraint node.labels.gpu==yes not satisfied on 2 nodes)"
    assert not w.tasks  # nothing was written


def test_an_update_replaces_every_task_and_says_how_it_is_paced() -> None:
    w, web = world_with_web()
    before = dict(w.tasks)
    container = ContainerSpec(image="busybox:2", command=("sleep", "1000"))
    task = replace(web.spec.task, container=container)
    changed = replace(web, spec=replace(web.spec, task=task), spec_version=2)
    plan = plan_service(w.snapshot(), changed, w.now)
    assert [(a, s) for a, s, _ in actions(plan)] == [
        ("replace", "1"),
        ("replace", "2"),
        ("replace", "3"),
    ]
    assert all(s.task_id in before and "updated" in s.why for s in plan.steps)
    assert plan.notes == (
        "the update replaces 3 task(s) 1 at a time, stop-first, 0s apart, failure action pause",
    )
    assert w.tasks == before


def test_scale_down_stops_and_unmet_dependencies_keep_tasks_pending() -> None:
    w, web = world_with_web()
    smaller = replace(web, spec=replace(web.spec, mode=ReplicatedService(1)), spec_version=2)
    assert [a for a, _, _ in actions(plan_service(w.snapshot(), smaller, w.now))] == ["stop"] * 2
    waits = replace(make_service("api", replicas=1), id="(new)")
    waits = replace(waits, spec=replace(waits.spec, depends_on=(Dependency("db"),)))
    (step,) = plan_service(w.snapshot(), waits, w.now).steps
    assert (step.action, step.why) == ("pending", "waiting for service db, which does not exist")
    same = plan_service(w.snapshot(), web, w.now)
    assert same.steps == () and same.notes == ("nothing to do: the service's tasks already match",)


def test_a_rollback_replaces_every_task_and_says_its_own_pacing() -> None:
    """``service rollback --dry-run``: the service as the rollback would leave it, every
    task replaced, the note the rollback config's (before, a rollback had no plan)."""
    w, web = world_with_web()
    before = dict(w.tasks)
    container = ContainerSpec(image="busybox:2", command=("sleep", "1000"))
    spec = replace(
        web.spec,
        task=replace(web.spec.task, container=container),
        rollback_config=UpdateConfig(parallelism=2, order=UpdateOrder.START_FIRST),
    )
    updated = replace(web, spec=spec, previous_spec=web.spec, spec_version=2)
    w.add(updated)
    w.settle()
    assert {t.spec.container.image for t in w.runnable(web.id)} == {"busybox:2"}
    plan = plan_service(w.snapshot(), rolled_back(w.services[web.id], w.now), w.now)
    assert [(a, s) for a, s, _ in actions(plan)] == [
        ("replace", "1"),
        ("replace", "2"),
        ("replace", "3"),
    ]
    assert plan.notes == (
        "the rollback replaces 3 task(s) 2 at a time, start-first, 0s apart, failure action pause",
    )
    assert set(before) <= set(w.tasks) and w.services[web.id].spec == spec  # nothing written
