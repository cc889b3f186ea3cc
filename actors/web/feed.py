"""`LiveFeed`: the board kept current from the store's watch, pushed to the open pages.

Rules:
- Everything runs on the HTTP server's event loop (actors/http/): the store's watch only
  pokes it (``notify`` → ``call_soon_threadsafe``, coalesced), and one pump then drains the
  watcher under the store's lock (whole entries), applies the changes to the `Board` and
  queues the resulting patch on every open stream. No timer re-reads the store.
- A page that opens a stream gets the whole document first, then patches. A stream holds at
  most ``queue_size`` messages: one that falls that far behind is ended (``overflowed``);
  the browser's EventSource reconnects and starts again from a fresh document.
- When the watch closes (it fell behind, or a Raft snapshot replaced the store) the board
  is loaded again from the store and every stream gets the new whole document.
- Streams are bounded in number (``max_streams``); one more is refused (`FeedBusy`).
- Whether this manager knows a Raft leader is not a store change: the feed asks
  (``quorum``, actors/web/quorum.py) every ``QUORUM_CHECK_S`` and pushes a ``quorum``
  message when the answer changes; the whole document carries it too.
- Nor is who leads and who is reachable now: at the same pace the feed asks this
  manager's Raft member (``raft_view``, a call that may wait on the member's loop, so on a
  worker thread, one at a time) and pushes the manager rows whose live status changed
  (`Board.set_raft_view`). A view it cannot get (the member restarting, or busy) leaves
  the last one shown.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from actors.control.raft_members import RaftView
from actors.log import get_logger
from actors.store import MemoryStore, WatchClosed, Watcher, nodes, services, tasks
from actors.web.board import MAX_EVENTS, Board
from actors.web.quorum import LEADER_KNOWN, Quorum

__all__ = ["MAX_STREAMS", "QUORUM_CHECK_S", "FeedBusy", "LiveFeed", "Message", "Stream"]

MAX_STREAMS: Final = 32
QUEUE_SIZE: Final = 256
QUORUM_CHECK_S: Final = 1.0

_log = get_logger("web")


class FeedBusy(Exception):
    """Every stream slot is taken."""


@dataclass(frozen=True, slots=True)
class Message:
    """One server-sent event: ``kind`` is ``state`` (a whole document), ``patch`` or
    ``quorum`` (whether a leader is known)."""

    kind: str
    version: int
    data: dict[str, Any]


@dataclass(slots=True)
class Stream:
    """One open page's queue (on the loop thread only)."""

    queue_size: int
    queue: collections.deque[Message] = field(default_factory=collections.deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    overflowed: bool = False
    closed: bool = False

    def push(self, message: Message) -> None:
        if self.closed or self.overflowed:
            return
        if len(self.queue) >= self.queue_size:
            self.queue.clear()
            self.overflowed = True
        else:
            self.queue.append(message)
        self.ready.set()

    def close(self) -> None:
        self.closed = True
        self.ready.set()

    async def next(self, timeout: float) -> Message | None:
        """The next message; None on timeout (``overflowed``/``closed`` say if it ended)."""
        if not self.queue and not self.closed and not self.overflowed:
            self.ready.clear()
            try:
                await asyncio.wait_for(self.ready.wait(), timeout)
            except TimeoutError:
                return None
        return self.queue.popleft() if self.queue else None


class LiveFeed:
    def __init__(
        self,
        store: MemoryStore,
        *,
        max_streams: int = MAX_STREAMS,
        queue_size: int = QUEUE_SIZE,
        max_events: int = MAX_EVENTS,
        quorum: Callable[[], Quorum] = lambda: LEADER_KNOWN,
        quorum_check_s: float = QUORUM_CHECK_S,
        raft_view: Callable[[], RaftView] | None = None,
    ) -> None:
        self._store = store
        self._read_quorum = quorum
        self._read_raft_view = raft_view
        self._raft_view_asked = False
        self._quorum_check_s = quorum_check_s
        self._quorum = LEADER_KNOWN
        self._quorum_timer: asyncio.TimerHandle | None = None
        self._max_streams = max_streams
        self._queue_size = queue_size
        self.board = Board(max_events)
        self._streams: list[Stream] = []
        self._watcher: Watcher | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poked = False

    # -- on the loop ----------------------------------------------------------------------
    def start(self) -> None:
        """On the loop: load the board and start watching."""
        self._loop = asyncio.get_running_loop()
        self._quorum = self._read_quorum()
        self._open()
        self._quorum_timer = self._loop.call_later(self._quorum_check_s, self._check_quorum)

    def stop(self) -> None:
        """On the loop: stop watching and end every stream."""
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.close()
        timer, self._quorum_timer = self._quorum_timer, None
        if timer is not None:
            timer.cancel()
        self._loop = None
        for stream in self._streams:
            stream.close()
        self._streams.clear()

    def subscribe(self) -> Stream:
        if len(self._streams) >= self._max_streams:
            raise FeedBusy(f"this manager serves {self._max_streams} web view streams already")
        stream = Stream(self._queue_size)
        stream.push(self._state())
        self._streams.append(stream)
        return stream

    def unsubscribe(self, stream: Stream) -> None:
        stream.close()
        if stream in self._streams:
            self._streams.remove(stream)

    @property
    def streams(self) -> int:
        return len(self._streams)

    def _open(self) -> None:
        """Load the board and watch from its version, atomically (under the store's lock);
        the store's retained changes seed the events panel."""
        old, self._watcher = self._watcher, None
        if old is not None:
            old.close()
        store = self._store
        with store.read() as tx:
            watcher = store.watch(since=store.oldest_resumable, notify=self._notify)
            recent = watcher.poll()
            self.board.load(
                tx.version,
                nodes.list_all(tx),
                services.list_all(tx),
                tasks.list_all(tx),
                recent,
            )
        self._watcher = watcher

    def document(self) -> dict[str, Any]:
        """The board's whole document, and whether this manager knows a leader."""
        return {**self.board.document(), "quorum": self._quorum.to_json()}

    def _state(self) -> Message:
        return Message("state", self.board.version, self.document())

    def _check_quorum(self) -> None:
        loop = self._loop
        if loop is None:
            return
        quorum = self._read_quorum()
        if quorum != self._quorum:
            self._quorum = quorum
            _log.info("web.feed.quorum", leader=quorum.leader)
            self._broadcast(Message("quorum", self.board.version, quorum.to_json()))
        self._ask_raft_view(loop)
        self._quorum_timer = loop.call_later(self._quorum_check_s, self._check_quorum)

    def _ask_raft_view(self, loop: asyncio.AbstractEventLoop) -> None:
        read = self._read_raft_view
        if read is None or self._raft_view_asked:
            return
        self._raft_view_asked = True
        loop.run_in_executor(None, read).add_done_callback(self._show_raft_view)

    def _show_raft_view(self, answer: asyncio.Future[RaftView]) -> None:
        """On the loop, with the member's answer."""
        self._raft_view_asked = False
        if self._loop is None or answer.cancelled():
            return
        error = answer.exception()
        if error is not None:
            _log.debug("web.feed.raft_view_unknown", reason=str(error))
            return
        patch = self.board.set_raft_view(answer.result())
        if not patch.empty:
            self._broadcast(Message("patch", patch.version, patch.to_json()))

    def _notify(self) -> None:
        """From the thread that applied a change: one pump, whatever the number of pokes."""
        loop = self._loop
        if loop is None or self._poked:
            return
        self._poked = True
        try:
            loop.call_soon_threadsafe(self.pump)
        except RuntimeError:  # the loop closed meanwhile
            self._poked = False

    def pump(self) -> None:
        self._poked = False
        watcher = self._watcher
        if watcher is None:
            return
        try:
            changes = self._store.view(lambda _tx: watcher.poll())
        except WatchClosed as closed:
            _log.info("web.feed.reloaded", reason=closed.reason)
            self._open()
            self._broadcast(self._state())
            return
        patch = self.board.apply(changes)
        if not patch.empty:
            self._broadcast(Message("patch", patch.version, patch.to_json()))

    def _broadcast(self, message: Message) -> None:
        for stream in list(self._streams):
            stream.push(message)
            if stream.overflowed:
                self._streams.remove(stream)
