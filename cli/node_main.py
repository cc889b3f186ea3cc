"""``swarm-node``: run one node (flags follow ``swarmd``) until SIGTERM or SIGINT.

Exit status: 0 after a clean stop, 1 when the node cannot start or its supervisor gives up
(escalation), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from actors import log
from actors.identity import IdentityError, ensure_private_dir, load_or_create_identity
from actors.node import Node, NodeConfig, NodeError, StateDirLock
from cli.defaults import DEFAULT_LISTEN_REMOTE_API, DEFAULT_STATE_DIR, SOCKET_NAME
from cli.errors import OneLineParser

__all__ = ["build_parser", "main"]

PROG = "swarm-node"
STOP_DEADLINE = 15.0  # a stop that takes longer than this ends the process anyway

# swarmd flags that later issues implement; accepted by the parser, refused clearly now.
NOT_YET_SUPPORTED = ("--join-addr", "--join-token", "--executor", "--label")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description="Run a swarmnode node (a manager, for now).")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help=f"directory for the node's identity and data (default: ./{DEFAULT_STATE_DIR})",
    )
    parser.add_argument(
        "--hostname", default=None, help="this node's name (default: the machine's hostname)"
    )
    parser.add_argument(
        "--listen-remote-api",
        default=DEFAULT_LISTEN_REMOTE_API,
        metavar="HOST:PORT",
        help=f"address for other nodes (default: {DEFAULT_LISTEN_REMOTE_API})",
    )
    parser.add_argument(
        "--listen-control-api",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"control socket for swarmctl (default: STATE_DIR/{SOCKET_NAME})",
    )
    parser.add_argument(
        "--log-format",
        choices=("json", "console"),
        default=None,
        help="log rendering (default: console on a terminal, JSON lines otherwise)",
    )
    for flag in NOT_YET_SUPPORTED:
        parser.add_argument(flag, action="append", default=None, help=argparse.SUPPRESS)
    return parser


class _Stop:
    """Why the main thread should stop: a signal (exit 0) or an escalation (exit 1)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reason = ""
        self.exit_code = 0

    def request(self, reason: str, exit_code: int) -> None:
        if not self.event.is_set():
            self.reason, self.exit_code = reason, exit_code
            self.event.set()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for flag in NOT_YET_SUPPORTED:
        if getattr(args, flag[2:].replace("-", "_")) is not None:
            print(f"{PROG}: {flag} is not yet supported", file=sys.stderr)
            return 2
    log.configure(args.log_format)
    logger = log.get_logger("node")

    state_dir: Path = args.state_dir.absolute()
    control: Path = (args.listen_control_api or state_dir / SOCKET_NAME).absolute()
    lock = StateDirLock(state_dir)
    try:
        ensure_private_dir(state_dir)
        lock.acquire()
        identity = load_or_create_identity(state_dir)
    except (IdentityError, NodeError) as exc:
        return _fail(logger, "node.start.failed", exc)
    log.set_node_id(identity.node_id)

    config = NodeConfig(
        state_dir=state_dir,
        hostname=args.hostname or socket.gethostname(),
        listen_remote_api=args.listen_remote_api,
        listen_control_api=control,
    )
    stop = _Stop()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.request(signal.Signals(signum).name, 0)

    def on_escalate(error: BaseException) -> None:
        stop.request(f"supervisor gave up: {type(error).__name__}: {error}", 1)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    node = Node(config, identity, on_escalate=on_escalate)
    try:
        node.start()
        remote, control_address = node.address("remote"), node.address("control")
    except NodeError as exc:
        node.stop()
        lock.release()
        return _fail(logger, "node.start.failed", exc)
    logger.info(
        "node.started",
        node_id=identity.node_id,
        hostname=config.hostname,
        role=config.role,
        remote_api=remote,
        control_api=control_address,
        public_key=identity.keypair.public.decode(),
    )

    while not stop.event.wait(0.5):
        pass
    if stop.exit_code:
        logger.error("node.stopping", reason=stop.reason)
    else:
        logger.info("node.stopping", reason=stop.reason)
    _arm_stop_deadline(logger)
    started = time.monotonic()
    node.stop()
    lock.release()
    logger.info(
        "node.stopped", exit_code=stop.exit_code, seconds=round(time.monotonic() - started, 3)
    )
    return stop.exit_code


def _fail(logger: Any, event: str, exc: Exception) -> int:
    logger.error(event, error=str(exc))
    print(f"{PROG}: {exc}", file=sys.stderr)
    return 1


def _arm_stop_deadline(logger: Any) -> None:
    """If a child refuses to stop, leave anyway: a hung shutdown helps nobody."""

    def expire() -> None:
        logger.error("node.stop.timeout", deadline=STOP_DEADLINE)
        os._exit(1)

    timer = threading.Timer(STOP_DEADLINE, expire)
    timer.daemon = True
    timer.start()


if __name__ == "__main__":
    sys.exit(main())
