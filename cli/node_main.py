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
from actors.host_info import describe_host
from actors.identity import IdentityError, ensure_private_dir, load_or_create_identity
from actors.node import Node, NodeConfig, NodeError, StateDirLock, software_version
from actors.node_assembly import Assembly, load_or_create_raft_id
from actors.node_at_rest import prepare_at_rest
from actors.node_keys import NodeKeysError
from actors.worker.executors import default_executor_kind
from cli.defaults import DEFAULT_LISTEN_REMOTE_API, DEFAULT_STATE_DIR, SOCKET_NAME
from cli.errors import OneLineParser

__all__ = ["build_parser", "main"]

PROG = "swarm-node"
STOP_DEADLINE = 15.0  # a stop that takes longer than this ends the process anyway

# swarmd flags that a later issue implements; accepted by the parser, refused clearly now.
JOIN_FLAGS = ("--join-addr", "--join-token")
EXECUTORS = ("docker", "process")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=PROG,
        description="Run a swarmnode node: without --join-addr, initialize a one-manager "
        "cluster in the state dir (or resume the one there).",
    )
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
    parser.add_argument(
        "--executor",
        choices=EXECUTORS,
        default=None,
        help="how tasks run (default: docker when an engine answers, else process)",
    )
    parser.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="node label set when the node registers (repeatable)",
    )
    parser.add_argument(
        "--autolock",
        action="store_true",
        help="at init: lock the manager's keys under an unlock key, printed once",
    )
    parser.add_argument(
        "--force-new-cluster",
        action="store_true",
        help="restart this manager as a one-member cluster keeping all its state",
    )
    for flag in JOIN_FLAGS:
        parser.add_argument(flag, default=None, help=argparse.SUPPRESS)
    return parser


def parse_labels(items: Sequence[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key.strip():
            raise ValueError(f"--label wants KEY=VALUE, got {item!r}")
        labels[key.strip()] = value if sep else ""
    return labels


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
    for flag in JOIN_FLAGS:
        if getattr(args, flag[2:].replace("-", "_")) is not None:
            print(f"{PROG}: joining is not supported yet ({flag})", file=sys.stderr)
            return 2
    try:
        labels = parse_labels(args.label)
    except ValueError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
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
    stop = _Stop()
    _install_signals(stop)
    try:
        at_rest = prepare_at_rest(
            state_dir,
            control,
            autolock=args.autolock,
            force_new_cluster_id=(
                load_or_create_raft_id(state_dir) if args.force_new_cluster else None
            ),
            stop=stop.event,
            version={"node_id": identity.node_id, "role": "manager", "version": software_version()},
        )
    except (NodeKeysError, IdentityError, OSError) as exc:
        lock.release()
        return _fail(logger, "node.start.failed", exc)
    if at_rest is None:  # stopped while locked
        lock.release()
        logger.info("node.stopped", exit_code=0, locked=True)
        return 0

    executor = args.executor
    if executor is None:
        executor = default_executor_kind()
        logger.info("node.executor.chosen", executor=executor, reason="default")
    else:
        logger.info("node.executor.chosen", executor=executor, reason="--executor")
    config = NodeConfig(
        state_dir=state_dir,
        hostname=args.hostname or socket.gethostname(),
        listen_remote_api=args.listen_remote_api,
        listen_control_api=control,
        executor=executor,
        labels=labels,
    )
    try:
        config.remote_bind  # noqa: B018 - validates the address before anything is written
        assembly = Assembly(
            state_dir=state_dir,
            identity=identity,
            listen_remote_api=args.listen_remote_api,
            executor_kind=executor,
            description=describe_host(config.hostname, executor),
            labels=labels,
            stop_timeout=config.stop_timeout,
            raft_cipher=at_rest.raft_cipher(),
        )
    except (IdentityError, NodeError, OSError) as exc:
        lock.release()
        return _fail(logger, "node.start.failed", exc)
    def on_escalate(error: BaseException) -> None:
        stop.request(f"supervisor gave up: {type(error).__name__}: {error}", 1)

    node = Node(config, identity, on_escalate=on_escalate, assembly=assembly)
    try:
        node.start()
        remote, control_address = node.address("remote"), node.address("control")
    except NodeError as exc:
        node.stop()
        lock.release()
        return _fail(logger, "node.start.failed", exc)
    at_rest.start(assembly.store)
    logger.info(
        "node.started",
        node_id=identity.node_id,
        hostname=config.hostname,
        role=config.role,
        executor=executor,
        raft_id=assembly.raft_id,
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
    at_rest.stop()
    node.stop()
    lock.release()
    logger.info(
        "node.stopped", exit_code=stop.exit_code, seconds=round(time.monotonic() - started, 3)
    )
    return stop.exit_code


def _install_signals(stop: _Stop) -> None:
    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.request(signal.Signals(signum).name, 0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


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
