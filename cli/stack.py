"""``swarmctl stack deploy|ls|services|ps|rm``: stacks of services from compose files, as
``docker stack``.

A stack is the set of objects labelled ``com.docker.stack.namespace=STACK`` (the label
``docker stack deploy`` puts on them too, so both CLIs see the same stacks). ``deploy``
is client-side (cli/stack_deploy.py); ``rm`` removes the stack's services, waits until
they are gone (their tasks may hold its secrets, configs and networks), then removes its
secrets, configs and networks: each one it cannot remove (another service uses it) is
named on stderr, the others are still removed, and so are the other stacks named; exit 1
then, with ``Failed to remove some resources from stack: STACK``, as Docker's.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from typing import Any

from cli.argtypes import DURATION
from cli.connection import ControlConnection
from cli.errors import CliError
from cli.output import render_table, write_json, write_text
from cli.service import ports_column, replicas_column
from cli.service_ps import task_table
from cli.stack_deploy import LABEL_NAMESPACE, run_deploy, stack_services

__all__ = ["register"]

DEFAULT_RM_TIMEOUT = 120.0


def register(groups: Any, common: argparse.ArgumentParser) -> None:
    parser = groups.add_parser(
        "stack", parents=[common], help="deploy, list and remove stacks from compose files"
    )
    verbs = parser.add_subparsers(title="commands", dest="verb", metavar="COMMAND", required=True)

    deploy = verbs.add_parser(
        "deploy", parents=[common], help="deploy a new stack or update an existing one"
    )
    deploy.add_argument(
        "-c",
        "--compose-file",
        dest="compose_files",
        action="append",
        required=True,
        metavar="FILE",
        help="a compose file (repeatable: later files override earlier ones; - for stdin)",
    )
    deploy.add_argument(
        "--prune", action="store_true", help="remove the stack's services the files no longer have"
    )
    deploy.add_argument("stack", metavar="STACK", help="the stack's name")
    deploy.set_defaults(run=run_deploy)

    ls = verbs.add_parser("ls", parents=[common], help="list stacks")
    ls.set_defaults(run=run_ls)

    services = verbs.add_parser("services", parents=[common], help="list a stack's services")
    services.add_argument("-q", "--quiet", action="store_true", help="only ids")
    services.add_argument("stack", metavar="STACK", help="the stack's name")
    services.set_defaults(run=run_services)

    ps = verbs.add_parser("ps", parents=[common], help="list a stack's tasks")
    ps.add_argument(
        "--desired-state",
        default=None,
        metavar="STATE",
        help="only tasks with this desired state (running, shutdown, ...)",
    )
    ps.add_argument("stack", metavar="STACK", help="the stack's name")
    ps.set_defaults(run=run_ps)

    rm = verbs.add_parser("rm", parents=[common], help="remove stacks")
    rm.add_argument(
        "--rm-timeout",
        type=DURATION,
        default=DEFAULT_RM_TIMEOUT,
        metavar="DURATION",
        help="how long to wait for the services to be gone before removing the secrets, "
        f"configs and networks (default: {DEFAULT_RM_TIMEOUT:g}s)",
    )
    rm.add_argument("stacks", nargs="+", metavar="STACK", help="the stacks' names")
    rm.set_defaults(run=run_rm)


def _nothing_found(stack: str) -> int:
    print(f"Nothing found in stack: {stack}", file=sys.stderr)
    return 0


def run_ls(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    with connection:
        rows = connection.rows("control.service.ls", {}, "services")["services"]
    counts = Counter(
        s["labels"][LABEL_NAMESPACE] for s in rows if LABEL_NAMESPACE in s.get("labels", {})
    )
    stacks = [{"name": name, "services": counts[name]} for name in sorted(counts)]
    if args.format == "json":
        write_json(stacks)
    else:
        write_text(render_table(("NAME", "SERVICES"), [(s["name"], s["services"]) for s in stacks]))
    return 0


def run_services(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    with connection:
        found = stack_services(connection, args.stack)
    if args.format == "json":
        write_json(found)
        return 0
    if not found:
        return _nothing_found(args.stack)
    if args.quiet:
        write_text("\n".join(s["id"] for s in found))
        return 0
    rows = [
        (s["id"][:12], s["name"], s["mode"], replicas_column(s), s["image"], ports_column(s))
        for s in found
    ]
    write_text(render_table(("ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"), rows))
    return 0


def run_ps(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    tasks: list[dict[str, Any]] = []
    with connection:
        for service in stack_services(connection, args.stack):
            body: dict[str, Any] = {"service": service["id"]}
            if args.desired_state:
                body["desired_state"] = args.desired_state
            tasks += connection.listing("control.service.ps", body)["tasks"]
    if args.format == "json":
        write_json(tasks)
        return 0
    if not tasks:
        return _nothing_found(args.stack)
    write_text(task_table(tasks))
    return 0


def _labelled(connection: ControlConnection, kind: str, stack: str) -> list[dict[str, Any]]:
    rows = connection.request(f"control.{kind}.ls")[f"{kind}s"]
    return [r for r in rows if r.get("labels", {}).get(LABEL_NAMESPACE) == stack]


def _wait_gone(connection: ControlConnection, stack: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while stack_services(connection, stack, every=True):
        if time.monotonic() >= deadline:
            left = ", ".join(s["name"] for s in stack_services(connection, stack, every=True))
            raise CliError(
                f"the services of stack {stack} were not gone within {timeout:g}s ({left}); "
                "its secrets, configs and networks were not removed: run stack rm again"
            )
        time.sleep(0.2)


def _remove(
    args: argparse.Namespace, connection: ControlConnection, stack: str, say: Any
) -> tuple[list[dict[str, str]], bool]:
    """The stack's objects removed, and whether each was; one that cannot be (a secret
    another service uses) is named on stderr and the others are still removed, as
    ``docker stack rm`` does."""
    removed: list[dict[str, str]] = []
    services = stack_services(connection, stack)
    objects = {kind: _labelled(connection, kind, stack) for kind in ("secret", "config", "network")}
    if (
        not services
        and not any(objects.values())
        and not stack_services(connection, stack, every=True)
    ):
        _nothing_found(stack)
        return removed, True
    for s in services:
        say(f"Removing service {s['name']}")
    if services:
        connection.request("control.service.rm", {"services": [s["id"] for s in services]})
    removed += [{"kind": "service", "name": s["name"], "id": s["id"]} for s in services]
    try:
        _wait_gone(connection, stack, args.rm_timeout)
    except CliError as exc:
        print(f"swarmctl: {exc}", file=sys.stderr)
        return removed, False
    complete = True
    for kind, rows in objects.items():
        for r in rows:
            say(f"Removing {kind} {r['name']}")
            try:
                connection.request(f"control.{kind}.rm", {f"{kind}s": [r["id"]]})
            except CliError as exc:
                print(f"Failed to remove {kind} {r['name']}: {exc}", file=sys.stderr)
                complete = False
                continue
            removed.append({"kind": kind, "name": r["name"], "id": r["id"]})
    return removed, complete


def run_rm(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    quiet = args.format == "json"

    def say(line: str) -> None:
        if not quiet:
            write_text(line)

    removed: list[dict[str, str]] = []
    failed: list[str] = []
    with connection:
        for stack in args.stacks:
            done, complete = _remove(args, connection, stack, say)
            removed += done
            if not complete:
                failed.append(f"Failed to remove some resources from stack: {stack}")
    if quiet:
        write_json(removed)
    if failed:
        raise CliError("\n".join(failed))
    return 0
