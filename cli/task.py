"""``swarmctl task ls|inspect|logs``."""

from __future__ import annotations

import argparse
from typing import Any

from api.explain import task_reason
from cli.connection import ControlConnection
from cli.logs import add_log_flags, run_task_logs
from cli.output import write_json, write_text
from cli.service_ps import task_table

__all__ = ["register"]


def register(groups: Any, common: argparse.ArgumentParser) -> None:
    parser = groups.add_parser("task", parents=[common], help="list and inspect tasks")
    verbs = parser.add_subparsers(title="commands", dest="verb", metavar="COMMAND", required=True)

    ls = verbs.add_parser("ls", parents=[common], help="list tasks")
    ls.add_argument(
        "--service", default=None, metavar="SERVICE", help="only the tasks of this service"
    )
    ls.add_argument("--node", default=None, metavar="NODE", help="only the tasks on this node")
    ls.add_argument(
        "--desired-state",
        default=None,
        metavar="STATE",
        help="only tasks with this desired state (running, shutdown, ...)",
    )
    ls.set_defaults(run=run_ls)

    logs = verbs.add_parser("logs", parents=[common], help="fetch the logs of a task")
    add_log_flags(logs)
    logs.add_argument("task", metavar="TASK", help="the task (id or prefix)")
    logs.set_defaults(run=run_task_logs)

    inspect = verbs.add_parser("inspect", parents=[common], help="show a task in detail")
    inspect.add_argument("task", metavar="TASK", help="the task (id or prefix)")
    inspect.set_defaults(run=run_inspect)


def run_ls(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    body = {
        key: value
        for key, value in (
            ("service", args.service),
            ("node", args.node),
            ("desired_state", args.desired_state),
        )
        if value
    }
    with connection:
        rows = connection.listing("control.task.ls", body)["tasks"]
    if args.format == "json":
        write_json(rows)
    else:
        write_text(task_table(rows))
    return 0


def run_inspect(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    with connection:
        reply = connection.request("control.task.inspect", {"task": args.task})
    if args.format == "json":
        write_json([reply["task"]])
        return 0
    row = reply["summary"]
    lines = [
        ("ID", row["id"]),
        ("Service", f"{row['service_name']} ({row['service_id']})"),
        ("Slot", str(row["slot"]) if row["slot"] else "-"),
        ("Node", f"{row['node']} ({row['node_id']})" if row["node_id"] else "-"),
        ("Image", row["image"]),
        ("Desired State", row["desired_state"]),
        ("State", row["state"]),
        ("Message", row["message"] or "-"),
        ("Error", row["error"] or "-"),
        ("Reason", task_reason(row) or "-"),  # why it failed or waits (api/explain.py)
        ("Exit Code", "-" if row["exit_code"] is None else str(row["exit_code"])),
        ("Container", row["container_id"] or "-"),
    ]
    width = max(len(k) for k, _ in lines)
    write_text("\n".join(f"{k:<{width}} : {v}" for k, v in lines))
    return 0
