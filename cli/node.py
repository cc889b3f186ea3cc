"""``swarmctl node ls|ps|inspect|update|drain|pause|activate|promote|demote|rm|logs``.

``node ls`` marks the node whose control socket this is with ``*`` beside its id, and
takes ``docker node ls``'s ``--filter`` words (api/list_filters.py), which the manager
applies. ``node inspect self`` (and ``node ps self``) name that node, as Docker's do.
"""

from __future__ import annotations

import argparse
from typing import Any

from api.list_filters import NODE_FILTER_KEYS
from api.units import parse_key_value
from cli.argtypes import NODE_FILTER
from cli.connection import ControlConnection
from cli.errors import CliError
from cli.node_logs import add_node_logs
from cli.node_ps import SELF, add_node_ps
from cli.output import render_table, write_json, write_text
from cli.remove_each import remove_each

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
        help="list, inspect, update, remove, promote, demote, drain, pause, activate nodes; "
        "list their tasks",
    )
    verbs = parser.add_subparsers(title="commands", dest="verb", metavar="COMMAND", required=True)

    ls = verbs.add_parser("ls", parents=[common], help="list nodes")
    ls.add_argument("-q", "--quiet", action="store_true", help="only ids")
    ls.add_argument(
        "-f",
        "--filter",
        action="append",
        type=NODE_FILTER,
        default=[],
        metavar="KEY=VALUE",
        help=f"only nodes matching: {', '.join(NODE_FILTER_KEYS)} (repeatable)",
    )
    ls.set_defaults(run=run_ls)

    add_node_ps(verbs, common)
    add_node_logs(verbs, common)

    inspect = verbs.add_parser("inspect", parents=[common], help="show nodes in detail")
    inspect.add_argument(
        "nodes",
        nargs="+",
        metavar="NODE",
        help=f"the nodes (hostnames, ids, prefixes, or {SELF}: this node)",
    )
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
    update.add_argument("nodes", nargs=1, metavar="NODE", help="the node (hostname, id or prefix)")
    update.set_defaults(run=run_update)

    for verb, availability, summary in (
        ("drain", "drain", "move the node's tasks away and schedule nothing on it"),
        ("pause", "pause", "schedule nothing new on the node"),
        ("activate", "active", "let the node take tasks again"),
    ):
        short = verbs.add_parser(verb, parents=[common], help=summary)
        _add_nodes(short)
        short.set_defaults(
            run=run_update, availability=availability, label_add=[], label_rm=[], role=None
        )
    for verb, role, summary in (
        ("promote", "manager", "make the node a manager (a Raft member)"),
        ("demote", "worker", "make the manager a worker (taken out of Raft safely)"),
    ):
        short = verbs.add_parser(verb, parents=[common], help=summary)
        _add_nodes(short)
        short.set_defaults(run=run_update, availability=None, label_add=[], label_rm=[], role=role)

    rm = verbs.add_parser("rm", parents=[common], help="remove down nodes; revoke them")
    rm.add_argument("-f", "--force", action="store_true", help="remove a node that is not down")
    _add_nodes(rm)
    rm.set_defaults(run=run_rm)


def _add_nodes(parser: argparse.ArgumentParser) -> None:
    """``NODE [NODE...]``, as ``docker node inspect|promote|demote|rm`` take them: done in
    order, stopping at the first refusal (its message names the node)."""
    parser.add_argument(
        "nodes", nargs="+", metavar="NODE", help="the nodes (hostnames, ids or prefixes)"
    )


def _one_or_list(documents: list[Any]) -> Any:
    """One node's JSON document as it is; several as a list."""
    return documents[0] if len(documents) == 1 else documents


def manager_status(row: dict[str, Any]) -> str:
    ms = row["manager_status"]
    if ms is None:
        return ""
    return "Leader" if ms["leader"] else str(ms["reachability"]).capitalize()


def run_ls(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    body: dict[str, Any] = {"filters": list(args.filter)} if args.filter else {}
    with connection:
        nodes = connection.rows("control.node.ls", body, "nodes")["nodes"]
        # which one is this node (docker node ls asks the daemon's info likewise)
        marked = nodes and (args.format == "json" or not args.quiet)
        own = connection.request("version")["node_id"] if marked else ""
    if args.format == "json":
        write_json([{**n, "self": n["id"] == own} for n in nodes])
    elif args.quiet:
        write_text("\n".join(n["id"] for n in nodes))
    else:
        rows = [
            (
                f"{n['id']} *" if n["id"] == own else n["id"],
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
        # ``self``: the node whose control socket this is, as ``docker node inspect self``
        own = connection.request("version")["node_id"] if SELF in args.nodes else ""
        replies = [
            connection.request("control.node.inspect", {"node": own if node == SELF else node})
            for node in args.nodes
        ]
    if args.format == "json":
        write_json([reply["node"] for reply in replies])
    else:
        write_text("\n\n".join(_inspect_text(reply["summary"]) for reply in replies))
    return 0


def _inspect_text(row: dict[str, Any]) -> str:
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
    if row.get("executor"):  # a manager older than the field sends none
        lines.append(("Executor", row["executor"]))
    if "tls" in row:  # a manager older than the field sends none
        lines.extend(_tls_lines(row["tls"]))
    width = max(len(k) for k, _ in lines)
    return "\n".join(f"{k:<{width}} : {v}" for k, v in lines)


def _tls_lines(tls: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The certificate the node uses, as it reported it (Docker's TLS Info: the issuer's
    subject and public key in base64; the roots it trusts by their digests)."""
    if tls is None:
        return [("TLS Info", "not reported (a node older than the report, or never in session)")]
    return [
        ("TLS Trust Roots", ", ".join(tls["trust_roots"]) or "-"),
        ("TLS Issuer Subject", tls["cert_issuer_subject"]),
        ("TLS Issuer Public Key", tls["cert_issuer_public_key"]),
    ]


def run_update(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    body: dict[str, Any] = {}
    if args.availability is not None:
        body["availability"] = args.availability
    if args.label_add:
        body["label_add"] = dict(args.label_add)
    if args.label_rm:
        body["label_rm"] = list(args.label_rm)
    if args.role is not None:
        body["role"] = args.role
    if not body:
        raise CliError("nothing to update: give --availability, --role, --label-add or --label-rm")
    replies = []
    with connection:
        for node in args.nodes:
            reply = connection.request("control.node.update", {"node": node, **body})
            if args.format != "json":
                write_text(reply["id"])
            replies.append(reply["node"])
    if args.format == "json":
        write_json(_one_or_list(replies))
    return 0


def run_rm(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    """Each node on its own (remove_each.py): one not down keeps none of the others."""
    with connection:
        removal = remove_each(
            args.nodes,
            lambda ref: connection.request("control.node.rm", {"node": ref, "force": args.force}),
            echo=None if args.format == "json" else lambda _ref, reply: str(reply["id"]),
        )
    if args.format == "json" and removal.removed:
        write_json(_one_or_list(removal.removed))
    return removal.finish()
