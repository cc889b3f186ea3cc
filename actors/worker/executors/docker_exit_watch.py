"""The Docker executor's one watch over its running containers: a thread that follows the
engine's event stream while any container is waited on, and ends the waits the stream
says are over (the book of watches and what ends one: docker_exits.py).

Rules:
- One thread and one engine connection per executor, and only while something is
  watched: the thread starts with the first watch and, once none is left, closes the
  stream and ends. A running task holds no thread and no connection of its own.
- Connecting: the stream asks for events since ``REPLAY_MARGIN`` seconds before the
  request (the engine answers before it subscribes: the replay covers that gap), then
  this node's containers are listed, and the watches of those not running any more fire
  (what happened while no stream was open: the engine restarted, the connection broke).
- A stream that ends or breaks is opened again after a backoff (``RECONNECT_BACKOFF``:
  its first delay after a stream that was up, growing while opening fails); the watches
  stay. Logged ``worker.docker.exits.stream_lost``.
- A stream quiet for ``QUIET_REOPEN`` seconds is opened again at once (and the listing
  taken again): the engine drops events for a subscriber that falls far behind (its
  buffer of 1,024), so a die it dropped is noticed within that time, never lost.
- Notifies are called on the watch's thread, outside its lock, and must not block (the
  task runner's is a tell).
- A failure that is not the engine's (a bug) fires every watch with the error: each task
  runner crashes on it and its supervisor restarts it (which watches again, on a new
  thread). It is never a silent end of every wait.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import urllib3.exceptions
from docker.types.daemon import CancellableStream

from actors.backoff import Backoff
from actors.log import get_logger
from actors.worker.executors.base import ExecutorError
from actors.worker.executors.docker_config import LABEL_NODE_ID
from actors.worker.executors.docker_errors import edge
from actors.worker.executors.docker_exits import (
    ExitWatches,
    Wake,
    events_filters,
    parse_event,
    running_ids,
)

__all__ = ["QUIET_REOPEN", "RECONNECT_BACKOFF", "REPLAY_MARGIN", "ExitWatch", "Notify"]

REPLAY_MARGIN = 1.0  # seconds of events asked again on each connect
RECONNECT_BACKOFF = Backoff(initial=0.5, maximum=10.0)
QUIET_REOPEN = 60.0  # seconds without an event before the stream is opened again
CONNECT_TIMEOUT = 30.0
MAX_EVENT_BYTES = 64 * 1024  # a line longer than this is not an event of ours: reconnect
_READ = 64 * 1024

Notify = Callable[[Wake], None]


class _EventStream:
    """One ``GET /events`` response: decoded events, one per line; ``close`` from any
    thread ends the iteration (the socket is shut down, as the SDK's streams do)."""

    def __init__(self, response: Any) -> None:
        self._response = response
        self._cancel = CancellableStream(iter(()), response)
        self.error = ""  # why the stream ended, when it broke
        self.quiet = False  # it ended after its read timeout: nothing came for a while

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closed already, or under us
            self._cancel.close()

    def __iter__(self) -> Iterator[object]:
        raw = self._response.raw
        pending = b""
        try:
            # read1: what has come, as soon as it came (a chunk: an event, or several)
            while data := raw.read1(_READ):
                lines = (pending + data).split(b"\n")
                pending = lines.pop()
                if len(pending) > MAX_EVENT_BYTES:
                    self.error = "an event line over the size limit"
                    return
                for line in lines:
                    if line.strip():
                        yield json.loads(line)
            self.error = "the engine closed the stream"
        except (TimeoutError, urllib3.exceptions.TimeoutError):
            self.quiet = True
        except Exception as exc:  # a reset, a closed socket, a torn line
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._response.close()


class ExitWatch:
    """The exit watch of node ``node_id``'s containers on the engine ``api()`` returns."""

    def __init__(
        self,
        api: Callable[[], Any],
        node_id: str,
        *,
        backoff: Backoff = RECONNECT_BACKOFF,
        quiet_reopen: float = QUIET_REOPEN,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._api = api
        self._node_id = node_id
        self._backoff = backoff
        self._quiet_reopen = quiet_reopen
        self._clock = clock
        self._lock = threading.Lock()
        self._watches: ExitWatches[Notify] = ExitWatches()
        self._thread: threading.Thread | None = None
        self._stream: _EventStream | None = None
        self._idle = threading.Event()  # no watch left: a backoff ends early
        self.streams_opened = 0  # how many times the stream was opened
        self._log = get_logger("worker", executor="docker")

    # -- the controllers' side ----------------------------------------------------------
    def add(self, container_id: str, notify: Notify) -> int:
        """Watch container ``container_id``: ``notify`` is called once when it may have
        stopped; the watch's key."""
        with self._lock:
            key = self._watches.add(container_id, notify)
            self._idle.clear()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="docker-exit-watch", daemon=True
                )
                self._thread.start()
        return key

    def cancel(self, key: int) -> None:
        """Forget watch ``key`` (fired or not)."""
        self._take(key)

    def wake(self, key: int) -> None:
        """Fire watch ``key`` now, unless it fired already (the controller saw the
        container stopped)."""
        notify = self._take(key)
        if notify is not None:
            notify(Wake())

    def watching(self) -> int:
        with self._lock:
            return len(self._watches)

    def _take(self, key: int) -> Notify | None:
        with self._lock:
            notify = self._watches.pop(key)
            stream = self._release_if_idle()
        if stream is not None:
            stream.close()
        return notify

    def _release_if_idle(self) -> _EventStream | None:
        """Under the lock: with no watch left, the open stream to close."""
        if self._watches:
            return None
        self._idle.set()
        stream, self._stream = self._stream, None
        return stream

    # -- the thread ---------------------------------------------------------------------
    def _run(self) -> None:
        attempt = 0
        try:
            while True:
                with self._lock:
                    if not self._watches:
                        self._thread = None
                        return
                try:
                    ended = self._follow()
                    attempt = 0
                except ExecutorError as exc:
                    ended = str(exc)
                if ended is None or self._idle.is_set():
                    continue  # quiet: opened again at once; or nothing left to watch
                attempt += 1
                delay = self._backoff.delay(attempt)
                self._log.warning(
                    "worker.docker.exits.stream_lost",
                    error=ended,
                    retry_in=round(delay, 2),
                    watching=self.watching(),
                )
                self._idle.wait(delay)
        except Exception as exc:
            self._fail(exc)

    def _follow(self) -> str | None:
        """Open the stream, fire the watches of stopped containers, then those the
        events end, until the stream ends; why it ended (None: it was quiet).
        ExecutorError when the engine could not be reached or refused."""
        api = self._api()
        stream = self._open(api)
        try:
            with self._lock:
                if self._idle.is_set():
                    return "no watch left"
                self._stream = stream
                self.streams_opened += 1
            with edge("list containers"):
                listing = api.containers(
                    all=True, filters={"label": [f"{LABEL_NODE_ID}={self._node_id}"]}
                )
            running = running_ids(listing)
            with self._lock:
                fired = self._watches.on_listing(running)
            self._notify(fired)
            for raw in stream:
                event = parse_event(raw)
                if event is not None:
                    with self._lock:
                        fired = self._watches.on_event(event)
                    self._notify(fired)
            return None if stream.quiet else stream.error
        finally:
            with self._lock:
                if self._stream is stream:
                    self._stream = None
            stream.close()

    def _open(self, api: Any) -> _EventStream:
        since = self._clock() - REPLAY_MARGIN
        with edge("events"):
            response = api._get(
                api._url("/events"),
                params={
                    "since": f"{since:.9f}",
                    "filters": json.dumps(events_filters(self._node_id)),
                },
                stream=True,
                timeout=(CONNECT_TIMEOUT, self._quiet_reopen),
            )
            api._raise_for_status(response)
        return _EventStream(response)

    def _notify(self, fired: list[tuple[Notify, Wake]]) -> None:
        """Call the notifies of watches that fired; with none left, end the stream."""
        if not fired:
            return
        with self._lock:
            stream = self._release_if_idle()
        for notify, wake in fired:
            notify(wake)
        if stream is not None:
            stream.close()

    def _fail(self, error: Exception) -> None:
        self._log.error("worker.docker.exits.failed", error=f"{type(error).__name__}: {error}")
        with self._lock:
            fired = self._watches.fail_all(error)
            self._thread = None
            stream, self._stream = self._stream, None
            self._idle.set()
        if stream is not None:
            stream.close()
        for notify, wake in fired:
            notify(wake)
