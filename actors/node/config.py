"""What a node is told to be: `NodeConfig`, built from swarm-node's flags (cli/node_main.py)
and run by the runner (actors/node/runner.py); `NodeError`, what stops it starting."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

__all__ = ["MAX_IPC_PATH", "NodeConfig", "NodeError", "advertised_address"]

MAX_IPC_PATH: Final = 107  # sun_path is 108 bytes with the terminating NUL


class NodeError(Exception):
    """The node cannot start (bad address, state dir in use, port taken, ...)."""


@dataclass(frozen=True)
class NodeConfig:
    state_dir: Path
    hostname: str
    listen_remote_api: str  # HOST:PORT
    listen_control_api: Path
    advertise_addr: str  # HOST:PORT others reach us at (`advertised_address`)
    executor: str | None = None  # docker | process | sim (None: docker if an engine answers)
    process_user: str | None = None  # who process tasks run as when the node runs as root
    labels: Mapping[str, str] = field(default_factory=dict)  # node labels at registration
    join_addr: str | None = None  # HOST:PORT of a manager to join through (with join_token)
    join_token: str | None = None
    autolock: bool = False  # at init: lock the keys under a new unlock key
    force_new_cluster: bool = False  # a manager: restart as the only member of its group
    publish_addr: str = ""  # the host address tasks' published ports bind to ("": all)
    mesh_addr: str = "0.0.0.0"  # the address the routing mesh listens on (ingress ports)
    metrics_addr: str | None = None  # HOST:PORT of the Prometheus endpoint (None: none)
    engine_api: str | None = None  # unix:///PATH or tcp://HOST:PORT of the Engine API
    engine_api_tls: Path | None = None  # its TLS files (actors/engine_api/tls.py)
    web_addr: str | None = None  # managers: HOST:PORT of the web view (None: none)
    web_token: str | None = field(default=None, repr=False)  # allows the web view's writes
    stop_timeout: float = 5.0

    @property
    def remote_bind(self) -> str:
        host, sep, port = self.listen_remote_api.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise NodeError(f"--listen-remote-api wants HOST:PORT, got {self.listen_remote_api!r}")
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"tcp://{host}:{port}"

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
        raise NodeError(
            f"{flag} wants HOST:PORT with a port from 1 to 65535 (other nodes dial it, so "
            f"it cannot be left to the system), got {addr!r}"
        )
    if host in ("0.0.0.0", "*"):
        host = "127.0.0.1"
    elif host in ("::", "[::]"):
        host = "[::1]"
    return f"{host}:{port}"
