"""``swarm-node``: run one node (flags follow ``swarmd``) until SIGTERM or SIGINT.

This module parses and checks the flags, hands a `NodeConfig` to the runner
(actors/node/runner.py, which owns start, lock, unlock, role restarts and stop), and turns
what the runner raises into a message and an exit status.

Without ``--join-addr`` it initializes a cluster (root CA, join tokens, this node as its
first manager) or resumes the one in its state dir; with ``--join-addr HOST:PORT
--join-token TOKEN`` it joins the cluster of that manager as a worker or a manager, by the
token (actors/node/startup/security.py). A node that has joined resumes from its state dir.

Exit status: 0 after a clean stop, 1 when the node cannot start (a refused join included)
or its supervisor gives up (escalation), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from actors import log
from actors.ca.keystore import KeyStoreError
from actors.ca.node_certs import node_certs_exist
from actors.ca.node_identity import IdentityError, read_node_id
from actors.descriptors import raise_descriptor_limit
from actors.engine_api.child import check_engine_address
from actors.heap import tune_collector, tune_malloc
from actors.metrics.http import parse_metrics_addr
from actors.node.config import NodeConfig, NodeError, advertised_address
from actors.node.runner import NodeRunner
from actors.node.startup.keys import NodeKeysError
from actors.node.startup.security import JoinError
from actors.thread_switching import tune_switch_interval
from actors.web.child import parse_web_addr, read_token_file
from actors.worker.executors.process_policy import (
    DEFAULT_PROCESS_USER,
    ProcessUserRefused,
    choose_process_user,
)
from actors.worker.executors.process_sandbox import ProcessSandboxError
from api.validation import validate_hostname, validate_labels
from cli.defaults import DEFAULT_LISTEN_REMOTE_API, DEFAULT_STATE_DIR, SOCKET_NAME
from cli.errors import OneLineParser

__all__ = ["build_parser", "main", "stop_deadline"]

PROG = "swarm-node"
# a stop that takes longer than the tree's own bound and this ends the process anyway:
# after the tree, the node closes its parts and writes its last lines
STOP_DEADLINE_MARGIN = 10.0
MIN_STOP_DEADLINE = 15.0  # also when there is no tree to stop yet

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
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="info",
        help="the lowest level logged and kept for `swarmctl node logs` (default: info)",
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
        "--publish-addr",
        default="",
        metavar="IP",
        help="the host address the ports tasks publish bind to (default: every address); "
        "docker executor only",
    )
    parser.add_argument(
        "--mesh-addr",
        default="0.0.0.0",
        metavar="IP",
        help="the address the routing mesh listens on for the cluster's ingress ports "
        "(published ports of mode ingress, the default; default: every IPv4 address)",
    )
    parser.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an engine label the node reports (engine.labels.KEY constraints, as dockerd "
        "--label); on the founding manager its node labels too (repeatable)",
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
        "--metrics-addr",
        default=None,
        metavar="HOST:PORT",
        help="serve Prometheus metrics on http://HOST:PORT/metrics (PORT alone: on "
        "127.0.0.1 only; name another address to let other hosts scrape)",
    )
    parser.add_argument(
        "--engine-api",
        default=None,
        metavar="unix:///PATH|tcp://HOST:PORT",
        help="serve the swarm part of the Docker Engine API there, for the docker CLI and "
        "SDK (DOCKER_HOST=unix:///PATH); a non-loopback TCP address needs --engine-api-tls",
    )
    parser.add_argument(
        "--engine-api-tls",
        default=None,
        type=Path,
        metavar="DIR",
        help="serve the Engine API over mutual TLS with DIR's ca.pem, cert.pem and key.pem "
        "from the cluster CA (swarmctl cluster engine-cert DIR --host HOST)",
    )
    parser.add_argument(
        "--web-addr",
        default=None,
        metavar="HOST:PORT",
        help="managers: serve the live web view on http://HOST:PORT/ (PORT alone: on "
        "127.0.0.1 only); read-only unless --web-token-file is given",
    )
    parser.add_argument(
        "--web-token-file",
        default=None,
        type=Path,
        metavar="PATH",
        help="a file (mode 0600) holding the web token: requests with 'Authorization: "
        "Bearer TOKEN' may scale services from the web view",
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


def check_publish_addr(text: str, executor: str | None) -> str:
    """``--publish-addr``: an IP address, refused with an executor that publishes nothing."""
    if not text:
        return ""
    try:
        address = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        raise ValueError(f"--publish-addr wants an IP address, got {text!r}") from None
    if executor not in (None, "docker"):
        raise ValueError(f"--publish-addr applies to the docker executor, not {executor!r}")
    return str(address)


def check_mesh_addr(text: str) -> str:
    """``--mesh-addr``: an IP address."""
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        raise ValueError(f"--mesh-addr wants an IP address, got {text!r}") from None


def config_from_args(args: argparse.Namespace) -> NodeConfig:
    """The node's config from parsed flags; ValueError or NodeError names a bad flag
    (checked before anything is written)."""
    if bool(args.join_addr) != bool(args.join_token):
        raise ValueError("--join-addr and --join-token go together")
    labels = parse_labels(args.label)
    validate_labels(labels, "--label")
    hostname = args.hostname or socket.gethostname()
    validate_hostname(hostname, "--hostname")
    advertise = advertised_address(args.listen_remote_api, args.advertise_addr or "")
    publish_addr = check_publish_addr(args.publish_addr, args.executor)
    mesh_addr = check_mesh_addr(args.mesh_addr)
    # refused before anything is written; checked again once the executor is known
    choose_process_user(args.process_user, euid=os.geteuid(), executor=args.executor or "process")
    if args.metrics_addr is not None:
        parse_metrics_addr(args.metrics_addr)  # refused before anything is written
    if args.engine_api_tls is not None and args.engine_api is None:
        raise ValueError("--engine-api-tls goes with --engine-api")
    if args.engine_api is not None:
        check_engine_address(args.engine_api, tls=args.engine_api_tls is not None)
    if args.web_addr is not None:
        parse_web_addr(args.web_addr)
    elif args.web_token_file is not None:
        raise ValueError("--web-token-file goes with --web-addr")
    web_token = read_token_file(args.web_token_file) if args.web_token_file else None
    state_dir: Path = args.state_dir.absolute()
    return NodeConfig(
        state_dir=state_dir,
        hostname=hostname,
        listen_remote_api=args.listen_remote_api,
        listen_control_api=(args.listen_control_api or state_dir / SOCKET_NAME).absolute(),
        advertise_addr=advertise,
        executor=args.executor,
        process_user=args.process_user,
        labels=labels,
        join_addr=args.join_addr,
        join_token=args.join_token,
        autolock=bool(args.autolock),
        force_new_cluster=bool(args.force_new_cluster),
        publish_addr=publish_addr,
        mesh_addr=mesh_addr,
        metrics_addr=args.metrics_addr,
        engine_api=args.engine_api,
        engine_api_tls=args.engine_api_tls.absolute() if args.engine_api_tls else None,
        web_addr=args.web_addr,
        web_token=web_token,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except (ValueError, NodeError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    log.configure(args.log_format, level=logging.getLevelNamesMapping()[args.log_level.upper()])
    _bind_known_node_id(config.state_dir)
    tune_collector()
    tune_malloc()
    tune_switch_interval()
    descriptors_before, descriptors = raise_descriptor_limit()
    logger = log.get_logger("node")
    if descriptors != descriptors_before:
        logger.info("node.descriptor_limit.raised", before=descriptors_before, now=descriptors)
    runner = NodeRunner(
        config, on_stopping=lambda bound: _arm_stop_deadline(logger, stop_deadline(bound))
    )
    _install_signals(runner)
    try:
        code = runner.run()
        if code and runner.stop_reason:
            print(f"{PROG}: {runner.stop_reason}", file=sys.stderr)
        return code
    except JoinError as exc:
        logger.error("node.join.refused", code=exc.code, error=exc.message)
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except ProcessUserRefused as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except (
        IdentityError,
        NodeError,
        NodeKeysError,
        KeyStoreError,
        ProcessSandboxError,
        OSError,
    ) as exc:
        logger.error("node.start.failed", error=str(exc))
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1


def _bind_known_node_id(state_dir: Path) -> None:
    """A node that has initialised or joined (its state dir holds a certificate) knows its
    id before its first line: every line carries it. A first start's lines carry none
    until the node has one (as swarmd's), rather than a placeholder."""
    if not node_certs_exist(state_dir):
        return
    try:
        log.set_node_id(read_node_id(state_dir))
    except (IdentityError, OSError):
        return  # the start-up reads the identity again and says what is wrong with it


def _install_signals(runner: NodeRunner) -> None:
    def on_signal(signum: int, _frame: FrameType | None) -> None:
        runner.request_stop(signal.Signals(signum).name, 0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def stop_deadline(tree_bound: float | None) -> float:
    """How long the process gives its stop before it ends itself: the tree's own bound
    (`Node.stop_timeout`; None: no tree was built) and a margin, so a stop that is slow
    but within that bound still exits 0; at least ``MIN_STOP_DEADLINE``."""
    if tree_bound is None:
        return MIN_STOP_DEADLINE
    return max(MIN_STOP_DEADLINE, tree_bound + STOP_DEADLINE_MARGIN)


def _arm_stop_deadline(logger: Any, deadline: float) -> None:
    """If a child refuses to stop, leave anyway: a hung shutdown helps nobody."""

    def expire() -> None:
        logger.error("node.stop.timeout", deadline=deadline)
        os._exit(1)

    timer = threading.Timer(deadline, expire)
    timer.daemon = True
    timer.start()


if __name__ == "__main__":
    sys.exit(main())
