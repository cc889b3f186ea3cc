"""Rebalancing (issue 10 item 9): which tasks move, the pace, start-first never below the
desired count, rounds asked for and auto mode; pure, with a spread-like scheduler."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from actors.orchestrator.rebalance import REPLACES_LABEL
from api.enums import NodeAvailability, RebalanceMode, RebalanceState, UpdateOrder
from api.objects import Service
from api.specs import UpdateConfig
from api.task_state import TaskState
from tests.unit.orchestrator.helpers import World, make_node, make_service


def spread(w: World, sid: str) -> None:
    """The scheduler's spread and the worker: each pending task to the usable node with the
    fewest tasks of the service, then RUNNING; stopped tasks stop."""
    w.stop_shut_down()
    usable = [n for n in sorted(w.nodes) if w.nodes[n].spec.availability == NodeAvailability.ACTIVE]
    for t in sorted(w.tasks.values(), key=lambda t: (t.slot, t.id)):
        if t.desired_state != TaskState.RUNNING or t.status.state >= TaskState.RUNNING:
            continue
        if not t.node_id:
            load = Counter(
                x.node_id
                for x in w.tasks.values()
                if x.service_id == sid and x.node_id and not x.status.state.is_terminal
            )
            t = replace(t, node_id=min(usable, key=lambda n: (load[n], n)))
            w.tasks[t.id] = t
        w.set_status(t.id, TaskState.RUNNING)


def per_node(w: World, sid: str) -> dict[str, int]:
    running = [t for t in w.runnable(sid) if t.status.state == TaskState.RUNNING]
    return dict(sorted(Counter(t.node_id for t in running).items()))


def cluster(order: UpdateOrder = UpdateOrder.STOP_FIRST, parallelism: int = 1) -> tuple[World, str]:
    w = World()
    w.add(make_node("n1"), make_node("n2"))
    svc = make_service("web", replicas=6, update=UpdateConfig(parallelism=parallelism, order=order))
    w.add(svc)
    for _ in range(3):
        w.reconcile()
        spread(w, svc.id)
    assert per_node(w, svc.id) == {"n1": 3, "n2": 3}
    w.add(make_node("n3"))  # a node joins: nothing moves by itself (manual)
    w.reconcile()
    spread(w, svc.id)
    assert per_node(w, svc.id) == {"n1": 3, "n2": 3}
    return w, svc.id


def ask(w: World, sid: str) -> None:
    s: Service = w.services[sid]
    spec = replace(s.spec, rebalance_requests=s.spec.rebalance_requests + 1)
    w.services[sid] = replace(s, spec=spec, spec_version=s.spec_version + 1)


def converge(w: World, sid: str, check: object = None, rounds: int = 20) -> None:
    quiet = 0
    for _ in range(rounds):
        spread(w, sid)
        effects = w.reconcile().effects
        if callable(check):
            check()
        quiet = 0 if effects else quiet + 1
        if quiet == 2:
            return
    raise AssertionError("did not settle")


def test_a_rebalance_round_moves_one_task_at_a_time_to_the_new_node() -> None:
    w, sid = cluster()
    ask(w, sid)
    plan = w.reconcile()
    moved = [e for e in plan.effects if getattr(e, "state", None) == TaskState.SHUTDOWN]
    assert len(moved) == 1  # parallelism 1
    status = w.services[sid].rebalance_status
    assert status is not None and status.state == RebalanceState.IN_PROGRESS
    converge(w, sid)
    assert per_node(w, sid) == {"n1": 2, "n2": 2, "n3": 2}
    status = w.services[sid].rebalance_status
    assert status is not None and status.state == RebalanceState.COMPLETED
    assert status.moved == 2 and status.round == 1
    assert not w.reconcile().effects  # balanced: nothing more


def test_start_first_never_runs_fewer_than_the_desired_count() -> None:
    w, sid = cluster(UpdateOrder.START_FIRST)
    ask(w, sid)

    def at_least_six() -> None:
        assert sum(per_node(w, sid).values()) >= 6

    converge(w, sid, at_least_six)
    assert per_node(w, sid) == {"n1": 2, "n2": 2, "n3": 2}
    replacements = [t for t in w.tasks.values() if REPLACES_LABEL in t.labels]
    assert len(replacements) == 2


def test_auto_moves_tasks_when_a_node_comes_and_not_otherwise() -> None:
    w = World()
    w.add(make_node("n1"))
    svc = make_service("web", replicas=4)
    svc = replace(svc, spec=replace(svc.spec, rebalance=RebalanceMode.AUTO))
    w.add(svc)
    converge(w, svc.id)
    assert per_node(w, svc.id) == {"n1": 4}
    assert w.services[svc.id].rebalance_status is None  # nothing to do: no status written
    w.add(make_node("n2"))
    converge(w, svc.id)
    assert per_node(w, svc.id) == {"n1": 2, "n2": 2}
    # a paused node keeps its tasks: nothing moves off it
    w.nodes["n1"] = make_node("n1", availability=NodeAvailability.PAUSE)
    w.add(make_node("n3"))
    converge(w, svc.id)
    assert per_node(w, svc.id) == {"n1": 2, "n2": 1, "n3": 1}
