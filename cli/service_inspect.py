"""``swarmctl service inspect SERVICE [--pretty]``: the service object as JSON
(``--format json``), or every field of its spec for people (the default, or ``--pretty``).

The human form walks the spec as the manager sent it, so every field the spec has is
shown, empty ones as ``-``, a field added to the spec later included without a change
here: nested parts as indented sections, durations, CPUs and bytes in their units, lists
and maps on one line. Then the service's state: spec version, update status, replicas.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from api.explain import update_status_rows
from api.units import format_bytes, format_cpus, format_duration
from cli.connection import ControlConnection
from cli.errors import CliError
from cli.output import write_json, write_text

__all__ = ["add_inspect_arguments", "describe", "spec_lines"]

# keys whose values are durations in seconds, nano-CPUs, bytes
_DURATIONS = frozenset(
    {"delay", "monitor", "window", "interval", "timeout", "start_period", "stop_grace_period"}
)
# secret and config references: the key of their name (api/specs.py)
_FILE_REFS = {"secrets": "secret_name", "configs": "config_name"}
_LABELS = {
    "nano_cpus": "CPUs",
    "memory_bytes": "Memory",
    "dir": "Workdir",
    "max_replicas": "Max Replicas Per Node",
    "force_update": "Force Update Counter",
    "update_config": "Update Config",
    "rollback_config": "Rollback Config",
    "restart_policy": "Restart Policy",
    "healthcheck": "Healthcheck",
    "failure_action": "On Failure",
    "max_failure_ratio": "Max Failure Ratio",
    "task": "Task",
    "read_only": "Read-Only Root",
    "tty": "TTY",
    "cap_add": "Capabilities Added",
    "cap_drop": "Capabilities Dropped",
    "dns_config": "DNS",
    "hosts": "Hosts",
    "pids_limit": "PIDs Limit",
    "oom_score_adj": "OOM Score Adjustment",
    "log_driver": "Log Driver",
}
# maps shown on one line as key=value, never as sections
_MAPS = ("labels", "sysctls")


def add_inspect_arguments(inspect: argparse.ArgumentParser) -> None:
    inspect.add_argument(
        "services", nargs="+", metavar="SERVICE", help="the services (names, ids or prefixes)"
    )
    inspect.add_argument(
        "--pretty",
        action="store_true",
        help="every field for people (the default unless --format json)",
    )
    inspect.set_defaults(run=run_inspect)


def run_inspect(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    if args.pretty and args.format == "json":
        raise CliError("--pretty and --format json exclude each other")
    replies: list[dict[str, Any]] = []
    refused: list[str] = []  # named after the others are shown, as docker service inspect
    with connection:
        for service in args.services:
            try:
                replies.append(connection.request("control.service.inspect", {"service": service}))
            except CliError as exc:
                refused.append(str(exc))
    if args.format == "json":
        write_json([reply["service"] for reply in replies])
    elif replies:
        write_text("\n\n".join(describe(r["service"], r["summary"]) for r in replies))
    if refused:
        raise CliError("\n".join(refused))  # one line each, as docker
    return 0


def _label(key: str) -> str:
    return _LABELS.get(key) or key.replace("_", " ").title()


def _value(key: str, value: Any) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key in _DURATIONS and isinstance(value, int | float):
        return format_duration(float(value))
    if key == "nano_cpus" and isinstance(value, int):
        return format_cpus(value)
    if key == "memory_bytes" and isinstance(value, int):
        return format_bytes(value)
    if key == "log_driver" and isinstance(value, Mapping):  # as --log-driver, --log-opt
        options = value.get("options") or {}
        name = str(value.get("name") or "(engine default)")
        return " ".join([name, *(f"{k}={v}" for k, v in options.items())])
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_value(str(k), v)}" for k, v in value.items())
    if key in _FILE_REFS and isinstance(value, list):
        return ", ".join(_file_ref(ref, _FILE_REFS[key]) for ref in value)
    if key == "ports" and isinstance(value, list):
        return ", ".join(_port(port) for port in value)
    if key == "mounts" and isinstance(value, list):
        return ", ".join(_mount(mount) for mount in value)
    if key == "ulimits" and isinstance(value, list):  # as --ulimit takes them
        return ", ".join(f"{u.get('name')}={u.get('soft')}:{u.get('hard')}" for u in value)
    if key == "hosts" and isinstance(value, list):  # as --host takes them
        from api.container_options import format_host

        return ", ".join(format_host(str(entry)) for entry in value)
    if isinstance(value, list):
        if all(isinstance(v, Mapping) for v in value):  # ports, placement preferences
            return "; ".join(_value("", v) for v in value)
        return " ".join(str(v) for v in value)
    return str(value)


def _file_ref(ref: Mapping[str, Any], name_key: str) -> str:
    """A secret or config a task gets: ``NAME -> TARGET (mode 0400) uid 0 gid 0``."""
    return (
        f"{ref.get(name_key, '')} -> {ref.get('target') or ref.get(name_key, '')} "
        f"(mode {int(ref.get('mode', 0)):04o}) uid {ref.get('uid', 0)} gid {ref.get('gid', 0)}"
    )


def _port(port: Mapping[str, Any]) -> str:
    """``8080 -> 80/tcp (host)``, the name first when it has one."""
    published = port.get("published_port") or "(picked per task)"
    named = f"{port['name']}: " if port.get("name") else ""
    return (
        f"{named}{published} -> {port.get('target_port')}/{port.get('protocol')} "
        f"({port.get('publish_mode')})"
    )


def _mount(mount: Mapping[str, Any]) -> str:
    """``volume data -> /data (readonly) driver local type=tmpfs nocopy labels a=b``."""
    source = f"{mount['source']} -> " if mount.get("source") else ""
    readonly = " (readonly)" if mount.get("readonly") else ""
    return f"{mount.get('type')} {source}{mount.get('target')}{readonly}" + _volume_options(
        mount.get("volume_options")
    )


def _volume_options(options: Any) -> str:
    if not isinstance(options, Mapping):
        return ""
    words = []
    driver = options.get("driver")
    if isinstance(driver, Mapping):
        words.append(f"driver {driver.get('name') or 'local'}")
        words.extend(f"{k}={v}" for k, v in (driver.get("options") or {}).items())
    if options.get("nocopy"):
        words.append("nocopy")
    if options.get("labels"):
        words.append("labels " + ",".join(f"{k}={v}" for k, v in options["labels"].items()))
    return "".join(f" {word}" for word in words)


def _is_section(key: str, value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and bool(value)
        and not key.endswith(_MAPS)
        and key != "log_driver"  # one line, as its flags give it
    )


def spec_lines(spec: Mapping[str, Any], depth: int = 0) -> list[tuple[str, str]]:
    """(indented label, value) for every field of an encoded spec, in field order; a
    nested part is a section header ``(label, "")`` followed by its fields."""
    lines: list[tuple[str, str]] = []
    pad = " " * depth
    for key, value in spec.items():
        if key == "mode" and isinstance(value, Mapping) and len(value) == 1:
            ((tag, body),) = value.items()
            lines.append((f"{pad}Mode", str(tag)))
            lines += spec_lines(body, depth + 1) if isinstance(body, Mapping) else []
        elif _is_section(key, value):
            lines.append((f"{pad}{_label(key)}", ""))
            lines += spec_lines(value, depth + 1)
        else:
            lines.append((f"{pad}{_label(key)}", _value(key, value)))
    return lines


def describe(service: Mapping[str, Any], summary: Mapping[str, Any]) -> str:
    """The service for people: identity, state, then every field of its spec."""
    lines: list[tuple[str, str]] = [
        ("ID", str(service["id"])),
        ("Spec Version", str(service.get("spec_version", ""))),
        ("Replicas", f"{summary['replicas_running']} running of {summary['replicas_desired']}"),
    ]
    lines += update_status_rows(service.get("update_status"))
    if summary.get("networks"):  # the spec names them by id
        lines.append(("Networks", ", ".join(summary["networks"])))
    if service.get("pending_delete"):
        lines.append(("Removal", "in progress"))
    lines += spec_lines(service["spec"])
    width = max(len(label) for label, _ in lines) + 1
    return "\n".join(
        f"{label}:" if not value else f"{label + ':':<{width}}  {value}" for label, value in lines
    )
