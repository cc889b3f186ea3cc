"""A compose service's kernel-facing container options, as ``docker stack deploy`` converts
them (docker/cli ``cli/compose/convert/service.go``): ``read_only``, ``init``, ``tty``,
``group_add``, ``cap_add``, ``cap_drop``, ``ulimits``, ``sysctls``, ``dns``,
``dns_search``, ``dns_opt``, ``extra_hosts`` and ``oom_score_adj``; and ``logging``
(``{driver, options}``), the task's logging driver.

Rules (the compose file format's):
- ``ulimits`` maps a name to a number (soft and hard) or to ``{soft: N, hard: N}``.
- ``sysctls`` and ``extra_hosts`` are a mapping or a list (``KEY=VALUE``; a host as
  ``HOST:IP`` or ``HOST=IP``); a host is stored as SwarmKit's ``IP HOST``.
- ``dns`` and ``dns_search`` are a string or a list.
- Capabilities are stored as ``CAP_NAME`` (``NET_ADMIN`` in the file).
- ``logging`` without a ``driver`` is the engine's default driver; its ``options`` go to
  that driver, as ``docker stack deploy`` sends them (a driver with no name).
The values are checked with the rest of the spec (api/container_options.py).

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from api.compose_fields import ComposeError, Section, key_values
from api.container_options import normalize_capability
from api.specs import DNSConfig, LogDriver, Ulimit

__all__ = ["CONTAINER_KEYS", "container_options", "log_driver"]

CONTAINER_KEYS: Final = frozenset(
    {
        "read_only",
        "init",
        "tty",
        "group_add",
        "cap_add",
        "cap_drop",
        "ulimits",
        "sysctls",
        "dns",
        "dns_search",
        "dns_opt",
        "extra_hosts",
        "oom_score_adj",
        "logging",
    }
)


def _one_or_many(s: Section, key: str) -> tuple[str, ...]:
    value = s.raw(key)
    return (value,) if isinstance(value, str) else s.strings(key)


def _limit(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ComposeError(path, f"expected a whole number, got {value!r}")
    return value


def _ulimits(s: Section) -> tuple[Ulimit, ...]:
    raw = s.raw("ulimits")
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise ComposeError(s.at("ulimits"), "expected a mapping of NAME: LIMIT")
    out = []
    for name, value in raw.items():
        path = f"{s.at('ulimits')}.{name}"
        if isinstance(value, Mapping):
            limits = Section(value, path, {"soft", "hard"})
            if "soft" not in limits or "hard" not in limits:
                raise ComposeError(path, "give both soft and hard (or one number)")
            soft = _limit(limits.raw("soft"), limits.at("soft"))
            hard = _limit(limits.raw("hard"), limits.at("hard"))
        else:
            soft = hard = _limit(value, path)
        out.append(Ulimit(name=str(name), soft=soft, hard=hard))
    return tuple(out)


def _extra_hosts(s: Section) -> tuple[str, ...]:
    raw = s.raw("extra_hosts")
    if raw is None:
        return ()
    pairs: list[tuple[str, str, str]] = []
    if isinstance(raw, Mapping):
        pairs = [(str(h), str(ip), f"{s.at('extra_hosts')}.{h}") for h, ip in raw.items()]
    elif isinstance(raw, list):
        for i, item in enumerate(raw):
            path = f"{s.at('extra_hosts')}[{i}]"
            if not isinstance(item, str):
                raise ComposeError(path, f"expected HOST:IP, got {item!r}")
            cut = min((item.find(sep) for sep in ":=" if sep in item), default=-1)
            if cut <= 0 or cut == len(item) - 1:
                raise ComposeError(path, f"expected HOST:IP or HOST=IP, got {item!r}")
            pairs.append((item[:cut], item[cut + 1 :], path))
    else:
        raise ComposeError(s.at("extra_hosts"), "expected a list of HOST:IP or a mapping")
    return tuple(f"{ip.strip()} {host.strip()}" for host, ip, _ in pairs)


def container_options(s: Section) -> dict[str, Any]:
    """The ContainerSpec fields of the service section ``s``."""
    return {
        "read_only": s.boolean("read_only"),
        "init": s.boolean("init"),
        "tty": s.boolean("tty"),
        "groups": s.strings("group_add"),
        "cap_add": tuple(normalize_capability(c) for c in s.strings("cap_add")),
        "cap_drop": tuple(normalize_capability(c) for c in s.strings("cap_drop")),
        "ulimits": _ulimits(s),
        "sysctls": key_values(s.raw("sysctls") or {}, s.at("sysctls")),
        "dns_config": DNSConfig(
            nameservers=_one_or_many(s, "dns"),
            search=_one_or_many(s, "dns_search"),
            options=s.strings("dns_opt"),
        ),
        "hosts": _extra_hosts(s),
        "oom_score_adj": s.integer("oom_score_adj", minimum=-1000),
    }


def log_driver(s: Section) -> LogDriver | None:
    """The service section's ``logging``, as Docker's ``convertLogDriver``."""
    if "logging" not in s:
        return None
    logging = s.section("logging", {"driver", "options"})
    options = key_values(logging.raw("options") or {}, logging.at("options"))
    name = logging.text("driver")
    if not name and not options:
        return None
    # no driver: the options are for the engine's default one (Docker's Driver{Name: ""})
    return LogDriver(name=name, options=options)
