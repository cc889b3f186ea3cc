"""One store change → one cluster event, in the words a discovery watcher needs."""

from __future__ import annotations

from dataclasses import replace

from actors.events.model import describe
from actors.store.entry import Action
from actors.store.watch import Event
from api.enums import NodeAvailability, NodeRole, NodeState, Reachability
from api.objects import (
    Cluster,
    JoinTokens,
    ManagerStatus,
    Node,
    NodeDescription,
    NodeStatus,
    ObjectKind,
    RootCA,
    Service,
    Task,
    TaskStatus,
)
from api.specs import ClusterSpec, ContainerSpec, NodeSpec, ReplicatedService, ServiceSpec, TaskSpec
from api.task_state import TaskState

NODE = Node(
    id="n1",
    description=NodeDescription(hostname="w1"),
    status=NodeStatus(state=NodeState.READY),
)


def change(kind: ObjectKind, action: Action, new: object, old: object = None) -> Event:
    return Event(kind, action, new, 7, old, 1234.5)  # type: ignore[arg-type]


def test_a_node_joins_and_is_removed() -> None:
    joined = describe(change(ObjectKind.NODE, Action.CREATE, NODE))
    assert (joined.type, joined.action, joined.changes) == ("node", "create", ("join",))
    assert joined.attributes == {
        "name": "w1",
        "role": "worker",
        "state": "ready",
        "availability": "active",
    }
    assert (joined.position, joined.time, joined.name) == (7, 1234.5, "w1")
    removed = describe(change(ObjectKind.NODE, Action.DELETE, NODE, NODE))
    assert (removed.action, removed.changes) == ("remove", ("remove",))


def test_node_updates_name_what_changed() -> None:
    drained = replace(NODE, spec=NodeSpec(availability=NodeAvailability.DRAIN))
    event = describe(change(ObjectKind.NODE, Action.UPDATE, drained, NODE))
    assert event.changes == ("drain",)
    assert event.attributes["availability.old"] == "active"
    assert event.attributes["availability.new"] == "drain"

    down = replace(NODE, status=NodeStatus(state=NodeState.DOWN))
    assert describe(change(ObjectKind.NODE, Action.UPDATE, down, NODE)).changes == ("down",)

    promoted = replace(NODE, role=NodeRole.MANAGER)
    event = describe(change(ObjectKind.NODE, Action.UPDATE, promoted, NODE))
    assert event.changes == ("promote",)
    assert (event.attributes["role.old"], event.attributes["role.new"]) == ("worker", "manager")
    demoted = describe(change(ObjectKind.NODE, Action.UPDATE, NODE, promoted))
    assert demoted.changes == ("demote",)


def test_leadership_changes_are_node_events() -> None:
    follower = replace(
        NODE,
        role=NodeRole.MANAGER,
        manager_status=ManagerStatus(raft_id=2, reachability=Reachability.REACHABLE),
    )
    assert follower.manager_status is not None
    leader = replace(follower, manager_status=replace(follower.manager_status, leader=True))
    won = describe(change(ObjectKind.NODE, Action.UPDATE, leader, follower))
    assert won.changes == ("leader",)
    assert (won.attributes["leader.old"], won.attributes["leader.new"]) == ("false", "true")
    lost = replace(
        leader,
        manager_status=ManagerStatus(raft_id=2, reachability=Reachability.UNREACHABLE),
    )
    event = describe(change(ObjectKind.NODE, Action.UPDATE, lost, leader))
    assert event.changes == ("follower",)
    assert event.attributes["reachability.new"] == "unreachable"


def test_service_scale_and_task_state() -> None:
    spec = ServiceSpec(
        name="web",
        task=TaskSpec(container=ContainerSpec(image="busybox")),
        mode=ReplicatedService(replicas=1),
    )
    svc = Service(id="s1", spec=spec)
    scaled = replace(svc, spec=replace(spec, mode=ReplicatedService(replicas=3)))
    event = describe(change(ObjectKind.SERVICE, Action.UPDATE, scaled, svc))
    assert event.attributes == {"name": "web", "replicas.old": "1", "replicas.new": "3"}
    assert (event.service_id, event.service_name) == ("s1", "web")
    removing = describe(
        change(ObjectKind.SERVICE, Action.UPDATE, replace(svc, pending_delete=True), svc)
    )
    assert removing.changes == ("removing",)

    task = Task(id="t1", service_id="s1", service_name="web", slot=2, node_id="n1")
    failed = replace(task, status=TaskStatus(state=TaskState.FAILED, err="task: non-zero exit (3)"))
    event = describe(change(ObjectKind.TASK, Action.UPDATE, failed, task))
    assert event.name == "web.2"
    assert event.attributes["state.new"] == "failed"
    assert event.attributes["error"] == "task: non-zero exit (3)"
    assert event.node_id == "n1"


def test_cluster_events_name_fields_never_values() -> None:
    cluster = Cluster(id="c1", spec=ClusterSpec(name="default"))
    rotated = replace(
        cluster,
        join_tokens=JoinTokens(worker="SWMTKN-1-secret", manager="SWMTKN-1-other"),
        root_ca=RootCA(ca_key=b"-----BEGIN PRIVATE KEY-----"),
        unlock_key=b"SWMKEY-1-secret",
    )
    event = describe(change(ObjectKind.CLUSTER, Action.UPDATE, rotated, cluster))
    assert set(event.changes) == {"join_tokens", "root_ca", "unlock_key"}
    wire = repr(event.to_wire())
    assert "SWMTKN" not in wire and "PRIVATE" not in wire and "SWMKEY" not in wire
