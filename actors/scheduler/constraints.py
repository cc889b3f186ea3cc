"""Matching placement constraints and spread descriptors against a node.

Rules (SwarmKit's ``manager/constraint``):
- The grammar is ``api.validation.parse_constraint``: ``KEY==VALUE`` / ``KEY!=VALUE``.
- Values compare case-insensitively; label *keys* are case-sensitive.
- A missing label reads as the empty string: ``==`` fails, ``!=`` holds.
- ``node.ip`` is the node's status address (a ``host:port`` is accepted); the value is an
  address (equal) or a CIDR network (contains). A node whose address does not parse
  satisfies neither ``==`` nor ``!=``.
- ``node.role`` is the role the node has now, ``node.hostname`` the one it reported.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

from api.objects import Node
from api.validation import Constraint, parse_constraint

__all__ = ["match_constraint", "node_address", "parse_constraints", "spread_value"]

_NODE_LABELS = "node.labels."
_ENGINE_LABELS = "engine.labels."

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.lru_cache(maxsize=1024)
def _parse_cached(expressions: tuple[str, ...]) -> tuple[Constraint, ...]:
    return tuple(parse_constraint(e) for e in expressions)


def parse_constraints(expressions: Iterable[str]) -> tuple[Constraint, ...]:
    """Parse every expression (cached: a service's constraints are parsed once).
    ``InvalidSpec`` for a malformed one."""
    return _parse_cached(tuple(expressions))


def node_address(node: Node) -> IPAddress | None:
    """The node's IP address from ``status.addr`` (``1.2.3.4``, ``1.2.3.4:2377``,
    ``[::1]:2377``), or None when it has none or it does not parse."""
    addr = node.status.addr.strip()
    if not addr:
        return None
    if addr.startswith("["):
        addr = addr[1 : addr.find("]")] if "]" in addr else addr[1:]
    elif addr.count(":") == 1:
        addr = addr.split(":", 1)[0]
    try:
        return ipaddress.ip_address(addr)
    except ValueError:
        return None


def _values(key: str, node: Node) -> str | None:
    """The node's value for a non-IP key; None for an unknown key."""
    desc = node.description
    if key == "node.id":
        return node.id
    if key == "node.hostname":
        return node.hostname
    if key == "node.role":
        return str(node.role)
    if key == "node.platform.os":
        return desc.platform.os if desc is not None else ""
    if key == "node.platform.arch":
        return desc.platform.architecture if desc is not None else ""
    if key.startswith(_NODE_LABELS):
        return node.spec.labels.get(key[len(_NODE_LABELS) :], "")
    if key.startswith(_ENGINE_LABELS):
        return desc.engine.labels.get(key[len(_ENGINE_LABELS) :], "") if desc is not None else ""
    return None


def _match_ip(c: Constraint, node: Node) -> bool:
    ip = node_address(node)
    if ip is None:
        return False
    try:
        if "/" in c.value:
            inside = ip in ipaddress.ip_network(c.value.strip(), strict=False)
        else:
            inside = ip == ipaddress.ip_address(c.value.strip())
    except ValueError:
        return False
    return inside == c.equals


def match_constraint(c: Constraint, node: Node) -> bool:
    """True when ``node`` satisfies ``c``."""
    if c.key == "node.ip":
        return _match_ip(c, node)
    value = _values(c.key, node)
    if value is None:
        return False
    same = value.casefold() == c.value.casefold()
    return same == c.equals


def spread_value(descriptor: str, node: Node) -> str:
    """The node's value for a spread descriptor (``node.labels.zone``); "" when absent."""
    value = _values(descriptor, node)
    return value if value is not None else ""
