"""``swarmctl cluster inspect [NAME]``, ``cluster join-token worker|manager [-q] [--rotate]``
and ``cluster update [--heartbeat-period D] [--task-history-limit N]
[--service-history-limit N] [--snapshot-interval N] [--cert-expiry D]
[--autolock=true|false] [--allow-bind-mounts[=true|false]]``, ``cluster unlock-key
[-q] [--rotate]`` (cli/unlock.py), ``cluster engine-cert DIR`` (cli/engine_cert.py),
``cluster leave [-f]`` (cli/leave.py) and ``cluster ca`` (cli/cluster_ca.py); the cluster is
"default" unless named."""

from __future__ import annotations

import argparse
from typing import Any

from api.units import format_duration
from cli.argtypes import BOOLEAN, COUNT, DURATION
from cli.cluster_ca import add_ca_verb
from cli.connection import ControlConnection
from cli.engine_cert import add_engine_cert_verb
from cli.errors import CliError
from cli.leave import add_leave_verb
from cli.output import write_json, write_text
from cli.unlock import add_unlock_key_verb, autolock_argument, show_unlock_key

__all__ = ["register"]


def register(groups: Any, common: argparse.ArgumentParser) -> None:
    parser = groups.add_parser(
        "cluster",
        parents=[common],
        help="inspect and update the cluster; join tokens; leave it",
    )
    verbs = parser.add_subparsers(title="commands", dest="verb", metavar="COMMAND", required=True)
    inspect = verbs.add_parser("inspect", parents=[common], help="show the cluster's settings")
    inspect.add_argument(
        "cluster", nargs="?", default=None, metavar="NAME", help="the cluster (default: default)"
    )
    inspect.set_defaults(run=run_inspect)

    token = verbs.add_parser(
        "join-token", parents=[common], help="show (or rotate) the token to join as ROLE"
    )
    token.add_argument(
        "role",
        choices=("worker", "manager"),
        metavar="worker|manager",
        help="the role the token joins nodes as",
    )
    token.add_argument("-q", "--quiet", action="store_true", help="only the token")
    token.add_argument(
        "--rotate", action="store_true", help="replace the token (joined nodes are not affected)"
    )
    token.set_defaults(run=run_join_token)

    update = verbs.add_parser("update", parents=[common], help="change the cluster's settings")
    update.add_argument(
        "--heartbeat-period",
        type=DURATION,
        default=None,
        metavar="DURATION",
        help="how often nodes report to the dispatcher (a node is down after 3 missed)",
    )
    update.add_argument(
        "--task-history-limit",
        type=COUNT,
        default=None,
        metavar="N",
        help="tasks kept per slot, the current one included (default 5)",
    )
    update.add_argument(
        "--service-history-limit",
        type=COUNT,
        default=None,
        metavar="N",
        help="specs kept per service for 'service history' and 'service rollback "
        "--to-version', the current one included (default 10)",
    )
    update.add_argument(
        "--snapshot-interval",
        type=COUNT,
        default=None,
        metavar="N",
        help="Raft log entries between snapshots (default 10000)",
    )
    update.add_argument(
        "--cert-expiry",
        type=DURATION,
        default=None,
        metavar="DURATION",
        help="validity of node certificates (default 90 days, at least 1h)",
    )
    autolock_argument(update)
    update.add_argument(
        "--allow-bind-mounts",
        type=BOOLEAN,
        nargs="?",
        const=True,
        default=None,
        metavar="true|false",
        help="let services bind-mount host paths (--mount type=bind): that gives a service "
        "the host's files (default: refused)",
    )
    update.set_defaults(run=run_update)
    add_unlock_key_verb(verbs, common)
    add_engine_cert_verb(verbs, common)
    add_leave_verb(verbs, common)
    add_ca_verb(verbs, common)


def run_inspect(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    body = {"cluster": args.cluster} if args.cluster else {}
    with connection:
        cluster = connection.request("control.cluster.inspect", body)["cluster"]
    if args.format == "json":
        write_json(cluster)
        return 0
    write_text(_describe(cluster))
    return 0


def _describe(cluster: dict[str, Any]) -> str:
    spec = cluster["spec"]
    tokens = cluster.get("join_tokens") or {}
    lines = [
        f"ID          : {cluster['id']}",
        f"Name        : {spec['name']}",
        "Orchestration settings:",
        f"  Task history entries: {spec['orchestration']['task_history_retention_limit']}",
        "  Service history entries: " + str(spec["orchestration"].get("service_history_limit", "")),
        "Raft settings:",
        f"  Snapshot interval: {spec['raft']['snapshot_interval']}",
        "Dispatcher settings:",
        "  Dispatcher heartbeat period: " + format_duration(spec["dispatcher"]["heartbeat_period"]),
        "Certificate Authority settings:",
        "  Certificate Validity Duration: "
        + format_duration(spec["ca_config"]["node_cert_expiry"]),
        "  Root rotation in progress: "
        + ("yes" if (cluster.get("root_ca") or {}).get("root_rotation") else "no"),
        "  Join Tokens:",
        f"    Worker: {tokens.get('worker', '')}",
        f"    Manager: {tokens.get('manager', '')}",
        "Task settings:",
        f"  Bind mounts allowed: {'yes' if spec.get('allow_bind_mounts') else 'no'}",
    ]
    return "\n".join(lines)


def run_join_token(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    body: dict[str, Any] = {"role": args.role}
    if args.rotate:
        body["rotate"] = True
    with connection:
        reply = connection.request("control.cluster.join_token", body)
        show = args.format != "json" and not args.quiet
        join_addr = _own_manager_addr(connection) if show else ""
    if args.format == "json":
        write_json({"role": reply["role"], "token": reply["token"]})
    elif args.quiet:
        write_text(reply["token"])
    else:
        lines = []
        if args.rotate:
            lines.append(f"Successfully rotated {args.role} join token.\n")
        lines += [
            f"To add a {args.role} to this cluster, run the following command:",
            "",
            f"    swarm-node --join-token {reply['token']} --join-addr {join_addr}",
        ]
        write_text("\n".join(lines))
    return 0


def _own_manager_addr(connection: ControlConnection) -> str:
    """The address this manager advertises to other nodes (``HOST:PORT``, what
    ``--join-addr`` takes), as ``docker swarm join-token`` prints its own; MANAGER_ADDR
    when it cannot be told."""
    try:
        node_id = connection.request("version")["node_id"]
        node = connection.request("control.node.inspect", {"node": node_id})["summary"]
    except (CliError, KeyError):
        return "MANAGER_ADDR"
    return str((node.get("manager_status") or {}).get("addr") or "MANAGER_ADDR")


def run_update(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    body: dict[str, Any] = {}
    for flag in (
        "heartbeat_period",
        "task_history_limit",
        "service_history_limit",
        "snapshot_interval",
        "cert_expiry",
    ):
        value = getattr(args, flag)
        if value is not None:
            body[flag] = value
    if args.autolock is not None:
        body["autolock"] = args.autolock
    if args.allow_bind_mounts is not None:
        body["allow_bind_mounts"] = args.allow_bind_mounts
    if not body:
        raise CliError("cluster update: give at least one setting to change")
    with connection:
        reply = connection.request("control.cluster.update", body)
    if args.format == "json":
        write_json(reply["cluster"])
    elif reply.get("unlock_key"):  # autolock switched on: the key, shown once
        write_text(show_unlock_key(reply["unlock_key"]))
    else:
        write_text(_describe(reply["cluster"]))
    return 0
