"""The web view's board: store objects and changes in, the page's rows and patches out."""

from __future__ import annotations

from dataclasses import replace

from actors.control.raft_members import RaftView
from actors.store.entry import Action
from actors.store.watch import Event
from actors.web.board import Board, shown
from api.enums import NodeAvailability, NodeRole, NodeState, Reachability, UpdateState
from api.objects import (
    ManagerStatus,
    Node,
    NodeDescription,
    NodeStatus,
    Object,
    ObjectKind,
    Service,
    Task,
    TaskStatus,
    UpdateStatus,
)
from api.specs import ContainerSpec, NodeSpec, ReplicatedService, ServiceSpec, TaskSpec
from api.task_state import TaskState

LEADER = Node(
    id="n1",
    role=NodeRole.MANAGER,
    description=NodeDescription(hostname="m1"),
    status=NodeStatus(state=NodeState.READY),
    manager_status=ManagerStatus(raft_id=1, leader=True),
)
WORKER = Node(id="n2", description=NodeDescription(hostname="w1"))
TEMPLATE = TaskSpec(container=ContainerSpec(image="busybox"))
WEB = Service(
    id="s1",
    spec=ServiceSpec(name="web", task=TEMPLATE, mode=ReplicatedService(replicas=2)),
)


def task(id_: str, slot: int, node: str, state: TaskState = TaskState.RUNNING) -> Task:
    return Task(
        id=id_,
        spec=TEMPLATE,
        service_id="s1",
        service_name="web",
        slot=slot,
        node_id=node,
        desired_state=TaskState.RUNNING,
        status=TaskStatus(state=state),
    )


KIND = {Node: ObjectKind.NODE, Service: ObjectKind.SERVICE, Task: ObjectKind.TASK}


def change(version: int, new: Object, old: Object | None = None, *, delete: bool = False) -> Event:
    action = Action.DELETE if delete else Action.UPDATE if old is not None else Action.CREATE
    return Event(KIND[type(new)], action, new, version, old, 1000.0 + version)


def loaded() -> Board:
    board = Board()
    board.load(10, [LEADER, WORKER], [WEB], [task("t1", 1, "n1"), task("t2", 2, "n2")])
    return board


def test_the_document_holds_the_control_apis_rows() -> None:
    doc = loaded().document()
    assert doc["version"] == 10
    nodes = {n["hostname"]: n for n in doc["nodes"]}
    assert nodes["m1"]["manager_status"]["leader"] is True
    assert (nodes["w1"]["role"], nodes["w1"]["availability"]) == ("worker", "active")
    [web] = doc["services"]
    assert (web["name"], web["replicas_running"], web["replicas_desired"]) == ("web", 2, 2)
    tasks = {t["id"]: t for t in doc["tasks"]}
    assert (tasks["t2"]["node"], tasks["t2"]["state"], tasks["t2"]["name"]) == (
        "w1",
        "running",
        "web.2",
    )
    assert tasks["t1"]["up_to_date"] is True
    assert doc["events"] == []


def test_a_task_that_stops_running_updates_its_row_and_its_service() -> None:
    board = loaded()
    old = task("t2", 2, "n2")
    failed = replace(old, status=TaskStatus(state=TaskState.FAILED, err="exit 1"))
    patch = board.apply([change(11, failed, old)])
    assert patch.version == 11 and board.version == 11
    [row] = patch.put["tasks"]
    assert (row["id"], row["state"], row["error"]) == ("t2", "failed", "exit 1")
    [web] = patch.put["services"]
    assert web["replicas_running"] == 1
    assert patch.put["nodes"] == [] and patch.drop == {"nodes": [], "services": [], "tasks": []}
    [event] = patch.events
    assert (event["type"], event["attributes"]["state.new"]) == ("task", "failed")

    # the orchestrator shuts it down: history, it leaves the page
    done = replace(failed, desired_state=TaskState.SHUTDOWN)
    patch = board.apply([change(12, done, failed)])
    assert patch.drop["tasks"] == ["t2"]
    assert [t["id"] for t in board.document()["tasks"]] == ["t1"]


def test_history_the_page_never_showed_sends_no_rows() -> None:
    board = loaded()
    gone = replace(task("t9", 3, "n2", TaskState.SHUTDOWN), desired_state=TaskState.SHUTDOWN)
    patch = board.apply([change(11, gone)])
    assert patch.put["tasks"] == [] and patch.drop["tasks"] == [] and patch.put["services"] == []
    assert len(patch.events) == 1  # still an event


def test_a_scale_puts_the_service_and_its_new_tasks() -> None:
    board = loaded()
    scaled = replace(WEB, spec=replace(WEB.spec, mode=ReplicatedService(replicas=3)))
    pending = replace(task("t3", 3, "", TaskState.PENDING))
    patch = board.apply([change(11, scaled, WEB), change(11, pending)])
    [web] = patch.put["services"]
    assert (web["replicas_desired"], web["replicas_running"]) == (3, 2)
    assert [t["id"] for t in patch.put["tasks"]] == ["t3"]  # spec unchanged: no other row
    assert patch.events[0]["attributes"]["replicas.new"] == "3"


def test_a_new_task_template_marks_every_task_of_the_service() -> None:
    board = loaded()
    new_image = replace(
        WEB,
        spec=replace(WEB.spec, task=TaskSpec(container=ContainerSpec(image="busybox:2"))),
        update_status=UpdateStatus(state=UpdateState.UPDATING),
    )
    patch = board.apply([change(11, new_image, WEB)])
    assert {t["id"]: t["up_to_date"] for t in patch.put["tasks"]} == {"t1": False, "t2": False}
    assert patch.put["services"][0]["update_status"]["state"] == "updating"


def test_node_changes_and_removal() -> None:
    board = loaded()
    drained = replace(WORKER, spec=NodeSpec(availability=NodeAvailability.DRAIN))
    patch = board.apply([change(11, drained, WORKER)])
    assert patch.put["nodes"][0]["availability"] == "drain"
    assert patch.put["tasks"] == []  # same hostname: the tasks' rows did not change
    patch = board.apply([change(12, drained, drained, delete=True)])
    assert patch.drop["nodes"] == ["n2"]
    assert patch.put["tasks"][0]["node"] == ""  # its task no longer names a host
    assert patch.events[0]["action"] == "remove"


def test_a_removed_service_is_dropped() -> None:
    board = loaded()
    patch = board.apply([change(11, WEB, WEB, delete=True)])
    assert patch.drop["services"] == ["s1"]
    assert board.document()["services"] == []


def test_changes_already_applied_are_skipped() -> None:
    board = loaded()
    old = task("t2", 2, "n2")
    assert board.apply(
        [change(10, replace(old, status=TaskStatus(state=TaskState.FAILED)), old)]
    ).empty
    assert board.document()["tasks"][1]["state"] == "running"


def test_events_are_bounded_and_seeded_from_the_retained_ring() -> None:
    board = Board(max_events=3)
    ring = [change(v, replace(WORKER, meta=replace(WORKER.meta, version=v))) for v in range(1, 7)]
    board.load(5, [WORKER], [], [], recent=ring)
    assert [e["position"] for e in board.document()["events"]] == [3, 4, 5]
    board.apply(ring[5:])
    assert [e["position"] for e in board.document()["events"]] == [4, 5, 6]


def test_shown() -> None:
    running = task("t", 1, "n1")
    assert shown(running)
    stopping = replace(running, desired_state=TaskState.SHUTDOWN)
    assert shown(stopping)  # still running: shown until it stops
    assert not shown(replace(stopping, status=TaskStatus(state=TaskState.SHUTDOWN)))


def test_managers_show_their_live_status_from_the_raft_view() -> None:
    follower = replace(
        LEADER,
        id="n3",
        description=NodeDescription(hostname="m2"),
        manager_status=ManagerStatus(raft_id=3, reachability=Reachability.REACHABLE),
    )
    board = Board()
    board.load(4, [LEADER, WORKER, follower], [], [])
    # the store's record until a view comes: n1 leads, n3 reachable
    rows = {r["id"]: r for r in board.document()["nodes"]}
    assert rows["n1"]["manager_status"]["leader"] and rows["n2"]["manager_status"] is None

    # n3 now leads, and this member no longer hears n1: only the managers that changed
    view = RaftView(raft_id=3, leader_id=3, voters=frozenset({1, 3}), heard={1: False})
    patch = board.set_raft_view(view)
    assert patch.version == 4 and not patch.events and not any(patch.drop.values())
    shown_now = {r["id"]: r["manager_status"] for r in patch.put["nodes"]}
    assert shown_now == {
        "n1": {"leader": False, "reachability": "unreachable", "addr": ""},
        "n3": {"leader": True, "reachability": "reachable", "addr": ""},
    }
    # the same view again changes nothing; a store change keeps showing the live status
    assert board.set_raft_view(view).empty
    renamed = replace(LEADER, description=NodeDescription(hostname="m1b"))
    patch = board.apply([change(5, renamed, LEADER)])
    [row] = patch.put["nodes"]
    assert row["hostname"] == "m1b" and row["manager_status"]["reachability"] == "unreachable"
    # no view (the member is gone): the store's record again
    back = {r["id"]: r["manager_status"]["leader"] for r in board.set_raft_view(None).put["nodes"]}
    assert back == {"n1": True, "n3": False}
