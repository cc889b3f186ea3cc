"""Handing outbound frames to a socket's I/O thread, from any thread.

A ZeroMQ socket lives in one thread. Other threads give that thread messages through an
`Outbox`: a deque the I/O loop drains, and a pipe the loop polls next to its ROUTER or
DEALER so that a message wakes it. Rules:
- `send` appends to the deque (thread-safe, never blocks) and writes the pipe only when
  the loop said it may go to sleep (`sleep`) and nobody woke it since: a loop that is busy
  takes the messages on its next turn with no system call at all.
- The loop calls `sleep` before it polls (polling without blocking when messages already
  wait), `woke` after, and `take` to drain. Under the GIL the order (the loop marks itself
  asleep, then looks at the deque; a sender appends, then looks at the mark) means a
  message is never left waiting for a wake-up that does not come.
- A message sent on the loop's own thread (an inline handler's reply, `own`) goes to the
  socket at once when nothing is queued before it, not at the end of the loop's turn: a
  Raft leader's round answers its writers before its fsync, and they should not wait for
  it. With messages queued it is queued behind them (their order kept).
- `stop_loop` queues `STOP`, which ends the loop; `close` (once the loop has ended) closes
  the pipe, and `send` then returns False.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Final

__all__ = ["STOP", "Outbox"]

STOP: Final[tuple[bytes, ...]] = ()  # the message that stops an I/O loop (by identity)


class Outbox:
    def __init__(self) -> None:
        self._queue: deque[Sequence[bytes]] = deque()
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._asleep = False
        self._closed = False
        self._lock = threading.Lock()  # a write to the pipe against its closing
        self._owner: int | None = None  # the loop's thread, which may send directly
        self._direct: Callable[[Sequence[bytes]], None] | None = None

    @property
    def fd(self) -> int:
        """The file descriptor the loop polls (readable: messages may wait)."""
        return self._read

    def send(self, parts: Sequence[bytes]) -> bool:
        """Queue one message for the I/O loop; False once the outbox is closed."""
        if self._closed:
            return False
        if self._direct is not None and not self._queue and threading.get_ident() == self._owner:
            self._direct(parts)
            return True
        self._queue.append(parts)
        if self._asleep:
            self._wake()
        return True

    def stop_loop(self) -> None:
        self._queue.append(STOP)
        self._wake()

    def _wake(self) -> None:
        self._asleep = False  # one wake-up per sleep is enough
        with self._lock:
            if self._closed:
                return
            # a full pipe holds wake-ups the loop has not read yet: one more is not needed
            with contextlib.suppress(BlockingIOError):
                os.write(self._write, b"\0")

    # -- the I/O loop's side ---------------------------------------------------------------

    def own(self, direct: Callable[[Sequence[bytes]], None]) -> None:
        """Called on the loop's thread: what that thread sends goes to ``direct`` (which
        writes it to the socket) when nothing is queued (the rules)."""
        self._owner = threading.get_ident()
        self._direct = direct

    def sleep(self) -> bool:
        """The loop is about to poll: True when messages wait already (poll, don't block)."""
        self._asleep = True
        if self._queue:
            self._asleep = False
            return True
        return False

    def woke(self, readable: bool) -> None:
        """The loop's poll returned; ``readable``: the pipe was among the ready sockets."""
        self._asleep = False
        if readable:
            try:
                while os.read(self._read, 4096):
                    pass
            except BlockingIOError:
                pass

    def take(self, limit: int) -> list[Sequence[bytes]]:
        """Up to ``limit`` queued messages, oldest first."""
        queue = self._queue
        if not queue:
            return []
        popleft = queue.popleft
        return [popleft() for _ in range(min(limit, len(queue)))]

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            os.close(self._read)
            os.close(self._write)
