"""Synchronous requests over a DEALER of the calling thread's own: a client's "lanes".

`Client.request` from a thread that is alone in waiting for a reply sends on that
thread's lane and waits for the final reply on it, in the same thread (`Client.send`,
one-way, goes on it too): no hand-off to the client's I/O thread on the way out, nor back
(two thread wake-ups and the GIL passed twice fewer per request: bench/raft.py one write at
a time, client CPU per write 230 -> 140 us, p50 1.5-1.6 -> 1.2-1.25 ms). Python's HTTP
clients do the same: a connection per thread that waits on it. Requests made while others
are in flight go over the client's one DEALER instead (`Client.request`): there one
connection carries many messages per system call and wake-up on both sides, where a lane
each costs every request its own (bench/raft.py with 64 threads: the client's and the
leader's CPU per write each ~10 us less over the one DEALER).

Rules:
- A lane is one DEALER, opened on a thread's first request and connected as the client's
  own socket is (same keys, local address, limits); only the thread holding it uses it.
  A thread's requests and one-way messages are sent in order; those of different threads,
  and requests going through the I/O thread (`request_async`, `stream`), are not ordered
  with them.
- `busy` counts the lanes waiting for a reply; `owes_order` says whether the calling
  thread's lane sent a one-way message after its last reply (its next request must go on
  the lane too, to stay behind it).
- A reply that is not the awaited one's final reply (a late reply to a request that timed
  out, a streamed frame) is dropped.
- `close` (any thread) closes idle lanes at once; a thread waiting on its lane is woken
  (a pipe its poll watches) and fails with `ClientClosed`, closing its lane itself; `close`
  returns once none is busy (or after ``wait`` seconds).
- Lanes of threads that ended are closed once there are more than `MAX_LANES` lanes.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from typing import Final

import zmq

from api.errors import ClientClosed, CodecError, RequestTimeout
from api.schema.frame import DecodeLimits, Envelope
from transport.codec import decode

__all__ = ["MAX_LANES", "Lanes"]

MAX_LANES: Final = 256
_NOBLOCK: Final = int(zmq.NOBLOCK)
_POLLIN: Final = int(zmq.POLLIN)


class _Lane:
    __slots__ = ("busy", "poller", "sent_oneway", "sock", "thread")

    def __init__(self, sock: zmq.Socket[bytes], closing_fd: int) -> None:
        self.sock = sock
        self.poller = zmq.Poller()
        self.poller.register(sock, _POLLIN)
        self.poller.register(closing_fd, _POLLIN)
        self.busy = False
        self.sent_oneway = False  # a one-way message went out since the last reply
        self.thread = threading.get_ident()


class Lanes:
    def __init__(
        self, open_socket: Callable[[], zmq.Socket[bytes]], limits: DecodeLimits, address: str
    ) -> None:
        self._open = open_socket
        self._limits = limits
        self._address = address
        self._lanes: dict[int, _Lane] = {}
        self._lock = threading.Condition(threading.Lock())
        self._closing_read, self._closing_write = os.pipe()
        self._closed = False
        self.busy = 0  # lanes taken (under the lock); read without it as a hint

    def owes_order(self) -> bool:
        """Whether this thread's lane sent a one-way message that no reply on it followed
        (its next request goes on the lane, behind that message)."""
        lane = self._lanes.get(threading.get_ident())
        return lane is not None and lane.sent_oneway

    def request(self, frame: bytes, rid: int, timeout: float, what: str) -> Envelope:
        """Send ``frame`` (request ``rid``) on this thread's lane; its final reply, or
        `RequestTimeout`, `ClientClosed`, the `CodecError` of a reply that does not
        decode."""
        lane = self._take()
        try:
            envelope = self._exchange(lane, frame, rid, timeout, what)
            lane.sent_oneway = False
            return envelope
        finally:
            self._give_back(lane)

    def send(self, frame: bytes) -> bool:
        """Send a one-way ``frame`` on this thread's lane; False when its queue is full."""
        lane = self._take()
        try:
            lane.sock.send(frame, _NOBLOCK)
        except zmq.Again:
            return False
        finally:
            self._give_back(lane)
        lane.sent_oneway = True
        return True

    def _exchange(self, lane: _Lane, frame: bytes, rid: int, timeout: float, what: str) -> Envelope:
        sock, closing = lane.sock, self._closing_read
        deadline = time.monotonic() + timeout
        try:
            sock.send(frame, _NOBLOCK)
        except zmq.Again:
            raise RequestTimeout(f"{self._address}: send queue full for {what!r}") from None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RequestTimeout(f"no reply to {what!r} within {timeout}s")
            ready = dict(lane.poller.poll(max(1, int(left * 1000) + 1)))
            if closing in ready:
                raise ClientClosed(f"client to {self._address} closed")
            if sock not in ready:
                continue
            while True:
                try:
                    reply = sock.recv(_NOBLOCK)
                except zmq.Again:
                    break
                try:
                    envelope = decode(reply, limits=self._limits)
                except CodecError as exc:
                    if exc.request_id == rid:
                        raise
                    continue
                if envelope.id == rid and not envelope.more:
                    return envelope

    def _take(self) -> _Lane:
        me = threading.get_ident()
        with self._lock:
            if self._closed:
                raise ClientClosed(f"client to {self._address} is closed")
            lane = self._lanes.get(me)
            if lane is None:
                if len(self._lanes) >= MAX_LANES:
                    self._reap()
                lane = _Lane(self._open(), self._closing_read)
                self._lanes[me] = lane
            lane.busy = True
            self.busy += 1
            return lane

    def _give_back(self, lane: _Lane) -> None:
        with self._lock:
            lane.busy = False
            self.busy -= 1
            if self._closed:
                lane.sock.close(linger=0)
                self._lanes.pop(lane.thread, None)
                self._lock.notify_all()

    def _reap(self) -> None:
        """Close the idle lanes of threads that ended (under the lock)."""
        alive = {t.ident for t in threading.enumerate()}
        for ident in [i for i, lane in self._lanes.items() if i not in alive and not lane.busy]:
            self._lanes.pop(ident).sock.close(linger=0)

    def close(self, wait: float = 2.0) -> None:
        """Close every lane (the rules); idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with contextlib.suppress(OSError):
                os.write(self._closing_write, b"\0")
            for ident, lane in list(self._lanes.items()):
                if not lane.busy:
                    lane.sock.close(linger=0)
                    del self._lanes[ident]
            drained = self._lock.wait_for(lambda: not self._lanes, timeout=wait)
        if drained:  # else a thread may still poll the pipe: left open
            os.close(self._closing_read)
            os.close(self._closing_write)
