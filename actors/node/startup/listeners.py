"""The TCP ports a node listens on, what each is for, and a check that each is free.

Rules:
- `node_listeners` (pure): a manager's remote API (``--listen-remote-api``) and its
  join-hello port (that port + 1); on any node the Prometheus endpoint
  (``--metrics-addr``) and the Engine API (``--engine-api`` on TCP); a manager's web view
  (``--web-addr``). Left out: port 0 (the system picks a free one), unix sockets, and the
  routing mesh's ingress ports, which come later with the sessions' tables.
- `first_taken` (pure over an injected ``bind``): the first listener whose address cannot
  be bound, as `PortTaken`, which names the address, what it was for and its flag.
- `can_bind` (the I/O): bind with SO_REUSEADDR, as ZeroMQ and aiohttp do (a port in
  TIME_WAIT is free to them), then close at once.

Why: a taken port must stop a node before its control socket says it serves. The tree
binds every port before the control endpoint (actors/node/tree/), and checks them all
first so the error says what the port was for (`Node.start`); a locked manager checks
them before it accepts an unlock key, so ``swarmctl unlock`` names the taken port instead
of reporting success for a node about to stop (actors/node/startup/locked.py).
"""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from actors.ca.join import HELLO_PORT_OFFSET
from actors.engine_api.child import check_engine_address
from actors.metrics.http import parse_metrics_addr
from actors.node.config import NodeConfig, NodeError
from actors.web.child import parse_web_addr
from api.enums import NodeRole

__all__ = ["Listener", "PortTaken", "can_bind", "check_listeners", "first_taken", "node_listeners"]

_WILDCARDS = {"*": "0.0.0.0", "": "0.0.0.0"}


@dataclass(frozen=True, slots=True)
class Listener:
    """One TCP port the node binds: ``what`` it serves, the ``flag`` that sets it."""

    what: str
    flag: str
    host: str
    port: int

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


class PortTaken(NodeError):
    """A port the node needs cannot be bound; the message names it and what it was for."""

    def __init__(self, listener: Listener, reason: str) -> None:
        super().__init__(
            f"{listener.what} ({listener.flag}) cannot listen on {listener.address}: {reason}"
        )
        self.listener = listener
        self.reason = reason


def _host_port(text: str, flag: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise NodeError(f"{flag} wants HOST:PORT, got {text!r}")
    host = host.strip("[]")
    return _WILDCARDS.get(host, host), int(port)


def node_listeners(config: NodeConfig, role: NodeRole) -> tuple[Listener, ...]:
    """The TCP ports a node of ``role`` binds as it starts (see the module docstring)."""
    found: list[Listener] = []
    if role is NodeRole.MANAGER:
        host, port = _host_port(config.listen_remote_api, "--listen-remote-api")
        found.append(Listener("the remote API", "--listen-remote-api", host, port))
        if port:
            found.append(
                Listener(
                    "the join-hello endpoint",
                    f"--listen-remote-api's port + {HELLO_PORT_OFFSET}",
                    host,
                    port + HELLO_PORT_OFFSET,
                )
            )
    if config.metrics_addr is not None:
        host, port = parse_metrics_addr(config.metrics_addr)
        found.append(Listener("the metrics endpoint", "--metrics-addr", host, port))
    if config.engine_api is not None:
        engine = check_engine_address(config.engine_api, tls=config.engine_api_tls is not None)
        if not engine.is_unix:
            found.append(Listener("the Engine API", "--engine-api", engine.host, engine.port))
    if role is NodeRole.MANAGER and config.web_addr is not None:
        web = parse_web_addr(config.web_addr)
        found.append(Listener("the web view", "--web-addr", web.host, web.port))
    return tuple(listener for listener in found if listener.port)


def first_taken(
    listeners: Iterable[Listener], bind: Callable[[Listener], str | None]
) -> PortTaken | None:
    """The first listener ``bind`` cannot bind (it returns why, or None when it could)."""
    for listener in listeners:
        reason = bind(listener)
        if reason is not None:
            return PortTaken(listener, reason)
    return None


def can_bind(listener: Listener) -> str | None:
    """None when ``listener``'s address can be bound now, else why not (e.g. "the
    address is in use: another process listens on it")."""
    try:
        infos = socket.getaddrinfo(
            listener.host, listener.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        return f"cannot resolve {listener.host!r}: {exc.strerror or exc}"
    family, kind, proto, _name, sockaddr = infos[0]
    probe = socket.socket(family, kind, proto)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(sockaddr)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return "the address is in use (another process listens on it)"
        return exc.strerror or str(exc)
    finally:
        with contextlib.suppress(OSError):
            probe.close()
    return None


def check_listeners(listeners: Sequence[Listener]) -> None:
    """Raise `PortTaken` for the first port that cannot be bound now."""
    taken = first_taken(listeners, can_bind)
    if taken is not None:
        raise taken
