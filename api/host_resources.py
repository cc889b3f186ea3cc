"""What a task takes of its node besides CPU and memory: published ports, mounts and
networks. The flags' syntax (as ``docker service`` takes it), the options that edit them
(api/service_options.py), and their validation (api/validation.py).

- ``--publish published=8080,target=80,protocol=tcp|udp|sctp,mode=ingress|host`` or
  ``-p 8080:80``. An unnamed mode is ``ingress``, as Docker's: the routing mesh listens on
  the published port on every node and forwards each connection to a running task
  (actors/worker/mesh.py); ``-p 80`` gets a port of 30000-32767 from the managers
  (api/ingress_ports.py). The mesh carries TCP and UDP: an ingress ``sctp`` port is
  refused (publish it with ``mode=host``). ``mode=host`` publishes on the node that runs
  each task (``published`` left out: the engine picks a free port per task).
- ``--mount type=volume|bind|tmpfs,source=NAME|PATH,target=PATH[,readonly]`` and a
  volume's options: api/mounts.py.
- ``--network NAME`` or ``--network name=NAME,alias=A``: the control API resolves the name
  to the network's id.

Pure: every check raises ``InvalidSpec`` naming the flag or field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

from api.enums import MountType, PortProtocol, PublishMode
from api.mounts import MAX_MOUNTS, option_items, parse_mount, validate_mounts
from api.spec_limits import (
    MAX_CONSTRAINTS,
    MAX_NAME_CHARS,
    InvalidSpec,
    check_count,
    check_labels,
    check_string,
    shown_name,
)
from api.specs import (
    Mount,
    NetworkAttachmentConfig,
    PortConfig,
    ServiceSpec,
)

if TYPE_CHECKING:  # annotations only: a service's commands do not import these
    from api.cluster_specs import NetworkSpec

__all__ = [
    "HOST_OPTION_TYPES",
    "MAX_MOUNTS",
    "MAX_NETWORKS",
    "NETWORK_DRIVERS",
    "RESERVED_NETWORK_NAMES",
    "apply_host_options",
    "bind_mounts",
    "format_port",
    "parse_mount",
    "parse_network",
    "parse_publish",
    "parse_publish_rm",
    "validate_mounts",
    "validate_network_attachments",
    "validate_network_spec",
    "validate_ports",
    "with_task_ports",
]

MAX_NETWORKS: Final = 32
MAX_ALIASES: Final = 32
NETWORK_DRIVERS: Final = ("bridge",)
# the engine's own networks, and Docker swarm's
RESERVED_NETWORK_NAMES: Final = frozenset({"bridge", "host", "none", "ingress", "default"})
INGRESS_PROTOCOLS: Final = (PortProtocol.TCP, PortProtocol.UDP)
NO_MESH_FOR: Final = (
    "the routing mesh (publish mode 'ingress', the default) forwards TCP and UDP only: "
    "publish this port with mode=host (it opens on the node that runs each task)"
)

# options of api/service_options.py this module applies: each a list of flag values
HOST_OPTION_TYPES: Final[dict[str, type]] = {
    "publish": list,
    "publish_add": list,
    "publish_rm": list,
    "mounts": list,
    "mount_add": list,
    "mount_rm": list,
    "networks": list,
    "network_add": list,
    "network_rm": list,
}

# a network's name and a network alias: SwarmKit's rule for a service's name, with '.'
_NAME_RE = re.compile(r"^[a-zA-Z0-9](?:[-_.a-zA-Z0-9]*[a-zA-Z0-9])?\Z")
_SHORT_PORT_RE = re.compile(r"^(?:(\d+):)?(\d+)(?:/(\w+))?$")


def _port_number(value: str, flag: str, what: str, *, zero: bool) -> int:
    if not value.isdigit():
        raise InvalidSpec(flag, f"{flag}: {what} must be a port number, got {value!r}")
    number, low = int(value), 0 if zero else 1
    if not low <= number <= 65535:
        raise InvalidSpec(flag, f"{flag}: {what} must be in {low}..65535, got {number}")
    return number


def _protocol(value: str, flag: str) -> PortProtocol:
    try:
        return PortProtocol(value.lower())
    except ValueError:
        raise InvalidSpec(
            flag, f"{flag}: unknown protocol {value!r} (expected tcp|udp|sctp)"
        ) from None


# --- ports -----------------------------------------------------------------------------


def parse_publish(text: str, flag: str = "--publish") -> PortConfig:
    """``published=8080,target=80,protocol=udp,mode=host`` or ``[PUBLISHED:]TARGET[/PROTO]``."""
    text = text.strip()
    if "=" not in text:
        m = _SHORT_PORT_RE.match(text)
        if m is None:
            raise InvalidSpec(
                flag,
                f"{flag}: expected PUBLISHED:TARGET[/PROTOCOL] or "
                f"published=P,target=T[,protocol=tcp|udp][,mode=ingress|host], got {text!r}"
                + (" (port ranges and host addresses are not supported)" if text else ""),
            )
        published, target, proto = m.groups()
        return PortConfig(
            protocol=_protocol(proto, flag) if proto else PortProtocol.TCP,
            target_port=_port_number(target, flag, "the target port", zero=False),
            published_port=(
                _port_number(published, flag, "the published port", zero=True) if published else 0
            ),
        )
    port = PortConfig()
    seen_target = False
    for key, value, _ in option_items(text, flag):
        if key == "target":
            port = replace(port, target_port=_port_number(value, flag, "target", zero=False))
            seen_target = True
        elif key == "published":
            port = replace(port, published_port=_port_number(value, flag, "published", zero=True))
        elif key == "protocol":
            port = replace(port, protocol=_protocol(value, flag))
        elif key == "mode":
            try:
                port = replace(port, publish_mode=PublishMode(value.lower()))
            except ValueError:
                raise InvalidSpec(
                    flag, f"{flag}: unknown mode {value!r} (expected ingress or host)"
                ) from None
        else:
            raise InvalidSpec(
                flag,
                f"{flag}: unknown option {key!r} (expected published, target, protocol, mode)",
            )
    if not seen_target:
        raise InvalidSpec(flag, f"{flag}: a target port is required, in {text!r}")
    return port


def parse_publish_rm(text: str, flag: str = "--publish-rm") -> PortConfig:
    """What ``--publish`` takes (``TARGET[/PROTOCOL]``, ``PUBLISHED:TARGET[/PROTOCOL]`` or
    ``published=P,target=T,...``): the ports of that target port and protocol go, whatever
    they are published on, as Docker's ``--publish-rm`` removes them."""
    return parse_publish(text, flag)


def _removed_ports(
    ports: list[PortConfig], removal: PortConfig, flag: str = "--publish-rm"
) -> list[PortConfig]:
    """``ports`` without those of ``removal``'s target port and protocol. A bare port that
    is no target but a published port is refused, saying which target to name (Docker
    would remove nothing, silently)."""
    kept = [
        p for p in ports if (p.target_port, p.protocol) != (removal.target_port, removal.protocol)
    ]
    if len(kept) == len(ports) and not removal.published_port:
        for p in ports:
            if (p.published_port, p.protocol) == (removal.target_port, removal.protocol):
                raise InvalidSpec(
                    flag,
                    f"{flag}: {removal.target_port}/{removal.protocol} is no target port "
                    f"({format_port(p)} publishes target {p.target_port}); name the target: "
                    f"{flag} {p.target_port}/{p.protocol} or {flag} {format_port(p)}",
                )
    return kept


def format_port(port: PortConfig) -> str:
    """``8080:80/tcp`` (``*:80/tcp`` when the published port is yet to be picked)."""
    published = str(port.published_port) if port.published_port else "*"
    return f"{published}:{port.target_port}/{port.protocol}"


def validate_ports(ports: Sequence[PortConfig], field: str) -> None:
    seen: set[tuple[str, int]] = set()
    check_count(ports, field, MAX_CONSTRAINTS)
    for i, port in enumerate(ports):
        sub = f"{field}[{i}]"
        if not isinstance(port.protocol, PortProtocol):
            raise InvalidSpec(f"{sub}.protocol", f"unknown protocol {port.protocol!r}")
        if not isinstance(port.publish_mode, PublishMode):
            raise InvalidSpec(f"{sub}.publish_mode", f"unknown mode {port.publish_mode!r}")
        if port.publish_mode is PublishMode.INGRESS and port.protocol not in INGRESS_PROTOCOLS:
            raise InvalidSpec(
                f"{sub}.protocol", f"{port.target_port}/{port.protocol}: {NO_MESH_FOR}"
            )
        check_string(port.name, f"{sub}.name", MAX_NAME_CHARS)
        if not 1 <= port.target_port <= 65535:
            raise InvalidSpec(f"{sub}.target_port", f"must be in 1..65535, got {port.target_port}")
        if not 0 <= port.published_port <= 65535:
            raise InvalidSpec(
                f"{sub}.published_port", f"must be in 0..65535, got {port.published_port}"
            )
        if port.published_port:
            key = (str(port.protocol), port.published_port)
            if key in seen:
                raise InvalidSpec(
                    f"{sub}.published_port",
                    f"port {port.published_port}/{port.protocol} published twice",
                )
            seen.add(key)


# --- mounts (api/mounts.py) -------------------------------------------------------


def bind_mounts(spec: ServiceSpec) -> tuple[Mount, ...]:
    return tuple(m for m in spec.task.container.mounts if m.type is MountType.BIND)


# --- networks --------------------------------------------------------------------------


def parse_network(text: str, flag: str = "--network") -> NetworkAttachmentConfig:
    """``NAME`` or ``name=NAME,alias=A,alias=B`` (``target`` for ``name`` too)."""
    if "=" not in text:
        target = text.strip()
        if not target:
            raise InvalidSpec(flag, f"{flag}: expected a network name")
        return NetworkAttachmentConfig(target=target)
    target = ""
    aliases: list[str] = []
    for key, value, _ in option_items(text, flag):
        if key in ("name", "target"):
            target = value
        elif key == "alias":
            aliases.append(value)
        else:
            raise InvalidSpec(
                flag, f"{flag}: unknown network option {key!r} (expected name, alias)"
            )
    if not target:
        raise InvalidSpec(flag, f"{flag}: a network name is required, in {text!r}")
    return NetworkAttachmentConfig(target=target, aliases=tuple(aliases))


def validate_network_attachments(networks: Sequence[NetworkAttachmentConfig], field: str) -> None:
    check_count(networks, field, MAX_NETWORKS)
    seen: set[str] = set()
    for i, attachment in enumerate(networks):
        sub = f"{field}[{i}]"
        check_string(attachment.target, f"{sub}.target", MAX_NAME_CHARS)
        if not attachment.target:
            raise InvalidSpec(f"{sub}.target", "a network attachment needs a network")
        if attachment.target in seen:
            raise InvalidSpec(f"{sub}.target", f"network {attachment.target!r} attached twice")
        seen.add(attachment.target)
        check_count(attachment.aliases, f"{sub}.aliases", MAX_ALIASES)
        for j, alias in enumerate(attachment.aliases):
            if not _NAME_RE.match(alias) or len(alias) > MAX_NAME_CHARS:
                raise InvalidSpec(
                    f"{sub}.aliases[{j}]", f"{shown_name(alias)} is not a valid DNS name"
                )


def validate_network_spec(spec: NetworkSpec) -> None:
    if not spec.name:
        raise InvalidSpec("name", "a network needs a name")
    if len(spec.name) > MAX_NAME_CHARS or not _NAME_RE.match(spec.name):
        # in the words SwarmKit gives a config's or secret's name, whose rule this is (with
        # 63 characters); SwarmKit holds a network's name to a service's rule, without the
        # '.' a local engine network may have (moby/moby#33433)
        raise InvalidSpec(
            "name",
            f"{shown_name(spec.name)}: invalid name, only {MAX_NAME_CHARS} [a-zA-Z0-9-_.] "
            "characters allowed, and the start and end character must be [a-zA-Z0-9]",
        )
    if spec.name.lower() in RESERVED_NETWORK_NAMES:
        raise InvalidSpec("name", f"{spec.name!r} is a name the engine reserves for itself")
    check_labels(spec.labels, "labels")
    if spec.driver not in NETWORK_DRIVERS:
        raise InvalidSpec(
            "driver",
            f"unknown driver {spec.driver!r}: the only driver is 'bridge' (one bridge per "
            "node; cross-node overlay networks are not built)",
        )


# --- options ---------------------------------------------------------------------------


def _parsed(options: Mapping[str, Any], key: str, parse: Any) -> list[Any]:
    flag = "--" + key.replace("_", "-")
    return [parse(text, f"{flag}") for text in options.get(key, ())]


def apply_host_options(spec: ServiceSpec, options: Mapping[str, Any]) -> ServiceSpec:
    """Ports, mounts and networks of ``options`` applied: the whole value, then removals,
    then additions (an added port replaces one published on the same port, an added mount
    one on the same target)."""
    o = options
    ports = list(spec.endpoint.ports)
    if "publish" in o:
        ports = _parsed(o, "publish", parse_publish)
    for removal in _parsed(o, "publish_rm", parse_publish_rm):
        ports = _removed_ports(ports, removal)
    for port in _parsed(o, "publish_add", parse_publish):
        ports = [p for p in ports if p != port and not _same_published(p, port)]
        ports.append(port)

    container = spec.task.container
    mounts = list(container.mounts)
    if "mounts" in o:
        mounts = _parsed(o, "mounts", parse_mount)
    removed = {t.rstrip("/") for t in o.get("mount_rm", ())}
    mounts = [m for m in mounts if m.target.rstrip("/") not in removed]
    for mount in _parsed(o, "mount_add", parse_mount):
        mounts = [m for m in mounts if m.target.rstrip("/") != mount.target.rstrip("/")]
        mounts.append(mount)

    networks = list(spec.task.networks)
    if "networks" in o:
        networks = _parsed(o, "networks", parse_network)
    gone = set(o.get("network_rm", ()))
    networks = [n for n in networks if n.target not in gone]
    for attachment in _parsed(o, "network_add", parse_network):
        networks = [n for n in networks if n.target != attachment.target]
        networks.append(attachment)

    task = replace(
        spec.task,
        container=replace(container, mounts=tuple(mounts)),
        networks=tuple(networks),
    )
    endpoint = replace(spec.endpoint, ports=tuple(ports))
    return with_task_ports(replace(spec, task=task, endpoint=endpoint))


def with_task_ports(spec: ServiceSpec) -> ServiceSpec:
    """``spec`` with its task template carrying the endpoint's ports, so that each task
    knows what to publish and a change of ports replaces the tasks as any spec change."""
    if spec.task.ports == spec.endpoint.ports:
        return spec
    return replace(spec, task=replace(spec.task, ports=spec.endpoint.ports))


def _same_published(a: PortConfig, b: PortConfig) -> bool:
    return bool(b.published_port) and (a.published_port, a.protocol) == (
        b.published_port,
        b.protocol,
    )
