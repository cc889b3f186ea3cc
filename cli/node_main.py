"""``swarm-node``: run one node (flags follow ``swarmd``) until SIGTERM or SIGINT.

Without ``--join-addr`` it initializes a cluster (root CA, join tokens, this node as its
first manager) or resumes the one in its state dir; with ``--join-addr HOST:PORT
--join-token TOKEN`` it joins the cluster of that manager as a worker or a manager, by the
token (actors/node/startup/security.py). A node that has joined resumes from its state dir.

Exit status: 0 after a clean stop, 1 when the node cannot start (a refused join included)
or its supervisor gives up (escalation), 2 for a usage error.
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
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

from actors import log
from actors.ca.keystore import KeyStoreError
from actors.ca.node_certs import node_certs_exist
from actors.ca.node_identity import IdentityError, ensure_private_dir
from actors.node.runner import AtRestKeys, NodeRunner
from actors.node.startup.at_rest import (
    AtRest,
    StoppedWhileLocked,
    hand_over_to_worker,
    open_at_rest,
    prepare_at_rest,
)
from actors.node.startup.keys import NodeKeysError
from actors.node.startup.security import JoinError, NodeStartup, prepare_node
from actors.node.tree.host_info import describe_host
from actors.node.tree.manager_parts import Assembly, load_or_create_raft_id
from actors.node.tree.node import (
    NodeConfig,
    NodeError,
    StateDirLock,
    advertised_address,
    software_version,
)
from actors.worker.executors import default_executor_kind
from actors.worker.executors.process_policy import (
    DEFAULT_PROCESS_USER,
    ProcessUserRefused,
    choose_process_user,
)
from actors.worker.executors.process_sandbox import (
    ProcessSandbox,
    ProcessSandboxError,
    prepare_sandbox,
)
from api.validation import validate_hostname, validate_labels
from cli.defaults import DEFAULT_LISTEN_REMOTE_API, DEFAULT_STATE_DIR, SOCKET_NAME
from cli.errors import OneLineParser
from transport.source import source_host

__all__ = ["build_parser", "main"]

PROG = "swarm-node"
STOP_DEADLINE = 15.0  # a stop that takes longer than this ends the process anyway

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
        help=f"address for other nodes (default: {DEFAULT_LISTEN_REMOTE_API}); a manager "
        "also serves the join-hello endpoint on PORT+1",
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
        "--process-user",
        default=None,
        metavar="USER",
        help="the unprivileged user process-executor tasks run as when swarm-node runs as "
        f"root (default: {DEFAULT_PROCESS_USER}); refused when not root: tasks then run as "
        "the node's own user",
    )
    parser.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="node label set when the node registers (repeatable)",
    )
    parser.add_argument(
        "--advertise-addr",
        default=None,
        metavar="HOST:PORT",
        help="address other nodes use to reach this one (default: the listen address; "
        "127.0.0.1 when listening on a wildcard)",
    )
    parser.add_argument(
        "--join-addr",
        default=None,
        metavar="HOST:PORT",
        help="join the cluster of the manager at this address (needs --join-token)",
    )
    parser.add_argument(
        "--join-token",
        default=None,
        metavar="TOKEN",
        help="the worker or manager join token (swarmctl cluster join-token -q ROLE)",
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
    if bool(args.join_addr) != bool(args.join_token):
        print(f"{PROG}: --join-addr and --join-token go together", file=sys.stderr)
        return 2
    try:
        labels = parse_labels(args.label)
        validate_labels(labels, "--label")
        validate_hostname(args.hostname or socket.gethostname(), "--hostname")
        advertise = advertised_address(args.listen_remote_api, args.advertise_addr or "")
        # refused before anything is written; checked again once the executor is known
        choose_process_user(
            args.process_user, euid=os.geteuid(), executor=args.executor or "process"
        )
    except (ValueError, NodeError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    log.configure(args.log_format)
    logger = log.get_logger("node")

    state_dir: Path = args.state_dir.absolute()
    control: Path = (args.listen_control_api or state_dir / SOCKET_NAME).absolute()
    hostname = args.hostname or socket.gethostname()
    lock = StateDirLock(state_dir)
    stop = _Stop()
    _install_signals(stop)
    try:
        ensure_private_dir(state_dir)
        lock.acquire()
        # a manager's private keys may be in its key store: open (unlock) it first
        keys = open_at_rest(
            state_dir,
            control,
            autolock=bool(args.autolock) and not args.join_addr,
            init=not node_certs_exist(state_dir) and not args.join_addr,
            stop=stop.event,
            version={"version": software_version()},
        )
        startup = prepare_node(
            state_dir,
            hostname=hostname,
            advertise_addr=advertise,
            join_addr=args.join_addr,
            join_token=args.join_token,
            keys=keys,
            source=source_host(args.listen_remote_api),
        )
    except StoppedWhileLocked:
        lock.release()
        logger.info("node.stopped", exit_code=0, locked=True)
        return 0
    except JoinError as exc:
        lock.release()
        logger.error("node.join.refused", code=exc.code, error=exc.message)
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except (IdentityError, NodeError, NodeKeysError, KeyStoreError, OSError) as exc:
        lock.release()
        return _fail(logger, "node.start.failed", exc)
    identity = startup.identity
    log.set_node_id(identity.node_id)
    at_rest: AtRest | None = None
    if startup.role.value == "manager":  # every manager (founder or joined) has a Raft log
        try:
            at_rest = _prepare_at_rest(args, startup, state_dir, logger)
        except (NodeKeysError, IdentityError, OSError) as exc:
            lock.release()
            return _fail(logger, "node.start.failed", exc)
    else:
        if startup.keys is not None:  # demoted before its worker start removed the store
            hand_over_to_worker(state_dir, startup.keys)
        for flag in ("autolock", "force_new_cluster"):
            if getattr(args, flag):
                logger.warning("node.flag.ignored", flag=flag, reason="not a manager")

    executor = args.executor
    if executor is None:
        executor = default_executor_kind()
        logger.info("node.executor.chosen", executor=executor, reason="default")
    else:
        logger.info("node.executor.chosen", executor=executor, reason="--executor")
    try:
        sandbox = _process_sandbox(args.process_user, executor, state_dir, identity.node_id)
    except ProcessUserRefused as exc:
        lock.release()
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except ProcessSandboxError as exc:
        lock.release()
        return _fail(logger, "node.start.failed", exc)
    if sandbox is not None:
        logger.info(
            "node.process.sandbox",
            user=sandbox.user.name if sandbox.user is not None else None,
            work_root=str(sandbox.work_root),
        )
    config = NodeConfig(
        state_dir=state_dir,
        hostname=hostname,
        listen_remote_api=args.listen_remote_api,
        listen_control_api=control,
        role=startup.role.value,
        advertise_addr=advertise,
        executor=executor,
        labels=labels,
    )

    def on_escalate(error: BaseException) -> None:
        stop.request(f"supervisor gave up: {type(error).__name__}: {error}", 1)

    def build_assembly(startup: NodeStartup, keys: AtRestKeys | None) -> Assembly:
        return Assembly(
            state_dir=state_dir,
            startup=startup,
            listen_remote_api=args.listen_remote_api,
            advertise_addr=advertise,
            executor_kind=executor,
            description=describe_host(config.hostname, executor),
            labels=labels,
            stop_timeout=config.stop_timeout,
            raft_cipher=keys.raft_cipher() if keys is not None else None,
            process_sandbox=sandbox,
        )

    def prepare_manager(startup: NodeStartup) -> tuple[NodeStartup, AtRest] | None:
        """A promotion: a new key store (unlocked; the cluster's autolock setting rewraps
        it once the store holds the Cluster object)."""
        try:
            keys = open_at_rest(
                state_dir,
                control,
                autolock=False,
                init=True,
                stop=stop.event,
                version={"version": software_version()},
            )
        except StoppedWhileLocked:
            return None
        assert keys is not None  # init=True creates one
        promoted = replace(startup, keys=keys)
        return promoted, prepare_at_rest(state_dir, keys, init=False, force_new_cluster_id=None)

    try:
        config.remote_bind  # noqa: B018 - validates the address before anything is written
        runner = NodeRunner(
            config,
            startup,
            build_assembly=build_assembly,
            prepare_manager=prepare_manager,
            on_escalate=on_escalate,
            at_rest=at_rest,
        )
    except (IdentityError, NodeError, OSError) as exc:
        lock.release()
        return _fail(logger, "node.start.failed", exc)
    node, assembly = runner.node, runner.assembly
    try:
        runner.start()
        manager = assembly.is_manager
        remote = node.address("remote") if manager else ""
        control_address = node.address("control")
    except NodeError as exc:
        runner.stop()
        lock.release()
        return _fail(logger, "node.start.failed", exc)
    logger.info(
        "node.started",
        node_id=identity.node_id,
        hostname=config.hostname,
        role=config.role,
        cluster_id=startup.cluster_id,
        joined=startup.mode,
        executor=executor,
        raft_id=assembly.raft_id,
        advertise_addr=advertise,
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
    runner.stop()
    lock.release()
    logger.info(
        "node.stopped", exit_code=stop.exit_code, seconds=round(time.monotonic() - started, 3)
    )
    return stop.exit_code


def _prepare_at_rest(
    args: argparse.Namespace, startup: NodeStartup, state_dir: Path, logger: Any
) -> AtRest:
    """A manager's keys at rest (actors/node/startup/at_rest.py), already opened (and unlocked) or
    created by `open_at_rest` and `prepare_node`; a joined manager's keys follow the
    cluster's autolock once its store holds the Cluster object."""
    if args.autolock and startup.mode == "join":
        logger.warning("node.autolock.ignored", reason="only at init: use swarmctl cluster update")
    if startup.keys is None:
        raise NodeKeysError(f"the manager in {state_dir} has no key store")
    return prepare_at_rest(
        state_dir,
        startup.keys,
        init=startup.mode == "init",
        force_new_cluster_id=load_or_create_raft_id(state_dir) if args.force_new_cluster else None,
    )


def _process_sandbox(
    requested: str | None, executor: str, state_dir: Path, node_id: str
) -> ProcessSandbox | None:
    """Where and as whom process tasks run (None for another executor); raises
    `ProcessUserRefused` (a usage error) or `ProcessSandboxError`."""
    user = choose_process_user(requested, euid=os.geteuid(), executor=executor)
    if executor != "process":
        return None
    return prepare_sandbox(user, state_dir=state_dir, node_id=node_id)


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
