"""Networks (create, ls, inspect, rm), services naming them, bind mounts only where the
cluster allows them, and registry credentials that are kept but never shown."""

from __future__ import annotations

import json

import pytest

from actors.control import ControlCode, ControlError, call
from actors.control.networks import NetworkControl
from actors.store import clusters
from api.codec_objects import encode
from api.objects import Cluster as ClusterObject
from api.service_options import apply_options
from api.specs import NetworkSpec, ServiceSpec
from api.task_state import TaskState
from tests.unit.control.helpers import Cluster

AUTH = {
    "server_address": "127.0.0.1:5000",
    "username": "alice",
    "password": "pa55-w0rd-xyz",
    "identity_token": "",
}


def code_of(fn: object, body: dict[str, object]) -> ControlError:
    with pytest.raises(ControlError) as info:
        call(fn, body)  # type: ignore[arg-type]
    return info.value


def with_networks() -> tuple[Cluster, NetworkControl]:
    c = Cluster()
    control = NetworkControl(c.store)
    for name in ("backend", "frontend"):
        call(control.create, {"spec": encode(NetworkSpec(name=name))})
    return c, control


def test_network_create_ls_inspect_and_names_are_unique() -> None:
    _c, control = with_networks()
    rows = call(control.ls, {})["networks"]
    assert [(r["name"], r["driver"], r["scope"], r["services"]) for r in rows] == [
        ("backend", "bridge", "node", 0),
        ("frontend", "bridge", "node", 0),
    ]
    err = code_of(control.create, {"spec": encode(NetworkSpec(name="BACKEND"))})
    assert err.code == ControlCode.NAME_CONFLICT
    err = code_of(control.create, {"spec": encode(NetworkSpec(name="x", driver="overlay"))})
    assert err.code == ControlCode.INVALID_SPEC and "overlay" in err.message
    inspected = call(control.inspect, {"network": "backend"})
    assert inspected["network"]["spec"]["name"] == "backend"
    assert inspected["summary"]["used_by"] == []
    missing = code_of(control.inspect, {"network": "nope"})
    assert missing.code == ControlCode.NOT_FOUND
    # Docker's words, and no swarmctl command shown to a docker CLI user
    assert str(missing.message).startswith("network nope not found")
    assert "swarmctl" not in str(missing.message)


def test_services_name_networks_by_id_and_in_use_networks_stay() -> None:
    c, control = with_networks()
    backend = call(control.inspect, {"network": "backend"})["network"]["id"]
    frontend = call(control.inspect, {"network": "frontend"})["network"]["id"]
    sid = c.create(name="db", networks=["backend"])
    assert [a.target for a in c.service(sid).spec.task.networks] == [backend]

    err = code_of(control.rm, {"networks": ["backend"]})
    assert err.code == ControlCode.IN_USE and "in use by service db" in err.message

    # add by name (an attached network is replaced, not doubled), remove by name
    call(c.services.update, {"service": "db", "changes": {"network_add": ["backend", "frontend"]}})
    assert [a.target for a in c.service(sid).spec.task.networks] == [backend, frontend]
    call(c.services.update, {"service": "db", "changes": {"network_rm": ["backend"]}})
    assert [a.target for a in c.service(sid).spec.task.networks] == [frontend]
    assert call(control.rm, {"networks": ["backend"]})["removed"] == [backend]

    unknown = code_of(c.services.update, {"service": "db", "changes": {"network_add": ["x"]}})
    assert unknown.code == ControlCode.NOT_FOUND and "network create x" in unknown.message
    spec = apply_options(ServiceSpec(), {"image": "busybox", "name": "y", "networks": ["nope"]})
    assert code_of(c.services.create, {"spec": encode(spec)}).code == ControlCode.NOT_FOUND


def test_a_network_used_by_unfinished_tasks_of_a_removed_service_stays() -> None:
    c, control = with_networks()
    c.add_node("n1", "n" * 25)
    sid = c.create(name="web", networks=["frontend"])
    tid = c.add_task(sid, 1, "n" * 25, state=TaskState.RUNNING)
    call(c.services.rm, {"services": ["web"]})
    # gone for the user (`service ls`), so the refusal says what still holds the network
    refused = code_of(control.rm, {"networks": ["frontend"]})
    assert refused.code == ControlCode.IN_USE
    assert refused.message == (
        "network frontend is in use by the tasks of removed service web (still stopping)"
    )
    c.store.update(lambda tx: tx.delete(c.service(sid)))  # the orchestrator's job, done
    assert code_of(control.rm, {"networks": ["frontend"]}).message == refused.message
    api = c.create(name="api", networks=["frontend"])
    assert code_of(control.rm, {"networks": ["frontend"]}).message == (
        "network frontend is in use by service api"
        " and the tasks of removed service web (still stopping)"
    )
    c.store.update(lambda tx: tx.delete(c.service(api)))
    c.set_task(tid, TaskState.SHUTDOWN)
    assert call(control.rm, {"networks": ["frontend"]})["removed"]


def _allow_binds(c: Cluster, allow: bool) -> None:
    if c.store.view(clusters.get_default) is None:
        c.store.update(lambda tx: tx.create(ClusterObject(id="c" * 25)))
    call(c.cluster.update, {"allow_bind_mounts": allow})


def test_bind_mounts_are_refused_until_allowed() -> None:
    c = Cluster()
    spec = apply_options(
        ServiceSpec(),
        {"image": "busybox", "name": "files", "mounts": ["type=bind,source=/srv,target=/srv"]},
    )
    err = code_of(c.services.create, {"spec": encode(spec)})
    assert err.code == ControlCode.INVALID_SPEC and "--allow-bind-mounts" in err.message
    volume = c.create(name="vol", mounts=["source=data,target=/data"])  # volumes are fine
    bind = {"mount_add": ["type=bind,source=/srv,target=/srv"]}
    assert code_of(c.services.update, {"service": volume, "changes": bind}).code == (
        ControlCode.INVALID_SPEC
    )

    _allow_binds(c, True)
    call(c.services.create, {"spec": encode(spec)})
    assert c.store.view(clusters.get_default).spec.allow_bind_mounts  # type: ignore[union-attr]
    err = code_of(c.cluster.update, {"allow_bind_mounts": False})
    assert err.code == ControlCode.IN_USE and "files" in err.message
    call(c.services.update, {"service": "files", "changes": {"mount_rm": ["/srv"]}})
    _allow_binds(c, False)


def test_registry_auth_is_kept_but_never_answered() -> None:
    c = Cluster()
    spec = apply_options(ServiceSpec(), {"image": "127.0.0.1:5000/app:1", "name": "app"})
    sid = call(c.services.create, {"spec": encode(spec), "registry_auth": AUTH})["id"]
    stored = c.service(sid).registry_auth
    assert stored is not None and stored.password == AUTH["password"]
    answers = [
        call(c.services.inspect, {"service": "app"}),
        call(c.services.ls, {}),
        call(c.services.ps, {"service": "app"}),
        call(c.tasks.ls, {}),
    ]
    text = json.dumps(answers, default=str)
    assert AUTH["password"] not in text and AUTH["username"] not in text
    assert answers[0]["summary"]["with_registry_auth"] is True

    # an update with new credentials only: stored, no new spec version (no new tasks)
    fresh = AUTH | {"password": "n3w-pa55"}
    reply = call(c.services.update, {"service": "app", "changes": {}, "registry_auth": fresh})
    assert reply["changed"] is False
    assert c.service(sid).registry_auth.password == "n3w-pa55"  # type: ignore[union-attr]
    assert c.service(sid).spec_version == 1
    # an update without credentials keeps them
    call(c.services.update, {"service": "app", "changes": {"env_add": ["A=1"]}})
    assert c.service(sid).registry_auth.password == "n3w-pa55"  # type: ignore[union-attr]

    bad = code_of(
        c.services.create, {"spec": encode(spec), "registry_auth": AUTH | {"password": ""}}
    )
    assert bad.code == ControlCode.INVALID_ARGUMENT
    huge = AUTH | {"password": "x" * 10_000}
    err = code_of(c.services.update, {"service": "app", "changes": {}, "registry_auth": huge})
    assert err.code == ControlCode.INVALID_SPEC and "x" * 100 not in err.message


def test_a_dry_run_checks_and_resolves_as_the_write_would() -> None:
    from actors.control.plans import ServicePlans

    c, _control = with_networks()
    c.add_node("n1", "n" * 25)
    plans = ServicePlans(c.store, clock=c.clock)
    binds = apply_options(
        ServiceSpec(),
        {"image": "busybox", "name": "files", "mounts": ["type=bind,source=/srv,target=/srv"]},
    )
    err = code_of(plans.plan, {"spec": encode(binds)})
    assert err.code == ControlCode.INVALID_SPEC and "--allow-bind-mounts" in err.message

    sid = c.create(name="db", networks=["backend"])
    c.add_task(sid, 1, "n" * 25, state=TaskState.RUNNING)
    again = call(plans.plan, {"service": "db", "changes": {"network_add": ["backend"]}})
    assert "nothing to do" in " ".join(again["notes"]), again  # backend by name is its id
    unknown = {"service": "db", "changes": {"network_add": ["nope"]}}
    assert code_of(plans.plan, unknown).code == ControlCode.NOT_FOUND
