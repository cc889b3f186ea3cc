"""The Engine API's way to the control API: a client of this manager's control socket,
like swarmctl, so every request meets the same validation, gating and errors.

One ZeroMQ client (transport/client.py: shared by any threads; its futures complete on
its I/O thread) serves every HTTP request: ``call`` awaits a reply without holding a
thread; ``stream`` is a blocking iterator, read by the HTTP handlers off the event loop.
Control refusals become `EngineError`s with Docker's status (actors/engine_api/errors.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from actors.engine_api.errors import EngineError
from api.errors import (
    ClientClosed,
    CodecError,
    FrameTooLarge,
    RemoteError,
    RequestTimeout,
    TransportError,
)
from api.limits import CONTROL_MAX_REQUEST_BYTES
from api.listing import joined
from transport.client import Client

__all__ = ["ControlCaller"]

DEFAULT_TIMEOUT = 15.0  # longer than the control API's own retry window for writes


class ControlCaller:
    def __init__(self, control_address: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._address = control_address
        self.timeout = timeout
        self._client: Client | None = None

    def open(self) -> None:
        self._client = Client(
            self._address,
            timeout=self.timeout,
            max_request_size=CONTROL_MAX_REQUEST_BYTES,
            name="engine-api",
        )

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _live(self) -> Client:
        if self._client is None:
            raise EngineError(503, "the Engine API is stopping")
        return self._client

    async def call(
        self, type_: str, body: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """The reply's body; EngineError for a refusal or a manager that does not answer
        (within ``timeout`` seconds, else the caller's)."""
        timeout = self.timeout if timeout is None else timeout
        try:
            future = self._live().request_async(type_, dict(body or {}), timeout)
            return await asyncio.wrap_future(future)
        except RemoteError as exc:
            raise EngineError.of_control(exc.code, exc.message) from None
        except RequestTimeout:
            raise EngineError(
                503, f"the manager did not answer {type_} within {timeout:g}s", "timeout"
            ) from None
        except ClientClosed:
            raise EngineError(503, "the Engine API is stopping") from None
        except FrameTooLarge as exc:  # over the control socket's limit: never sent
            raise EngineError(413, str(exc)) from None
        except CodecError as exc:  # a request this node's control API does not know
            raise EngineError(500, f"{type_}: {exc}") from None

    def fire(self, type_: str, body: Mapping[str, Any], *, timeout: float) -> None:
        """A request whose answer nobody waits for (best effort: a stream's clean-up after
        its client went away, when the handler may be cancelled at its next await)."""
        client = self._client
        if client is None:
            return
        with contextlib.suppress(TransportError, CodecError):
            client.request_async(type_, dict(body), timeout)

    async def listing(
        self, type_: str, body: Mapping[str, Any], rows_key: str = "tasks"
    ) -> dict[str, Any]:
        """A listing's whole reply, however many rows (in frames from one read of the
        store, actors/control/listing.py), gathered off the event loop."""
        frames = self.stream(type_, {**body, "stream": True}, frame_timeout=self.timeout)
        return await asyncio.get_running_loop().run_in_executor(None, joined, frames, rows_key)

    def stream(
        self, type_: str, body: Mapping[str, Any], frame_timeout: float
    ) -> Iterator[dict[str, Any]]:
        """A streamed request's frames (blocking); errors as ``call``'s."""
        try:
            yield from self._live().stream(type_, dict(body), timeout=frame_timeout)
        except RemoteError as exc:
            raise EngineError.of_control(exc.code, exc.message) from None
        except RequestTimeout:
            raise EngineError(503, f"the manager stopped streaming {type_}") from None
        except ClientClosed:
            raise EngineError(503, "the Engine API is stopping") from None
