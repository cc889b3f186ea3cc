"""Defaults shared by ``swarm-node`` and ``swarmctl`` (so swarmctl finds a default node)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "DEFAULT_LISTEN_REMOTE_API",
    "DEFAULT_STATE_DIR",
    "SOCKET_ENV",
    "SOCKET_NAME",
    "default_socket",
]

DEFAULT_STATE_DIR = Path("swarmnode-state")
SOCKET_NAME = "swarm.sock"
DEFAULT_LISTEN_REMOTE_API = "0.0.0.0:4242"
SOCKET_ENV = "SWARM_SOCKET"


def default_socket() -> Path:
    """SWARM_SOCKET if set, else the socket a ``swarm-node`` started here uses by default."""
    env = os.environ.get(SOCKET_ENV)
    return Path(env) if env else DEFAULT_STATE_DIR / SOCKET_NAME
