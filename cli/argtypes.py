"""argparse ``type``s for swarmctl's flags: each refuses a bad value with one line (argparse
prints it and exits 2) before anything is sent."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from api.units import parse_cpus, parse_duration, parse_key_value, parse_memory

__all__ = [
    "BOOLEAN",
    "CONFIG_REF",
    "CONSTRAINT",
    "COUNT",
    "CPUS",
    "DEPENDENCY",
    "DURATION",
    "ENV",
    "EXTRA_HOST",
    "INTEGER",
    "KEY_VALUE",
    "LOG_OPT",
    "MAX_COUNT",
    "MEMORY",
    "MOUNT",
    "NETWORK",
    "NODE_FILTER",
    "PREFERENCE",
    "PUBLISH",
    "PUBLISH_RM",
    "RATIO",
    "SCHEDULE",
    "SECRET_REF",
    "SYSCTL",
    "TASK_FILTER",
    "ULIMIT",
    "count",
    "typed",
]


def typed(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse ``type`` from a parser: its ``ValueError`` becomes one line, exit 2."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:  # InvalidSpec is a ValueError
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


MAX_COUNT = 2**63 - 1  # the largest count the wire carries (a signed 64-bit integer)


def count(text: str) -> int:
    """A count: an integer in 0..MAX_COUNT (a larger one could not be sent: it crashed
    swarmctl with a traceback)."""
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"invalid integer {text!r}") from None
    if value < 0:
        raise ValueError(f"must be >= 0, got {value}")
    if value > MAX_COUNT:
        raise ValueError(f"must be at most {MAX_COUNT}, got {value}")
    return value


def _integer(text: str) -> int:
    """A signed integer the wire carries (an int64)."""
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"invalid integer {text!r}") from None
    if not -MAX_COUNT - 1 <= value <= MAX_COUNT:
        raise ValueError(f"must be within a signed 64-bit integer, got {value}")
    return value


def _log_opt(text: str) -> tuple[str, str]:
    return parse_key_value(text, "log option")


def _boolean(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"want true or false, got {text!r}")


def _ratio(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"must be between 0 and 1, got {text}")
    return value


def _env(text: str) -> str:
    parse_key_value(text, "environment variable")
    return text if "=" in text else text + "="


# api.validation loads the object model (tens of milliseconds): only when such a flag is
# given, not for every command swarmctl runs.


def _constraint(text: str) -> str:
    from api.validation import parse_constraint

    parse_constraint(text, "--constraint")
    return text


def _preference(text: str) -> str:
    from api.validation import parse_placement_preference

    parse_placement_preference(text, "--placement-pref")
    return text


BOOLEAN = typed(_boolean)


def _host_resource(parser: str, flag: str) -> Callable[[str], str]:
    """A flag value checked by ``api.host_resources.<parser>`` and kept as typed."""

    def check(text: str) -> str:
        from api import host_resources

        getattr(host_resources, parser)(text, flag)
        return text

    check.__name__ = parser
    return check


def _secret_ref(text: str) -> str:
    from api.secret_refs import parse_secret_option

    parse_secret_option(text)
    return text


def _config_ref(text: str) -> str:
    from api.secret_refs import parse_config_option

    parse_config_option(text)
    return text


def _dependency(text: str) -> str:
    from api.dependencies import parse_dependency

    parse_dependency(text, "--depends-on")
    return text


def _schedule(text: str) -> str:
    if text.strip():  # "" removes a job's schedule (service update --schedule "")
        from api.schedule import check_schedule

        check_schedule(text, "--schedule")
    return text


def _ulimit(text: str) -> str:
    from api.container_options import parse_ulimit

    parse_ulimit(text, "--ulimit")
    return text


def _sysctl(text: str) -> tuple[str, str]:
    return parse_key_value(text, "sysctl", value_required=True)


def _extra_host(text: str) -> str:
    from api.container_options import host_entry

    host_entry(text, "--host")
    return text


def _node_filter(text: str) -> str:
    from api.list_filters import parse_node_filter

    parse_node_filter([text])
    return text


def _task_filter(text: str) -> str:
    from api.list_filters import parse_task_filter

    parse_task_filter([text])
    return text


MEMORY = typed(parse_memory)
CPUS = typed(parse_cpus)
DURATION = typed(parse_duration)
COUNT = typed(count)
INTEGER = typed(_integer)
LOG_OPT = typed(_log_opt)
RATIO = typed(_ratio)
ENV = typed(_env)
KEY_VALUE = typed(parse_key_value)
ULIMIT = typed(_ulimit)
SYSCTL = typed(_sysctl)
EXTRA_HOST = typed(_extra_host)
CONSTRAINT = typed(_constraint)
PREFERENCE = typed(_preference)
PUBLISH = typed(_host_resource("parse_publish", "--publish"))
PUBLISH_RM = typed(_host_resource("parse_publish_rm", "--publish-rm"))
MOUNT = typed(_host_resource("parse_mount", "--mount"))
NETWORK = typed(_host_resource("parse_network", "--network"))
SECRET_REF = typed(_secret_ref)
CONFIG_REF = typed(_config_ref)
DEPENDENCY = typed(_dependency)
SCHEDULE = typed(_schedule)
NODE_FILTER = typed(_node_filter)  # node ls --filter (the manager checks them all again)
TASK_FILTER = typed(_task_filter)  # node ps --filter
