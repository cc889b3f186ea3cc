"""The actor shells against a real MemoryStore; a helper plays scheduler and worker."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from actors.orchestrator import OrchestratorActor, TaskReaperActor
from actors.store import MemoryStore, WriteTx, nodes, services, tasks
from api.enums import NodeAvailability
from api.objects import Cluster, Node, Service, Task, TaskStatus
from api.specs import ClusterSpec, ReplicatedService
from api.task_state import TaskState
from tests.support.waiting import wait_for
from tests.unit.orchestrator.helpers import make_global, make_node, make_service

DEADLINE = 10.0


class Cluster_:
    """A store with the orchestrator and reaper running, and a fake scheduler+worker."""

    def __init__(self) -> None:
        self.store = MemoryStore.local(clock=time.time, rng=random.Random(3))
        self.store.update(lambda tx: tx.create(Cluster(id="c" * 25, spec=ClusterSpec())))
        self.refs: list = []  # type: ignore[type-arg]

    def start(self) -> None:
        for cls in (OrchestratorActor, TaskReaperActor):
            self.refs.append(cls.start(None, self.store, tick_interval=0.01))

    def stop(self) -> None:
        for ref in reversed(self.refs):
            ref.stop(timeout=5)
        self.refs.clear()

    # --- the fake scheduler and worker ------------------------------------------------------

    def play(self, fail: Callable[[Task], bool] = lambda t: False) -> None:
        """One step: assign PENDING tasks (desired RUNNING) round-robin to active nodes,
        run assigned ones, stop those whose desired state is past RUNNING."""

        def step(tx: WriteTx) -> None:
            usable = [
                n.id for n in nodes.list_all(tx) if n.spec.availability == NodeAvailability.ACTIVE
            ]
            for i, t in enumerate(tasks.list_all(tx)):
                st = t.status.state
                if t.desired_state == TaskState.RUNNING and st < TaskState.RUNNING:
                    node_id = t.node_id or (usable[i % len(usable)] if usable else "")
                    if node_id:
                        state = TaskState.FAILED if fail(t) else TaskState.RUNNING
                        status = TaskStatus(timestamp=time.time(), state=state)
                        tx.update(replace(t, node_id=node_id, status=status))
                elif t.desired_state > TaskState.RUNNING and not st.is_terminal:
                    status = TaskStatus(timestamp=time.time(), state=TaskState.SHUTDOWN)
                    tx.update(replace(t, status=status))

        self.store.update(step)

    def wait(self, cond: Callable[[], bool], play: bool = True) -> None:
        def played() -> bool:
            if play:
                self.play()
            return cond()

        wait_for(played, "the orchestrator's effect", DEADLINE)

    # --- queries ------------------------------------------------------------------------------

    def runnable(self, sid: str) -> list[Task]:
        return self.store.view(
            lambda tx: [
                t for t in tasks.by_service(tx, sid) if t.desired_state <= TaskState.RUNNING
            ]
        )

    def running(self, sid: str) -> list[Task]:
        return [t for t in self.runnable(sid) if t.status.state == TaskState.RUNNING]

    def all_tasks(self, sid: str) -> list[Task]:
        return self.store.view(lambda tx: tasks.by_service(tx, sid))

    def service(self, sid: str) -> Service | None:
        return self.store.view(lambda tx: services.get(tx, sid))

    def put(self, obj: Service | Node) -> None:
        def write(tx: WriteTx) -> None:
            kind_get = services.get if isinstance(obj, Service) else nodes.get
            current = kind_get(tx, obj.id)
            if current is None:
                tx.create(obj)
            else:
                tx.update(replace(obj, meta=current.meta))

        self.store.update(write)

    def edit_service(self, sid: str, fn: Callable[[Service], Service]) -> None:
        def write(tx: WriteTx) -> None:
            s = services.get(tx, sid)
            assert s is not None
            tx.update(fn(s))

        self.store.update(write)

    def scale(self, sid: str, replicas: int) -> None:
        self.edit_service(
            sid,
            lambda s: replace(
                s,
                spec=replace(s.spec, mode=ReplicatedService(replicas=replicas)),
                spec_version=s.spec_version + 1,
            ),
        )


@pytest.fixture
def cluster() -> Iterator[Cluster_]:
    c = Cluster_()
    c.put(make_node("n1"))
    c.put(make_node("n2"))
    yield c
    c.stop()


def test_three_replicas_become_three_running_tasks(cluster: Cluster_) -> None:
    cluster.start()
    cluster.put(make_service(replicas=3))
    cluster.wait(lambda: len(cluster.running("svc-web")) == 3)
    assert sorted(t.slot for t in cluster.runnable("svc-web")) == [1, 2, 3]


def test_scale_3_to_6_to_2(cluster: Cluster_) -> None:
    cluster.start()
    cluster.put(make_service(replicas=3))
    cluster.wait(lambda: len(cluster.running("svc-web")) == 3)
    first = {t.id for t in cluster.running("svc-web")}
    cluster.scale("svc-web", 6)
    cluster.wait(lambda: len(cluster.running("svc-web")) == 6)
    assert first <= {t.id for t in cluster.running("svc-web")}
    cluster.scale("svc-web", 2)
    cluster.wait(
        lambda: len(cluster.runnable("svc-web")) == 2 and len(cluster.all_tasks("svc-web")) == 2
    )


def test_failed_task_replaced_in_the_same_slot(cluster: Cluster_) -> None:
    cluster.start()
    cluster.put(make_service(replicas=2))
    cluster.wait(lambda: len(cluster.running("svc-web")) == 2)
    victim = next(t for t in cluster.running("svc-web") if t.slot == 2)

    def fail(tx: WriteTx) -> None:
        t = tasks.get(tx, victim.id)
        assert t is not None
        tx.update(replace(t, status=TaskStatus(timestamp=time.time(), state=TaskState.FAILED)))

    cluster.store.update(fail)
    cluster.wait(lambda: any(t.slot == 2 and t.id != victim.id for t in cluster.running("svc-web")))
    old = cluster.store.view(lambda tx: tasks.get(tx, victim.id))
    assert old is not None and old.desired_state == TaskState.SHUTDOWN


def test_drain_moves_tasks(cluster: Cluster_) -> None:
    cluster.start()
    cluster.put(make_service(replicas=4))
    cluster.put(make_global())
    cluster.wait(lambda: len(cluster.running("svc-web")) == 4)
    cluster.wait(lambda: len(cluster.running("svc-agent")) == 2)
    cluster.put(make_node("n1", availability=NodeAvailability.DRAIN))
    cluster.wait(
        lambda: (
            len(cluster.running("svc-web")) == 4
            and all(t.node_id == "n2" for t in cluster.runnable("svc-web"))
            and [t.node_id for t in cluster.runnable("svc-agent")] == ["n2"]
        )
    )


def test_rm_deletes_everything(cluster: Cluster_) -> None:
    cluster.start()
    cluster.put(make_service(replicas=3))
    cluster.wait(lambda: len(cluster.running("svc-web")) == 3)
    cluster.edit_service("svc-web", lambda s: replace(s, pending_delete=True))
    cluster.wait(lambda: cluster.service("svc-web") is None and not cluster.all_tasks("svc-web"))


def test_start_up_pass_fixes_missed_events(cluster: Cluster_) -> None:
    cluster.put(make_service(replicas=2))  # created while no orchestrator runs
    cluster.start()
    cluster.wait(lambda: len(cluster.running("svc-web")) == 2)
    cluster.stop()
    victim = cluster.running("svc-web")[0]

    def fail(tx: WriteTx) -> None:
        t = tasks.get(tx, victim.id)
        assert t is not None
        tx.update(replace(t, status=TaskStatus(timestamp=time.time(), state=TaskState.FAILED)))

    cluster.store.update(fail)  # missed: no leader
    cluster.scale("svc-web", 3)
    cluster.start()  # a new leader
    cluster.wait(
        lambda: (
            len(cluster.running("svc-web")) == 3
            and victim.id not in {t.id for t in cluster.runnable("svc-web")}
        )
    )


def test_watch_reset_rereads_the_store(cluster: Cluster_) -> None:
    cluster.start()
    cluster.put(make_service(replicas=1))
    cluster.wait(lambda: len(cluster.running("svc-web")) == 1)
    snapshot = cluster.store.snapshot()
    cluster.store.restore(snapshot)  # closes every watcher with reset=True
    cluster.scale("svc-web", 2)
    cluster.wait(lambda: len(cluster.running("svc-web")) == 2)


def test_restart_delay_is_honoured_by_a_timer(cluster: Cluster_) -> None:
    from api.specs import RestartPolicy

    cluster.start()
    cluster.put(make_service(replicas=1, restart=RestartPolicy(delay=0.3)))
    cluster.wait(lambda: len(cluster.running("svc-web")) == 1)
    (victim,) = cluster.running("svc-web")

    def fail(tx: WriteTx) -> None:
        t = tasks.get(tx, victim.id)
        assert t is not None
        tx.update(replace(t, status=TaskStatus(timestamp=time.time(), state=TaskState.FAILED)))

    cluster.store.update(fail)
    cluster.wait(
        lambda: any(t.desired_state == TaskState.READY for t in cluster.runnable("svc-web")),
        play=False,
    )
    (held,) = cluster.runnable("svc-web")
    assert held.status.message == "restart delayed"
    cluster.wait(lambda: any(t.id == held.id for t in cluster.running("svc-web")))
