"""swarmctl's connection to a node's control socket, with errors a user can act on."""

from __future__ import annotations

import _socket  # the probe's socket without socket.py (its enums cost 3% of a create)
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from api.errors import ClientClosed, ConnectionLost, FrameTooLarge, RemoteError, RequestTimeout
from api.limits import CONTROL_MAX_REQUEST_BYTES
from api.listing import joined
from cli.errors import CliError
from transport.client import Client

if TYPE_CHECKING:
    from concurrent.futures import Future

__all__ = ["ControlConnection", "refusal"]

# Longer than the manager's retry window for writes lost to a leader change
# (actors/control/writes.py RETRY_WINDOW), so the manager's own error reaches the user.
DEFAULT_TIMEOUT = 10.0
# transport error codes (api/errors.py ErrorCode) that mean this node does not know the
# request: a node of an older version
_UNKNOWN_REQUEST = frozenset({"unknown_type", "unsupported"})


def refusal(exc: RemoteError) -> str:
    """The line a user sees for a refused request: the node's own message, which names
    what was wrong (never the internal name of the call)."""
    if exc.code in _UNKNOWN_REQUEST:
        return "the node does not support this command (is it an older version?)"
    return exc.message or exc.code


class ControlConnection:
    """Checks the socket before talking ZeroMQ to it, so a missing or dead node is reported
    at once, and turns transport errors into one-line ``CliError``s."""

    def __init__(
        self, path: Path, timeout: float = DEFAULT_TIMEOUT, *, watch: bool = False
    ) -> None:
        self.path = path
        self.timeout = timeout
        self._watch = watch
        self._client: Client | None = None

    def watching(self) -> ControlConnection:
        """The same connection, for a long stream: a node that dies (even by SIGKILL,
        which sends no last frame) ends the stream at once, not at its next frame's
        deadline (the transport's ``watch_connection``; requests lose their lanes)."""
        return ControlConnection(self.path, self.timeout, watch=True)

    def __enter__(self) -> ControlConnection:
        self._check_socket()
        self._client = Client(
            f"ipc://{self.path.absolute()}",
            timeout=self.timeout,
            max_request_size=CONTROL_MAX_REQUEST_BYTES,
            watch_connection=self._watch,
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def request(self, type_: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        if self._client is None:
            raise RuntimeError("use ControlConnection as a context manager")
        try:
            reply: dict[str, Any] = self._client.request(type_, dict(body or {}))
            return reply
        except (RequestTimeout, ClientClosed, RemoteError, FrameTooLarge) as exc:
            raise self._failed(exc) from None

    def _failed(self, exc: RequestTimeout | ClientClosed | RemoteError | FrameTooLarge) -> CliError:
        """The one line a request's transport error is for the user."""
        if isinstance(exc, RequestTimeout):
            return CliError(f"no node answering on {self.path} (no reply within {self.timeout:g}s)")
        if isinstance(exc, ClientClosed):
            return CliError(f"connection to {self.path} closed before the reply")
        if isinstance(exc, RemoteError):
            return CliError(refusal(exc))
        return CliError(str(exc))  # over the control socket's limit: never sent

    def listing(
        self, type_: str, body: Mapping[str, Any], rows_key: str = "tasks"
    ) -> dict[str, Any]:
        """A listing's whole reply, however many rows: asked with ``stream``, its rows
        come in frames from one read of the store (actors/control/listing.py)."""
        frames = self.stream(type_, {**body, "stream": True}, timeout=self.timeout)
        return joined(frames, rows_key)

    def rows(self, type_: str, body: Mapping[str, Any], rows_key: str) -> dict[str, Any]:
        """A listing that nearly always fits one message (services, nodes): asked whole,
        as a manager of an earlier version answers it too, and asked again as a `listing`
        when its rows are over one message (``too_large``)."""
        if self._client is None:
            raise RuntimeError("use ControlConnection as a context manager")
        try:
            reply: dict[str, Any] = self._client.request(type_, dict(body))
            return reply
        except (RequestTimeout, ClientClosed, RemoteError, FrameTooLarge) as exc:
            if not (isinstance(exc, RemoteError) and exc.code == "too_large"):
                raise self._failed(exc) from None
        return self.listing(type_, body, rows_key)

    def call(self, type_: str, body: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        """One request with the transport's own errors (``RemoteError``,
        ``RequestTimeout``, ``ClientClosed``), for callers that retry (cli/logs.py)."""
        if self._client is None:
            raise RuntimeError("use ControlConnection as a context manager")
        return self._client.request(type_, dict(body), timeout=timeout)

    def call_async(
        self, type_: str, body: Mapping[str, Any], timeout: float
    ) -> Future[dict[str, Any]]:
        """`call`, answered in a future: a caller interrupted while it waits can still
        take the reply (cli/logs.py closes a subscription whose id came late)."""
        if self._client is None:
            raise RuntimeError("use ControlConnection as a context manager")
        return self._client.request_async(type_, dict(body), timeout=timeout)

    def stream(
        self, type_: str, body: Mapping[str, Any] | None = None, *, timeout: float
    ) -> Iterator[dict[str, Any]]:
        """A streamed request's frames; ``timeout`` bounds the wait for each frame. Errors
        as ``request``'s."""
        if self._client is None:
            raise RuntimeError("use ControlConnection as a context manager")
        try:
            yield from self._client.stream(type_, dict(body or {}), timeout=timeout)
        except RequestTimeout:
            raise CliError(
                f"no node answering on {self.path} (no frame within {timeout:g}s)"
            ) from None
        except ClientClosed:
            raise CliError(f"connection to {self.path} closed during the stream") from None
        except ConnectionLost:
            raise CliError(f"the node on {self.path} went away during the stream") from None
        except RemoteError as exc:
            raise CliError(refusal(exc)) from None
        except FrameTooLarge as exc:
            raise CliError(str(exc)) from None

    def _check_socket(self) -> None:
        path = self.path
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise CliError(f"no socket at {path} (is swarm-node running?)") from None
        except PermissionError:
            raise CliError(f"permission denied: {path}") from None
        if not stat.S_ISSOCK(mode):
            raise CliError(f"{path} is not a socket")
        probe = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        probe.settimeout(self.timeout)
        try:
            probe.connect(str(path))
        except ConnectionRefusedError:
            raise CliError(f"no node answering on {path}") from None
        except PermissionError:
            raise CliError(f"permission denied: {path}") from None
        except OSError as exc:
            raise CliError(f"cannot connect to {path}: {exc.strerror or exc}") from None
        finally:
            probe.close()
