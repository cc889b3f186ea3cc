from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings

from api.codec_objects import (
    ObjectDecodeError,
    decode,
    decode_object,
    encode,
    encode_object,
    encode_sparse,
    encoder_with,
)
from api.objects import OBJECT_TYPES, Cluster, Config, Node, ObjectKind, Secret, Service, Task
from api.specs import ContainerSpec, GlobalJob, ReplicatedJob, ServiceSpec, TaskSpec
from api.task_state import TaskState
from tests.unit.api.strategies import strategy_for


def _wire(value: object) -> object:
    return msgpack.unpackb(msgpack.packb(value))


@pytest.mark.parametrize("kind", list(ObjectKind))
def test_default_objects_round_trip(kind: ObjectKind) -> None:
    obj = OBJECT_TYPES[kind](id="x" * 25)
    assert decode_object(kind, _wire(encode_object(obj))) == obj


@settings(max_examples=60, deadline=None)
@given(strategy_for(Service))
def test_service_round_trip(service: Service) -> None:
    assert decode_object("service", _wire(encode_object(service))) == service


@settings(max_examples=60, deadline=None)
@given(strategy_for(Task))
def test_task_round_trip(task: Task) -> None:
    assert decode_object(ObjectKind.TASK, _wire(encode_object(task))) == task


@settings(max_examples=40, deadline=None)
@given(strategy_for(Node))
def test_node_round_trip(node: Node) -> None:
    assert decode_object("node", _wire(encode_object(node))) == node


@settings(max_examples=40, deadline=None)
@given(strategy_for(Cluster))
def test_cluster_round_trip(cluster: Cluster) -> None:
    assert decode_object("cluster", _wire(encode_object(cluster))) == cluster


@settings(max_examples=40, deadline=None)
@given(strategy_for(Secret))
def test_secret_round_trip(secret: Secret) -> None:
    assert decode_object("secret", _wire(encode_object(secret))) == secret


@settings(max_examples=40, deadline=None)
@given(strategy_for(Config))
def test_config_round_trip(config: Config) -> None:
    assert decode_object("config", _wire(encode_object(config))) == config


def test_enums_written_by_value() -> None:
    data = encode(Task(id="t", desired_state=TaskState.RUNNING))
    assert data["desired_state"] == 512
    spec = encode(ServiceSpec(name="web", mode=ReplicatedJob(max_concurrent=2)))
    assert spec["mode"] == {"replicated-job": {"max_concurrent": 2, "total_completions": 1}}
    assert spec["task"]["restart_policy"]["condition"] == "any"
    assert encode(ServiceSpec(mode=GlobalJob()))["mode"] == {"global-job": {}}


def test_missing_optional_fields_take_defaults() -> None:
    assert decode(ServiceSpec, {"name": "web"}, strict=True) == ServiceSpec(name="web")


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        (
            {"id": "s", "spec": {"task": {"container": {"image": 3}}}},
            "spec.task.container.image",
            "string",
        ),
        ({"id": "s", "spec": {"mode": {"bogus": {}}}}, "spec.mode", "unknown variant 'bogus'"),
        ({"id": "s", "spec": {"nmae": "x"}}, "spec.nmae", "unknown field"),
        ({"meta": {}}, "id", "missing required field"),
        (
            {"id": "s", "spec": {"update_config": {"order": "sideways"}}},
            "spec.update_config.order",
            "unknown value",
        ),
        (
            {"id": "s", "spec": {"mode": {"replicated": {"replicas": True}}}},
            "spec.mode.replicated.replicas",
            "integer",
        ),
        ({"id": "s", "spec": {"labels": {"a": 1}}}, "spec.labels.a", "string"),
        ({"id": "s", "spec": []}, "spec", "expected a map"),
    ],
)
def test_decode_errors_name_the_field(data: object, field: str, fragment: str) -> None:
    with pytest.raises(ObjectDecodeError) as info:
        decode(Service, data, strict=True)
    assert info.value.field == field
    assert fragment in str(info.value)
    if fragment != "unknown field":  # the tolerant decoder checks all the rest the same
        with pytest.raises(ObjectDecodeError) as tolerant:
            decode(Service, data, strict=False)
        assert (tolerant.value.field, tolerant.value.reason) == (field, info.value.reason)


@pytest.mark.parametrize("strict", [True, False])
def test_task_state_must_be_known(strict: bool) -> None:
    """An unknown enumeration value is a real incompatibility, tolerant or not."""
    with pytest.raises(ObjectDecodeError, match=r"status\.state"):
        decode(Task, {"id": "t", "status": {"state": 65}}, strict=strict)


def _newer_service() -> tuple[Service, dict[str, Any]]:
    """A service, and its encoding as a newer version writes it: a field more at the top,
    in its spec and nested deep in its container spec."""
    service = Service(
        id="s" * 25, spec=ServiceSpec(name="web", task=TaskSpec(ContainerSpec("nginx")))
    )
    doc = encode_object(service)
    doc["observed_by"] = "newer"
    doc["spec"]["rollout_hint"] = {"phase": 2}
    doc["spec"]["task"]["container"]["newer_option"] = 500
    return service, doc


def test_a_newer_versions_object_decodes_tolerant_without_its_fields() -> None:
    """The cluster's data (SwarmKit's protobuf rule): fields this version does not know
    are skipped, and the object re-encodes without them (an older leader's rewrite
    drops them)."""
    service, doc = _newer_service()
    decoded = decode_object("service", _wire(doc))
    assert decoded == service
    again = encode_object(decoded)
    assert "observed_by" not in again and "rollout_hint" not in again["spec"]
    assert "newer_option" not in again["spec"]["task"]["container"]
    assert again == encode_object(service)
    assert decode(ServiceSpec, doc["spec"], strict=False) == service.spec


def test_a_users_spec_with_an_unknown_field_is_refused_strict_naming_it() -> None:
    _, doc = _newer_service()
    with pytest.raises(ObjectDecodeError) as info:
        decode(ServiceSpec, doc["spec"], "spec", strict=True)
    assert info.value.field == "spec.rollout_hint"
    del doc["spec"]["rollout_hint"]
    with pytest.raises(ObjectDecodeError) as info:
        decode(ServiceSpec, doc["spec"], "spec", strict=True)
    assert str(info.value) == "spec.task.container.newer_option: unknown field of ContainerSpec"


def test_an_unknown_variant_is_refused_tolerant_too() -> None:
    _, doc = _newer_service()
    doc["spec"]["mode"] = {"replicated-batch": {"replicas": 1}}
    with pytest.raises(ObjectDecodeError, match=r"service\.spec\.mode: unknown variant"):
        decode_object("service", doc)


def test_unknown_kind() -> None:
    with pytest.raises(ObjectDecodeError, match="unknown object kind"):
        decode_object("volume", {})


def test_encode_object_refuses_non_objects() -> None:
    with pytest.raises(TypeError):
        encode_object(ServiceSpec())  # type: ignore[arg-type]


@settings(max_examples=50, deadline=None)
@given(strategy_for(Task))
def test_an_encoder_with_a_field_passed_in_encodes_as_encode_object(task: Task) -> None:
    seen = []

    def spec(value: object) -> object:
        seen.append(value)
        return encode(value)

    assert encoder_with(Task, spec=spec)(task) == encode_object(task)
    assert seen == [task.spec]


def test_an_encoder_with_an_unknown_field_is_refused() -> None:
    with pytest.raises(TypeError, match="no field"):
        encoder_with(Task, specs=encode)


@settings(max_examples=60, deadline=None)
@given(strategy_for(ServiceSpec))
def test_a_sparse_spec_decodes_strict_to_the_same_spec(spec: ServiceSpec) -> None:
    sparse = _wire(encode_sparse(spec))
    assert decode(ServiceSpec, sparse, "spec", strict=True) == spec


def test_sparse_leaves_out_every_field_at_its_default_at_every_depth() -> None:
    spec = ServiceSpec(name="web", task=TaskSpec(container=ContainerSpec(image="busybox")))
    assert encode_sparse(spec) == {"name": "web", "task": {"container": {"image": "busybox"}}}
    assert encode_sparse(ServiceSpec(mode=GlobalJob())) == {"mode": {"global-job": {}}}
    assert encode_sparse(ServiceSpec(mode=ReplicatedJob(max_concurrent=3))) == {
        "mode": {"replicated-job": {"max_concurrent": 3}}
    }


@dataclass(frozen=True)
class _Port:  # an older release's shape of a spec
    target: int = 0


@dataclass(frozen=True)
class _NewerPort:  # the same spec, once a release added a field
    target: int = 0
    mode: str = "vip"


def test_a_newer_clients_sparse_request_passes_an_older_strict_decoder_unless_it_uses_more() -> (
    None
):
    assert decode(_Port, encode_sparse(_NewerPort(80)), "spec", strict=True) == _Port(80)
    with pytest.raises(ObjectDecodeError, match=r"spec\.mode: unknown field of _Port"):
        decode(_Port, encode(_NewerPort(80)), "spec", strict=True)
    with pytest.raises(ObjectDecodeError, match=r"spec\.mode: unknown field of _Port"):
        decode(_Port, encode_sparse(_NewerPort(80, "dnsrr")), "spec", strict=True)
