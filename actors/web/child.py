"""The ``web`` child of a manager's tree (``swarm-node --web-addr HOST:PORT``).

Served by the shared HTTP shell (actors/http/) on a TCP address: ``PORT`` or ``:PORT``
alone binds the loopback address; any other host only when written out, and the node then
logs that other hosts can read the view (and, with a web token, that the token crosses
the network in clear: put the view behind TLS or keep it on loopback). A taken port fails
the node's start with the address named, as ``--metrics-addr`` does.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

from aiohttp import web

from actors.control.raft_members import RaftView
from actors.control.services import ServiceControl
from actors.http import HttpAddress, HttpServer, http_child, parse_http_address
from actors.log import get_logger
from actors.store import MemoryStore
from actors.supervisor import ChildContext, ChildSpec
from actors.web.app import web_app
from actors.web.auth import MAX_TOKEN_LENGTH, WriteAuth, check_token_text
from actors.web.feed import LiveFeed
from actors.web.logs import Call, ControlLogTail
from actors.web.quorum import quorum_of
from api.limits import CONTROL_MAX_REQUEST_BYTES
from transport.client import Client

__all__ = ["control_calls", "parse_web_addr", "read_token_file", "web_child"]

FLAG: Final = "--web-addr"
TOKEN_FLAG: Final = "--web-token-file"
LOG_TAILS_AT_ONCE: Final = 4  # each holds one of the server's pool threads while it reads

_log = get_logger("web")


def parse_web_addr(text: str) -> HttpAddress:
    """``HOST:PORT``, ``[IPV6]:PORT``, ``:PORT`` or ``PORT`` (loopback); ValueError names
    the flag. A browser needs TCP: a unix socket is refused."""
    address = parse_http_address(text, flag=FLAG)
    if address.is_unix:
        raise ValueError(f"{FLAG} wants HOST:PORT (a browser cannot open a unix socket)")
    return address


def read_token_file(path: Path) -> str:
    """The web token in ``path``; ValueError when the file is missing, open to other users
    (as ssh refuses such a key: chmod 600) or not one line of at least 16 characters."""
    where = f"{TOKEN_FLAG} {path}"
    try:
        with open(path, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise ValueError(f"{where}: not a regular file")
            if mode & 0o077:
                raise ValueError(
                    f"{where}: other users may read it (mode {stat.S_IMODE(mode):04o}); "
                    f"chmod 600 {path}"
                )
            data = f.read(MAX_TOKEN_LENGTH + 2)
    except OSError as exc:
        raise ValueError(f"{where}: cannot read it: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{where}: the web token must be UTF-8 text") from None
    return check_token_text(text, where)


def control_calls(
    socket: Path, *, timeout: float = 10.0
) -> Callable[[], contextlib.AbstractContextManager[Call]]:
    """Calls on this manager's own control socket, as swarmctl makes them: one connection
    per use (a log tail), closed after it."""

    @contextlib.contextmanager
    def connect() -> Iterator[Call]:
        client = Client(
            f"ipc://{socket}",
            timeout=timeout,
            max_request_size=CONTROL_MAX_REQUEST_BYTES,
            name="web-control",
        )
        try:
            yield lambda kind, body, limit: client.request(kind, body, timeout=limit)
        finally:
            client.close()

    return connect


def web_child(
    addr: str,
    store: MemoryStore,
    *,
    token: str | None,
    control_socket: Path,
    leaderless_for: Callable[[], float | None],
    raft_view: Callable[[], RaftView] | None = None,
    stop_timeout: float = 5.0,
) -> ChildSpec:
    """The web view of ``store``; task log tails through ``control_socket`` (the control
    API's log calls, so a follower relays them to the leader's broker as for swarmctl);
    ``leaderless_for``: the seconds this manager has known no Raft leader (None before its
    Raft member runs), for the page's warning that its copy may be stale; ``raft_view``:
    the member's view of who leads and who is reachable, for the managers' live status."""
    address = parse_web_addr(addr)
    auth = WriteAuth(token)
    logs = ControlLogTail(
        control_calls(control_socket),
        threading.BoundedSemaphore(LOG_TAILS_AT_ONCE),
        clock=time.monotonic,
    )

    def factory(_ctx: ChildContext | None, server: HttpServer) -> web.Application:
        if not address.is_loopback():
            _log.warning(
                "web.exposed",
                address=address.url(),
                reason=f"{FLAG} names a non-loopback address: other hosts can read the view",
                writes_in_clear=auth.writes,
            )
        feed = LiveFeed(store, quorum=lambda: quorum_of(leaderless_for()), raft_view=raft_view)
        return web_app(server, feed, auth=auth, scale=ServiceControl(store), logs=logs)

    return http_child("web", address, factory, stop_timeout=stop_timeout)
