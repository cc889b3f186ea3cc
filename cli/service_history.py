"""``swarmctl service history SERVICE`` and ``service rollback SERVICE [--to-version V]``
(also ``service update --rollback SERVICE``).

History lists the specs the cluster keeps of a service (``cluster update
--service-history-limit``, default 10), oldest first: version, when it became the spec,
how (create, update, scale, rollback...) and what changed from the one before. A rollback
goes back to the previous spec, or to any kept version; the manager replaces the tasks
paced by the rollback config (``--rollback-*``) and monitors them. Without ``--detach``
it waits until the service converged at the rolled-back spec, and fails (exit 1) saying
why when the rollback pauses.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cli.argtypes import COUNT
from cli.connection import ControlConnection
from cli.output import render_table, write_json, write_text
from cli.service_flags import add_wait_flags
from cli.service_ps import ago
from cli.service_wait import finished_before, wait_for_change

__all__ = ["add_history_arguments", "add_rollback_arguments", "rollback", "run_history"]


def add_history_arguments(history: argparse.ArgumentParser) -> None:
    history.add_argument("service", metavar="SERVICE", help="the service (name, id or prefix)")
    history.add_argument("--no-trunc", action="store_true", help="show every change in full")
    history.set_defaults(run=run_history)


def add_rollback_arguments(rollback_: argparse.ArgumentParser) -> None:
    rollback_.add_argument("service", metavar="SERVICE", help="the service (name, id or prefix)")
    rollback_.add_argument(
        "--to-version",
        type=COUNT,
        default=None,
        metavar="V",
        help="go back to version V of 'service history' (default: the previous spec)",
    )
    add_wait_flags(rollback_)


def run_history(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    with connection:
        reply = connection.request("control.service.history", {"service": args.service})
    rows = reply["history"]
    if args.format == "json":
        write_json(rows)
        return 0
    table = []
    for row in rows:
        changes = row["changes"] or ["-"]
        if not args.no_trunc and len(changes) > 3:
            changes = [*changes[:3], f"... {len(changes) - 3} more (--no-trunc)"]
        version = f"{row['version']}{' (current)' if row['current'] else ''}"
        table.append((version, ago(row["at"]), row["origin"] or "-", changes[0]))
        table += [("", "", "", change) for change in changes[1:]]
    write_text(render_table(("VERSION", "UPDATED", "ORIGIN", "CHANGES"), table))
    return 0


def rollback(
    args: argparse.Namespace,
    connection: ControlConnection,
    service: str,
    to_version: int | None,
) -> int:
    body: dict[str, Any] = {"service": service}
    if to_version is not None:
        body["to_version"] = to_version
    with connection:
        baseline = finished_before(args, connection, service)
        reply = connection.request("control.service.rollback", body)
        if args.format != "json":  # the id first, then the wait (docker service rollback)
            write_text(reply["id"])
            sys.stdout.flush()
        wait_for_change(args, connection, reply, baseline, rollback=True)
        if args.format == "json":  # one document: the summary after the wait
            write_json(
                connection.request("control.service.inspect", {"service": reply["id"]})["summary"]
            )
    return 0
