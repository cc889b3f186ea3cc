"""Node, task and cluster handlers against a local store."""

from __future__ import annotations

from dataclasses import replace

import pytest

from actors.control import ControlCode, ControlError, call
from actors.store import nodes
from api.enums import NodeAvailability
from api.objects import Cluster as ClusterObject
from api.objects import ContainerStatus, JoinTokens, RootCA
from api.task_state import TaskState
from tests.unit.control.helpers import Cluster


def code(fn: object, body: dict[str, object]) -> str:
    with pytest.raises(ControlError) as info:
        call(fn, body)  # type: ignore[arg-type]
    return info.value.code


def test_node_ls_rows() -> None:
    c = Cluster()
    m = c.add_node("node-1", manager=True)
    w = c.add_node("node-2")
    rows = call(c.nodes.ls, {})["nodes"]
    assert [(r["id"], r["hostname"], r["role"], r["status"], r["availability"]) for r in rows] == [
        (m, "node-1", "manager", "ready", "active"),
        (w, "node-2", "worker", "ready", "active"),
    ]
    assert rows[0]["manager_status"] == {"leader": True, "reachability": "unknown", "addr": ""}
    assert rows[1]["manager_status"] is None


def test_node_ls_filters_and_refusals() -> None:
    c = Cluster()
    m = c.add_node("node-1", manager=True)
    w = c.add_node("node-2")
    call(c.nodes.update, {"node": w, "label_add": {"zone": "a"}})

    def ids(*filters: str) -> list[str]:
        return [r["id"] for r in call(c.nodes.ls, {"filters": list(filters)})["nodes"]]

    assert ids() == [m, w]
    assert ids("role=manager") == [m]
    assert ids("node.label=zone=a") == [w]
    assert ids("name=node-", "role=worker") == [w]
    assert ids("membership=pending") == []
    for bad in ("colour=red", "role=boss", "membership=maybe", "name"):
        with pytest.raises(ControlError) as info:
            call(c.nodes.ls, {"filters": [bad]})
        assert info.value.code == ControlCode.INVALID_ARGUMENT
        assert f"invalid filter {bad!r}" in info.value.message


def test_node_update_availability_and_labels() -> None:
    c = Cluster()
    n = c.add_node("node-1")
    reply = call(
        c.nodes.update,
        {"node": "node-1", "availability": "drain", "label_add": {"zone": "a", "disk": "ssd"}},
    )
    assert reply["changed"] and reply["node"]["availability"] == "drain"
    node = c.node(n)
    assert node.spec.availability == NodeAvailability.DRAIN
    assert node.spec.labels == {"zone": "a", "disk": "ssd"}
    call(c.nodes.update, {"node": n[:6], "label_rm": ["disk"], "availability": "PAUSE"})
    node = c.node(n)
    assert node.spec.labels == {"zone": "a"} and node.spec.availability == NodeAvailability.PAUSE
    version = c.store.version
    assert not call(c.nodes.update, {"node": n, "availability": "pause"})["changed"]
    assert c.store.version == version


def test_node_update_refusals_write_nothing() -> None:
    c = Cluster()
    n = c.add_node("node-1")
    c.add_node("twin")
    c.add_node("twin")
    version = c.store.version
    assert code(c.nodes.update, {"node": n, "availability": "asleep"}) == (
        ControlCode.INVALID_ARGUMENT
    )
    assert code(c.nodes.update, {"node": n, "label_rm": ["missing"]}) == (
        ControlCode.INVALID_ARGUMENT
    )
    assert code(c.nodes.update, {"node": "ghost", "availability": "drain"}) == (
        ControlCode.NOT_FOUND
    )
    assert code(c.nodes.update, {"node": "twin", "availability": "drain"}) == (
        ControlCode.AMBIGUOUS
    )
    assert c.store.version == version


def test_node_update_survives_a_concurrent_status_change() -> None:
    c = Cluster()
    n = c.add_node("node-1")
    original = c.store.update
    raced: list[bool] = []

    def racing(fn, **kw):  # type: ignore[no-untyped-def]
        if not raced:
            raced.append(True)
            node = c.node(n)
            original(lambda tx: tx.update(replace(node, status=replace(node.status, message="hb"))))
            stale = replace(node, spec=replace(node.spec, availability=NodeAvailability.DRAIN))
            return original(lambda tx: tx.update(stale))
        return original(fn, **kw)

    c.store.update = racing  # type: ignore[method-assign]
    call(c.nodes.update, {"node": n, "availability": "drain"})
    node = c.store.view(lambda tx: nodes.get(tx, n))
    assert node is not None and node.spec.availability == NodeAvailability.DRAIN
    assert node.status.message == "hb"


def test_task_ls_filters_and_inspect() -> None:
    c = Cluster()
    n1 = c.add_node("node-1")
    n2 = c.add_node("node-2")
    c.create(name="web", replicas=2)
    c.create(name="db")
    t1 = c.add_task("web", 1, n1)
    t2 = c.add_task("web", 2, n2)
    t3 = c.add_task("db", 1, n1)
    c.set_desired(t2, TaskState.SHUTDOWN)

    def ids(body: dict[str, object]) -> set[str]:
        return {r["id"] for r in call(c.tasks.ls, body)["tasks"]}

    assert ids({}) == {t1, t2, t3}
    assert ids({"service": "web"}) == {t1, t2}
    assert ids({"node": "node-1"}) == {t1, t3}
    assert ids({"service": "web", "node": n1}) == {t1}
    assert ids({"desired_state": "running"}) == {t1, t3}
    assert ids({"service": "web", "desired_state": "shutdown"}) == {t2}
    assert code(c.tasks.ls, {"service": "nope"}) == ControlCode.NOT_FOUND
    assert code(c.tasks.ls, {"desired_state": "bogus"}) == ControlCode.INVALID_ARGUMENT
    inspected = call(c.tasks.inspect, {"task": t1})
    assert inspected["task"]["id"] == t1 and inspected["summary"]["node"] == "node-1"
    assert code(c.tasks.inspect, {"task": "task"}) == ControlCode.AMBIGUOUS


def test_task_ls_takes_node_ps_filters() -> None:
    c = Cluster()
    n1 = c.add_node("node-1")
    c.create(name="web", replicas=2, labels={"tier": "front"})
    c.create(name="db")
    t1 = c.add_task("web", 1, n1)
    t2 = c.add_task("web", 2, n1)
    t3 = c.add_task("db", 1, n1)
    c.set_desired(t2, TaskState.SHUTDOWN)

    def ids(*filters: str) -> list[str]:
        body = {"node": "node-1", "filters": list(filters)}
        return [r["id"] for r in call(c.tasks.ls, body)["tasks"]]

    assert ids() == [t3, t1, t2]  # by service, then slot
    assert ids("label=tier=front") == [t1, t2]  # the service's labels
    assert ids("label=tier", "desired-state=running") == [t1]
    assert ids("name=web.2") == [t2]
    assert ids(f"id={t3}") == [t3]
    for bad in ("node=node-1", "desired-state=asleep", "id"):
        assert code(c.tasks.ls, {"filters": [bad]}) == ControlCode.INVALID_ARGUMENT
    assert code(c.tasks.ls, {"filters": ["id=t"] * 65}) == ControlCode.INVALID_ARGUMENT


def test_cluster_inspect_hides_keys() -> None:
    c = Cluster()
    obj = ClusterObject(
        id="c" * 25,
        root_ca=RootCA(ca_cert=b"CERT", ca_key=b"PRIVATE"),
        join_tokens=JoinTokens(worker="SWMTKN-1-w", manager="SWMTKN-1-m"),
        unlock_key=b"SWMKEY-1-x",
    )
    c.store.update(lambda tx: tx.create(obj))
    doc = call(c.cluster.inspect, {})["cluster"]
    assert doc["id"] == "c" * 25 and doc["root_ca"]["ca_cert"] == "CERT"
    assert "ca_key" not in doc["root_ca"] and "unlock_key" not in doc
    assert "PRIVATE" not in repr(doc)
    assert code(c.cluster.inspect, {"cluster": "other"}) == ControlCode.NOT_FOUND


def test_a_task_has_an_exit_code_only_once_its_container_exited() -> None:
    """As Docker: a running task shows no exit code (it showed 0); a finished one its own."""
    c = Cluster()
    n1 = c.add_node("node-1")
    c.create(name="web", replicas=3)
    running, failed, stopped = (c.add_task("web", slot, n1) for slot in (1, 2, 3))
    c.set_task(running, TaskState.RUNNING)
    c.set_task(failed, TaskState.FAILED, container_status=ContainerStatus("c2", exit_code=3))
    c.set_task(stopped, TaskState.SHUTDOWN, container_status=ContainerStatus("c3", exit_code=0))

    def exit_code(task_id: str) -> object:
        return call(c.tasks.inspect, {"task": task_id})["summary"]["exit_code"]

    assert (exit_code(running), exit_code(failed), exit_code(stopped)) == (None, 3, 0)
    rejected = c.add_task("web", 4, n1)
    c.set_task(rejected, TaskState.REJECTED, container_status=ContainerStatus("c4"))
    assert exit_code(rejected) is None  # it never ran
