"""A client's requests awaiting replies, by request id, and what completes or fails them
(the client: transport/client.py, whose I/O thread calls these).

Rules:
- Three kinds of waiter: a `Reply` (`Client.request`: the final reply only), a future
  (`Client.request_async`: the final reply only) and a queue (`Client.stream`: every
  frame, the final one last). A final reply or an error takes the entry out of the table;
  a stream's ``more`` frames leave it in.
- A reply to an id the table does not hold (a one-way message, a request forgotten after
  its deadline) is dropped.
- A failure (deadline passed, connection lost, handshake refused, client closed) takes the
  entry out and gives it the exception: a `Reply` or future raises it, a stream's reader
  (`stream_replies`) too. The reader takes the entry out when it stops, at its last frame,
  an error, a wait for a frame past ``timeout``, or when its caller leaves it.
- A `Reply`'s outcome is not given at once: `deliver` appends it to ``answered`` and the
  caller wakes the waiters once its batch of replies is drained (a waiter woken at once
  would take the GIL from the thread still draining).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from api.errors import RemoteError, RequestTimeout
from api.schema.frame import Envelope

if TYPE_CHECKING:  # imported where used: a command-line client needs neither
    from concurrent.futures import Future  # (concurrent.futures imports logging)

__all__ = ["Answered", "Reply", "deliver", "fail", "stream_replies"]


class Reply:
    """What `Client.request` waits on: a lock held until the I/O thread has put the outcome
    in. One release wakes the caller, which then holds nothing another thread needs (a
    Future's waiter wakes into its condition's lock, which the I/O thread may still hold
    while it completes the next future)."""

    __slots__ = ("done", "outcome")

    def __init__(self) -> None:
        self.done = threading.Lock()
        self.done.acquire()
        self.outcome: dict[str, Any] | BaseException | None = None

    def resolve(self, outcome: dict[str, Any] | BaseException) -> None:
        """Called once (by whoever took the entry out of the pending table)."""
        self.outcome = outcome
        self.done.release()


if TYPE_CHECKING:
    Pending = Future[dict[str, Any]] | Reply | queue.SimpleQueue[Envelope | BaseException]

# the `Reply` waiters a batch of replies answered, each with its outcome, to be woken
Answered = list[tuple[Reply, dict[str, Any] | BaseException]]


def deliver(pending: dict[int, Pending], envelope: Envelope, answered: Answered) -> None:
    """Complete the request ``envelope`` answers; a `Reply` waiter's outcome goes to
    ``answered``, for the caller to wake it."""
    rid = envelope.id
    entry = pending.get(rid)
    if entry is None:
        return  # one-way, or forgotten after a timeout: dropped
    if isinstance(entry, Reply):
        if envelope.more or pending.pop(rid, None) is None:
            return  # request() wants the final reply only; or it gave up meanwhile
        if envelope.type == "error":
            body = envelope.body
            answered.append((entry, RemoteError(str(body["code"]), str(body["message"]))))
        else:
            answered.append((entry, dict(envelope.body)))
    elif isinstance(entry, queue.SimpleQueue):
        if not envelope.more or envelope.type == "error":
            pending.pop(rid, None)
        entry.put(envelope)
    else:  # a Future (request_async)
        if envelope.more:
            return  # request() wants the final reply only; stream() sees every frame
        pending.pop(rid, None)
        try:
            if envelope.type == "error":
                entry.set_exception(
                    RemoteError(str(envelope.body["code"]), str(envelope.body["message"]))
                )
            else:
                entry.set_result(dict(envelope.body))
        except Exception:  # cancelled by the caller
            pass


def fail(pending: dict[int, Pending], rid: int, exc: BaseException) -> None:
    """Request ``rid`` failed with ``exc``: its waiter gets it (none: nothing to do)."""
    entry = pending.pop(rid, None)
    if isinstance(entry, Reply):
        entry.resolve(exc)
    elif isinstance(entry, queue.SimpleQueue):
        entry.put(exc)
    elif entry is not None and not entry.done():  # a Future (request_async)
        with contextlib.suppress(Exception):
            entry.set_exception(exc)


def stream_replies(
    pending: dict[int, Pending],
    rid: int,
    message_type: str,
    frames: queue.SimpleQueue[Envelope | BaseException],
    timeout: float,
) -> Iterator[dict[str, Any]]:
    """The bodies of stream ``rid``'s frames as they come to ``frames`` (``timeout``: the
    wait for each), the final one last; an error frame or a failure raises."""
    try:
        while True:
            try:
                item = frames.get(timeout=timeout)
            except queue.Empty:
                raise RequestTimeout(
                    f"no reply frame to {message_type!r} within {timeout}s"
                ) from None
            if isinstance(item, BaseException):
                raise item
            if item.type == "error":
                raise RemoteError(str(item.body["code"]), str(item.body["message"]))
            yield dict(item.body)
            if not item.more:
                return
    finally:
        pending.pop(rid, None)
