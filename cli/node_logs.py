"""``swarmctl node logs NODE``: a node's own structured log events, read from any manager
through the leader's log broker (the node's publisher sends them from its event ring).

The default view is one readable line per event: time, level, subsystem, event name, then
the event's other keys as ``key=value``; ``--format json`` writes each event as one JSON
object per line, for tools. ``-f`` follows, ``--since`` and ``--tail`` bound what is held
already, ``--level`` keeps events at that level or above, ``--subsystem`` (repeatable) only
those subsystems'.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any, Final

from cli.connection import ControlConnection
from cli.logs import follow_logs, since_option, tail_option

__all__ = ["add_node_logs", "render_event"]

LEVELS: Final = ("debug", "info", "warning", "error", "critical")
_HEAD: Final = ("timestamp", "level", "subsystem", "event", "node_id")


def add_node_logs(verbs: Any, common: argparse.ArgumentParser) -> None:
    logs = verbs.add_parser("logs", parents=[common], help="stream a node's structured log events")
    logs.add_argument("-f", "--follow", action="store_true", help="follow new events")
    logs.add_argument(
        "--since",
        default=None,
        metavar="TIME",
        help="events since a time (2013-01-02T13:23:37Z, a Unix time) or a duration back (42m)",
    )
    logs.add_argument(
        "--tail", type=tail_option, default=-1, metavar="N", help="the last N events (default: all)"
    )
    logs.add_argument(
        "--level",
        choices=LEVELS,
        default=None,
        help="events at this level or above (a node keeps them from its --log-level up)",
    )
    logs.add_argument(
        "--subsystem",
        action="append",
        default=[],
        metavar="NAME",
        help="only this subsystem's events (repeatable): raft, dispatcher, worker, ...",
    )
    logs.add_argument("node", metavar="NODE", help="the node (hostname, id or prefix)")
    logs.set_defaults(run=run_node_logs)


def _value(value: Any) -> str:
    if isinstance(value, str) and value and not any(c.isspace() or c in '"=' for c in value):
        return value
    return json.dumps(value, default=str)


def render_event(event: Mapping[str, Any]) -> str:
    """``TIME LEVEL SUBSYSTEM EVENT key=value ...``: one line."""
    head = (
        f"{event.get('timestamp', '-')} {str(event.get('level', '-')).upper():<8} "
        f"{event.get('subsystem', '-')!s:<12} {event.get('event', '-')}"
    )
    rest = " ".join(f"{key}={_value(value)}" for key, value in event.items() if key not in _HEAD)
    return f"{head} {rest}".rstrip() + "\n"


def run_node_logs(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    options: dict[str, Any] = {
        "follow": bool(args.follow),
        "tail": int(args.tail),
        "since": since_option(args.since),
    }
    if args.level:
        options["min_level"] = args.level
    if args.subsystem:
        options["subsystems"] = list(dict.fromkeys(args.subsystem))
    out = sys.stdout.buffer
    as_json = args.format == "json"

    def write(record: Mapping[str, Any], _context: Mapping[str, Any] | None) -> None:
        data = bytes(record["data"])
        if as_json:
            out.write(data.rstrip(b"\n") + b"\n")
        else:
            try:
                event = json.loads(data)
            except ValueError:
                event = {"event": data.decode("utf-8", "replace")}
            out.write(render_event(event).encode())
        out.flush()

    return follow_logs(connection, {"node": args.node}, options, write)
