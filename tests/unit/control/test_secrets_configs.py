"""Secret and config handlers against a local store: create, ls, inspect, rm; a secret's
data never in a reply; services reference them by name, stored with ids; in use, they
cannot be removed."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from actors.control import ControlCode, ControlError, call, control_handlers
from actors.control.configs import ConfigControl
from actors.control.secrets import SecretControl
from api.codec_objects import encode
from api.specs import ConfigSpec, SecretSpec
from tests.unit.control.helpers import Cluster

DATA = b"hunter2-\x00\xff-not-for-replies"


def make(c: Cluster) -> tuple[SecretControl, ConfigControl]:
    return SecretControl(c.store), ConfigControl(c.store)


def code_of(fn: Any, body: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(ControlError) as info:
        call(fn, body)
    return info.value.code, info.value.message


def test_a_secret_is_created_listed_inspected_without_its_data() -> None:
    c = Cluster()
    secrets, _ = make(c)
    spec = SecretSpec(name="db_pass", labels={"env": "prod"}, data=DATA)
    reply = call(secrets.create, {"spec": encode(spec)})
    sid = reply["id"]
    assert reply["secret"]["name"] == "db_pass"
    rows = call(secrets.ls, {})["secrets"]
    assert [(r["id"], r["name"], r["labels"]) for r in rows] == [(sid, "db_pass", {"env": "prod"})]
    doc = call(secrets.inspect, {"secret": "db_pass"})["secret"]
    assert doc["id"] == sid and doc["spec"]["name"] == "db_pass"
    assert "data" not in doc["spec"]
    for reply in (rows, doc, call(secrets.inspect, {"secret": sid[:6]})):
        assert DATA not in msgpack.packb(reply, use_bin_type=True)
    assert code_of(secrets.create, {"spec": encode(spec)})[0] == ControlCode.NAME_CONFLICT


def test_a_config_shows_its_data() -> None:
    c = Cluster()
    _, configs = make(c)
    call(configs.create, {"spec": encode(ConfigSpec(name="site.conf", data=b"listen 80;\n"))})
    doc = call(configs.inspect, {"config": "site.conf"})["config"]
    assert doc["spec"]["data"] == b"listen 80;\n"
    assert [r["name"] for r in call(configs.ls, {})["configs"]] == ["site.conf"]


def test_invalid_specs_write_nothing() -> None:
    c = Cluster()
    secrets, _ = make(c)
    before = c.store.version
    for spec in (
        {"name": "x", "data": b""},
        {"name": "bad name", "data": b"x"},
        {"name": "x", "data": b"x" * (500 * 1024 + 1)},
        {"name": "x", "data": "text, not bytes"},
    ):
        assert code_of(secrets.create, {"spec": spec})[0] == ControlCode.INVALID_SPEC
    assert c.store.version == before


def test_services_reference_by_name_and_store_ids() -> None:
    c = Cluster()
    secrets, configs = make(c)
    sid = call(secrets.create, {"spec": encode(SecretSpec(name="pw", data=b"s"))})["id"]
    cid = call(configs.create, {"spec": encode(ConfigSpec(name="conf", data=b"c"))})["id"]
    c.create(name="web", secrets=["pw"], configs=["source=conf,target=/etc/app.conf"])
    container = c.service("web").spec.task.container
    assert [(r.secret_id, r.secret_name, r.target) for r in container.secrets] == [
        (sid, "pw", "pw")
    ]
    assert [(r.config_id, r.target) for r in container.configs] == [(cid, "/etc/app.conf")]
    # an unknown one is refused, nothing written
    before = c.store.version
    with pytest.raises(ControlError) as info:
        c.create(name="api", secrets=["nope"])
    assert info.value.code == ControlCode.NOT_FOUND and "secret 'nope' not found" in str(info.value)
    code, message = code_of(
        c.services.update, {"service": "web", "changes": {"config_add": ["missing"]}}
    )
    assert code == ControlCode.NOT_FOUND and "config 'missing'" in message
    assert c.store.version == before


def test_in_use_cannot_be_removed_and_rotation_frees_it() -> None:
    c = Cluster()
    secrets, _ = make(c)
    for name in ("pw_v1", "pw_v2", "spare"):
        call(secrets.create, {"spec": encode(SecretSpec(name=name, data=name.encode()))})
    c.create(name="web", secrets=["source=pw_v1,target=pw"])
    c.create(name="api", secrets=["source=pw_v1,target=pw"])
    code, message = code_of(secrets.rm, {"secrets": ["spare", "pw_v1"]})
    assert code == ControlCode.IN_USE
    assert "secret 'pw_v1' is in use by services api, web" in message
    assert message.endswith(": nothing removed")
    assert len(call(secrets.ls, {})["secrets"]) == 3  # nothing removed, not even spare
    for service in ("web", "api"):
        call(
            c.services.update,
            {
                "service": service,
                "changes": {"secret_rm": ["pw_v1"], "secret_add": ["source=pw_v2,target=pw"]},
            },
        )
    assert [r.secret_name for r in c.service("web").spec.task.container.secrets] == ["pw_v2"]
    removed = call(secrets.rm, {"secrets": ["pw_v1", "spare"]})["removed"]
    assert len(removed) == 2
    assert [r["name"] for r in call(secrets.ls, {})["secrets"]] == ["pw_v2"]
    assert code_of(secrets.rm, {"secrets": ["pw_v1"]})[0] == ControlCode.NOT_FOUND


def test_a_removed_service_lets_go_of_its_secrets_and_configs_at_once() -> None:
    """Docker deletes the service at once and checks services only: its tasks still
    shutting down keep the files they were given (the dispatcher skips a deleted one)."""
    c = Cluster()
    secrets, configs = make(c)
    call(secrets.create, {"spec": encode(SecretSpec(name="pw", data=b"s"))})
    call(configs.create, {"spec": encode(ConfigSpec(name="cf", data=b"c"))})
    web = c.create(name="web", secrets=["pw"], configs=["cf"])
    c.create(name="api", secrets=["pw"])
    call(c.services.rm, {"services": ["web"]})
    assert c.service(web).pending_delete  # its tasks are still being stopped
    code, message = code_of(secrets.rm, {"secrets": ["pw"]})
    assert code == ControlCode.IN_USE
    # one named: nothing more to say (`swarmctl secret rm a b` sends one at a time, and has
    # removed the others it named)
    assert message == "secret 'pw' is in use by service api"
    call(configs.rm, {"configs": ["cf"]})
    call(c.services.rm, {"services": ["api"]})
    call(secrets.rm, {"secrets": ["pw"]})
    assert call(secrets.ls, {})["secrets"] == [] and call(configs.ls, {})["configs"] == []


def test_handlers_in_the_control_table() -> None:
    table = control_handlers(Cluster().store)
    for kind in ("secret", "config"):
        for verb in ("create", "ls", "inspect", "rm", "update"):
            assert f"control.{kind}.{verb}" in table


def test_update_changes_labels_only_at_the_version_read() -> None:
    """Docker's secret|config update (what ``docker stack deploy`` sends again)."""
    c = Cluster()
    secrets, configs = make(c)
    sid = call(secrets.create, {"spec": encode(SecretSpec(name="pw", data=DATA))})["id"]
    version = call(secrets.inspect, {"secret": sid})["secret"]["meta"]["version"]
    # the same data again: a no-op that answers
    same = {"secret": "pw", "version": version, "labels": {}, "data": DATA}
    assert call(secrets.update, same)["id"] == sid
    labelled = {"secret": "pw", "version": version, "labels": {"env": "prod"}}
    assert call(secrets.update, labelled)["secret"]["labels"] == {"env": "prod"}
    doc = call(secrets.inspect, {"secret": sid})["secret"]
    assert doc["spec"]["labels"] == {"env": "prod"} and doc["meta"]["version"] > version
    assert code_of(secrets.update, labelled)[0] == ControlCode.CONFLICT  # a stale version
    fresh = doc["meta"]["version"]
    other = {"secret": "pw", "version": fresh, "labels": {}, "data": b"other"}
    code, message = code_of(secrets.update, other)
    assert code == ControlCode.INVALID_ARGUMENT and "only updates to labels" in message
    assert DATA not in message.encode()
    cid = call(configs.create, {"spec": encode(ConfigSpec(name="c", data=b"x"))})["id"]
    cversion = call(configs.inspect, {"config": cid})["config"]["meta"]["version"]
    body = {"config": cid, "version": cversion, "labels": {"a": "b"}, "data": b"x"}
    assert call(configs.update, body)["config"]["labels"] == {"a": "b"}
