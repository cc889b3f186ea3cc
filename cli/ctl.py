"""``swarmctl``: the command-line client of a manager's control socket.

One module per noun registers its sub-command (``cli/version.py`` today; cluster, node,
service, task and unlock; events and logs as they land). Every command takes
``--format table|json``. Errors are one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from api.version import VERSION
from cli import cluster, node, service, task, unlock, version
from cli.connection import DEFAULT_TIMEOUT, ControlConnection
from cli.defaults import SOCKET_ENV, default_socket
from cli.errors import CliError, OneLineParser
from cli.output import FORMATS

__all__ = ["PLANNED_GROUPS", "build_parser", "main"]

PROG = "swarmctl"

# Command groups still to come (DESIGN §8), shown in --help and refused clearly meanwhile.
PLANNED_GROUPS: dict[str, str] = {
    "events": "stream cluster events",
    "logs": "stream the nodes' structured logs",
}


def build_parser() -> argparse.ArgumentParser:
    common = OneLineParser(add_help=False)
    common.add_argument(
        "--format", choices=FORMATS, default="table", help="output format (default: table)"
    )
    parser = OneLineParser(
        prog=PROG,
        description="Control a swarmnode cluster through a manager's control socket.",
    )
    parser.add_argument(
        "--socket",
        type=Path,
        default=None,
        help=f"the node's control socket (default: ${SOCKET_ENV}, else {default_socket()})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds to wait for a reply (default: {DEFAULT_TIMEOUT:g})",
    )
    groups = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    version.register(groups, common)
    for noun in (cluster, node, service, task, unlock):
        noun.register(groups, common)
    for name, summary in PLANNED_GROUPS.items():
        planned = groups.add_parser(
            name, parents=[common], help=f"{summary} (not implemented yet)", add_help=False
        )
        planned.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        planned.set_defaults(run=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        if args.run is None:
            raise CliError(f"'{args.command}' is not implemented yet")
        connection = ControlConnection(args.socket or default_socket(), timeout=args.timeout)
        return int(args.run(args, connection, VERSION))
    except CliError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
