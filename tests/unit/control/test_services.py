"""Service handlers against a local store: create, ls, inspect, ps, update, scale, rm."""

from __future__ import annotations

from dataclasses import replace

import pytest

from actors.control import ControlCode, ControlError, call
from actors.control.writes import modify
from actors.store import ConflictError, services
from api.codec_objects import encode
from api.service_options import apply_options
from api.specs import ReplicatedJob, ServiceSpec
from api.task_state import TaskState
from tests.unit.control.helpers import Cluster


def codes(fn: object, body: dict[str, object]) -> str:
    with pytest.raises(ControlError) as info:
        call(fn, body)  # type: ignore[arg-type]
    return info.value.code


def test_create_ls_inspect() -> None:
    c = Cluster()
    sid = c.create(name="web", replicas=3, args=["sleep", "60"])
    listed = call(c.services.ls, {})["services"]
    assert [
        (s["id"], s["name"], s["mode"], s["replicas_desired"], s["replicas_running"], s["image"])
        for s in listed
    ] == [(sid, "web", "replicated", 3, 0, "busybox")]
    inspected = call(c.services.inspect, {"service": "web"})
    assert inspected["service"]["id"] == sid
    assert inspected["service"]["spec"]["task"]["container"]["args"] == ["sleep", "60"]
    assert c.service(sid).spec_version == 1


def test_invalid_specs_write_nothing() -> None:
    c = Cluster()
    before = c.store.version
    bad_specs = [
        encode(ServiceSpec(name="x")),  # no image
        {
            "name": "x",
            "mode": {"replicated": {"replicas": -1}},
            "task": {"container": {"image": "busybox"}},
        },
        {"name": "x", "mode": {"sideways": {}}, "task": {"container": {"image": "busybox"}}},
        {
            "name": "x",
            "task": {
                "container": {"image": "busybox"},
                "placement": {"constraints": ["node.labels.zone=a"]},
            },
        },
        {"name": "x", "task": {"container": {"image": "busybox", "no_field": 1}}},
        {"name": "bad name!", "task": {"container": {"image": "busybox"}}},
        {"name": "x", "task": {"container": {"image": "BAD:IMAGE:@@"}}},
    ]
    for spec in bad_specs:
        assert codes(c.services.create, {"spec": spec}) == ControlCode.INVALID_SPEC
    assert c.store.version == before
    assert call(c.services.ls, {})["services"] == []


def test_names_are_unique() -> None:
    c = Cluster()
    sid = c.create(name="web")
    spec = encode(apply_options(ServiceSpec(), {"name": "WEB", "image": "x"}))
    with pytest.raises(ControlError) as info:
        call(c.services.create, {"spec": spec})
    assert info.value.code == ControlCode.NAME_CONFLICT and sid in info.value.message


def test_lookup_by_name_prefix_and_ambiguity() -> None:
    c = Cluster()
    a = c.create(name="alpha")
    b = c.create(name="beta")
    assert call(c.services.inspect, {"service": a[:6]})["service"]["id"] == a
    assert call(c.services.inspect, {"service": "beta"})["service"]["id"] == b
    assert codes(c.services.inspect, {"service": "gamma"}) == ControlCode.NOT_FOUND
    # ids share their first character often enough; force ambiguity on the empty-ish prefix
    common = next((i for i in range(1, 25) if a[:i] != b[:i]), 1) - 1
    if common:
        assert codes(c.services.inspect, {"service": a[:common]}) == ControlCode.AMBIGUOUS
    with pytest.raises(ControlError) as info:
        call(c.services.ps, {"service": "nope"})
    assert info.value.message == "no such service: nope"


def test_ambiguous_prefix() -> None:
    c = Cluster()
    ids = [c.create(name=f"s{i}") for i in range(40)]
    first = {i[0] for i in ids}
    prefix = next(ch for ch in first if sum(i.startswith(ch) for i in ids) > 1)
    assert codes(c.services.inspect, {"service": prefix}) == ControlCode.AMBIGUOUS


def test_scale_update_bump_spec_version() -> None:
    c = Cluster()
    sid = c.create(name="web", replicas=1, env=["A=1"])
    reply = call(c.services.scale, {"service": "web", "replicas": 4})
    assert reply["changed"] and reply["service"]["replicas_desired"] == 4
    stored = c.service(sid)
    assert stored.spec_version == 2 and stored.previous_spec is not None
    assert stored.previous_spec.mode.replicas == 1  # type: ignore[union-attr]
    reply = call(
        c.services.update, {"service": sid, "changes": {"env_add": ["B=2"], "image": "busybox:2"}}
    )
    stored = c.service(sid)
    assert stored.spec.task.container.env == ("A=1", "B=2")
    assert stored.spec.task.container.image == "busybox:2"
    assert stored.spec_version == 3
    # no change: nothing written
    version = c.store.version
    assert not call(c.services.update, {"service": sid, "changes": {"image": "busybox:2"}})[
        "changed"
    ]
    assert c.store.version == version
    # --force always changes the task spec
    assert call(c.services.update, {"service": sid, "changes": {"force": True}})["changed"]
    assert c.service(sid).spec.task.force_update == 1


def test_scale_sets_a_replicated_jobs_total_completions() -> None:
    """As ``docker service scale job=4``: a replicated job's count is its completions."""
    c = Cluster()
    sid = c.create(name="job", mode="replicated-job", replicas=2, max_concurrent=1)
    reply = call(c.services.scale, {"service": "job", "replicas": 4})
    assert reply["changed"] and reply["service"]["replicas_desired"] == 4
    assert c.service(sid).spec.mode == ReplicatedJob(max_concurrent=1, total_completions=4)
    c.create(name="once", mode="global-job")
    code, message = codes_and_message(c.services.scale, {"service": "once", "replicas": 2})
    assert code == ControlCode.INVALID_ARGUMENT
    assert message == (
        "service once is global-job: scale can only be used with replicated or replicated-job mode"
    )


def codes_and_message(fn: object, body: dict[str, object]) -> tuple[str, str]:
    with pytest.raises(ControlError) as info:
        call(fn, body)  # type: ignore[arg-type]
    return info.value.code, info.value.message


def test_refusals_of_update_and_scale() -> None:
    c = Cluster()
    c.create(name="web")
    c.create(name="g", mode="global")
    version = c.store.version
    assert codes(c.services.scale, {"service": "g", "replicas": 2}) == ControlCode.INVALID_ARGUMENT
    assert codes(c.services.scale, {"service": "web", "replicas": -1}) == (
        ControlCode.INVALID_ARGUMENT
    )
    bad = [
        {"replicas": -2},
        {"mode": "global"},
        {"name": "other"},
        {"constraint_add": ["zone=a"]},
        {"reserve_memory": 10, "limit_memory": 5},
        {"restart_condition": "never"},
        {"image": "BAD:IMAGE:@@"},
    ]
    for changes in bad:
        assert codes(c.services.update, {"service": "web", "changes": changes}) in (
            ControlCode.INVALID_SPEC,
            ControlCode.INVALID_ARGUMENT,
        )
    assert codes(c.services.update, {"service": "nope", "changes": {}}) == ControlCode.NOT_FOUND
    assert c.store.version == version


def test_pinned_version_conflict_is_not_retried() -> None:
    c = Cluster()
    sid = c.create(name="web")
    old = c.service(sid).meta.version
    call(c.services.scale, {"service": sid, "replicas": 2})
    body = {"service": sid, "changes": {"replicas": 5}, "version": old}
    assert codes(c.services.update, body) == ControlCode.CONFLICT
    assert c.service(sid).spec.mode.replicas == 2  # type: ignore[union-attr]


def test_scale_retries_after_a_concurrent_write() -> None:
    c = Cluster()
    sid = c.create(name="web")
    interfered = []

    original = c.store.update

    def racing_update(fn, **kw):  # type: ignore[no-untyped-def]
        if not interfered:  # someone else writes the service between read and commit
            interfered.append(True)
            svc = c.service(sid)
            original(lambda tx: tx.update(replace(svc, spec_version=svc.spec_version + 10)))
            svc_stale = svc

            def stale(tx):  # type: ignore[no-untyped-def]
                tx.update(replace(svc_stale, spec_version=0))

            return original(stale)
        return original(fn, **kw)

    c.store.update = racing_update  # type: ignore[method-assign]
    reply = call(c.services.scale, {"service": sid, "replicas": 7})
    assert reply["changed"] and interfered
    assert c.service(sid).spec.mode.replicas == 7  # type: ignore[union-attr]


def test_modify_gives_up_with_a_conflict() -> None:
    c = Cluster()
    sid = c.create(name="web")
    stale = c.service(sid)
    call(c.services.scale, {"service": sid, "replicas": 2})

    def write(tx):  # type: ignore[no-untyped-def]
        tx.update(replace(stale, spec_version=99))

    with pytest.raises(ControlError) as info:
        modify(c.store, write, attempts=3)
    assert info.value.code == ControlCode.CONFLICT and "3 attempts" in info.value.message
    with pytest.raises(ConflictError):
        c.store.update(write)


def test_ps_rows_and_running_count() -> None:
    c = Cluster()
    n1 = c.add_node("node-1")
    sid = c.create(name="web", replicas=2)
    t1 = c.add_task("web", 1, n1)
    t2 = c.add_task("web", 2, "", message="no suitable node (insufficient memory on 1 node)")
    c.set_task(t2, TaskState.PENDING, message="no suitable node (insufficient memory on 1 node)")
    c.set_task(t1, TaskState.RUNNING)
    reply = call(c.services.ps, {"service": "web"})
    rows = {r["id"]: r for r in reply["tasks"]}
    assert set(rows) == {t1, t2}
    assert {
        k: rows[t1][k] for k in ("slot", "node_id", "desired_state", "state", "container_id")
    } == {
        "slot": 1,
        "node_id": n1,
        "desired_state": "running",
        "state": "running",
        "container_id": f"c-{t1}",
    }
    assert rows[t2]["state"] == "pending" and "insufficient memory" in rows[t2]["message"]
    assert rows[t1]["node"] == "node-1"
    assert reply["service"]["replicas_running"] == 1
    assert call(c.services.ls, {})["services"][0]["replicas_running"] == 1
    only_running = call(c.services.ps, {"service": sid, "desired_state": "shutdown"})
    assert only_running["tasks"] == []
    assert codes(c.services.ps, {"service": sid, "desired_state": "asleep"}) == (
        ControlCode.INVALID_ARGUMENT
    )


def test_rm_marks_pending_delete_all_or_nothing() -> None:
    c = Cluster()
    a = c.create(name="a")
    b = c.create(name="b")
    version = c.store.version
    assert codes(c.services.rm, {"services": ["a", "nope"]}) == ControlCode.NOT_FOUND
    assert c.store.version == version
    assert call(c.services.rm, {"services": ["a", b[:8]]})["removed"] == [a, b]
    assert c.service(a).pending_delete and c.service(b).pending_delete
    assert call(c.services.ls, {})["services"] == []
    assert len(call(c.services.ls, {"all": True})["services"]) == 2
    assert codes(c.services.scale, {"service": a, "replicas": 2}) == ControlCode.NOT_FOUND


def test_a_removed_service_lets_go_of_its_name_at_once() -> None:
    """Docker deletes a service at once: its name is free while its tasks shut down; the
    one being removed is still found by its id (until the orchestrator deletes it). The
    name has a hyphen, which no id holds: a name like ``a`` is also a prefix of ~7 % of
    ids, which the lookup then finds."""
    c = Cluster()
    old = c.create(name="web-a")
    call(c.services.rm, {"services": ["web-a"]})
    assert codes(c.services.inspect, {"service": "web-a"}) == ControlCode.NOT_FOUND
    spec = encode(apply_options(ServiceSpec(), {"name": "web-a", "image": "x"}))
    new = call(c.services.create, {"spec": spec})["id"]
    assert call(c.services.inspect, {"service": "web-a"})["service"]["id"] == new
    assert call(c.services.inspect, {"service": old})["service"]["pending_delete"]
    with pytest.raises(ControlError) as info:
        call(c.services.create, {"spec": spec})  # the live one holds it
    assert info.value.code == ControlCode.NAME_CONFLICT and new in info.value.message
    c.store.update(lambda tx: tx.delete(services.get(tx, old)))  # the orchestrator's delete
    assert call(c.services.inspect, {"service": "web-a"})["service"]["id"] == new


def test_ps_lists_each_slots_current_task_first_wherever_it_runs() -> None:
    """A slot moved off a drained node: its new task on another node comes first, the dead
    one below it (sorted by node id, the dead one came first)."""
    c = Cluster()
    a = c.add_node("node-a", "a" * 25)
    b = c.add_node("node-b", "b" * 25)
    c.create(name="web", replicas=2)
    old = c.add_task("web", 1, a)
    c.set_task(old, TaskState.RUNNING)
    other = c.add_task("web", 2, a)
    c.set_task(other, TaskState.RUNNING)
    c.set_desired(old, TaskState.SHUTDOWN)
    c.set_task(old, TaskState.SHUTDOWN)
    c.clock.now += 1
    new = c.add_task("web", 1, b)
    c.set_task(new, TaskState.RUNNING)
    rows = call(c.services.ps, {"service": "web"})["tasks"]
    assert [r["id"] for r in rows] == [new, old, other]


def test_dependencies_must_exist_fit_and_not_form_a_cycle() -> None:
    """Issue 10 item 8: refused at create and update, nothing written."""
    c = Cluster()
    c.create(name="db")
    c.create(name="migrate", mode="replicated-job")
    c.create(name="api", depends_on=["db:healthy", "migrate:completed"])
    c.create(name="web", depends_on=["api"])
    before = c.store.version
    refusals = [
        (lambda: c.create(name="x", depends_on=["nope"]), "cannot depend on nope: no such service"),
        (lambda: c.create(name="y", depends_on=["db:completed"]), "db is replicated, not a job"),
        (
            lambda: call(
                c.services.update, {"service": "db", "changes": {"depends_on_add": ["web"]}}
            ),
            "dependency cycle: api -> db -> web -> api",
        ),
    ]
    for attempt, words in refusals:
        with pytest.raises(ControlError) as refused:
            attempt()
        assert refused.value.code == ControlCode.INVALID_ARGUMENT
        assert words in str(refused.value)
    assert c.store.version == before
    # removing a dependency is always possible
    call(c.services.update, {"service": "web", "changes": {"depends_on_rm": ["api"]}})
    assert c.service("web").spec.depends_on == ()


def test_update_with_a_whole_spec_replaces_it_and_says_whether_it_changed() -> None:
    c = Cluster()
    sid = c.create(name="web", replicas=2, env=["A=1"], labels={"k": "v"})
    current = c.service(sid).spec
    wanted = apply_options(current, {"env": ["B=2"], "labels": {}, "replicas": 3})
    reply = call(c.services.update, {"service": "web", "spec": encode(wanted)})
    stored = c.service(sid)
    assert reply["changed"] and stored.spec == wanted and stored.spec_version == 2
    assert reply["service"]["labels"] == {}
    version = c.store.version
    assert not call(c.services.update, {"service": "web", "spec": encode(wanted)})["changed"]
    assert c.store.version == version
    refused = [
        {"service": "web", "spec": encode(replace(wanted, name="other"))},
        {"service": "web", "spec": encode(apply_options(wanted, {"mode": "global"}))},
        {"service": "web", "spec": encode(replace(wanted, task=ServiceSpec().task))},
        {"service": "web", "spec": encode(wanted), "changes": {"replicas": 1}},
        {"service": "web"},
    ]
    for body in refused:
        assert codes(c.services.update, body) in (
            ControlCode.INVALID_SPEC,
            ControlCode.INVALID_ARGUMENT,
        )
    assert c.store.version == version


def test_update_with_a_whole_spec_keeps_the_rules_of_an_update() -> None:
    """The Engine API's and a stack's update: a whole spec, same name and mode."""
    c = Cluster()
    sid = c.create(name="web", replicas=2)
    service = c.service(sid)
    wanted = apply_options(service.spec, {"replicas": 4, "env": ["A=1"]})
    body = {"service": sid, "spec": encode(wanted), "version": service.meta.version}
    reply = call(c.services.update, body)
    assert reply["changed"] is True
    after = c.service(sid)
    assert after.spec == wanted and after.previous_spec == service.spec
    assert after.spec_version == 2
    # the same spec again changes nothing
    assert call(c.services.update, {"service": sid, "spec": encode(wanted)})["changed"] is False
    version = c.store.version
    renamed = encode(replace(wanted, name="other"))
    assert codes(c.services.update, {"service": sid, "spec": renamed}) == "invalid_argument"
    global_ = encode(apply_options(wanted, {"mode": "global"}))
    assert codes(c.services.update, {"service": sid, "spec": global_}) == "invalid_argument"
    bad = encode(apply_options(wanted, {"reserve_memory": 10, "limit_memory": 5}))
    assert codes(c.services.update, {"service": sid, "spec": bad}) == "invalid_spec"
    both = {"service": sid, "spec": encode(wanted), "changes": {}}
    assert codes(c.services.update, both) == "invalid_argument"
    stale = {"service": sid, "spec": encode(wanted), "version": service.meta.version}
    assert codes(c.services.update, stale) == "conflict"
    assert c.store.version == version


def test_ls_full_carries_the_whole_objects() -> None:
    c = Cluster()
    sid = c.create(name="web", replicas=2)
    c.add_node("n1")
    [row] = call(c.services.ls, {"full": True})["services"]
    assert row["object"]["id"] == sid and row["object"]["spec"]["name"] == "web"
    assert "object" not in call(c.services.ls, {})["services"][0]
    auth = {"server_address": "reg.example", "username": "u", "password": "hunter2-pw"}
    spec = encode(apply_options(ServiceSpec(name="private"), {"image": "reg.example/x"}))
    call(c.services.create, {"spec": spec, "registry_auth": auth})
    listed = call(c.services.ls, {"full": True})["services"]
    assert "hunter2-pw" not in repr(listed)  # credentials never answered back
    [node] = call(c.nodes.ls, {"full": True})["nodes"]
    assert node["object"]["description"]["hostname"] == "n1"
    assert "object" not in call(c.nodes.ls, {})["nodes"][0]


def test_update_applies_the_container_options_on_the_manager() -> None:
    """What swarmctl sends for ``service update --read-only --cap-add ...``: the manager
    applies it to the current spec; a bad value is refused naming the field."""
    c = Cluster()
    sid = c.create(name="web", cap_drop=["NET_RAW"], hosts=["db:10.0.0.9"])
    changes = {
        "read_only": True,
        "cap_add": ["NET_RAW", "SYS_TIME"],
        "ulimit_add": ["nofile=1024:2048"],
        "host_rm": ["db"],
        "dns_add": ["10.0.0.2"],
    }
    assert call(c.services.update, {"service": sid, "changes": changes})["changed"]
    container = c.service(sid).spec.task.container
    assert container.read_only
    assert (container.cap_add, container.cap_drop) == (("CAP_SYS_TIME",), ())
    assert [u.name for u in container.ulimits] == ["nofile"] and container.hosts == ()
    assert container.dns_config.nameservers == ("10.0.0.2",)
    version = c.store.version
    with pytest.raises(ControlError, match=r"container.ulimits\[1\]: unknown ulimit 'nofiles'"):
        call(c.services.update, {"service": sid, "changes": {"ulimit_add": ["nofiles=1"]}})
    assert c.store.version == version
