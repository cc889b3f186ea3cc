"""The Engine API's pure parts: wire forms, versions, list filters, events, swarm update."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from typing import Any

import pytest

from actors.ca.certs import create_csr, generate_node_key, issue_node_certificate
from actors.ca.root import CertificateAuthority, create_root_ca
from actors.control.views import node_document
from actors.engine_api import objects
from actors.engine_api.errors import EngineError
from actors.engine_api.events import docker_event, local_match, to_control
from actors.engine_api.listing import keep_file, keep_service, keep_task
from actors.engine_api.networks import STACK_NAMESPACE, network_spec, stack_driver_hint
from actors.engine_api.objects import (
    docker_node,
    docker_service,
    docker_swarm,
    docker_task,
)
from actors.engine_api.swarm_update import cluster_changes
from actors.engine_api.versions import split_version
from actors.engine_api.wire import parse_filters, parse_time, rfc3339
from actors.scheduler import filters
from api.codec_objects import encode_object
from api.enums import NodeRole, PublishMode, UpdateState
from api.ids import new_id
from api.objects import (
    Cluster,
    JobStatus,
    Node,
    NodeDescription,
    NodeTLSInfo,
    RootCA,
    Service,
    Task,
    TaskStatus,
    UpdateStatus,
)
from api.specs import PortConfig, ReplicatedJob, ServiceSpec
from api.task_state import TaskState
from tests.unit.ca.test_tls_info import report
from transport.keys import generate_keypair

NOW = 1_700_000_000.0


def certified(ca: CertificateAuthority, rng: random.Random) -> str:
    csr = create_csr(generate_node_key(), generate_keypair().public)
    return issue_node_certificate(
        ca, csr, node_id=new_id(rng), role=NodeRole.WORKER, cluster_id="c", now=NOW, rng=rng
    ).cert_pem.decode()


def test_times() -> None:
    assert rfc3339(0) == "0001-01-01T00:00:00Z"
    assert rfc3339(1_700_000_000.5) == "2023-11-14T22:13:20.500000000Z"
    assert parse_time("1700000000.000000001", "since") == pytest.approx(1_700_000_000)
    assert parse_time("2023-11-14T22:13:20Z", "since") == 1_700_000_000
    with pytest.raises(EngineError, match="invalid since"):
        parse_time("yesterday", "since")


def test_versions() -> None:
    assert split_version("/v1.41/services") == ("1.41", "/services")
    assert split_version("/v1.30/info") == ("1.30", "/info")
    assert split_version("/v1.50/services") == ("1.50", "/services")
    assert split_version("/_ping") == ("1.50", "/_ping")
    newest = re.escape("too new. Maximum supported API version is 1.50")
    with pytest.raises(EngineError, match=newest):
        split_version("/v1.51/info")
    with pytest.raises(EngineError, match="too old"):
        split_version("/v1.12/info")


def test_filters_both_forms_and_unknown_keys() -> None:
    assert parse_filters('{"name": ["a", "b"]}', ("name",)) == {"name": ["a", "b"]}
    assert parse_filters('{"name": {"a": true, "b": false}}', ("name",)) == {"name": ["a"]}
    with pytest.raises(EngineError, match="invalid filter 'foo'"):
        parse_filters('{"foo": ["x"]}', ("name",))
    with pytest.raises(EngineError, match="not JSON"):
        parse_filters("{", ("name",))


def service_row(name: str, labels: dict[str, str], mode: str = "replicated") -> dict[str, Any]:
    service = Service(id=f"id{name}", spec=ServiceSpec(name=name, labels=labels))
    return {"id": service.id, "mode": mode, "object": encode_object(service)}


def test_service_filters() -> None:
    web = service_row("web", {"tier": "front", "stack": "s"})
    assert keep_service({}, web)
    assert keep_service({"name": ["we"]}, web)
    assert not keep_service({"name": ["eb"]}, web)
    assert keep_service({"label": ["tier=front", "stack"]}, web)
    assert not keep_service({"label": ["tier=back"]}, web)
    assert keep_service({"label": ["tier="]}, web)  # SwarmKit: an empty value is any value
    assert keep_service({"id": ["idw"], "mode": ["replicated"]}, web)
    assert not keep_service({"mode": ["global"]}, web)
    with pytest.raises(EngineError):
        keep_service({"mode": ["elastic"]}, web)


def test_task_and_file_filters() -> None:
    task = {
        "id": "t1",
        "name": "web.1",
        "service_id": "s1",
        "service_name": "web",
        "node_id": "n1",
        "node": "alpha",
        "desired_state": "running",
        "up_to_date": True,
    }
    labels = {"com.docker.stack.namespace": "st"}
    assert keep_task({"service": ["web"], "node": ["alpha"]}, task, labels)
    assert keep_task({"service": ["s1"], "desired-state": ["running"]}, task, labels)
    assert keep_task({"label": ["com.docker.stack.namespace=st"]}, task, labels)
    assert not keep_task({"label": ["com.docker.stack.namespace=other"]}, task, labels)
    assert keep_task({"_up-to-date": ["true"]}, task, labels)
    assert not keep_task({"desired-state": ["shutdown"]}, task, labels)
    # any task state, in any case, as Docker's
    job_task = {**task, "desired_state": "complete"}
    assert keep_task({"desired-state": ["complete"]}, job_task, labels)
    assert keep_task({"desired-state": ["Running"]}, task, labels)
    assert keep_task({"desired-state": ["ready", "running"]}, task, labels)
    assert not keep_task({"desired-state": ["allocated"]}, task, labels)
    with pytest.raises(EngineError, match="invalid filter 'desired-state=asleep'"):
        keep_task({"desired-state": ["asleep"]}, task, labels)
    assert keep_task({"runtime": ["container"]}, task, labels)
    assert not keep_task({"runtime": ["plugin"]}, task, labels)
    secret = {"id": "x1", "name": "pw", "labels": {"a": "b"}}
    assert keep_file({"names": ["pw"], "label": ["a"]}, secret)
    assert not keep_file({"names": ["p"]}, secret)


def test_objects_carry_docker_fields() -> None:
    service = Service(id="s1", spec=ServiceSpec(name="web"))
    shown = docker_service(encode_object(service), {"replicas_running": 1, "replicas_desired": 2})
    assert shown["Spec"]["Name"] == "web"
    assert shown["ServiceStatus"] == {"RunningTasks": 1, "DesiredTasks": 2, "CompletedTasks": 0}
    node = docker_node({**encode_object(Node(id="n1")), "certificate": ""})
    assert node["Spec"]["Role"] == "worker" and "ManagerStatus" not in node
    task = docker_task(encode_object(Task(id="t1", service_id="s1", slot=2)))
    assert (task["ID"], task["ServiceID"], task["Slot"]) == ("t1", "s1", 2)
    assert task["Status"]["State"] == "new" and "ContainerSpec" in task["Spec"]
    why = "no suitable node (constraint node.labels.zone==a not satisfied on 2 nodes)"
    waiting = TaskStatus(state=TaskState.PENDING, message=why)
    shown_status = docker_task(encode_object(Task(id="t3", status=waiting)))["Status"]
    assert (shown_status["State"], shown_status["Err"]) == ("pending", why)
    assert objects.NO_SUITABLE_NODE == filters.NO_SUITABLE_NODE  # the scheduler's words
    created = TaskStatus(state=TaskState.PENDING, message="created")
    assert docker_task(encode_object(Task(id="t4", status=created)))["Status"]["Err"] == ""
    on_host = PortConfig(target_port=80, published_port=8080, publish_mode=PublishMode.HOST)
    published = Task(id="t2", status=TaskStatus(port_status=(on_host,)))
    assert docker_task(encode_object(published))["Status"]["PortStatus"] == {
        "Ports": [
            {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "host"}
        ]
    }


def test_jobs_carry_their_iteration_and_dockers_slots() -> None:
    """The CLI waits on a job's tasks of ``JobStatus.JobIteration`` in slots 0..N-1."""
    job = ServiceSpec(name="once", mode=ReplicatedJob(max_concurrent=1, total_completions=2))
    created = docker_service(encode_object(Service(id="s1", spec=job, spec_version=1)))
    assert created["JobStatus"]["JobIteration"] == {"Index": 1}  # before the first run
    running = Service(
        id="s1", spec=job, spec_version=1, job_status=JobStatus(iteration=1, spec_version=1)
    )
    assert docker_service(encode_object(running))["JobStatus"]["JobIteration"] == {"Index": 1}
    updated = replace(running, spec_version=2)  # the next run starts at the next pass
    assert docker_service(encode_object(updated))["JobStatus"]["JobIteration"] == {"Index": 2}
    assert "JobStatus" not in docker_service(encode_object(Service(id="s2")))

    first = docker_task(encode_object(Task(id="t1", slot=1, job_iteration=2)))
    assert (first["Slot"], first["JobIteration"]) == (0, {"Index": 2})
    on_node = docker_task(encode_object(Task(id="t2", node_id="n1", job_iteration=2)))
    assert on_node["Slot"] == 0  # a global job's task: no slot
    assert "JobIteration" not in docker_task(encode_object(Task(id="t3", slot=1)))


def test_a_node_shows_the_tls_info_it_reported() -> None:
    """The docker CLI's TLS STATUS is Ready when the two TLSInfo are equal; a node's is what
    the node reported (actors/ca/tls_info.py), never the certificate in the store."""
    rng = random.Random(7)
    root, other = create_root_ca(NOW, rng), create_root_ca(NOW, rng)
    cluster = encode_object(Cluster(id="c1", root_ca=RootCA(ca_cert=root.cert_pem)))
    swarm = docker_swarm(cluster)["TLSInfo"]
    assert swarm["TrustRoot"] == root.cert_pem.decode()
    assert swarm["CertIssuerSubject"] and swarm["CertIssuerPublicKey"]
    roots = {root.digest: root.cert_pem.decode()}

    def shown(tls: NodeTLSInfo | None, certificate: bytes = b"") -> dict[str, str]:
        node = Node(id="n1", description=NodeDescription(tls_info=tls), certificate=certificate)
        return dict(docker_node(node_document(node), roots)["Description"]["TLSInfo"])

    assert shown(report(root)) == swarm
    # issued by another CA (a root rotation not done yet): not the swarm's, whatever the
    # store holds (a certificate whose reply the node never got)
    stale = shown(report(other, root), certificate=certified(root, rng).encode())
    assert stale["TrustRoot"] == swarm["TrustRoot"]
    assert stale["CertIssuerPublicKey"] != swarm["CertIssuerPublicKey"] != ""
    # a root the cluster no longer knows: the node's trust is unknown, never the swarm's
    assert shown(report(root, other, root))["TrustRoot"] == ""
    assert set(shown(None).values()) == {""}  # never reported: Unknown


def test_events() -> None:
    assert to_control({"type": ["service"], "event": ["create"]}) == {
        "filters": ["type=service", "event=create"]
    }
    assert to_control({"type": ["container"]}) == {}  # matched here: never a swarm event
    event = {
        "type": "secret",
        "action": "create",
        "id": "x1",
        "name": "pw",
        "time": 1.5,
        "attributes": {"name": "pw"},
    }
    shown = docker_event(event)
    assert shown is not None
    assert (shown["Type"], shown["Action"], shown["scope"]) == ("secret", "create", "swarm")
    assert shown["timeNano"] == 1_500_000_000
    assert docker_event({**event, "type": "task"}) is None
    assert local_match({"secret": ["pw"]}, event)
    assert not local_match({"config": ["pw"]}, event)
    assert not local_match({"container": ["c1"]}, event)
    assert not local_match({"scope": ["local"]}, event)


def test_a_service_is_removed_for_docker_when_rm_commits() -> None:
    """SwarmKit deletes a service at ``service rm``: dockerd logs its remove then. Ours
    is deleted once its tasks are gone; the update that says ``removing`` is Docker's
    remove, and the later store delete is not shown again."""
    removing = {
        "type": "service",
        "action": "update",
        "id": "s1",
        "name": "web",
        "changes": ["removing"],
        "attributes": {"name": "web", "replicas.old": "1", "replicas.new": "2"},
    }
    shown = docker_event(removing)
    assert shown is not None
    assert (shown["Action"], shown["Actor"]["Attributes"]) == ("remove", {"name": "web"})
    assert not {"status", "id", "from"} & set(shown)
    deleted = {**removing, "action": "remove", "changes": []}
    assert docker_event(deleted) is None
    assert local_match({"event": ["remove"]}, removing)
    assert not local_match({"event": ["update"]}, removing)
    # the watch must pass our update on for Docker's remove to be matched here
    assert to_control({"event": ["remove"]}) == {"filters": ["event=update", "event=remove"]}
    plain_update = {**removing, "changes": []}
    assert docker_event(plain_update)["Action"] == "update"  # type: ignore[index]
    assert not local_match({"event": ["remove"]}, plain_update)
    node_removed = {"type": "node", "action": "remove", "id": "n1", "name": "w1"}
    assert docker_event(node_removed)["Action"] == "remove"  # type: ignore[index]


def test_swarm_network_events_are_dockers() -> None:
    """dockerd logs a swarm network's create and remove (type network, scope swarm)."""
    event = {"type": "network", "action": "create", "id": "n1", "name": "app_default"}
    shown = docker_event(event)
    assert shown is not None
    assert (shown["Type"], shown["scope"], shown["Actor"]["Attributes"]) == (
        "network",
        "swarm",
        {"name": "app_default"},
    )
    # the control API's watch does not filter networks: they are matched here
    assert to_control({"type": ["network", "secret"]}) == {}
    assert local_match({"type": ["network", "secret"]}, event)
    assert local_match({"network": ["app_default"]}, event)
    assert not local_match({"network": ["other"]}, event)
    assert not local_match({"network": ["app_default"]}, {**event, "type": "service"})


def test_swarm_update_changes_only_what_can_change() -> None:
    current = encode_object(Cluster(id="c1"))
    spec: dict[str, Any] = {
        "Name": "default",
        "Orchestration": {"TaskHistoryRetentionLimit": 2},
        "Dispatcher": {"HeartbeatPeriod": 3_000_000_000},
    }
    assert cluster_changes(current, spec) == {"task_history_limit": 2, "heartbeat_period": 3.0}
    assert cluster_changes(current, {"Name": "default"}) == {}
    with pytest.raises(EngineError, match=r"Raft\.ElectionTick"):
        cluster_changes(current, {"Raft": {"ElectionTick": 30}})


def test_registry_auth_header() -> None:
    import base64
    import json

    from actors.engine_api.wire import registry_auth

    def header(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    auth = registry_auth(
        header({"username": "u", "password": "p", "serveraddress": "reg.example:5000"})
    )
    assert auth == {
        "server_address": "reg.example:5000",
        "username": "u",
        "password": "p",
        "identity_token": "",
    }
    assert registry_auth(header({})) is None
    assert registry_auth(None) is None
    with pytest.raises(EngineError, match="X-Registry-Auth"):
        registry_auth("%%%")


def test_network_create_body() -> None:
    from actors.engine_api.networks import keep_network, network_spec

    spec = network_spec(
        {"Name": "app_default", "Driver": "bridge", "Labels": {"com.docker.stack.namespace": "app"}}
    )
    assert spec == {
        "name": "app_default",
        "labels": {"com.docker.stack.namespace": "app"},
        "driver": "bridge",
        "internal": False,
    }
    assert network_spec({"Name": "n"})["driver"] == "bridge"  # Docker's default driver
    assert network_spec({"Name": "n", "Driver": "overlay"})["driver"] == "overlay"  # judged later
    for refused in ({"Attachable": True}, {"IPAM": {"Config": [{"Subnet": "10.0.0.0/24"}]}}):
        with pytest.raises(EngineError) as info:
            network_spec({"Name": "n", **refused})
        assert info.value.status == 501
    row = {"id": "abc", "name": "app_default", "driver": "bridge", "labels": spec["labels"]}
    assert keep_network({"label": ["com.docker.stack.namespace=app"], "name": ["default"]}, row)
    assert not keep_network({"driver": ["overlay"]}, row)


def test_live_users_of_what_a_stack_removes() -> None:
    from actors.engine_api.release import live_users

    def summary(name: str, pending: bool, secret: str = "", network: str = "") -> dict[str, Any]:
        spec = {
            "task": {
                "container": {"secrets": [{"secret_id": secret}] if secret else []},
                "networks": [{"target": network}] if network else [],
            }
        }
        return {"name": name, "pending_delete": pending, "object": {"spec": spec}}

    services = [
        summary("app_web", True, secret="s1", network="n1"),
        summary("other", False, network="n1"),
    ]
    assert live_users("secret", "s1", services) == []  # only a service being removed
    assert live_users("network", "n1", services) == ["other"]
    assert live_users("config", "c1", services) == []


def test_a_stacks_overlay_network_refusal_says_what_to_write() -> None:
    """docker stack deploy asks for overlay for a network with no driver in the file."""
    refused = EngineError(400, "invalid spec: driver: unknown driver 'overlay'", "invalid_spec")
    stack = network_spec(
        {"Name": "app_default", "Driver": "overlay", "Labels": {STACK_NAMESPACE: "app"}}
    )
    hinted = stack_driver_hint(refused, stack)
    assert hinted.message.startswith(refused.message) and hinted.status == 400
    assert "networks: {default: {driver: bridge}}" in hinted.message
    by_hand = network_spec({"Name": "ov", "Driver": "overlay"})  # docker network create -d
    assert stack_driver_hint(refused, by_hand) is refused
    taken = EngineError(409, "network name 'app_default' is already in use", "name_conflict")
    assert stack_driver_hint(taken, stack) is taken


def test_an_update_in_progress_has_no_completion_time() -> None:
    """dockerd omits UpdateStatus.CompletedAt until the update ends (a nil pointer)."""
    running = UpdateStatus(state=UpdateState.UPDATING, started_at=NOW, message="in progress")
    shown = docker_service(encode_object(Service(id="s1", update_status=running)))
    assert shown["UpdateStatus"] == {
        "State": "updating",
        "StartedAt": rfc3339(NOW),
        "Message": "in progress",
    }
    done = replace(running, state=UpdateState.COMPLETED, completed_at=NOW + 5)
    shown = docker_service(encode_object(Service(id="s1", update_status=done)))
    assert shown["UpdateStatus"]["CompletedAt"] == rfc3339(NOW + 5)
