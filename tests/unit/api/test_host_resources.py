"""Published ports, mounts and networks: the flags' syntax, the options that edit them,
validation, and their encoding (api/host_resources.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given

from api.codec_objects import decode, encode
from api.enums import MountType, PortProtocol, PublishMode
from api.host_resources import (
    format_port,
    parse_mount,
    parse_network,
    parse_publish,
    parse_publish_rm,
    validate_network_spec,
)
from api.objects import Network, RegistryAuth, Service
from api.service_options import apply_options
from api.specs import (
    ContainerSpec,
    EndpointSpec,
    Mount,
    NetworkAttachmentConfig,
    NetworkSpec,
    PortConfig,
    ServiceSpec,
    TaskSpec,
)
from api.validation import InvalidSpec, validate_service_spec
from tests.unit.api.strategies import strategy_for


def _spec(**container: object) -> ServiceSpec:
    return ServiceSpec(name="web", task=TaskSpec(container=ContainerSpec(image="x", **container)))


# --- ports -----------------------------------------------------------------------------


_HOST = PublishMode.HOST


@pytest.mark.parametrize(
    ("text", "port"),
    [
        ("8080:80", PortConfig(target_port=80, published_port=8080)),
        ("8080:80/udp", PortConfig(protocol=PortProtocol.UDP, target_port=80, published_port=8080)),
        ("80", PortConfig(target_port=80)),
        ("published=8080,target=80", PortConfig(target_port=80, published_port=8080)),
        (
            "published=53,target=53,protocol=udp,mode=host",
            PortConfig("", PortProtocol.UDP, 53, 53, publish_mode=_HOST),
        ),
        ("target=80,mode=host", PortConfig(target_port=80, publish_mode=_HOST)),
        ("target=80,mode=INGRESS", PortConfig(target_port=80)),
    ],
)
def test_publish_forms(text: str, port: PortConfig) -> None:
    assert parse_publish(text) == port


def test_an_unnamed_mode_is_ingress_as_dockers() -> None:
    assert parse_publish("8080:80").publish_mode is PublishMode.INGRESS


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("published=8080,target=80,mode=vip", "unknown mode 'vip' (expected ingress or host)"),
        ("8080-8081:80", "ranges"),
        ("127.0.0.1:8080:80", "ranges and host addresses"),
        ("published=8080", "a target port is required"),
        ("target=0", "1..65535"),
        ("target=70000", "1..65535"),
        ("target=80,protocol=icmp", "unknown protocol"),
        ("target=80,colour=red", "unknown option 'colour'"),
        ("8080:80/tcpx", "unknown protocol"),
    ],
)
def test_bad_publish(text: str, fragment: str) -> None:
    with pytest.raises(InvalidSpec, match="--publish") as caught:
        parse_publish(text)
    assert fragment in str(caught.value)


def test_ingress_carries_tcp_and_udp_only() -> None:
    port = PortConfig(protocol=PortProtocol.SCTP, target_port=53, published_port=53)
    spec = replace(_spec(), endpoint=EndpointSpec(ports=(port,)))
    with pytest.raises(InvalidSpec, match="TCP and UDP only: publish this port with mode=host"):
        validate_service_spec(spec)
    host = replace(port, publish_mode=PublishMode.HOST)
    validate_service_spec(replace(spec, endpoint=EndpointSpec(ports=(host,))))
    for protocol in (PortProtocol.TCP, PortProtocol.UDP):
        ingress = replace(port, protocol=protocol)
        validate_service_spec(replace(spec, endpoint=EndpointSpec(ports=(ingress,))))


def test_publish_options_create_and_update() -> None:
    spec = apply_options(_spec(), {"publish": ["8080:80", "target=9000"]})
    assert [format_port(p) for p in spec.endpoint.ports] == ["8080:80/tcp", "*:9000/tcp"]
    updated = apply_options(spec, {"publish_rm": ["9000"], "publish_add": ["8081:80", "53:53/udp"]})
    assert [format_port(p) for p in updated.endpoint.ports] == [
        "8080:80/tcp",
        "8081:80/tcp",
        "53:53/udp",
    ]
    # an added port replaces the one published on the same port
    again = apply_options(updated, {"publish_add": ["8080:81"]})
    assert [format_port(p) for p in again.endpoint.ports] == [
        "8081:80/tcp",
        "53:53/udp",
        "8080:81/tcp",
    ]
    assert parse_publish_rm("53/udp") == PortConfig(protocol=PortProtocol.UDP, target_port=53)


@pytest.mark.parametrize(
    "removal", ["80", "80/tcp", "18080:80", "9999:80/tcp", "published=18080,target=80"]
)
def test_publish_rm_removes_by_the_target_port_in_dockers_forms(removal: str) -> None:
    """docker service update --publish-rm: the ports of that target port and protocol go,
    the published port is not compared."""
    spec = apply_options(_spec(), {"publish": ["18080:80", "53:53/udp", "8443:443"]})
    updated = apply_options(spec, {"publish_rm": [removal]})
    assert [format_port(p) for p in updated.endpoint.ports] == ["53:53/udp", "8443:443/tcp"]


def test_publish_rm_of_a_published_port_says_to_name_the_target() -> None:
    spec = apply_options(_spec(), {"publish": ["18080:80"]})
    with pytest.raises(InvalidSpec) as info:
        apply_options(spec, {"publish_rm": ["18080"]})
    assert str(info.value) == (
        "invalid spec: --publish-rm: 18080/tcp is no target port (18080:80/tcp publishes "
        "target 80); name the target: --publish-rm 80/tcp or --publish-rm 18080:80/tcp"
    )
    # a port published nowhere: nothing to remove, as Docker's (a script may run it twice)
    assert apply_options(spec, {"publish_rm": ["9999"]}) == spec
    assert apply_options(spec, {"publish_rm": ["18080/udp"]}) == spec


def test_the_same_port_twice_is_refused() -> None:
    spec = apply_options(_spec(), {"publish": ["8080:80", "8080:81"]})
    with pytest.raises(InvalidSpec, match="published twice"):
        validate_service_spec(spec)


# --- mounts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "mount"),
    [
        ("type=volume,source=data,target=/data", Mount(MountType.VOLUME, "data", "/data")),
        ("src=data,dst=/data,ro", Mount(MountType.VOLUME, "data", "/data", readonly=True)),
        ("type=volume,target=/cache", Mount(MountType.VOLUME, "", "/cache")),
        (
            "type=bind,source=/srv/www,destination=/www,readonly=true",
            Mount(MountType.BIND, "/srv/www", "/www", readonly=True),
        ),
        (
            "type=tmpfs,target=/run/scratch,readonly=false",
            Mount(MountType.TMPFS, "", "/run/scratch"),
        ),
    ],
)
def test_mount_forms(text: str, mount: Mount) -> None:
    assert parse_mount(text) == mount


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("type=nfs,target=/x", "unknown mount type 'nfs'"),
        ("source=data", "needs a target"),
        ("source=data,target=relative", "absolute path"),
        ("source=data,target=/", "absolute path other than /"),
        ("type=bind,source=relative,target=/x", "absolute host path"),
        ("type=bind,target=/x", "absolute host path"),
        ("source=a,target=/x", "not a valid volume name"),
        ("source=../etc,target=/x", "not a valid volume name"),
        ("type=tmpfs,source=x,target=/x", "takes no source"),
        ("source=data,target=/x,readonly=maybe", "true or false"),
        ("type=bind,source=/x,target=/x,volume-driver=nfs", "for type=volume, not type=bind"),
        ("type=bind,source=/x,target=/x,bind-propagation=rslave", "is not supported"),
        ("source=data,target=/x,size=1", "unknown mount option 'size'"),
    ],
)
def test_bad_mounts(text: str, fragment: str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        parse_mount(text)
    assert fragment in str(caught.value)


def test_mount_options_and_validation() -> None:
    spec = apply_options(
        _spec(), {"mounts": ["source=data,target=/data", "type=tmpfs,target=/tmp/x"]}
    )
    validate_service_spec(spec)
    updated = apply_options(
        spec, {"mount_rm": ["/tmp/x"], "mount_add": ["source=other,target=/data/"]}
    )
    assert updated.task.container.mounts == (Mount(MountType.VOLUME, "other", "/data/"),)
    twice = _spec(mounts=(Mount(target="/a"), Mount(target="/a/")))
    with pytest.raises(InvalidSpec, match="mounted twice"):
        validate_service_spec(twice)


# --- networks --------------------------------------------------------------------------


def test_network_forms_and_options() -> None:
    assert parse_network("backend") == NetworkAttachmentConfig("backend")
    assert parse_network("name=backend,alias=db,alias=pg") == NetworkAttachmentConfig(
        "backend", ("db", "pg")
    )
    with pytest.raises(InvalidSpec, match="unknown network option 'driver'"):
        parse_network("name=x,driver=overlay")
    spec = apply_options(_spec(), {"networks": ["a", "b"]})
    updated = apply_options(spec, {"network_rm": ["a"], "network_add": ["c", "b"]})
    assert [n.target for n in updated.task.networks] == ["c", "b"]
    bad = replace(
        spec, task=replace(spec.task, networks=(NetworkAttachmentConfig("a", ("no way",)),))
    )
    with pytest.raises(InvalidSpec, match="not a valid DNS name"):
        validate_service_spec(bad)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        (NetworkSpec(name=""), "needs a name"),
        (
            NetworkSpec(name="bad name"),
            "'bad name': invalid name, only 63 [a-zA-Z0-9-_.] characters allowed, "
            "and the start and end character must be [a-zA-Z0-9]",
        ),
        (NetworkSpec(name="bridge"), "reserves"),
        (NetworkSpec(name="Host"), "reserves"),
        (NetworkSpec(name="web", driver="overlay"), "cross-node overlay networks are not built"),
    ],
)
def test_bad_network_specs(spec: NetworkSpec, fragment: str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        validate_network_spec(spec)
    assert fragment in str(caught.value)


# --- encoding --------------------------------------------------------------------------


@given(strategy_for(Network))
def test_network_round_trip(network: Network) -> None:
    assert decode(Network, encode(network), strict=True) == network


def test_registry_auth_round_trips_but_never_shows_its_secrets() -> None:
    auth = RegistryAuth("127.0.0.1:5000", "alice", "s3cret-pw", "tok3n")
    service = Service(id="x" * 25, registry_auth=auth)
    assert decode(Service, encode(service), strict=True) == service
    assert "s3cret-pw" not in repr(service) and "tok3n" not in repr(service)
    assert (
        decode(Service, {"id": "x" * 25}, strict=False).registry_auth is None
    )  # older data decodes
