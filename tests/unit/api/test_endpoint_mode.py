"""A service's endpoint mode, vip or dnsrr (api/endpoint_mode.py): the flags, their edits,
Docker's validation and words, the spec written before the mode existed, compose, the
Engine API both ways and ``service inspect``."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from actors.engine_api.errors import EngineError
from actors.engine_api.objects import docker_service
from actors.engine_api.service_doc import docker_spec
from actors.engine_api.service_spec import from_docker_spec
from api.codec_objects import decode, decode_object, encode, encode_object
from api.compose import ComposeError, load_stack
from api.endpoint_mode import INGRESS_WITH_DNSRR
from api.enums import EndpointMode, PublishMode
from api.objects import Service
from api.service_options import apply_options
from api.specs import EndpointSpec, PortConfig, ServiceSpec
from api.validation import InvalidSpec, validate_service_spec
from cli.service_inspect import describe
from tests.unit.api.flag_specs import create, options

HOST_PORT = PortConfig(target_port=80, published_port=8080, publish_mode=PublishMode.HOST)
INGRESS_PORT = PortConfig(target_port=81, published_port=8081)


def refusal(spec: ServiceSpec) -> str:
    with pytest.raises(InvalidSpec) as refused:
        validate_service_spec(spec)
    return str(refused.value)


# --- flags, edits, validation ------------------------------------------------------------


def test_the_flag_on_create_and_update() -> None:
    o = options("service", "create", "--name", "db", "--endpoint-mode", "dnsrr", "busybox")
    assert o["endpoint_mode"] == "dnsrr"
    spec = create(endpoint_mode=o["endpoint_mode"])
    assert spec.endpoint == EndpointSpec(mode=EndpointMode.DNSRR)
    assert create().endpoint.mode is EndpointMode.VIP  # Docker's default
    assert create(endpoint_mode="DNSRR").endpoint.mode is EndpointMode.DNSRR  # as docker's CLI

    u = options("service", "update", "--endpoint-mode", "vip", "db")
    assert u == {"endpoint_mode": "vip"}
    assert apply_options(spec, u).endpoint.mode is EndpointMode.VIP
    # nothing in a task depends on the mode: the update replaces no task (update.py
    # compares task specs alone)
    assert apply_options(spec, u).task == spec.task
    assert apply_options(spec, {}).endpoint.mode is EndpointMode.DNSRR  # kept when not given


def test_a_mode_docker_does_not_know_is_refused_in_its_words() -> None:
    with pytest.raises(InvalidSpec) as refused:
        create(endpoint_mode="round-robin")
    assert (
        str(refused.value)
        == 'invalid spec: --endpoint-mode: invalid resolution mode: "round-robin"'
    )
    with pytest.raises(InvalidSpec, match="--endpoint-mode: wrong type int"):
        create(endpoint_mode=1)


def test_dnsrr_refuses_ingress_ports_and_takes_host_ports() -> None:
    """SwarmKit's validateEndpointSpec: the routing mesh cannot carry a dnsrr service."""
    dnsrr = create(endpoint_mode="dnsrr", publish=["mode=host,published=8080,target=80"])
    assert dnsrr.endpoint.ports == (HOST_PORT,)
    said = refusal(
        replace(dnsrr, endpoint=replace(dnsrr.endpoint, ports=(HOST_PORT, INGRESS_PORT)))
    )
    assert said == f"invalid spec: endpoint.ports[1]: {INGRESS_WITH_DNSRR}"
    # an ingress port without a published number is one all the same
    assert INGRESS_WITH_DNSRR in refusal(apply_options(dnsrr, {"publish_add": ["80"]}))
    # vip takes both
    validate_service_spec(replace(dnsrr, endpoint=EndpointSpec(ports=(HOST_PORT, INGRESS_PORT))))


def test_an_update_to_dnsrr_is_checked_against_the_ports_it_keeps() -> None:
    web = create(publish=["8080:80"])
    assert INGRESS_WITH_DNSRR in refusal(apply_options(web, {"endpoint_mode": "dnsrr"}))
    both = apply_options(web, {"endpoint_mode": "dnsrr", "publish_rm": ["80"]})
    validate_service_spec(both)
    assert both.endpoint == EndpointSpec(mode=EndpointMode.DNSRR)


def test_a_spec_written_before_the_mode_existed_is_vip() -> None:
    encoded = encode(ServiceSpec(name="web", endpoint=EndpointSpec(ports=(HOST_PORT,))))
    assert encoded["endpoint"].pop("mode") == "vip"
    old = decode(ServiceSpec, encoded, "spec", strict=True)
    assert old.endpoint == EndpointSpec(ports=(HOST_PORT,), mode=EndpointMode.VIP)
    service = encode_object(Service(id="s1", spec=ServiceSpec(name="web")))
    del service["spec"]["endpoint"]["mode"]
    restored = decode_object("service", service)
    assert isinstance(restored, Service) and restored.spec.endpoint.mode is EndpointMode.VIP
    # the mode travels and comes back
    dnsrr = ServiceSpec(name="web", endpoint=EndpointSpec(mode=EndpointMode.DNSRR))
    assert decode(ServiceSpec, encode(dnsrr), "spec", strict=True) == dnsrr


def test_service_inspect_shows_the_mode() -> None:
    spec = create(endpoint_mode="dnsrr")
    shown = describe(
        {"id": "s1", "spec": encode(spec)}, {"replicas_running": 0, "replicas_desired": 1}
    )
    lines = [line.split() for line in shown.splitlines()]
    at = lines.index(["Endpoint:"])
    assert lines[at + 1 : at + 3] == [["Ports:", "-"], ["Mode:", "dnsrr"]]


# --- compose ---------------------------------------------------------------------------


def stack_service(deploy: str, ports: str = "") -> ServiceSpec:
    text = f"services:\n  db:\n    image: busybox\n    deploy: {deploy}\n{ports}"
    (spec,) = load_stack("st", [yaml_of(text)]).services
    return spec


def yaml_of(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def compose_refusal(deploy: str, ports: str = "") -> str:
    with pytest.raises(ComposeError) as refused:
        stack_service(deploy, ports)
    return str(refused.value)


def test_compose_endpoint_mode() -> None:
    assert stack_service("{endpoint_mode: dnsrr}").endpoint.mode is EndpointMode.DNSRR
    assert stack_service("{endpoint_mode: DNSRR}").endpoint.mode is EndpointMode.DNSRR
    assert stack_service("{replicas: 2}").endpoint.mode is EndpointMode.VIP
    host = stack_service(
        "{endpoint_mode: dnsrr}", "    ports: [{target: 80, published: 8080, mode: host}]\n"
    )
    assert host.endpoint == EndpointSpec(ports=(HOST_PORT,), mode=EndpointMode.DNSRR)
    assert host.task.ports == (HOST_PORT,)
    assert compose_refusal("{endpoint_mode: rr}") == (
        'services.db.deploy.endpoint_mode: invalid resolution mode: "rr"'
    )
    assert compose_refusal("{endpoint_mode: dnsrr}", '    ports: ["8080:80"]\n') == (
        f"services.db.ports[0]: {INGRESS_WITH_DNSRR}"
    )


# --- Engine API --------------------------------------------------------------------------


def engine_doc(endpoint: dict[str, Any] | None) -> dict[str, Any]:
    doc: dict[str, Any] = {"Name": "db", "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}}}
    if endpoint is not None:
        doc["EndpointSpec"] = endpoint
    return doc


def test_engine_api_endpoint_mode_both_ways() -> None:
    dnsrr = from_docker_spec(engine_doc({"Mode": "dnsrr", "Ports": []}))
    assert dnsrr.endpoint.mode is EndpointMode.DNSRR
    assert docker_spec(dnsrr)["EndpointSpec"] == {"Mode": "dnsrr", "Ports": []}
    assert from_docker_spec(docker_spec(dnsrr)) == dnsrr
    # what the docker CLI sends without --endpoint-mode, and a spec without an EndpointSpec
    assert from_docker_spec(engine_doc({"Mode": ""})).endpoint.mode is EndpointMode.VIP
    assert from_docker_spec(engine_doc(None)).endpoint.mode is EndpointMode.VIP
    shown = docker_service(encode_object(Service(id="s1", spec=dnsrr)))
    assert shown["Spec"]["EndpointSpec"]["Mode"] == "dnsrr"
    assert shown["Endpoint"]["Spec"]["Mode"] == "dnsrr"
    assert "VirtualIPs" not in shown["Endpoint"]  # there is none, in either mode


@pytest.mark.parametrize("mode", ["VIP", "Dnsrr", "rr"])
def test_engine_api_refuses_a_mode_as_dockerd_does(mode: str) -> None:
    """dockerd compares the mode as sent (the docker CLI lowercases a create's flag, not
    an update's): anything but vip, dnsrr or nothing is a 400 in its words."""
    with pytest.raises(EngineError) as refused:
        from_docker_spec(engine_doc({"Mode": mode}))
    assert refused.value.status == 400
    assert refused.value.message == f'invalid resolution mode: "{mode}"'
