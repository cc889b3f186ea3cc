"""Process-wide structured logging: structlog configured once, events kept in a ring.

Rules:
- ``configure()`` runs once per process (``force=True`` reconfigures, for tests). Output is
  JSON lines when the stream is not a TTY, a console rendering otherwise; ``fmt`` overrides.
- Every event carries ``node_id`` once it is known (``set_node_id``: swarm-node sets it
  before its first line when its state dir holds an identity; a first start's lines before
  the node has an id carry none, as swarmd's, rather than a placeholder) and
  ``subsystem`` (bound by ``get_logger(subsystem)``), an ISO-8601 UTC ``timestamp`` and
  ``level``. Exceptions are rendered as text.
- Event names are dotted, ``<subsystem>.<thing>.<what happened>``: ``raft.election.won``.
- Values under keys that name secrets (``secret``, ``token``, ``password``, ``private``,
  ``passphrase``) and values that look like join tokens or unlock keys are replaced.
- Recent events are kept in a bounded ``LogRing`` (DESIGN §10); ``subscribe()`` gives a
  bounded queue of new events for ``swarmctl logs --follow``. A slow subscriber loses
  events (counted in ``dropped``), never blocks a logger.
- Standard-library ``logging`` records (pykka's own) are forwarded into the same pipeline.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import re
import sys
import threading
from collections.abc import Iterator, MutableMapping
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = [
    "LogFormat",
    "LogRing",
    "Subscription",
    "configure",
    "get_logger",
    "node_id",
    "ring",
    "set_node_id",
]

LogFormat = Literal["json", "console"]

DEFAULT_RING_SIZE = 2000
REDACTED = "[redacted]"
_SECRET_KEY = re.compile(r"secret|token|password|passphrase|private", re.IGNORECASE)
_SECRET_VALUE = re.compile(r"SWM(TKN|KEY)-1-\S+")
_UNSET_NODE_ID = ""

_lock = threading.Lock()
_configured = False
_node_id = _UNSET_NODE_ID


class Subscription:
    """A bounded queue of events published to the ring after ``subscribe()``."""

    def __init__(self, owner: LogRing, maxsize: int) -> None:
        self._owner = owner
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=maxsize)
        self.dropped = 0
        self.closed = False

    def _offer(self, event: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1

    def get(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next event, or None when none arrived within ``timeout`` seconds."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def drain(self) -> list[dict[str, Any]]:
        """Every event queued so far, without waiting."""
        events: list[dict[str, Any]] = []
        while True:
            try:
                events.append(self._queue.get_nowait())
            except queue.Empty:
                return events

    def close(self) -> None:
        self.closed = True
        self._owner._unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LogRing:
    """The most recent ``capacity`` events, as plain JSON-safe dicts, with subscribers."""

    def __init__(self, capacity: int = DEFAULT_RING_SIZE) -> None:
        if capacity < 1:
            raise ValueError("ring capacity must be at least 1")
        self.capacity = capacity
        self._events: collections.deque[dict[str, Any]] = collections.deque(maxlen=capacity)
        self._subscribers: list[Subscription] = []
        self._lock = threading.Lock()

    def append(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._events.append(event)
            subscribers = list(self._subscribers)
        for subscription in subscribers:
            subscription._offer(event)

    def snapshot(self) -> list[dict[str, Any]]:
        """The events currently held, oldest first."""
        with self._lock:
            return list(self._events)

    def subscribe(self, maxsize: int = 1000, *, replay: bool = False) -> Subscription:
        """Receive events appended from now on (``replay`` queues the held ones first)."""
        subscription = Subscription(self, maxsize)
        with self._lock:
            if replay:
                for event in self._events:
                    subscription._offer(event)
            self._subscribers.append(subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._subscribers.remove(subscription)

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.snapshot())


_ring = LogRing()


def ring() -> LogRing:
    """The process's event ring."""
    return _ring


def set_node_id(value: str) -> None:
    """Stamp every later event, from every thread, with this node id ("": none)."""
    global _node_id
    _node_id = value


def node_id() -> str:
    """The node id events carry ("" while none is known)."""
    return _node_id


def get_logger(subsystem: str, **bound: Any) -> Any:
    """A logger whose events carry ``subsystem`` (and any other ``bound`` values)."""
    # A lazy proxy: a module-level logger created before ``configure`` still renders with
    # the configuration in force when it logs (``.bind`` on the proxy would freeze the
    # default console configuration at import time).
    return structlog.get_logger(subsystem=subsystem, **bound)


# -- processors -------------------------------------------------------------------------


def _add_node_fields(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    if _node_id:
        event.setdefault("node_id", _node_id)
    event.setdefault("subsystem", "-")
    return event


def _redact(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    for key, value in list(event.items()):
        if key == "exc_info":
            continue
        if _SECRET_KEY.search(key) and value is not None:
            event[key] = REDACTED
        elif isinstance(value, str) and _SECRET_VALUE.search(value):
            event[key] = _SECRET_VALUE.sub(REDACTED, value)
    return event


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    return repr(value)


_format_exc = structlog.processors.format_exc_info


def _to_ring(logger: WrappedLogger, name: str, event: EventDict) -> EventDict:
    copy: MutableMapping[str, Any] = dict(event)
    copy = _format_exc(logger, name, copy)
    _ring.append({key: _json_safe(value) for key, value in copy.items()})
    return event


class _StdlibBridge(logging.Handler):
    """Forwards standard-library log records (pykka's) into structlog."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            log = get_logger(record.name.split(".")[0])
            kwargs: dict[str, Any] = {"logger": record.name}
            if record.exc_info:
                kwargs["exc_info"] = record.exc_info
            log.log(record.levelno, record.getMessage(), **kwargs)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def configure(
    fmt: LogFormat | None = None,
    *,
    stream: TextIO | None = None,
    level: int = logging.INFO,
    ring_size: int = DEFAULT_RING_SIZE,
    force: bool = False,
) -> LogRing:
    """Configure structlog for this process and return the event ring.

    ``fmt`` None picks JSON unless ``stream`` (default stderr) is a TTY. A second call is a
    no-op unless ``force`` is set.
    """
    global _configured, _ring
    with _lock:
        if _configured and not force:
            return _ring
        out = stream if stream is not None else sys.stderr
        if fmt is None:
            fmt = "console" if _isatty(out) else "json"
        if force or ring_size != _ring.capacity:
            _ring = LogRing(ring_size)
        renderer: list[Processor]
        if fmt == "json":
            renderer = [_format_exc, structlog.processors.JSONRenderer(default=_json_safe)]
        else:
            renderer = [structlog.dev.ConsoleRenderer(colors=_isatty(out))]
        structlog.configure(
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                _add_node_fields,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                _redact,
                _to_ring,
                *renderer,
            ],
            wrapper_class=structlog.make_filtering_bound_logger(level),
            logger_factory=structlog.PrintLoggerFactory(file=out),
            cache_logger_on_first_use=False,
        )
        root = logging.getLogger()
        for handler in list(root.handlers):
            if isinstance(handler, _StdlibBridge):
                root.removeHandler(handler)
        root.addHandler(_StdlibBridge())
        root.setLevel(level)
        # pykka logs every exception returned to an ask()-er at INFO; the caller owns those.
        logging.getLogger("pykka").setLevel(max(level, logging.WARNING))
        _configured = True
        return _ring


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
