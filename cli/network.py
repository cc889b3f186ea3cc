"""``swarmctl network create|ls|inspect|rm``, with ``docker network``'s flags.

A network is one bridge on each node's engine, made when the first task attached to it
lands there and removed when the last one leaves; tasks on one node reach each other by
service name on it. There are no cross-node (overlay) networks: tasks on different nodes
reach each other only through published ports.
"""

from __future__ import annotations

import argparse
from typing import Any

from cli.argtypes import KEY_VALUE
from cli.connection import ControlConnection
from cli.output import render_table, write_json, write_text
from cli.remove_each import remove_each

__all__ = ["register"]


def register(groups: Any, common: argparse.ArgumentParser) -> None:
    parser = groups.add_parser(
        "network", parents=[common], help="create, list, inspect and remove networks"
    )
    verbs = parser.add_subparsers(title="commands", dest="verb", metavar="COMMAND", required=True)

    create = verbs.add_parser("create", parents=[common], help="create a network")
    create.add_argument(
        "-d",
        "--driver",
        default="bridge",
        choices=("bridge",),
        help="bridge: one bridge per node (cross-node overlay networks are not built)",
    )
    create.add_argument(
        "--internal", action="store_true", help="no route out of the node from the network"
    )
    create.add_argument(
        "--label",
        action="append",
        type=KEY_VALUE,
        default=[],
        metavar="KEY=VALUE",
        help="a label (repeatable)",
    )
    create.add_argument("name", metavar="NAME", help="the network's name")
    create.set_defaults(run=run_create)

    ls = verbs.add_parser("ls", parents=[common], help="list networks")
    ls.add_argument("-q", "--quiet", action="store_true", help="only ids")
    ls.set_defaults(run=run_ls)

    inspect = verbs.add_parser("inspect", parents=[common], help="show a network in detail")
    inspect.add_argument(
        "networks", nargs="+", metavar="NETWORK", help="the networks (names, ids or prefixes)"
    )
    inspect.set_defaults(run=run_inspect)

    rm = verbs.add_parser("rm", parents=[common], help="remove networks no service uses")
    rm.add_argument(
        "networks", nargs="+", metavar="NETWORK", help="the networks (names, ids or prefixes)"
    )
    rm.set_defaults(run=run_rm)


def run_create(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    spec = {
        "name": args.name,
        "labels": dict(args.label),
        "driver": args.driver,
        "internal": bool(args.internal),
    }
    with connection:
        reply = connection.request("control.network.create", {"spec": spec})
    if args.format == "json":
        write_json(reply["network"])
    else:
        write_text(reply["id"])
    return 0


def run_ls(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    with connection:
        rows = connection.request("control.network.ls")["networks"]
    if args.format == "json":
        write_json(rows)
    elif args.quiet:
        write_text("\n".join(r["id"] for r in rows))
    else:
        table = [
            (r["id"][:12], r["name"], r["driver"], r["scope"], "yes" if r["internal"] else "no")
            for r in rows
        ]
        write_text(render_table(("NETWORK ID", "NAME", "DRIVER", "SCOPE", "INTERNAL"), table))
    return 0


def run_inspect(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    with connection:
        replies = [
            connection.request("control.network.inspect", {"network": network})
            for network in args.networks
        ]
    if args.format == "json":
        write_json([reply["network"] for reply in replies])
    else:
        write_text("\n\n".join(_inspect_text(reply["summary"]) for reply in replies))
    return 0


def _inspect_text(row: dict[str, Any]) -> str:
    lines = [
        ("ID", row["id"]),
        ("Name", row["name"]),
        ("Driver", f"{row['driver']} (one bridge per node)"),
        ("Internal", "yes" if row["internal"] else "no"),
        ("Labels", ", ".join(f"{k}={v}" for k, v in row["labels"].items()) or "-"),
        ("Used by", ", ".join(row["used_by"]) or "-"),
    ]
    width = max(len(k) for k, _ in lines)
    return "\n".join(f"{k:<{width}} : {v}" for k, v in lines)


def run_rm(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    """Each network on its own (remove_each.py): one in use keeps none of the others."""
    with connection:
        removal = remove_each(
            args.networks,
            lambda ref: connection.request("control.network.rm", {"networks": [ref]}),
            echo=None if args.format == "json" else lambda ref, _reply: ref,
        )
    if args.format == "json":
        write_json([nid for reply in removal.removed for nid in reply["removed"]])
    return removal.finish()
