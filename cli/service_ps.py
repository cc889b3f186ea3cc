"""``swarmctl service ps SERVICE...`` and the task table ``task ls`` shares.

Rows come from the manager in ``docker service ps`` order: per slot (global: per node),
the task meant to run first, then the slot's history, newest first, whatever node each
ran on. The table shows older tasks of a slot as ``\\_ name``. Filters (``--filter
KEY=VALUE``, repeatable; several values of one key match any): ``desired-state``
(running, shutdown, ...), ``node`` (hostname or node id prefix), ``name`` (task name
prefix, ``web.1``). Ids are cut to 12 characters unless ``--no-trunc``; the ERROR
column, why a task failed or waits (api/explain.py, bounded there), is never cut: it is
the reason a user runs ``ps``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from api.explain import task_reason, update_reason
from api.task_state import TaskState, parse_task_state
from cli.connection import ControlConnection
from cli.errors import CliError
from cli.output import render_table, write_json, write_text

__all__ = [
    "FILTER_KEYS",
    "add_ps_arguments",
    "ago",
    "human_duration",
    "in_listing_order",
    "run_ps",
    "task_table",
    "write_tasks",
]

FILTER_KEYS = ("desired-state", "node", "name")
SHORT_ID = 12


def add_ps_arguments(ps: argparse.ArgumentParser) -> None:
    ps.add_argument("services", nargs="+", metavar="SERVICE", help="services to list tasks of")
    ps.add_argument(
        "-f",
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"only tasks matching: {', '.join(FILTER_KEYS)} (repeatable)",
    )
    ps.add_argument(
        "--desired-state",
        default=None,
        metavar="STATE",
        help="only tasks with this desired state (as --filter desired-state=STATE)",
    )
    ps.add_argument("-q", "--quiet", action="store_true", help="only task ids")
    ps.add_argument("--no-trunc", action="store_true", help="do not truncate ids")
    ps.set_defaults(run=run_ps)


def _filters(args: argparse.Namespace) -> dict[str, list[str]]:
    wanted: dict[str, list[str]] = {}
    for item in args.filter:
        key, sep, value = item.partition("=")
        if not sep or key not in FILTER_KEYS or not value:
            raise CliError(
                f"invalid filter {item!r}: expected KEY=VALUE with KEY one of "
                f"{', '.join(FILTER_KEYS)}"
            )
        wanted.setdefault(key, []).append(value)
    if args.desired_state:
        wanted.setdefault("desired-state", []).append(args.desired_state)
    for i, state in enumerate(wanted.get("desired-state", [])):
        try:
            wanted["desired-state"][i] = parse_task_state(state).label
        except ValueError as exc:
            raise CliError(f"invalid filter desired-state={state}: {exc}") from None
    return wanted


def _matches(row: Mapping[str, Any], wanted: Mapping[str, list[str]]) -> bool:
    if "desired-state" in wanted and row["desired_state"] not in wanted["desired-state"]:
        return False
    if "node" in wanted and not any(
        v == row["node"] or (row["node_id"] and row["node_id"].startswith(v))
        for v in wanted["node"]
    ):
        return False
    return "name" not in wanted or any(row["name"].startswith(v) for v in wanted["name"])


def run_ps(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    wanted = _filters(args)
    rows: list[dict[str, Any]] = []
    stopped: list[str] = []  # why an update no longer replaces tasks, per service
    refused: list[str] = []  # services not found: named after the others' tasks, as Docker
    found = 0
    with connection:
        for ref in dict.fromkeys(args.services):
            try:
                reply = connection.listing("control.service.ps", {"service": ref})
            except CliError as exc:
                refused.append(str(exc))
                continue
            found += 1
            rows += reply["tasks"]
            reason = update_reason(reply["service"].get("update_status"))
            if reason:
                stopped.append(reason)
    if found or not refused:
        write_tasks(args, [r for r in rows if _matches(r, wanted)])
    if args.format != "json" and not args.quiet:
        for reason in stopped:
            write_text(reason)
    if refused:
        raise CliError("\n".join(refused))  # one line each, as docker
    return 0


def write_tasks(args: argparse.Namespace, rows: Sequence[Mapping[str, Any]]) -> None:
    """A ``ps`` verb's rows (``service ps``, ``node ps``): as JSON with ``--format json``,
    their ids with ``-q``, else the table; ids cut unless ``--no-trunc``."""
    if args.format == "json":
        write_json(list(rows))
    elif args.quiet:
        width = None if args.no_trunc else SHORT_ID
        write_text("\n".join(r["id"][:width] for r in rows))
    else:
        write_text(task_table(rows, no_trunc=args.no_trunc))


def in_listing_order(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The rows of several listings (``node ps`` of two nodes), each task once, in the
    order one listing has (actors/control/views.py task_order), so the table groups a
    slot's tasks wherever they ran: by service, slot (global: node), the slot's current
    task first, then its history, newest first."""

    def order(row: Mapping[str, Any]) -> tuple[str, int, str, bool, float]:
        current = parse_task_state(row["desired_state"]) <= TaskState.RUNNING
        where = "" if row["slot"] else row["node_id"]
        return (row["service_name"], row["slot"], where, not current, -row["created_at"])

    return sorted({row["id"]: row for row in rows}.values(), key=order)


def ago(timestamp: float, now: float | None = None) -> str:
    """How long ago, in the Docker CLI's words (go-units ``HumanDuration``, as ``docker
    service ps`` lower-cases it): ``less than a second ago``, ``1 second ago``, ``about a
    minute ago``, ``3 hours ago``, ``2 days ago``..."""
    if not timestamp:
        return ""
    return f"{human_duration(max(0.0, (now if now is not None else time.time()) - timestamp))} ago"


def human_duration(seconds: float) -> str:
    whole = int(seconds)
    if whole < 1:
        return "less than a second"
    if whole == 1:
        return "1 second"
    if whole < 60:
        return f"{whole} seconds"
    minutes = whole // 60
    if minutes == 1:
        return "about a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "about an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // (24 * 7)} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // (24 * 30)} months"
    return f"{int(seconds / (3600 * 24 * 365))} years"


def _task_port(port: Mapping[str, Any]) -> str:
    """``*:8080->80/tcp``, as ``docker service ps`` shows a host-mode port."""
    return f"*:{port['published_port']}->{port['target_port']}/{port['protocol']}"


def task_table(rows: Sequence[Mapping[str, Any]], *, no_trunc: bool = False) -> str:
    """``docker service ps``'s table; older tasks of a slot as ``\\_ name``."""
    width = None if no_trunc else SHORT_ID
    seen: set[tuple[str, int, str]] = set()
    out = []
    for r in rows:
        key = (r["service_id"], r["slot"], "" if r["slot"] else r["node_id"])
        name = r["name"] if key not in seen else f" \\_ {r['name']}"
        seen.add(key)
        current = f"{r['state'].capitalize()} {ago(r['timestamp'])}".strip()
        out.append(
            (
                r["id"][:width],
                name,
                r["image"],
                r["node"] or r["node_id"][:width],
                r["desired_state"].capitalize(),
                current,
                task_reason(r),  # why it failed or waits (api/explain.py), in full
                ",".join(_task_port(p) for p in r.get("ports", ())),
            )
        )
    headers = ("ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR", "PORTS")
    return render_table(headers, out)
