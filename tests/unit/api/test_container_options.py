"""The container options of ``service create|update`` (api/container_options.py): parsed,
edited as Docker edits them, and validated with errors naming the field and the value."""

from __future__ import annotations

from dataclasses import replace

import pytest

from api.container_options import (
    MAX_CAPABILITIES,
    MAX_HOSTS,
    format_host,
    normalize_capability,
    parse_ulimit,
)
from api.service_options import apply_options
from api.specs import ContainerSpec, DNSConfig, ServiceSpec, TaskSpec, Ulimit
from api.validation import InvalidSpec, validate_service_spec

BASE = ServiceSpec(name="web", task=TaskSpec(container=ContainerSpec(image="busybox")))

CREATE = {
    "read_only": True,
    "init": True,
    "tty": True,
    "groups": ["audio", "1001"],
    "cap_add": ["net_admin", "CAP_SYS_TIME"],
    "cap_drop": ["NET_RAW"],
    "ulimits": ["nofile=1024:2048", "core=0"],
    "sysctls": {"net.core.somaxconn": "1024"},
    "dns": ["10.0.0.2", "fd00::53"],
    "dns_search": ["example.com"],
    "dns_options": ["ndots:2"],
    "hosts": ["db:10.0.0.9", "v6:fd00::9"],
}


def _created() -> ContainerSpec:
    spec = apply_options(BASE, CREATE)
    validate_service_spec(spec)
    return spec.task.container


def test_create_options_land_in_the_spec() -> None:
    c = _created()
    assert (c.read_only, c.init, c.tty) == (True, True, True)
    assert c.groups == ("audio", "1001")
    assert c.cap_add == ("CAP_NET_ADMIN", "CAP_SYS_TIME")
    assert c.cap_drop == ("CAP_NET_RAW",)
    assert c.ulimits == (Ulimit("nofile", 1024, 2048), Ulimit("core", 0, 0))
    assert c.sysctls == {"net.core.somaxconn": "1024"}
    assert c.dns_config == DNSConfig(("10.0.0.2", "fd00::53"), ("example.com",), ("ndots:2",))
    assert c.hosts == ("10.0.0.9 db", "fd00::9 v6")
    assert [format_host(h) for h in c.hosts] == ["db:10.0.0.9", "v6:fd00::9"]


def test_update_edits_as_docker_does() -> None:
    spec = apply_options(BASE, CREATE)
    spec = apply_options(
        spec,
        {
            "read_only": False,
            "group_rm": ["audio"],
            "group_add": ["video"],
            "cap_add": ["NET_RAW", "NET_BIND_SERVICE"],  # off the dropped ones; added
            "cap_drop": ["net_admin", "MKNOD"],  # off the added ones; dropped
            "ulimit_rm": ["core"],
            "ulimit_add": ["nofile=10", "nproc=5:-1"],
            "sysctl_rm": ["net.core.somaxconn"],
            "sysctl_add": {"net.ipv4.ip_forward": "1"},
            "dns_rm": ["10.0.0.2"],
            "dns_add": ["1.1.1.1"],
            "dns_search_rm": ["example.com"],
            "dns_option_add": ["timeout:1"],
            "host_rm": ["db"],
            "host_add": ["cache:10.0.0.7"],
        },
    )
    validate_service_spec(spec)
    c = spec.task.container
    assert (c.read_only, c.init, c.tty) == (False, True, True)
    assert c.groups == ("1001", "video")
    assert c.cap_add == ("CAP_SYS_TIME", "CAP_NET_BIND_SERVICE")
    assert c.cap_drop == ("CAP_MKNOD",)
    assert c.ulimits == (Ulimit("nofile", 10, 10), Ulimit("nproc", 5, -1))
    assert c.sysctls == {"net.ipv4.ip_forward": "1"}
    assert c.dns_config == DNSConfig(("fd00::53", "1.1.1.1"), (), ("ndots:2", "timeout:1"))
    assert c.hosts == ("fd00::9 v6", "10.0.0.7 cache")
    # options that do not touch them leave them as they were
    assert apply_options(spec, {"replicas": 2}).task.container == c


def test_a_capability_both_added_and_dropped_is_added() -> None:
    c = apply_options(BASE, {"cap_add": ["NET_RAW"], "cap_drop": ["net_raw", "CHOWN"]})
    assert (c.task.container.cap_add, c.task.container.cap_drop) == (
        ("CAP_NET_RAW",),
        ("CAP_CHOWN",),
    )


def test_capabilities_are_normalised() -> None:
    assert normalize_capability("net_admin") == "CAP_NET_ADMIN"
    assert normalize_capability("CAP_CHOWN") == "CAP_CHOWN"
    assert normalize_capability("all") == "ALL"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nofile", r"--ulimit: expected NAME=SOFT\[:HARD\], got 'nofile'"),
        ("nofile=x", r"--ulimit: soft limit of 'nofile=x' must be a number, got 'x'"),
        ("nofile=1:y", r"--ulimit: hard limit of 'nofile=1:y' must be a number, got 'y'"),
    ],
)
def test_bad_ulimit_flags(text: str, message: str) -> None:
    with pytest.raises(InvalidSpec, match=message):
        parse_ulimit(text)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"hosts": ["db"]}, r"--host: expected HOST:IP, got 'db'"),
        ({"host_add": ["db:"]}, r"--host-add: expected HOST:IP, got 'db:'"),
        ({"hosts": ["db:not-an-ip"]}, r"hosts\[0\]: the address of host 'db', 'not-an-ip' is not"),
        ({"cap_add": ["NET-RAW"]}, r"cap_add\[0\]: capability 'CAP_NET-RAW' is not CAP_NAME"),
        ({"ulimits": ["nofiles=1"]}, r"ulimits\[0\]: unknown ulimit 'nofiles' \(one of as, core"),
        ({"ulimits": ["nofile=5:2"]}, r"nofile: the soft limit 5 is over the hard limit 2"),
        ({"ulimits": ["nofile=-2"]}, r"ulimits\[0\].soft: nofile soft limit -2 is not -1"),
        ({"sysctls": {"net core": "1"}}, r"sysctls: sysctl name 'net core' is not valid"),
        ({"sysctls": {"a.b": "1\n2"}}, r"sysctls.a.b: value '1\\n2' is not one line"),
        ({"dns": ["dns.google"]}, r"dns_config.nameservers\[0\]: DNS server 'dns.google' is not"),
        ({"dns_search": ["a b"]}, r"search\[0\]: search domain 'a b' is empty or has whitespace"),
        ({"dns_options": [""]}, r"options\[0\]: DNS option '' is empty"),
        ({"groups": ["a b"]}, r"groups\[0\]: group 'a b' is empty or has whitespace"),
        ({"cap_add": [f"C{i}" for i in range(MAX_CAPABILITIES + 1)]}, r"cap_add: 65 items"),
        ({"hosts": [f"h{i}:10.0.0.1" for i in range(MAX_HOSTS + 1)]}, r"hosts: 257 items"),
    ],
)
def test_bad_values_are_refused_naming_field_and_value(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidSpec, match=message):
        validate_service_spec(apply_options(BASE, options))


def test_a_spec_from_the_api_is_checked_too() -> None:
    """What a client sends past the flags (the Engine API, a compose file) is validated."""

    def spec(**fields: object) -> ServiceSpec:
        c = replace(BASE.task.container, **fields)  # type: ignore[arg-type]
        return replace(BASE, task=replace(BASE.task, container=c))

    with pytest.raises(InvalidSpec, match=r"hosts\[0\]: hosts line '10.0.0.1' is not 'IP HOST"):
        validate_service_spec(spec(hosts=("10.0.0.1",)))
    with pytest.raises(InvalidSpec, match=r"ulimits\[1\]: ulimit 'nofile' is given twice"):
        validate_service_spec(spec(ulimits=(Ulimit("nofile", 1, 1), Ulimit("nofile", 2, 2))))
    with pytest.raises(InvalidSpec, match=r"cap_drop: CAP_X both added and dropped"):
        validate_service_spec(spec(cap_add=("CAP_X",), cap_drop=("CAP_X",)))
    # --ulimit given twice: the last wins, as in Docker
    assert apply_options(BASE, {"ulimits": ["nofile=1", "nofile=2"]}).task.container.ulimits == (
        Ulimit("nofile", 2, 2),
    )
