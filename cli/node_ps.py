"""``swarmctl node ps [NODE...]``: the tasks on nodes, as ``docker node ps`` lists them.

Without a node, the node whose control socket this is (``self``, as Docker's). One task
listing per node (``control.task.ls`` by node, with the ``--filter`` words the manager
applies: api/list_filters.py), shown in one table as ``service ps`` shows its tasks. A
node that cannot be listed (unknown, ambiguous) does not stop the others: their tasks are
shown, then the refusals, with a non-zero exit, as Docker does.
"""

from __future__ import annotations

import argparse
from typing import Any, Final

from api.list_filters import TASK_FILTER_KEYS
from cli.argtypes import TASK_FILTER
from cli.connection import ControlConnection
from cli.errors import CliError
from cli.service_ps import in_listing_order, write_tasks

__all__ = ["SELF", "add_node_ps"]

SELF: Final = "self"  # the node the control socket belongs to


def add_node_ps(verbs: Any, common: argparse.ArgumentParser) -> None:
    ps = verbs.add_parser(
        "ps", parents=[common], help="list the tasks on nodes (default: this node)"
    )
    ps.add_argument(
        "-f",
        "--filter",
        action="append",
        type=TASK_FILTER,
        default=[],
        metavar="KEY=VALUE",
        help=f"only tasks matching: {', '.join(TASK_FILTER_KEYS)} (repeatable)",
    )
    ps.add_argument("-q", "--quiet", action="store_true", help="only task ids")
    ps.add_argument("--no-trunc", action="store_true", help="do not truncate ids")
    ps.add_argument(
        "nodes",
        nargs="*",
        metavar="NODE",
        help=f"the nodes (hostnames, ids, prefixes, or {SELF}: this node; the default)",
    )
    ps.set_defaults(run=run_node_ps)


def run_node_ps(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    refs = list(dict.fromkeys(args.nodes or [SELF]))
    body: dict[str, Any] = {"filters": list(args.filter)} if args.filter else {}
    rows: list[dict[str, Any]] = []
    refused: list[str] = []
    with connection:
        own = connection.request("version")["node_id"] if SELF in refs else ""
        for ref in refs:
            node = own if ref == SELF else ref
            try:
                rows += connection.listing("control.task.ls", {**body, "node": node})["tasks"]
            except CliError as exc:
                refused.append(str(exc))
    if rows or not refused:
        write_tasks(args, in_listing_order(rows))
    if refused:
        raise CliError("\n".join(refused))  # one line each, as docker
    return 0
