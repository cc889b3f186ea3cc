"""The threads that run an endpoint's ordinary handlers, behind a bounded queue.

Rules:
- A fixed number of daemon threads take jobs from one queue; a handler that blocks holds
  one thread, never the socket.
- `submit` never blocks the I/O thread that calls it: when the queue holds ``max_queued``
  jobs, or their frames ``max_queued_bytes`` (a job would go over it; an empty queue takes
  any one), or a stranger's job would make more than ``max_strangers`` jobs of strangers
  queued or running, it refuses (returns False) and the endpoint answers ``busy``. So a
  flood of requests grows no queue, and strangers can never hold every thread: members'
  requests keep being served while strangers are turned away.
- What requests hold (each its received frame, for its metadata, and its decoded body):
  the queued ones' frames at most ``max_queued_bytes`` (or one frame, when it alone is
  bigger), the running ones' at most ``workers`` frames; a body is within the decode
  limits of its sender (api/schema/frame.py).
"""

from __future__ import annotations

import queue
import threading
from typing import TYPE_CHECKING, Final

import structlog

from api.errors import CodecError, ErrorCode

if TYPE_CHECKING:
    from transport.request import Handler, Request

    _Job = tuple[Handler, Request, bool, int]  # and whether a stranger's, its frame's bytes

__all__ = [
    "DEFAULT_MAX_QUEUED",
    "DEFAULT_MAX_QUEUED_BYTES",
    "DEFAULT_WORKERS",
    "HandlerPool",
    "run_handler",
]

DEFAULT_WORKERS: Final = 16
DEFAULT_MAX_QUEUED: Final = 1024
# four frames of the largest size a socket takes (16 MiB): 1024 small requests fit many
# times over, and 1024 big ones cannot park 16 GiB
DEFAULT_MAX_QUEUED_BYTES: Final = 64 * 1024 * 1024

_log = structlog.get_logger(subsystem="transport")


class HandlerPool:
    def __init__(
        self,
        name: str,
        workers: int,
        *,
        max_queued: int = DEFAULT_MAX_QUEUED,
        max_queued_bytes: int = DEFAULT_MAX_QUEUED_BYTES,
        max_strangers: int | None = None,
    ) -> None:
        self.max_queued = max_queued
        self.max_queued_bytes = max_queued_bytes
        # strangers may occupy a quarter of the threads at most, and at least one
        self.max_strangers = max(1, workers // 4) if max_strangers is None else max_strangers
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._queued = 0
        self._queued_bytes = 0
        self._strangers = 0  # strangers' jobs queued or running
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-handler-{i}", daemon=True)
            for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    def submit(
        self, handler: Handler, request: Request, *, stranger: bool = False, size: int = 0
    ) -> bool:
        """Queue ``handler(request)`` (``size``: the bytes of the frame it came in); False
        (nothing queued) when the pool is full for this kind of peer or this size."""
        with self._lock:
            if self._queued >= self.max_queued:
                return False
            if self._queued and self._queued_bytes + size > self.max_queued_bytes:
                return False
            if stranger:
                if self._strangers >= self.max_strangers:
                    return False
                self._strangers += 1
            self._queued += 1
            self._queued_bytes += size
        self._queue.put((handler, request, stranger, size))
        return True

    def shutdown(self) -> None:
        """Stop idle threads; a thread still inside a handler finishes it, then exits."""
        for _ in self._threads:
            self._queue.put(None)

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            handler, request, stranger, size = job
            with self._lock:
                self._queued -= 1
                self._queued_bytes -= size
            try:
                run_handler(handler, request)
            finally:
                if stranger:
                    with self._lock:
                        self._strangers -= 1


def run_handler(handler: Handler, request: Request) -> None:
    try:
        result = handler(request)
    except Exception as exc:
        _log.exception(
            "transport.handler.failed",
            endpoint=request.endpoint,
            type=request.type,
            request_id=request.id,
            error=repr(exc),
        )
        request.error(ErrorCode.INTERNAL, f"handler for {request.type!r} failed: {exc!r}"[:400])
        return
    if result is None:
        return
    try:
        request.reply(result)
    except CodecError as exc:
        _log.error(
            "transport.reply.invalid",
            endpoint=request.endpoint,
            type=request.type,
            error=exc.message,
        )
        request.error(ErrorCode.INTERNAL, f"handler for {request.type!r} gave an invalid reply")
