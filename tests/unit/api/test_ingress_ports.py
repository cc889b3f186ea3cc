"""Published ports through the routing mesh: which a service may take, and the port an
ingress port left at 0 gets (api/ingress_ports.py), as the control API applies them
(actors/control/ingress.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from actors.control import ControlCode, ControlError, call
from api.codec_objects import encode
from api.enums import PortProtocol, PublishMode
from api.ingress_ports import PortClaims, allocate_ports, claims_of
from api.service_options import apply_options
from api.spec_limits import InvalidSpec
from api.specs import EndpointSpec, PortConfig, ServiceSpec
from tests.unit.control.helpers import Cluster

TCP = PortProtocol.TCP
HOST = PublishMode.HOST


def spec(name: str, *ports: PortConfig) -> ServiceSpec:
    return ServiceSpec(name=name, endpoint=EndpointSpec(ports=ports))


def published(s: ServiceSpec) -> list[int]:
    return [p.published_port for p in s.endpoint.ports]


def test_a_port_left_at_zero_gets_the_lowest_free_of_dockers_range() -> None:
    claims = claims_of([spec("a", PortConfig(target_port=80, published_port=30000))])
    got = allocate_ports(
        spec("b", PortConfig(target_port=80), PortConfig(target_port=81)), None, claims
    )
    assert published(got) == [30001, 30002]
    # host mode: the engine picks per task, nothing is allocated
    host = spec("c", PortConfig(target_port=80, publish_mode=HOST))
    assert allocate_ports(host, None, claims) is host


def test_an_update_keeps_the_port_its_service_got() -> None:
    before = spec("b", PortConfig(target_port=80, published_port=30005))
    again = allocate_ports(spec("b", PortConfig(target_port=80)), before, PortClaims())
    assert published(again) == [30005]
    # taken by another service since: a new one
    taken = claims_of([spec("a", PortConfig(target_port=1, published_port=30005))])
    assert published(allocate_ports(spec("b", PortConfig(target_port=80)), before, taken)) == [
        30000
    ]


@pytest.mark.parametrize(
    ("mine", "theirs", "fragment"),
    [
        (PortConfig(target_port=80, published_port=8080),
         PortConfig(target_port=9, published_port=8080),
         "port 8080/tcp is already published through the routing mesh by service other"),
        (PortConfig(target_port=80, published_port=8080, publish_mode=HOST),
         PortConfig(target_port=9, published_port=8080),
         "port 8080/tcp is already published through the routing mesh by service other"),
        (PortConfig(target_port=80, published_port=8080),
         PortConfig(target_port=9, published_port=8080, publish_mode=HOST),
         "published in host mode by service other: the routing mesh needs it on every node"),
    ],
)  # fmt: skip
def test_a_port_another_service_holds_is_refused_naming_it(
    mine: PortConfig, theirs: PortConfig, fragment: str
) -> None:
    with pytest.raises(InvalidSpec, match=fragment) as caught:
        allocate_ports(spec("mine", mine), None, claims_of([spec("other", theirs)]))
    assert caught.value.field == "endpoint.ports[0].published_port"


def test_host_mode_ports_of_two_services_may_share_a_number() -> None:
    theirs = spec("other", PortConfig(target_port=9, published_port=8080, publish_mode=HOST))
    mine = spec("mine", PortConfig(target_port=80, published_port=8080, publish_mode=HOST))
    assert allocate_ports(mine, None, claims_of([theirs])) is mine


def test_the_range_runs_out() -> None:
    claims = PortClaims(ingress={(TCP, n): "x" for n in range(30000, 32768)})
    with pytest.raises(InvalidSpec, match="no free port for the routing mesh in 30000-32767"):
        allocate_ports(spec("b", PortConfig(target_port=80)), None, claims)


# --- through the control API -------------------------------------------------------------


def create(c: Cluster, name: str, *publish: str) -> dict[str, object]:
    s = apply_options(ServiceSpec(), {"name": name, "image": "busybox", "publish": list(publish)})
    return call(c.services.create, {"spec": encode(s)})


def ports_of(c: Cluster, name: str) -> list[tuple[int, int, str]]:
    return [
        (p.published_port, p.target_port, p.publish_mode.value)
        for p in c.service(name).spec.endpoint.ports
    ]


def test_create_update_and_rm_allocate_and_free_ports() -> None:
    c = Cluster()
    create(c, "web", "80", "8080:81")
    assert ports_of(c, "web") == [(30000, 80, "ingress"), (8080, 81, "ingress")]
    # the task template carries the allocated port
    assert c.service("web").spec.task.ports == c.service("web").spec.endpoint.ports
    with pytest.raises(ControlError) as caught:
        create(c, "api", "8080:80")
    assert caught.value.code == ControlCode.INVALID_SPEC
    assert "already published through the routing mesh by service web" in caught.value.message
    create(c, "api", "80")
    assert ports_of(c, "api") == [(30001, 80, "ingress")]

    # an update that keeps asking 0 keeps its port; moving a port frees the old one
    call(c.services.update, {"service": "web", "changes": {"replicas": 3}})
    assert ports_of(c, "web")[0] == (30000, 80, "ingress")
    call(
        c.services.update,
        {"service": "web", "changes": {"publish_rm": ["81"], "publish_add": ["9090:81"]}},
    )
    assert ports_of(c, "web") == [(30000, 80, "ingress"), (9090, 81, "ingress")]
    create(c, "third", "8080:80")  # 8080 is free again
    # a whole spec (Docker's update) with 0 again keeps the allocation too
    web = c.service("web").spec
    zero = replace(
        web,
        endpoint=EndpointSpec(ports=(replace(web.endpoint.ports[0], published_port=0),)),
    )
    call(c.services.update, {"service": "web", "spec": encode(zero)})
    assert ports_of(c, "web") == [(30000, 80, "ingress")]

    # a service being removed holds nothing
    call(c.services.rm, {"services": ["web"]})
    create(c, "fourth", "30000:80")
    assert ports_of(c, "fourth") == [(30000, 80, "ingress")]


def test_a_rollback_checks_the_port_it_goes_back_to() -> None:
    c = Cluster()
    create(c, "web", "8080:80")
    call(
        c.services.update,
        {"service": "web", "changes": {"publish_rm": ["80"], "publish_add": ["8081:80"]}},
    )
    create(c, "thief", "8080:80")
    with pytest.raises(ControlError, match="by service thief"):
        call(c.services.rollback, {"service": "web"})
