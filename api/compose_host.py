"""A compose service's ports, endpoint mode, volumes and networks → our published ports,
mounts and network attachments (api/host_resources.py), and the file's top-level
networks and volumes, as ``docker stack deploy`` converts them.

Rules:
- ``ports``: ``"8080:80"``, ``"80"``, ``"53:53/udp"`` or ``{target, published, protocol,
  mode}``, as ``swarmctl service create -p`` takes them: ``mode: ingress`` (the default,
  the routing mesh) or ``mode: host``. A short port's range (``"8000-8002:80-82"``,
  ``"8000-8001:80"``, ``"80-82"``) is one port per number, as Docker makes it.
- ``deploy.endpoint_mode``: ``vip`` (the default) or ``dnsrr``, in either case, as
  ``--endpoint-mode`` (api/endpoint_mode.py).
- ``volumes``: ``"NAME:/path[:ro]"`` (a volume the file declares: named ``STACK_NAME``,
  or ``name:``, or its own name when ``external``), ``"/host:/path[:ro]"`` or
  ``"./rel:/path"`` (a bind mount; a relative path is taken from the first file's
  directory), ``"/path"`` (an anonymous volume), or ``{type: volume|bind|tmpfs, source,
  target, read_only, volume: {nocopy}}``. A volume of the stack's own is made on each
  node on first use with the file's ``driver``, ``driver_opts`` and ``labels`` and the
  stack's label (its mounts carry them, as Docker's do); an external one as it exists.
- ``networks``: a list of the file's network keys or a mapping ``{KEY: {aliases: [...]}}``;
  a service that names none is on the stack's ``default`` network, as Docker's. Every
  service answers to its key in the file (``db``) on each of its networks. A top-level
  network is ``STACK_KEY`` (or ``name:``), a bridge on each node (``driver: bridge``, the
  only one: ``overlay`` is refused, there are no cross-node networks), labelled with the
  stack; ``external: true`` names one that exists.

Pure: no I/O. Every refusal is a ComposeError naming the key.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from api.compose_fields import LABEL_NAMESPACE, ComposeError, Section, key_values
from api.endpoint_mode import parse_endpoint_mode
from api.enums import EndpointMode, MountType
from api.host_resources import parse_publish, validate_network_spec
from api.spec_limits import MAX_CONSTRAINTS, InvalidSpec
from api.specs import (
    Mount,
    NetworkAttachmentConfig,
    NetworkSpec,
    PortConfig,
    VolumeDriver,
    VolumeOptions,
)

__all__ = [
    "DEFAULT_NETWORK",
    "NetworkPlan",
    "VolumePlan",
    "endpoint_mode",
    "file_networks",
    "file_volumes",
    "service_mounts",
    "service_network_keys",
    "service_networks",
    "service_ports",
]

DEFAULT_NETWORK: Final = "default"
_NETWORK_KEYS: Final = frozenset({"driver", "internal", "labels", "external", "name"})
_VOLUME_KEYS: Final = frozenset({"driver", "driver_opts", "labels", "external", "name"})
_PORT_KEYS: Final = frozenset({"target", "published", "protocol", "mode"})
_MOUNT_KEYS: Final = frozenset({"type", "source", "target", "read_only", "volume"})
# a short port with a range on either side (one without is parse_publish's)
_PORT_RANGE: Final = re.compile(
    r"^(?:(?P<published>\d+(?:-\d+)?):)?(?P<target>\d+(?:-\d+)?)(?P<proto>/\w+)?$"
)


@dataclass(frozen=True)
class NetworkPlan:
    """A network the stack uses: to create as ``spec`` unless ``external``, when one
    named ``name`` must exist."""

    key: str
    name: str
    external: bool = False
    spec: NetworkSpec | None = None


def _external_name(s: Section, key: str, kind: str) -> str | None:
    """The name of an external object (``external: true`` or ``external: {name: N}``),
    or None when the object is the stack's own."""
    external = s.raw("external")
    if isinstance(external, Mapping):
        return Section(external, s.at("external"), {"name"}).text("name") or s.text("name") or key
    if not s.boolean("external"):
        return None
    for other in s.values:
        if other not in ("external", "name") and not other.startswith("x-"):
            raise ComposeError(s.at(other), f"an external {kind} takes no {other}")
    return s.text("name") or key


def file_networks(top: Section, namespace: str, used: set[str]) -> tuple[NetworkPlan, ...]:
    """The top-level networks, plus the stack's ``default`` when a service uses it."""
    section = Section(top.raw("networks"), "networks", None)
    declared = {k: v for k, v in section.items()}
    if DEFAULT_NETWORK in used and DEFAULT_NETWORK not in declared:
        declared[DEFAULT_NETWORK] = {}
    out = []
    for key, raw in declared.items():
        s = Section(raw, section.at(key), _NETWORK_KEYS)
        external = _external_name(s, key, "network")
        if external is not None:
            out.append(NetworkPlan(key, external, True))
            continue
        labels = key_values(s.raw("labels") or {}, s.at("labels"))
        spec = NetworkSpec(
            name=s.text("name") or f"{namespace}_{key}",
            labels={**labels, LABEL_NAMESPACE: namespace},
            driver=s.text("driver", "bridge"),
            internal=s.boolean("internal"),
        )
        try:
            validate_network_spec(spec)
        except InvalidSpec as exc:
            raise ComposeError(s.at(exc.field), exc.reason) from None
        out.append(NetworkPlan(key, spec.name, spec=spec))
    return tuple(out)


@dataclass(frozen=True)
class VolumePlan:
    """A top-level volume: its name on the nodes and, for the stack's own, the options
    its mounts carry (None: external, used as it is)."""

    name: str
    options: VolumeOptions | None = None


def file_volumes(top: Section, namespace: str) -> dict[str, VolumePlan]:
    """The top-level volumes by key."""
    section = Section(top.raw("volumes"), "volumes", None)
    out = {}
    for key, raw in section.items():
        s = Section(raw, section.at(key), _VOLUME_KEYS)
        external = _external_name(s, key, "volume")
        if external is not None:
            out[key] = VolumePlan(external)
            continue
        labels = key_values(s.raw("labels") or {}, s.at("labels"))
        driver = None
        if "driver" in s or "driver_opts" in s:
            options = key_values(s.raw("driver_opts") or {}, s.at("driver_opts"))
            driver = VolumeDriver(s.text("driver"), options)
        options_ = VolumeOptions(labels={**labels, LABEL_NAMESPACE: namespace}, driver=driver)
        out[key] = VolumePlan(s.text("name") or f"{namespace}_{key}", options_)
    return out


def service_ports(s: Section) -> tuple[PortConfig, ...]:
    out: list[PortConfig] = []
    for i, item in enumerate(s.entries("ports")):
        path = f"{s.at('ports')}[{i}]"
        if isinstance(item, Mapping):
            long = Section(item, path, _PORT_KEYS)
            text = ",".join(
                f"{k}={long.text(k)}"
                for k in ("target", "published", "protocol", "mode")
                if k in long
            )
        elif isinstance(item, str | int) and not isinstance(item, bool):
            text = str(item)
        else:
            raise ComposeError(
                path, f'expected "PUBLISHED:TARGET[/PROTOCOL]" or a mapping, got {item!r}'
            )
        try:
            out.extend(parse_publish(one, path) for one in _port_range(text.strip(), path))
        except InvalidSpec as exc:
            raise ComposeError(path, exc.reason.removeprefix(f"{path}: ")) from None
    return tuple(out)


def _port_range(text: str, path: str) -> list[str]:
    """A short port with ranges as the single ports Docker makes of it: ``8000-8002:80-82``
    → 8000:80, 8001:81, 8002:82; ``8000-8001:80`` → 8000:80, 8001:80; ``80-81`` → 80,
    81. A host address (``127.0.0.1:8080:80``) is refused: Docker drops it with a warning.
    Anything else as it is."""
    if text.count(":") > 1 or text.startswith("["):
        raise ComposeError(
            path,
            f"{text!r}: a host address is not supported: a swarm port listens on every address",
        )
    m = _PORT_RANGE.match(text) if "-" in text else None
    if m is None:
        return [text]
    target = _span(m["target"], path)
    published = _span(m["published"], path) if m["published"] else None
    proto = m["proto"] or ""
    if published is None:
        return [f"{port}{proto}" for port in target]
    if len(target) == 1:
        return [f"{port}:{target[0]}{proto}" for port in published]
    if len(published) != len(target):
        raise ComposeError(
            path, f"{text!r}: the published and target ranges are not the same length"
        )
    return [f"{p}:{t}{proto}" for p, t in zip(published, target, strict=True)]


def _span(text: str, path: str) -> range:
    first, _, last = text.partition("-")
    low, high = int(first), int(last or first)
    if not 0 < low <= high <= 65535:
        raise ComposeError(path, f"invalid port range {text!r}")
    if high - low >= MAX_CONSTRAINTS:
        raise ComposeError(path, f"port range {text!r}: more than {MAX_CONSTRAINTS} ports")
    return range(low, high + 1)


def endpoint_mode(deploy: Section) -> EndpointMode:
    """``deploy.endpoint_mode``; Docker's default, vip, when the file gives none."""
    value = deploy.text("endpoint_mode")
    if not value:
        return EndpointMode.VIP
    try:
        return parse_endpoint_mode(value, deploy.at("endpoint_mode"))
    except InvalidSpec as exc:
        raise ComposeError(deploy.at("endpoint_mode"), exc.reason) from None


def _short_mount(text: str, path: str, volumes: Mapping[str, VolumePlan], base_dir: str) -> Mount:
    parts = text.split(":")
    if len(parts) == 1:
        return Mount(type=MountType.VOLUME, target=parts[0])  # anonymous
    if len(parts) > 3:
        raise ComposeError(path, f"expected SOURCE:TARGET[:ro|rw], got {text!r}")
    source, target = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else "rw"
    if mode not in ("ro", "rw"):
        raise ComposeError(path, f"mode {mode!r} is not supported (expected ro or rw)")
    return _mount(source, target, mode == "ro", None, path, volumes, base_dir)


def _mount(
    source: str,
    target: str,
    readonly: bool,
    kind: str | None,
    path: str,
    volumes: Mapping[str, VolumePlan],
    base_dir: str,
    nocopy: bool | None = None,
) -> Mount:
    if kind is None:
        kind = "bind" if source.startswith(("/", ".", "~")) else "volume"
    if kind == "bind":
        if source.startswith("~"):
            raise ComposeError(path, f"{source!r}: give the home directory's path, not '~'")
        return Mount(
            type=MountType.BIND,
            source=posixpath.normpath(posixpath.join(base_dir, source)),
            target=target,
            readonly=readonly,
        )
    if kind == "tmpfs":
        if source:
            raise ComposeError(path, "a tmpfs mount takes no source")
        return Mount(type=MountType.TMPFS, target=target, readonly=readonly)
    if kind != "volume":
        raise ComposeError(path, f"unknown mount type {kind!r} (expected volume, bind or tmpfs)")
    if source and source not in volumes:
        raise ComposeError(path, f"volume {source!r} is not declared in the top-level volumes")
    plan = volumes[source] if source else VolumePlan("")
    options = plan.options
    if nocopy is not None:  # Docker's: the service's volume.nocopy, for any volume
        options = replace(options or VolumeOptions(), nocopy=nocopy)
    return Mount(
        type=MountType.VOLUME,
        source=plan.name,
        target=target,
        readonly=readonly,
        volume_options=options,
    )


def service_mounts(
    s: Section, volumes: Mapping[str, VolumePlan], base_dir: str
) -> tuple[Mount, ...]:
    out = []
    for i, item in enumerate(s.entries("volumes")):
        path = f"{s.at('volumes')}[{i}]"
        if isinstance(item, str):
            out.append(_short_mount(item, path, volumes, base_dir))
            continue
        long = Section(item, path, _MOUNT_KEYS)
        if "target" not in long:
            raise ComposeError(long.at("target"), "a mount needs a target")
        kind = long.text("type", "volume")
        nocopy = None
        if "volume" in long:
            if kind != "volume":
                raise ComposeError(long.at("volume"), f"a {kind} mount takes no volume options")
            nocopy = long.section("volume", {"nocopy"}).boolean("nocopy")
        out.append(
            _mount(
                long.text("source"),
                long.text("target"),
                long.boolean("read_only"),
                kind,
                path,
                volumes,
                base_dir,
                nocopy,
            )
        )
    return tuple(out)


def service_network_keys(s: Section) -> list[str]:
    """The file's network keys the service names (``default`` when none)."""
    raw = s.raw("networks")
    if raw is None:
        return [DEFAULT_NETWORK]
    if isinstance(raw, list):
        return [str(k) for k in raw]
    return [
        str(k) for k in Section(raw, s.at("networks"), None).values if not str(k).startswith("x-")
    ]


def service_networks(
    s: Section, key: str, networks: Mapping[str, str]
) -> tuple[NetworkAttachmentConfig, ...]:
    raw = s.raw("networks")
    entries: dict[str, Any] = (
        dict(Section(raw, s.at("networks"), None).items()) if isinstance(raw, Mapping) else {}
    )
    out = []
    for name in service_network_keys(s):
        path = f"{s.at('networks')}.{name}"
        if name not in networks:
            raise ComposeError(path, f"network {name!r} is not declared in the top-level networks")
        options = Section(entries.get(name), path, {"aliases"})
        aliases = (key, *[a for a in options.strings("aliases") if a != key])
        out.append(NetworkAttachmentConfig(target=networks[name], aliases=aliases))
    return tuple(out)
