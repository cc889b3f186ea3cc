"""What the store's committed changes mean for the dispatcher (actors/dispatcher/
store_changes.py), read from watch events without a store or a dispatcher."""

from __future__ import annotations

from dataclasses import replace

from actors.dispatcher.core import TaskChange
from actors.dispatcher.ingress import IngressTracker
from actors.dispatcher.store_changes import (
    NodeRemoved,
    PeriodChanged,
    ServiceDeleted,
    ServiceRemoving,
    chunks,
    read_changes,
)
from actors.store.entry import Action
from actors.store.watch import Event
from api.cluster_specs import ClusterSpec, DispatcherConfig
from api.enums import NodeRole
from api.objects import Cluster, Node, Object, RegistryAuth, Service, kind_of
from api.specs import EndpointSpec, PortConfig, ServiceSpec
from tests.unit.dispatcher.helpers import NODE_A, NODE_B, bump, task

PERIOD = 5.0


def created(obj: Object, version: int = 1) -> Event:
    return Event(kind_of(obj), Action.CREATE, obj, version)


def updated(old: Object, new: Object, version: int = 2) -> Event:
    return Event(kind_of(new), Action.UPDATE, new, version, old)


def deleted(obj: Object, version: int = 3) -> Event:
    return Event(kind_of(obj), Action.DELETE, obj, version, obj)


def tracker() -> IngressTracker:
    found = IngressTracker(interval=1.0)
    found.computed(0.0, [])
    return found


def test_a_task_change_goes_to_its_nodes_session_and_a_move_is_a_delete_for_the_other() -> None:
    on_a = task("t1", NODE_A)
    unassigned = task("t2", node_id="")
    moved = bump(on_a, 2, node_id=NODE_B)
    changes = read_changes(
        [created(on_a), created(unassigned), updated(on_a, moved), deleted(moved)],
        {},
        PERIOD,
        tracker(),
    )
    assert changes.tasks == [
        TaskChange(on_a, 1),
        TaskChange(on_a, 2, deleted=True),  # what node A held, gone from it
        TaskChange(moved, 2),
        TaskChange(moved, 3, deleted=True),
    ]
    assert changes.core == [] and not changes.roles_changed and not changes.auth_changed


def test_a_node_is_told_a_role_it_does_not_hold_and_a_deleted_node_loses_its_session() -> None:
    roles = {NODE_A: "worker"}
    worker_a, worker_b = Node(NODE_A), Node(NODE_B)
    promoted = replace(worker_a, role=NodeRole.MANAGER)
    changes = read_changes(
        [
            updated(worker_a, worker_a),  # the same role: nothing to tell
            created(worker_b),
            updated(worker_a, promoted),
            deleted(worker_b),
        ],
        roles,
        PERIOD,
        tracker(),
    )
    assert changes.roles_changed == {NODE_A, NODE_B}
    assert roles == {NODE_A: "manager"}  # the front's, brought up to date in place
    assert changes.core == [NodeRemoved(NODE_B)]


def test_a_services_removal_deletion_and_new_credentials_in_commit_order() -> None:
    auth = RegistryAuth("registry:5000", "alice", "first")
    service = Service("s" * 25, registry_auth=auth)
    rotated = replace(service, registry_auth=replace(auth, password="second"))
    removing = replace(rotated, pending_delete=True)
    other = Service("o" * 25, registry_auth=auth)
    changes = read_changes(
        [
            created(other),  # a new service's credentials go with its tasks' frames
            updated(service, rotated),
            updated(rotated, removing),
            deleted(removing),
            updated(other, replace(other, spec=ServiceSpec(name="renamed"))),
        ],
        {},
        PERIOD,
        tracker(),
    )
    assert changes.auth_changed == {service.id}
    assert changes.core == [ServiceRemoving(service.id), ServiceDeleted(service.id)]


def test_the_default_clusters_period_is_taken_when_it_differs() -> None:
    def cluster(name: str, period: float) -> Cluster:
        spec = ClusterSpec(name=name, dispatcher=DispatcherConfig(heartbeat_period=period))
        return Cluster("c" * 25, spec=spec)

    default, other = cluster("default", PERIOD), cluster("other", 1.0)
    faster = cluster("default", 2.0)
    changes = read_changes(
        [
            updated(default, default),  # the period in use
            created(other),
            updated(default, faster),
            updated(faster, faster),  # the new one again
            deleted(cluster("default", 3.0)),
        ],
        {},
        PERIOD,
        tracker(),
    )
    assert changes.core == [PeriodChanged(2.0)]


def test_every_object_changed_is_shown_to_the_routing_meshs_tracker() -> None:
    published = EndpointSpec(ports=(PortConfig(target_port=80, published_port=8080),))
    web = Service("w" * 25, spec=ServiceSpec(name="web", endpoint=published))
    mesh = tracker()
    read_changes([created(task("t1"))], {}, PERIOD, mesh)
    assert not mesh.due(5.0)
    read_changes([created(web)], {}, PERIOD, mesh)
    assert mesh.due(5.0)


def test_chunks_cut_a_list_in_order() -> None:
    assert [list(c) for c in chunks(list(range(5)), 2)] == [[0, 1], [2, 3], [4]]
    assert list(chunks([], 2)) == []
