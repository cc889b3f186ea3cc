"""``swarmctl cluster inspect [NAME]`` (the cluster is "default" unless named)."""

from __future__ import annotations

import argparse
from typing import Any

from actors.control.units import format_duration
from cli.connection import ControlConnection
from cli.errors import CliError
from cli.output import write_json, write_text
from cli.unlock import add_unlock_key_verb, autolock_argument, show_unlock_key

__all__ = ["register"]


def register(groups: Any, common: argparse.ArgumentParser) -> None:
    parser = groups.add_parser("cluster", parents=[common], help="inspect the cluster")
    verbs = parser.add_subparsers(title="commands", dest="verb", metavar="COMMAND", required=True)
    inspect = verbs.add_parser("inspect", parents=[common], help="show the cluster's settings")
    inspect.add_argument("cluster", nargs="?", default=None, metavar="NAME")
    inspect.set_defaults(run=run_inspect)
    update = verbs.add_parser("update", parents=[common], help="change the cluster's settings")
    autolock_argument(update)
    update.set_defaults(run=run_update)
    add_unlock_key_verb(verbs, common)


def run_inspect(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    body = {"cluster": args.cluster} if args.cluster else {}
    with connection:
        cluster = connection.request("control.cluster.inspect", body)["cluster"]
    if args.format == "json":
        write_json(cluster)
        return 0
    spec = cluster["spec"]
    tokens = cluster.get("join_tokens") or {}
    lines = [
        f"ID          : {cluster['id']}",
        f"Name        : {spec['name']}",
        "Orchestration settings:",
        f"  Task history entries: {spec['orchestration']['task_history_retention_limit']}",
        "Dispatcher settings:",
        "  Dispatcher heartbeat period: " + format_duration(spec["dispatcher"]["heartbeat_period"]),
        "Certificate Authority settings:",
        "  Certificate Validity Duration: "
        + format_duration(spec["ca_config"]["node_cert_expiry"]),
        "  Join Tokens:",
        f"    Worker: {tokens.get('worker', '')}",
        f"    Manager: {tokens.get('manager', '')}",
    ]
    write_text("\n".join(lines))
    return 0


def run_update(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    body: dict[str, Any] = {}
    if args.autolock is not None:
        body["autolock"] = args.autolock
    if not body:
        raise CliError("cluster update: give at least one setting to change")
    with connection:
        reply = connection.request("control.cluster.update", body)
    if args.format == "json":
        write_json(reply["cluster"])
    elif reply.get("unlock_key"):
        write_text(show_unlock_key(reply["unlock_key"]))
    return 0
