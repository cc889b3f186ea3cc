"""``swarmctl``: the command-line client of a manager's control socket.

One module per noun registers its sub-command (version, cluster, node, service, task,
network, secret, config, stack, unlock, events; logs are verbs: ``service logs``,
``task logs``, ``node logs``). Every command takes ``--format table|json``. Errors are one
line on stderr and a non-zero exit, never a traceback.

A command line names one noun, so only that noun's module is imported and only its verbs
and flags are built; the others are listed by name and summary (`NOUNS`). Building every
parser and importing every module would cost swarmctl a tenth of its start-up. When the
noun cannot be told before parsing, or the parse lands on a listed-only noun, every noun
is built and the command line parsed again, so the result is always the full parser's.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from api.version import VERSION
from cli.connection import DEFAULT_TIMEOUT, ControlConnection
from cli.defaults import SOCKET_ENV, default_socket
from cli.errors import CliError, OneLineParser
from cli.output import FORMATS

__all__ = ["NOUNS", "PLANNED_GROUPS", "build_parser", "main", "named_noun", "parse"]

PROG = "swarmctl"

# noun → (its module, which registers it; its summary in --help), in --help's order
NOUNS: dict[str, tuple[str, str]] = {
    "version": ("cli.version", "show the client and server versions"),
    "cluster": ("cli.cluster", "inspect and update the cluster; join tokens; leave it"),
    "node": (
        "cli.node",
        "list, inspect, update, remove, promote, demote, drain, pause, activate nodes; "
        "list their tasks",
    ),
    "service": (
        "cli.service",
        "create, list, inspect, update, scale, roll back and remove services",
    ),
    "task": ("cli.task", "list and inspect tasks"),
    "network": ("cli.network", "create, list, inspect and remove networks"),
    "secret": ("cli.secret", "create, list, inspect and remove secrets"),
    "config": ("cli.config", "create, list, inspect and remove configs"),
    "stack": ("cli.stack", "deploy, list and remove stacks from compose files"),
    "unlock": ("cli.unlock", "unlock a locked manager"),
    "events": ("cli.events", "stream cluster events"),
}
# swarmctl's own options that take a value (the word after them is not a noun)
_VALUED_OPTIONS = frozenset({"--socket", "--timeout"})

# Command groups still to come (DESIGN §8), shown in --help and refused clearly meanwhile.
PLANNED_GROUPS: dict[str, str] = {}


def named_noun(argv: Sequence[str]) -> str | None:
    """The noun the command line names, if it can be told before parsing."""
    words = iter(argv)
    for word in words:
        if word in NOUNS:
            return word
        if word in _VALUED_OPTIONS:
            next(words, None)
        elif not word.startswith("-"):
            return None  # not a noun: let the full parser say so
    return None


def _timeout_seconds(text: str) -> float:
    """``--timeout``: a positive, finite number of seconds (a negative one crashed the
    socket probe with a traceback, 0 failed every call at once)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def build_parser(noun: str | None = None) -> argparse.ArgumentParser:
    """swarmctl's parser: every noun built, or only ``noun`` (the others listed only)."""
    common = OneLineParser(add_help=False)
    # SUPPRESS: a sub-command that is not given --format leaves the value its group was
    # given (`service --format json ls`); the default is set once, on the top parser
    common.add_argument(
        "--format",
        choices=FORMATS,
        default=argparse.SUPPRESS,
        help="output format (default: table)",
    )
    parser = OneLineParser(
        prog=PROG,
        description="Control a swarmnode cluster through a manager's control socket.",
    )
    parser.set_defaults(format="table")
    parser.add_argument(
        "--socket",
        type=Path,
        default=None,
        help=f"the node's control socket (default: ${SOCKET_ENV}, else {default_socket()})",
    )
    parser.add_argument(
        "--timeout",
        type=_timeout_seconds,
        default=DEFAULT_TIMEOUT,
        help=f"seconds to wait for a reply (default: {DEFAULT_TIMEOUT:g})",
    )
    groups = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for name, (module, summary) in NOUNS.items():
        if noun is None or name == noun:
            importlib.import_module(module).register(groups, common)
        else:
            listed = groups.add_parser(name, help=summary, add_help=False)
            listed.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
            listed.set_defaults(listed_only=True)
    for name, summary in PLANNED_GROUPS.items():
        planned = groups.add_parser(
            name, parents=[common], help=f"{summary} (not implemented yet)", add_help=False
        )
        planned.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        planned.set_defaults(run=None)
    return parser


def parse(words: Sequence[str]) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """The parser that read ``words`` and what it read: as the full parser would."""
    parser = build_parser(named_noun(words))
    args = parser.parse_args(words)
    if getattr(args, "listed_only", False):  # the noun was not the one told beforehand
        parser = build_parser()
        args = parser.parse_args(words)
    return parser, args


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser, args = parse(sys.argv[1:] if argv is None else argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        if args.run is None:
            raise CliError(f"'{args.command}' is not implemented yet")
        connection = ControlConnection(args.socket or default_socket(), timeout=args.timeout)
        code = int(args.run(args, connection, VERSION))
        sys.stdout.flush()  # here, where a closed pipe can still be caught
        return code
    except CliError as exc:
        for line in str(exc).splitlines() or [""]:  # several refusals: one line each
            print(f"{PROG}: {line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _reader_gone()


def _reader_gone() -> int:
    """Whoever read our output stopped (``swarmctl service ps web | head -1``): end quietly,
    as a tool killed by SIGPIPE does (exit 141), without Python's complaint about the
    unflushed stream at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
