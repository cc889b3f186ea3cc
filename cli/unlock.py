"""``swarmctl unlock`` (the key from stdin, prompted on a terminal) and the autolock verbs
of ``cluster``: ``cluster unlock-key [-q] [--rotate]`` and ``cluster update --autolock``
(`add_unlock_key_verb`, `autolock_argument`, `show_unlock_key`)."""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cli.argtypes import BOOLEAN
from cli.connection import ControlConnection
from cli.errors import CliError
from cli.output import write_json, write_text

__all__ = [
    "add_unlock_key_verb",
    "autolock_argument",
    "register",
    "run_unlock",
    "run_unlock_key",
    "show_unlock_key",
    "wait_until_serving",
]


def register(groups: Any, common: argparse.ArgumentParser) -> None:
    parser = groups.add_parser(
        "unlock",
        parents=[common],
        help="unlock a locked manager",
        description="Unlock a manager restarted with autolock on: the unlock key is read "
        "from stdin (prompted on a terminal). Returns once the manager's control socket "
        "serves again (at most --timeout seconds).",
    )
    parser.set_defaults(run=run_unlock)


def _read_key() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("Enter unlock key: ")
    return sys.stdin.readline()


def run_unlock(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    key = _read_key().strip()
    if not key:
        raise CliError("no unlock key given on stdin")
    with connection:
        connection.request("control.unlock", {"unlock_key": key})
    wait_until_serving(connection.path, within=connection.timeout)
    if args.format == "json":
        write_json({"unlocked": True})
    return 0


PROBE_TIMEOUT = 1.0  # seconds one probe of the socket waits for ``version``
PROBE_PAUSE = 0.1


def wait_until_serving(
    path: Path,
    *,
    within: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Until the unlocked node's own control endpoint answers at ``path``.

    Right after a successful unlock the locked endpoint still answers for a moment
    (everything but ``version`` refused as "locked"), then its socket is gone until the
    node's own endpoint binds it: a command run then would be told the node is locked, or
    not running. (From then on the node's readiness gate holds calls until it can serve.)
    A node that never answers again is said to, instead of a success."""
    deadline = clock() + within
    while True:
        try:
            with ControlConnection(path, timeout=PROBE_TIMEOUT) as probe:
                if not probe.request("version").get("locked"):
                    return
        except CliError:
            pass  # the socket is gone for a moment, or the locked endpoint is closing
        if clock() >= deadline:
            raise CliError(
                f"the node is unlocked, but its control socket {path} did not answer again "
                f"within {within:g}s: see the node's log (did it fail to start?)"
            )
        sleep(PROBE_PAUSE)


def autolock_argument(parser: argparse.ArgumentParser) -> None:
    """``--autolock=true|false`` for ``cluster update``."""
    parser.add_argument(
        "--autolock",
        type=BOOLEAN,
        default=None,
        metavar="true|false",
        help="lock managers' keys under an unlock key when they restart",
    )


def show_unlock_key(key: str, *, rotated: bool = False) -> str:
    head = "Successfully rotated manager unlock key.\n\n" if rotated else ""
    return (
        f"{head}To unlock a swarm manager after it restarts, run `swarmctl unlock` and "
        f"provide the following key:\n\n    {key}\n\n"
        "Remember to store this key in a password manager, since without it you will not "
        "be able to restart the manager."
    )


def add_unlock_key_verb(verbs: Any, common: argparse.ArgumentParser) -> None:
    parser = verbs.add_parser(
        "unlock-key", parents=[common], help="show (or rotate) the manager unlock key"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="only the key")
    parser.add_argument("--rotate", action="store_true", help="replace the unlock key")
    parser.set_defaults(run=run_unlock_key)


def run_unlock_key(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    body = {"rotate": True} if args.rotate else {}
    with connection:
        key = str(connection.request("control.cluster.unlock_key", body)["unlock_key"])
    if args.format == "json":
        write_json({"unlock_key": key})
    elif args.quiet:
        write_text(key)
    else:
        write_text(show_unlock_key(key, rotated=args.rotate))
    return 0
