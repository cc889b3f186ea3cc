"""``swarmctl node ls|inspect|update|drain|pause|activate|promote|demote|rm|logs``."""

from __future__ import annotations

import argparse
from typing import Any

from api.units import parse_key_value
from cli.connection import ControlConnection
from cli.errors import CliError
from cli.node_logs import add_node_logs
from cli.output import render_table, write_json, write_text

__all__ = ["register"]


def _label(text: str) -> tuple[str, str]:
    try:
        return parse_key_value(text, "label")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(groups: Any, common: argparse.ArgumentParser) -> None:
    parser = groups.add_parser(
        "node",
        parents=[common],
        help="list, inspect, update, remove, promote, demote, drain, pause, activate nodes",
    )
    verbs = parser.add_subparsers(title="commands", dest="verb", metavar="COMMAND", required=True)

    ls = verbs.add_parser("ls", parents=[common], help="list nodes")
    ls.add_argument("-q", "--quiet", action="store_true", help="only ids")
    ls.set_defaults(run=run_ls)

    add_node_logs(verbs, common)

    inspect = verbs.add_parser("inspect", parents=[common], help="show a node in detail")
    inspect.add_argument("node", metavar="NODE", help="the node (hostname, id or prefix)")
    inspect.set_defaults(run=run_inspect)

    update = verbs.add_parser("update", parents=[common], help="change availability and labels")
    update.add_argument(
        "--availability",
        choices=("active", "pause", "drain"),
        default=None,
        help="active: takes tasks; pause: keeps its tasks, takes none; drain: moves them away",
    )
    update.add_argument(
        "--label-add",
        action="append",
        type=_label,
        default=[],
        metavar="K=V",
        help="add or change a node label (repeatable)",
    )
    update.add_argument(
        "--label-rm", action="append", default=[], metavar="KEY", help="remove a node label"
    )
    update.add_argument(
        "--role", choices=("manager", "worker"), default=None, help="promote or demote the node"
    )
    update.add_argument("node", metavar="NODE", help="the node (hostname, id or prefix)")
    update.set_defaults(run=run_update)

    for verb, availability, summary in (
        ("drain", "drain", "move the node's tasks away and schedule nothing on it"),
        ("pause", "pause", "schedule nothing new on the node"),
        ("activate", "active", "let the node take tasks again"),
    ):
        short = verbs.add_parser(verb, parents=[common], help=summary)
        short.add_argument("node", metavar="NODE", help="the node (hostname, id or prefix)")
        short.set_defaults(
            run=run_update, availability=availability, label_add=[], label_rm=[], role=None
        )
    for verb, role, summary in (
        ("promote", "manager", "make the node a manager (a Raft member)"),
        ("demote", "worker", "make the manager a worker (taken out of Raft safely)"),
    ):
        short = verbs.add_parser(verb, parents=[common], help=summary)
        short.add_argument("node", metavar="NODE", help="the node (hostname, id or prefix)")
        short.set_defaults(run=run_update, availability=None, label_add=[], label_rm=[], role=role)

    rm = verbs.add_parser("rm", parents=[common], help="remove a down node; revoke it")
    rm.add_argument("-f", "--force", action="store_true", help="remove a node that is not down")
    rm.add_argument("node", metavar="NODE", help="the node (hostname, id or prefix)")
    rm.set_defaults(run=run_rm)


def manager_status(row: dict[str, Any]) -> str:
    ms = row["manager_status"]
    if ms is None:
        return ""
    return "Leader" if ms["leader"] else str(ms["reachability"]).capitalize()


def run_ls(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    with connection:
        nodes = connection.request("control.node.ls")["nodes"]
    if args.format == "json":
        write_json(nodes)
    elif args.quiet:
        write_text("\n".join(n["id"] for n in nodes))
    else:
        rows = [
            (
                n["id"],
                n["hostname"],
                n["status"].capitalize(),
                n["availability"].capitalize(),
                manager_status(n),
            )
            for n in nodes
        ]
        headers = ("ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS")
        write_text(render_table(headers, rows))
    return 0


def run_inspect(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    with connection:
        reply = connection.request("control.node.inspect", {"node": args.node})
    if args.format == "json":
        write_json([reply["node"]])
        return 0
    row = reply["summary"]
    lines = [
        ("ID", row["id"]),
        ("Hostname", row["hostname"]),
        ("Role", row["role"]),
        ("Status", f"{row['status']} {row['message']}".strip()),
        ("Availability", row["availability"]),
        ("Address", row["address"]),
        ("Manager Status", manager_status(row) or "-"),
        ("Labels", ", ".join(f"{k}={v}" for k, v in row["labels"].items()) or "-"),
    ]
    if row["engine_version"]:
        lines.append(("Engine Version", row["engine_version"]))
    width = max(len(k) for k, _ in lines)
    write_text("\n".join(f"{k:<{width}} : {v}" for k, v in lines))
    return 0


def run_update(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    body: dict[str, Any] = {"node": args.node}
    if args.availability is not None:
        body["availability"] = args.availability
    if args.label_add:
        body["label_add"] = dict(args.label_add)
    if args.label_rm:
        body["label_rm"] = list(args.label_rm)
    if args.role is not None:
        body["role"] = args.role
    if len(body) == 1:
        raise CliError("nothing to update: give --availability, --role, --label-add or --label-rm")
    with connection:
        reply = connection.request("control.node.update", body)
    if args.format == "json":
        write_json(reply["node"])
    else:
        write_text(reply["id"])
    return 0


def run_rm(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    with connection:
        reply = connection.request("control.node.rm", {"node": args.node, "force": args.force})
    if args.format == "json":
        write_json(reply)
    else:
        write_text(reply["id"])
    return 0
