"""The kernel-facing options of a container spec: ``--read-only``, ``--init``, ``--tty``,
``--group``, ``--cap-add``/``--cap-drop``, ``--ulimit``, ``--sysctl``, ``--dns*`` and
``--host``, as ``docker service create|update`` takes them; their edits and validation.

Rules (Docker's, ``docker service create|update``):
- ``--read-only``, ``--init``, ``--tty`` are booleans; ``service update --read-only=false``
  turns one off.
- A capability is written ``CAP_NET_ADMIN`` or, as Docker accepts it, ``net_admin`` or
  ``NET_ADMIN`` (stored in the ``CAP_`` form), or ``ALL``. One given to both
  ``--cap-add`` and ``--cap-drop`` is added. On update, ``--cap-add X`` of a dropped X
  only takes it off the dropped ones, and ``--cap-drop X`` of an added X off the added
  ones (Docker's tri-state).
- ``--ulimit name=soft[:hard]`` (hard defaults to soft; -1 is unlimited); on update
  ``--ulimit-add`` replaces the limit of that name and ``--ulimit-rm NAME`` removes it.
- ``--sysctl key=value``; ``--sysctl-rm KEY``.
- ``--dns IP``, ``--dns-search DOMAIN``, ``--dns-option OPT``; ``-add``/``-rm`` on update.
- ``--host HOST:IP`` adds the line ``IP HOST`` to /etc/hosts (stored as SwarmKit stores
  it, ``IP HOST``); ``--host-rm HOST[:IP]`` removes the lines of that host.
- ``--group G`` (a name or a gid); ``--group-add``/``--group-rm`` on update.

Removals apply before additions, as the other list options (api/service_options.py).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from api.spec_limits import InvalidSpec, check_count, check_string
from api.specs import ContainerSpec, DNSConfig, Ulimit

__all__ = [
    "CONTAINER_OPTION_TYPES",
    "MAX_CAPABILITIES",
    "MAX_DNS_ENTRIES",
    "MAX_GROUPS",
    "MAX_HOSTS",
    "MAX_SYSCTLS",
    "ULIMIT_NAMES",
    "apply_container_options",
    "format_host",
    "format_ulimit",
    "host_entry",
    "host_of_entry",
    "normalize_capability",
    "parse_ulimit",
    "validate_container_options",
]

# Docker sets no bounds on these lists; ours keep a spec within its budget while far
# above what a container uses (Linux has 41 capabilities, 16 rlimits).
MAX_GROUPS: Final = 64
MAX_CAPABILITIES: Final = 64  # each of cap_add and cap_drop
MAX_SYSCTLS: Final = 128
MAX_DNS_ENTRIES: Final = 32  # each of nameservers, search domains and options
MAX_HOSTS: Final = 256
_MAX_NAME_BYTES: Final = 253  # a DNS name (RFC 1035); group names, sysctl keys too
_MAX_SYSCTL_VALUE_BYTES: Final = 1024
_LIMIT_MIN, _LIMIT_MAX = -1, 2**63 - 1  # an rlimit is an int64; -1: unlimited

# the rlimits Docker knows (go-units ulimit.go), by their --ulimit names
ULIMIT_NAMES: Final = frozenset(
    {
        "as",
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    }
)

CONTAINER_OPTION_TYPES: Final[dict[str, type]] = {
    "read_only": bool,
    "init": bool,
    "tty": bool,
    "groups": list,
    "group_add": list,
    "group_rm": list,
    "cap_add": list,
    "cap_drop": list,
    "ulimits": list,
    "ulimit_add": list,
    "ulimit_rm": list,
    "sysctls": dict,
    "sysctl_add": dict,
    "sysctl_rm": list,
    "dns": list,
    "dns_add": list,
    "dns_rm": list,
    "dns_search": list,
    "dns_search_add": list,
    "dns_search_rm": list,
    "dns_options": list,
    "dns_option_add": list,
    "dns_option_rm": list,
    "hosts": list,
    "host_add": list,
    "host_rm": list,
}

_CAPABILITY_RE = re.compile(r"^CAP_[A-Z0-9_]+\Z")
_SYSCTL_KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-/]*\Z")


def normalize_capability(name: str) -> str:
    """``net_admin``, ``NET_ADMIN`` and ``CAP_NET_ADMIN`` are ``CAP_NET_ADMIN``; ``all``
    is ``ALL`` (as Docker's ``NormalizeLegacyCapabilities``)."""
    upper = name.strip().upper()
    if upper == "ALL" or upper.startswith("CAP_"):
        return upper
    return "CAP_" + upper


def _limit(text: str, flag: str, what: str, entry: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise InvalidSpec(
            flag, f"{flag}: {what} limit of {entry!r} must be a number, got {text!r}"
        ) from None
    return value


def parse_ulimit(entry: str, flag: str = "--ulimit") -> Ulimit:
    """``name=soft[:hard]`` (Docker's ``--ulimit``); hard defaults to soft."""
    name, eq, limits = entry.partition("=")
    if not eq or not name.strip():
        raise InvalidSpec(flag, f"{flag}: expected NAME=SOFT[:HARD], got {entry!r}")
    soft_text, colon, hard_text = limits.partition(":")
    soft = _limit(soft_text, flag, "soft", entry)
    hard = _limit(hard_text, flag, "hard", entry) if colon else soft
    return Ulimit(name=name.strip(), soft=soft, hard=hard)


def format_ulimit(u: Ulimit) -> str:
    return f"{u.name}={u.soft}:{u.hard}"


def host_entry(mapping: str, flag: str = "--host") -> str:
    """``HOST:IP`` (Docker's ``--host``; an IPv6 address keeps its colons) as the hosts
    line SwarmKit stores, ``IP HOST``."""
    host, colon, ip = mapping.partition(":")
    if not colon or not host.strip() or not ip.strip():
        raise InvalidSpec(flag, f"{flag}: expected HOST:IP, got {mapping!r}")
    return f"{ip.strip()} {host.strip()}"


def host_of_entry(entry: str) -> str:
    """The canonical hostname of a hosts line ``IP HOST [ALIAS...]`` (empty if none)."""
    parts = entry.split()
    return parts[1] if len(parts) > 1 else ""


def format_host(entry: str) -> str:
    """A hosts line as Docker's ``--host`` writes it: ``HOST:IP`` (aliases after)."""
    parts = entry.split()
    if len(parts) < 2:
        return entry
    return " ".join([f"{parts[1]}:{parts[0]}", *parts[2:]])


def _edit(
    current: tuple[str, ...], o: Mapping[str, Any], whole: str, rm: str, add: str
) -> tuple[str, ...]:
    out = list(o[whole]) if whole in o else list(current)
    removed = set(o.get(rm, ()))
    out = [x for x in out if x not in removed]
    for x in o.get(add, ()):
        if x not in out:
            out.append(x)
    return tuple(out)


def _capabilities(c: ContainerSpec, o: Mapping[str, Any]) -> tuple[tuple[str, ...], ...]:
    """Docker's tri-state: adding a dropped capability takes it off the dropped ones
    (without adding it), and dropping an added one takes it off the added ones; one both
    added and dropped is added (Docker's ``EffectiveCapAddCapDrop``)."""
    added = list(dict.fromkeys(normalize_capability(x) for x in o.get("cap_add", ())))
    dropped = [
        x
        for x in dict.fromkeys(normalize_capability(x) for x in o.get("cap_drop", ()))
        if x not in added
    ]
    cap_add, cap_drop = list(c.cap_add), list(c.cap_drop)
    for cap in added:
        if cap in cap_drop:
            cap_drop.remove(cap)
        elif cap not in cap_add:
            cap_add.append(cap)
    for cap in dropped:
        if cap in cap_add:
            cap_add.remove(cap)
        elif cap not in cap_drop:
            cap_drop.append(cap)
    return tuple(cap_add), tuple(cap_drop)


def _ulimits(current: tuple[Ulimit, ...], o: Mapping[str, Any]) -> tuple[Ulimit, ...]:
    if "ulimits" in o:
        current = tuple(parse_ulimit(e, "--ulimit") for e in o["ulimits"])
    removed = {name.partition("=")[0].strip() for name in o.get("ulimit_rm", ())}
    out = {u.name: u for u in current if u.name not in removed}
    for entry in o.get("ulimit_add", ()):
        u = parse_ulimit(entry, "--ulimit-add")
        out[u.name] = u
    return tuple(out.values())


def _hosts(current: tuple[str, ...], o: Mapping[str, Any]) -> tuple[str, ...]:
    if "hosts" in o:
        current = tuple(host_entry(m, "--host") for m in o["hosts"])
    removed = {m.partition(":")[0].strip() for m in o.get("host_rm", ())}
    out = [e for e in current if host_of_entry(e) not in removed]
    for mapping in o.get("host_add", ()):
        entry = host_entry(mapping, "--host-add")
        if entry not in out:
            out.append(entry)
    return tuple(out)


def apply_container_options(c: ContainerSpec, o: Mapping[str, Any]) -> ContainerSpec:
    """``c`` with the options above applied (the option map's types already checked)."""
    if not any(k in CONTAINER_OPTION_TYPES for k in o):
        return c
    cap_add, cap_drop = _capabilities(c, o)
    sysctls = dict(o["sysctls"]) if "sysctls" in o else dict(c.sysctls)
    for k in o.get("sysctl_rm", ()):
        sysctls.pop(k, None)
    sysctls.update(o.get("sysctl_add", {}))
    dns = c.dns_config
    return replace(
        c,
        read_only=o.get("read_only", c.read_only),
        init=o.get("init", c.init),
        tty=o.get("tty", c.tty),
        groups=_edit(c.groups, o, "groups", "group_rm", "group_add"),
        cap_add=cap_add,
        cap_drop=cap_drop,
        ulimits=_ulimits(c.ulimits, o),
        sysctls=sysctls,
        dns_config=DNSConfig(
            nameservers=_edit(dns.nameservers, o, "dns", "dns_rm", "dns_add"),
            search=_edit(dns.search, o, "dns_search", "dns_search_rm", "dns_search_add"),
            options=_edit(dns.options, o, "dns_options", "dns_option_rm", "dns_option_add"),
        ),
        hosts=_hosts(c.hosts, o),
    )


# --- validation ------------------------------------------------------------------------


def _word(value: str, field: str, what: str, limit: int = _MAX_NAME_BYTES) -> None:
    """A non-empty string without whitespace or control characters, within ``limit``."""
    if not value or any(ch.isspace() or not ch.isprintable() for ch in value):
        raise InvalidSpec(field, f"{what} {value[:64]!r} is empty or has whitespace")
    check_string(value, field, limit)


def _ip(value: str, field: str, what: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise InvalidSpec(field, f"{what} {value[:64]!r} is not an IP address") from None


def validate_container_options(c: ContainerSpec, field: str) -> None:
    """The options above of ``c`` (``field``: its path, ``task.container``)."""
    check_count(c.groups, f"{field}.groups", MAX_GROUPS)
    for i, group in enumerate(c.groups):
        _word(group, f"{field}.groups[{i}]", "group")
    for name in ("cap_add", "cap_drop"):
        caps = getattr(c, name)
        check_count(caps, f"{field}.{name}", MAX_CAPABILITIES)
        for i, cap in enumerate(caps):
            if cap != "ALL" and not _CAPABILITY_RE.match(cap):
                raise InvalidSpec(
                    f"{field}.{name}[{i}]",
                    f"capability {cap[:64]!r} is not CAP_NAME (as CAP_NET_ADMIN) or ALL",
                )
    both = sorted(set(c.cap_add) & set(c.cap_drop))
    if both:
        raise InvalidSpec(f"{field}.cap_drop", f"{', '.join(both)} both added and dropped")
    check_count(c.ulimits, f"{field}.ulimits", len(ULIMIT_NAMES))
    seen: set[str] = set()
    for i, u in enumerate(c.ulimits):
        where = f"{field}.ulimits[{i}]"
        if u.name not in ULIMIT_NAMES:
            raise InvalidSpec(
                where, f"unknown ulimit {u.name[:64]!r} (one of {', '.join(sorted(ULIMIT_NAMES))})"
            )
        if u.name in seen:
            raise InvalidSpec(where, f"ulimit {u.name!r} is given twice")
        seen.add(u.name)
        for part in ("soft", "hard"):
            value = getattr(u, part)
            if not _LIMIT_MIN <= value <= _LIMIT_MAX:
                raise InvalidSpec(
                    f"{where}.{part}",
                    f"{u.name} {part} limit {value} is not -1 (unlimited) or 0 to 2^63-1",
                )
        if u.hard != -1 and (u.soft == -1 or u.soft > u.hard):
            raise InvalidSpec(
                where, f"{u.name}: the soft limit {u.soft} is over the hard limit {u.hard}"
            )
    check_count(c.sysctls, f"{field}.sysctls", MAX_SYSCTLS)
    for key, value in c.sysctls.items():
        if not isinstance(key, str) or not _SYSCTL_KEY_RE.match(key):
            raise InvalidSpec(f"{field}.sysctls", f"sysctl name {str(key)[:64]!r} is not valid")
        check_string(key, f"{field}.sysctls", _MAX_NAME_BYTES)
        if not isinstance(value, str) or "\n" in value:
            raise InvalidSpec(f"{field}.sysctls.{key}", f"value {value!r} is not one line")
        check_string(value, f"{field}.sysctls.{key}", _MAX_SYSCTL_VALUE_BYTES)
    dns = c.dns_config
    for name, values in (
        ("nameservers", dns.nameservers),
        ("search", dns.search),
        ("options", dns.options),
    ):
        check_count(values, f"{field}.dns_config.{name}", MAX_DNS_ENTRIES)
        for i, value in enumerate(values):
            where = f"{field}.dns_config.{name}[{i}]"
            if name == "nameservers":
                _ip(value, where, "DNS server")
            else:
                _word(value, where, "search domain" if name == "search" else "DNS option")
    check_count(c.hosts, f"{field}.hosts", MAX_HOSTS)
    for i, entry in enumerate(c.hosts):
        where = f"{field}.hosts[{i}]"
        check_string(entry, where)
        parts = entry.split()
        if len(parts) < 2 or "\n" in entry:
            raise InvalidSpec(where, f"hosts line {entry[:64]!r} is not 'IP HOSTNAME [ALIAS...]'")
        _ip(parts[0], where, f"the address of host {parts[1][:64]!r},")
        for name in parts[1:]:
            check_string(name, where, _MAX_NAME_BYTES)
