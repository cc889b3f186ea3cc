"""One swarm-node process: its supervision tree, declared in dependency order.

A manager runs, in start order (stopped in reverse):

    root Supervisor
     ├─ raft      RaftNodeActor: DurableStorage (STATE_DIR/raft) and the Raft loop, which
     │            rebuilds the store (snapshot restore, then the committed entries) and is
     │            the store's proposer
     ├─ remote    transport EndpointActor: TCP ROUTER, CURVE with the node's key pair, ZAP
     │            by the CA-backed admission index, every handler authorized per message
     │            type; serves Raft, the CA (join, renew) and the dispatcher's sessions
     ├─ control   transport EndpointActor: ipc:// ROUTER, socket file mode 0600, control API
     ├─ hello     the join-hello endpoint (remote port + 1, published key: ca.hello only)
     ├─ leader    nested Supervisor, autostart=False: bootstrap, orchestrator, task reaper,
     │            scheduler, dispatcher, manager-status keeper; Raft's leadership
     │            subscription tells this supervisor to start it on winning and stop it on
     │            losing (actors/node/tree/leader_group.py)
     ├─ raftjoin  asks the leader to add this manager to Raft until it is a member
     ├─ worker    Worker over the docker or process executor (STATE_DIR/worker)
     └─ agent     Agent: a CURVE session to a manager's dispatcher (its own first)

A worker (its certificate says worker) runs ``control`` (``version``, and every other
control request refused with ``not_manager``: swarmctl prints one line), ``worker``,
``agent`` and ``renewer``. A promotion or demotion restarts the tree in the new role
without the process exiting (actors/node/runner.py).

The store and the other long-lived parts live in an ``Assembly``
(actors/node/tree/manager_parts.py).
Handlers are built once per endpoint start and look their subsystems up per request.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

import pykka

from actors.ca.join import HELLO_MAX_MESSAGE_SIZE, hello_keypair
from actors.ca.node_identity import NodeIdentity
from actors.control.errors import ControlError, guarded
from actors.log import get_logger
from actors.node.tree.manager_parts import Assembly
from actors.supervisor import ChildContext, ChildSpec, Directory, Restart, Supervisor
from api.messages import DEFAULT_MAX_MESSAGE_SIZE, registered
from transport.auth import AdmissionPolicy, AdmitAll, AllowList
from transport.endpoint import EndpointActor, Handler, Request
from transport.keys import KeyPair

__all__ = [
    "NOT_MANAGER_CODE",
    "NOT_MANAGER_MESSAGE",
    "Node",
    "NodeConfig",
    "NodeError",
    "StateDirLock",
    "advertised_address",
    "endpoint_child",
    "endpoint_tables",
    "node_children",
    "software_version",
]

ROLE_MANAGER = "manager"
NOT_MANAGER_CODE = "not_manager"
NOT_MANAGER_MESSAGE = (
    "this node is not a manager: worker nodes can't be used to view or modify cluster "
    "state; run this on a manager, or promote this node (swarmctl node promote)"
)
MAX_IPC_PATH = 107  # sun_path is 108 bytes with the terminating NUL

HandlerTable = Mapping[str, Handler]
HandlerFactory = Callable[[Directory], HandlerTable]

_log = get_logger("node")


class NodeError(Exception):
    """The node cannot start (bad address, state dir in use, port taken, ...)."""


def software_version() -> str:
    try:
        return metadata.version("swarmnode")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True)
class NodeConfig:
    state_dir: Path
    hostname: str
    listen_remote_api: str  # HOST:PORT
    listen_control_api: Path
    role: str = ROLE_MANAGER
    advertise_addr: str = ""  # HOST:PORT others reach us at ("": see `advertised`)
    stop_timeout: float = 5.0
    executor: str = "process"  # docker | process | sim
    labels: Mapping[str, str] = field(default_factory=dict)  # node labels at registration

    @property
    def remote_bind(self) -> str:
        host, sep, port = self.listen_remote_api.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise NodeError(f"--listen-remote-api wants HOST:PORT, got {self.listen_remote_api!r}")
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"tcp://{host}:{port}"

    @property
    def advertised(self) -> str:
        """``advertise_addr``, else the listen address (a wildcard host → 127.0.0.1)."""
        return advertised_address(self.listen_remote_api, self.advertise_addr)

    @property
    def control_bind(self) -> str:
        path = str(self.listen_control_api)
        if len(os.fsencode(path)) > MAX_IPC_PATH:
            raise NodeError(f"control socket path is too long for a unix socket: {path}")
        return f"ipc://{path}"


def advertised_address(listen: str, advertise: str = "") -> str:
    """What other nodes use to reach this one: ``advertise`` if given, else ``listen``
    with a wildcard host replaced by 127.0.0.1 (``::`` by ``::1``). Raises NodeError."""
    addr = advertise or listen
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
        flag = "--advertise-addr" if advertise else "--listen-remote-api"
        raise NodeError(f"{flag} wants HOST:PORT with a port, got {addr!r}")
    if host in ("0.0.0.0", "*"):
        host = "127.0.0.1"
    elif host in ("::", "[::]"):
        host = "[::1]"
    return f"{host}:{port}"


def endpoint_child(
    name: str,
    bind: str,
    handlers: HandlerFactory,
    *,
    keypair: KeyPair | None = None,
    admission: AdmissionPolicy | None = None,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    stop_timeout: float = 5.0,
    start_timeout: float = 10.0,
    on_listening: Callable[[str], None] | None = None,
) -> ChildSpec:
    """A child running transport's ``EndpointActor`` (a plain pykka actor: the supervisor's
    watch notices it dying). Starting returns once the socket is bound, or raises the
    bind error itself (port taken, bad address) so the failure says why."""

    def start(ctx: ChildContext) -> pykka.ActorRef[Any]:
        started: Future[str] = Future()
        ref = EndpointActor.start(
            bind,
            handlers(ctx.peers),
            keypair=keypair,
            admission=admission,
            max_message_size=max_message_size,
            name=name,
            started=started,
        )
        try:
            address = started.result(timeout=start_timeout)
        except BaseException:
            ref.stop(block=False)
            raise
        _log.info("node.endpoint.listening", endpoint=name, address=address)
        if on_listening is not None:
            on_listening(address)
        return ref

    return ChildSpec(
        name=name,
        start=start,
        restart=Restart.PERMANENT,
        start_timeout=start_timeout,
        stop_timeout=stop_timeout,
    )


def version_handlers(identity: NodeIdentity, role: str) -> HandlerFactory:
    def build(_peers: Directory) -> HandlerTable:
        reply = {"node_id": identity.node_id, "role": role, "version": software_version()}

        def version(_request: Request) -> Mapping[str, Any]:
            return reply

        return {"version": version}

    return build


def worker_control_handlers(_peers: Directory) -> HandlerTable:
    """A worker's control table: every control request refused in one line."""

    def refuse(_body: Mapping[str, Any]) -> Mapping[str, Any]:
        raise ControlError(NOT_MANAGER_CODE, NOT_MANAGER_MESSAGE)

    return {
        name: guarded(refuse)
        for name, kind in registered().items()
        if name.startswith("control.") and getattr(kind, "reply", None)
    }


def with_handlers(base: HandlerFactory, extra: HandlerFactory | None) -> HandlerFactory:
    """``base``'s table plus ``extra``'s (the control API's hook: the node assembly passes
    ``lambda peers: actors.control.control_handlers(store)`` once it has a store)."""
    if extra is None:
        return base
    return lambda peers: {**base(peers), **extra(peers)}


def endpoint_tables(
    identity: NodeIdentity,
    role: str,
    assembly: Assembly | None = None,
    control_handlers: HandlerFactory | None = None,
) -> dict[str, HandlerFactory]:
    """What each endpoint of the node serves, by endpoint name: a worker's ``control``; a
    manager's ``remote`` (every handler authorized), ``control`` and ``hello``. Without an
    ``assembly``: ``remote`` and ``control`` (``version``, and ``control_handlers``). The
    role matrix (tests/security) reads the tables from here."""
    handlers = version_handlers(identity, role)
    if assembly is not None and not assembly.is_manager:
        return {"control": with_handlers(handlers, worker_control_handlers)}
    if control_handlers is None and assembly is not None:
        control_handlers = assembly.control_handlers
    remote_table = with_handlers(handlers, assembly.remote_handlers if assembly else None)
    tables = {"remote": remote_table, "control": with_handlers(handlers, control_handlers)}
    if assembly is not None:
        guard = assembly.guard_remote
        tables["remote"] = lambda peers: guard(remote_table(peers))
        tables["hello"] = assembly.hello_handlers
    return tables


def node_children(
    config: NodeConfig,
    identity: NodeIdentity,
    admission: AdmissionPolicy,
    control_handlers: HandlerFactory | None = None,
    assembly: Assembly | None = None,
) -> list[ChildSpec]:
    """The node's children in start order (stopped in reverse). Without an ``assembly``
    only the two endpoints run (with ``version``, and ``control_handlers`` if given)."""
    tables = endpoint_tables(identity, config.role, assembly, control_handlers)
    control = endpoint_child(
        "control", config.control_bind, tables["control"], stop_timeout=config.stop_timeout
    )
    if assembly is not None and not assembly.is_manager:
        return [
            control,
            assembly.worker_child(),
            assembly.agent_child(),
            assembly.renewer_child(),
        ]
    remote = endpoint_child(
        "remote",
        config.remote_bind,
        tables["remote"],
        keypair=identity.keypair,
        admission=admission,
        stop_timeout=config.stop_timeout,
        on_listening=assembly.remote_listening if assembly is not None else None,
    )
    if assembly is None:
        return [remote, control]
    hello = endpoint_child(
        "hello",
        assembly.hello_bind(),
        tables["hello"],
        keypair=hello_keypair(),
        admission=AdmitAll(),
        max_message_size=HELLO_MAX_MESSAGE_SIZE,  # anyone: ZeroMQ drops bigger frames
        stop_timeout=config.stop_timeout,
    )
    return [
        assembly.raft_child(),
        remote,
        control,
        hello,
        assembly.leader_child(),
        assembly.joiner_child(),
        assembly.worker_child(),
        assembly.agent_child(),
        assembly.renewer_child(),
    ]


class StateDirLock:
    """An exclusive ``flock`` on STATE_DIR/lock, held while the node runs."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "lock"
        self._file: TextIO | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)  # files under a state dir are 0600, an older lock file too
        handle = os.fdopen(fd, "a")  # held open for the process's life
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            if exc.errno in (errno.EWOULDBLOCK, errno.EACCES):
                raise NodeError(
                    f"state dir {self.path.parent} is in use by another swarm-node"
                ) from None
            raise NodeError(f"cannot lock {self.path}: {exc.strerror}") from exc
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def check_control_socket_free(path: Path) -> None:
    """Refuse to take over a socket another live process answers on; clear a stale one."""
    if not path.exists() and not path.is_symlink():
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except ConnectionRefusedError:
        path.unlink(missing_ok=True)  # left behind by a node that did not stop cleanly
        return
    except OSError as exc:
        raise NodeError(f"cannot use control socket path {path}: {exc.strerror}") from exc
    finally:
        probe.close()
    raise NodeError(f"another process is listening on the control socket {path}")


class Node:
    """Builds and runs the supervision tree. ``start()`` returns once every child is up."""

    def __init__(
        self,
        config: NodeConfig,
        identity: NodeIdentity,
        *,
        on_escalate: Callable[[BaseException], None] | None = None,
        start_timeout: float = 30.0,
        control_handlers: HandlerFactory | None = None,
        assembly: Assembly | None = None,
    ) -> None:
        self.config = config
        self._control_handlers = control_handlers
        self.assembly = assembly
        self.identity = identity
        self.admission: AdmissionPolicy = AllowList([identity.keypair.public])
        if assembly is not None and assembly.is_manager:
            self.admission = assembly.admission
        self._on_escalate = on_escalate
        self._start_timeout = start_timeout
        self._failure: BaseException | None = None
        self._failed = threading.Event()
        self._started = False
        self.supervisor: pykka.ActorRef[Supervisor] | None = None

    def children(self) -> list[ChildSpec]:
        return node_children(
            self.config, self.identity, self.admission, self._control_handlers, self.assembly
        )

    def start(self) -> None:
        children = self.children()  # validates the addresses before anything starts
        check_control_socket_free(self.config.listen_control_api)
        if self.assembly is not None:
            self.assembly.start_security()
        ref = Supervisor.start(None, children, name="node", on_escalate=self._escalated)
        self.supervisor = ref
        if self.assembly is not None:
            self.assembly.switch.attach(ref)
        try:
            ref.proxy().status().get(timeout=self._start_timeout)
        except pykka.ActorDeadError:
            self._failed.wait(timeout=self._start_timeout)
            cause = self._failure
            reason = f"{type(cause).__name__}: {cause}" if cause else "a child stopped starting"
            raise NodeError(reason) from cause
        except pykka.Timeout:
            raise NodeError(f"node did not start within {self._start_timeout:g}s") from None
        self._started = True

    def _escalated(self, error: BaseException) -> None:
        self._failure = error
        self._failed.set()
        if self._on_escalate is not None and self._started:
            self._on_escalate(error)

    def address(self, child: str) -> str:
        if self.supervisor is None:
            raise NodeError("node is not running")
        endpoint = self.supervisor.proxy().get(child).get(timeout=self._start_timeout)
        return str(endpoint.proxy().address().get(timeout=self._start_timeout))

    def stop(self) -> None:
        ref, self.supervisor = self.supervisor, None
        if ref is None:
            return
        try:
            ref.stop(block=True, timeout=self.config.stop_timeout * 4)
        except pykka.ActorDeadError:
            pass  # it already stopped itself (an escalation)
        except pykka.Timeout:
            _log.error("node.stop.timeout", timeout=self.config.stop_timeout * 4)
        if self.assembly is not None:
            self.assembly.stop_security()
        # The socket file is ours (start() checked nobody else answered on it): remove it
        # so a stopped node leaves no socket that looks alive.
        self.config.listen_control_api.unlink(missing_ok=True)
