"""What other threads put on a RaftNode's inbox: one frozen dataclass per kind of command.

The inbox is the only way into the loop thread (loop.py): the endpoint's I/O thread puts
inbound frames and peers' proposals on it, callers their proposals and calls, a peer's
answer to a forwarded write comes back on it. It is bounded for peers only: past
`MAX_INBOX` waiting commands their frames are dropped and their proposals answered busy
(handlers.py); the node's own commands always go in.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Final

from actors.raft_node.core import RaftCore
from actors.raft_node.frames import Chunk
from actors.raft_node.proposals import Completion
from api.objects_init import fast_init

__all__ = ["MAX_INBOX", "Call", "Command", "Forwarded", "Inbox", "Propose", "Receive", "Stop"]

# frames and proposals from peers beyond this many waiting commands are refused: the inbox
# between the endpoint's I/O thread and the loop never grows without bound (Raft resends
# dropped messages; a refused proposal is answered busy)
MAX_INBOX: Final = 4096


@fast_init  # one for every frame or write handed in (api/objects_init.py)
@dataclass(frozen=True, slots=True)
class Propose:
    """Entries to append; the future gives the last one's index once applied here.
    ``forwarded``: a follower handed them to this node, which must not forward them again."""

    datas: tuple[bytes, ...]
    future: Completion
    forwarded: bool = False


@fast_init  # one for every frame or write handed in (api/objects_init.py)
@dataclass(frozen=True, slots=True)
class Receive:
    """One frame of Raft messages from member ``src`` (still packed), or a chunk of one.
    ``sender_key``: the CURVE key it came with (None: handed in by this process)."""

    src: int
    seq: int
    batch: bytes | Chunk
    sender_key: bytes | None


@dataclass(frozen=True, slots=True)
class Forwarded:
    """The leader's answer (``reply``) to the forward numbered ``token``."""

    token: int
    reply: Future[int]


@dataclass(frozen=True, slots=True)
class Call:
    """Run ``fn(core)`` on the loop thread; the future gives its result."""

    fn: Callable[[RaftCore], Any]
    future: Future[Any]


@dataclass(frozen=True, slots=True)
class Stop:
    """End the loop (RaftNode.stop)."""


Command = Propose | Receive | Forwarded | Call | Stop


class Inbox:
    """The commands waiting for the loop, in the order they were put (any thread). The
    loop thread `wait`s for one without taking it; whoever runs a round (the loop thread,
    or the endpoint's I/O thread running one inline: loop.py) takes them all with `drain`
    under the round's lock, so two rounds never see commands out of order. `kick` makes
    the loop thread's current or next `wait` return at once (a round run inline failed:
    the loop thread sees it and shuts down)."""

    __slots__ = ("_cond", "_items", "_kicked", "_waiting")

    def __init__(self) -> None:
        self._items: deque[Command] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._waiting = False
        self._kicked = False

    def put(self, command: Command) -> None:
        with self._cond:
            self._items.append(command)
            if self._waiting:
                self._cond.notify()

    def put_quiet(self, command: Command) -> None:
        """`put` without waking the loop thread: the caller runs the round next (or, when
        one runs elsewhere, `nudge`s)."""
        self._items.append(command)

    def nudge(self) -> None:
        """Wake the loop thread if it waits (commands were put quietly)."""
        with self._cond:
            if self._waiting:
                self._cond.notify()

    def qsize(self) -> int:
        return len(self._items)

    def get_nowait(self) -> Command:
        """The oldest command; `queue.Empty` when there is none."""
        try:
            return self._items.popleft()
        except IndexError:
            raise queue.Empty from None

    def drain(self) -> list[Command]:
        """Every waiting command, oldest first."""
        items = self._items
        popleft = items.popleft
        return [popleft() for _ in range(len(items))]

    def wait(self, timeout: float) -> None:
        """Return once a command waits, `kick` was called, or after ``timeout`` seconds."""
        with self._cond:
            if not self._items and not self._kicked and timeout > 0:
                self._waiting = True
                self._cond.wait(timeout)
                self._waiting = False
            self._kicked = False

    def kick(self) -> None:
        with self._cond:
            self._kicked = True
            if self._waiting:
                self._cond.notify()
