"""``control.events``: event watches served by any manager from its own store (the shell).

The event log is the store's watch ring (actors/store/watch.py): the last
``history_size`` committed changes, each with its Raft index and time. A watch resumes
from a position (Raft index) or a time. *Gone* means the manager no longer holds every
change after what was asked: the position is below the ring's floor (older changes were
dropped to keep the ring bounded, or the store was replaced by a Raft snapshot, which
clears it, as does a restart from one), or a time before the oldest held change once changes
were dropped. A gone watch is refused with code ``gone``, naming the oldest position this
manager can resume from; never a silent gap. A watch already streaming whose history goes
(its queue overflowed, or a snapshot replaced the store) ends the same way. A time asked
for with ``since_held`` (``docker events --since``, ``swarmctl events --since TIME``) gets
what is held instead, as Docker's events do, and its first frame says where the held
history starts (``held_after``, ``held_oldest_time``), so the client can say so.

Each request is a lease: it streams ``more`` frames for at most ``wait`` seconds (and at
most ``max_frames`` frames, fewer than the endpoint's per-peer send queue, so no frame is
dropped under a reader that stalls), then a final frame with the position to ask again
from. So a client that vanished costs a watch for one lease at most, and a follower
resumes by asking again (`cli/events.py`).

`EventStreams` is a `PeriodicJob` run by `EventStreamsActor`: one tick pumps every watch;
a store change pokes it (coalesced); ``open`` runs on the control endpoint's handler
threads and only registers the watch. Watches are bounded in number (``max_streams``).
When the actor stops (the manager shuts down) it ends every watch with ``end: closed``
and its position, and refuses new ones; it stops before the control socket does
(actors/node/tree/manager_parts.py), so those final frames still reach the clients.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from actors.control.errors import ControlCode, ControlError
from actors.events.model import ClusterEvent, describe
from actors.events.query import Cursor, EventMatcher, Step, history_gap
from actors.log import get_logger
from actors.periodic import PeriodicActor
from actors.store import MemoryStore, ReadTx, WatchClosed, Watcher, WatchHistoryTooOld, nodes
from actors.store.watch import Event
from api.errors import CodecError
from api.events import Bound, EventFilters, check_window, parse_filters
from api.objects import ObjectKind
from transport.endpoint import Handler, Request

__all__ = ["DEFAULT_WAIT", "MAX_WAIT", "EventStreams", "EventStreamsActor"]

DEFAULT_WAIT: Final = 10.0  # seconds one request streams before its final frame
MAX_WAIT: Final = 60.0
MAX_FRAMES: Final = 256  # per request: below the endpoint's per-peer send queue (1024)
BATCH: Final = 200  # events per frame
TICK: Final = 0.5  # the pump's period without changes (leases, until times)

_log = get_logger("events")
Clock = Callable[[], float]


@dataclass(slots=True)
class _Watch:
    request: Request
    watcher: Watcher
    matcher: EventMatcher
    cursor: Cursor
    kinds: frozenset[ObjectKind] | None
    started: float  # monotonic
    wait: float
    backlog: list[Event] = field(default_factory=list)  # drained when the watch opened
    frames: int = 0
    # since_held and a since_time before the held history: where that history starts, told
    # in the first frame (held_after, held_oldest_time) so the client can say so
    held: dict[str, Any] = field(default_factory=dict)


class EventStreams:
    def __init__(
        self,
        store: MemoryStore,
        *,
        clock: Clock = time.time,
        monotonic: Clock = time.monotonic,
        max_streams: int = 64,
        max_frames: int = MAX_FRAMES,
        batch: int = BATCH,
        tick: float = TICK,
    ) -> None:
        self._store = store
        self._clock = clock
        self._monotonic = monotonic
        self._max_streams = max_streams
        self._max_frames = max_frames
        self._batch = batch
        self._tick = tick
        self._lock = threading.Lock()
        self._watches: dict[int, _Watch] = {}
        self._next_id = 0
        self._poke: Callable[[], None] | None = None
        self._poked = threading.Event()
        self._closed = False  # close_all ran: no watch opens until the actor runs again

    # -- the actor's side -----------------------------------------------------------------
    def bind(self, poke: Callable[[], None] | None) -> None:
        """``poke`` asks the actor for a tick now (None: the actor stopped)."""
        self._poke = poke
        if poke is not None:
            self._closed = False

    def interval(self) -> float:
        return self._tick

    def tick(self, now: float) -> None:
        self._poked.clear()
        with self._lock:
            watches = list(self._watches.items())
        for key, watch in watches:
            try:
                ended = self._pump(watch)
            except ControlError as err:
                watch.request.error(err.code, err.message)
                ended = True
            except Exception as exc:  # one watch's failure must not end the others
                _log.exception("events.watch.failed", error=repr(exc))
                watch.request.error("internal", f"event watch failed: {exc!r}"[:300])
                ended = True
            if ended:
                self._drop(key)

    def close_all(self, reason: str) -> None:
        """End every watch (the manager stops): each gets its final frame, and a watch
        asked for from now on is refused, so none waits for a pump that is gone."""
        with self._lock:
            watches, self._watches = list(self._watches.values()), {}
            self._closed = True
        for watch in watches:
            watch.watcher.close()
            with contextlib.suppress(CodecError):
                watch.request.reply(
                    {"events": [], "position": watch.cursor.position, "end": reason}
                )

    @property
    def open_watches(self) -> int:
        return len(self._watches)

    # -- the control handler --------------------------------------------------------------
    def handler(self) -> Handler:
        def events(request: Request) -> None:
            try:
                self.open(request)
            except ControlError as err:
                request.error(err.code, err.message)

        return events

    def open(self, request: Request) -> None:
        """Register a watch for ``request`` (its frames follow from the pump)."""
        body = request.body
        try:
            filters = parse_filters(body.get("filters") or ())
            since = Bound.from_wire(body, "since")
            until = Bound.from_wire(body, "until")
            check_window(since, until)
        except ValueError as exc:
            raise ControlError(ControlCode.INVALID_ARGUMENT, str(exc)) from None
        wait = float(body.get("wait", DEFAULT_WAIT))
        if not 0.0 <= wait <= MAX_WAIT:
            raise ControlError(
                ControlCode.INVALID_ARGUMENT, f"wait must be between 0 and {MAX_WAIT:g} seconds"
            )
        busy = ControlError(
            ControlCode.BUSY,
            f"this manager serves {self._max_streams} event watches already; retry later",
        )
        if len(self._watches) >= self._max_streams:
            raise busy
        kinds = _kinds(filters)
        held = body.get("since_held") is True
        watch = self._store.view(lambda tx: self._start(tx, request, filters, kinds, since, held))
        watch.cursor.until = until
        watch.wait = wait
        with self._lock:
            closed = self._closed
            full = len(self._watches) >= self._max_streams
            if not (closed or full):
                self._next_id += 1
                self._watches[self._next_id] = watch
        if closed or full:
            watch.watcher.close()
            raise _stopping() if closed else busy
        self.wake()

    def _start(
        self,
        tx: ReadTx,
        request: Request,
        filters: EventFilters,
        kinds: frozenset[ObjectKind] | None,
        since: Bound,
        since_held: bool = False,
    ) -> _Watch:
        """Under the store's lock: the watcher and where it starts, atomically.
        ``since_held``: a time before the held history starts at its oldest change."""
        store = self._store
        floor = store.oldest_resumable
        node_ids = {
            n.id for n in nodes.list_all(tx) if n.id in filters.nodes or n.hostname in filters.nodes
        }
        backlog: list[Event] = []
        held: dict[str, Any] = {}
        if since.position is not None:
            start = since.position
            watcher = self._watch(kinds, since=start)
        elif since.time is not None:
            start = floor
            watcher = self._watch(kinds, since=floor)
            backlog = watcher.poll()
            oldest = backlog[0].time if backlog else self._oldest_time(floor)
            if history_gap(since.time, floor, oldest):
                if not since_held:
                    watcher.close()
                    raise _gone(f"events since {_iso(since.time)}", floor)
                held = {"held_after": floor}
                oldest_any = self._oldest_time(floor) if backlog else oldest
                if oldest_any is not None:
                    held["held_oldest_time"] = oldest_any
        else:
            start = tx.version
            watcher = self._watch(kinds, since=None)
        return _Watch(
            request,
            watcher,
            EventMatcher(filters, node_ids),
            Cursor(start, since_time=since.time),
            kinds,
            started=self._monotonic(),
            wait=DEFAULT_WAIT,
            backlog=backlog,
            held=held,
        )

    def _oldest_time(self, floor: int) -> float | None:
        """The time of the oldest held change of any kind (None: none held)."""
        probe = self._store.watch(since=floor)
        try:
            first = probe.poll(1)
        finally:
            probe.close()
        return first[0].time if first else None

    def _watch(self, kinds: frozenset[ObjectKind] | None, *, since: int | None) -> Watcher:
        try:
            return self._store.watch(kinds=kinds, since=since, notify=self.wake)
        except WatchHistoryTooOld:
            raise _gone(f"events since position {since}", self._store.oldest_resumable) from None

    def wake(self) -> None:
        """A store change: ask for a tick unless one is already asked for."""
        if self._poked.is_set():
            return
        self._poked.set()
        poke = self._poke
        if poke is not None:
            poke()

    # -- pumping --------------------------------------------------------------------------
    def _drain(self, watch: _Watch) -> tuple[list[Event], int]:
        """Every queued change, whole entries only (under the store's lock), and the
        store's version: the watch has seen every change up to it."""

        def take(tx: ReadTx) -> tuple[list[Event], int]:
            events, watch.backlog = watch.backlog, []
            try:
                events.extend(watch.watcher.poll())
            except WatchClosed as closed:
                if events:
                    return events, events[-1].version  # send these first; reopen after
                watch.watcher = self._reopen(watch, closed)
                events.extend(watch.watcher.poll())
            return events, tx.version

        return self._store.view(take)

    def _reopen(self, watch: _Watch, closed: WatchClosed) -> Watcher:
        """The watcher was closed (fell behind, or a snapshot replaced the store): watch
        again from the cursor, if this manager still holds what follows it."""
        _log.info("events.watch.reopened", reason=closed.reason, position=watch.cursor.position)
        return self._watch(watch.kinds, since=watch.cursor.position)

    def _pump(self, watch: _Watch) -> bool:
        """Send what is new; True when the watch has ended."""
        changes, version = self._drain(watch)
        described = [describe(e) for e in changes]
        matched = [e for e in described if watch.matcher.matches(e)]
        now = self._clock()
        step = watch.cursor.advance(matched, version, now)
        self._send(watch, step)
        leased = self._monotonic() - watch.started >= watch.wait
        if step.done or leased or watch.frames >= self._max_frames:
            end = "until" if step.done else "lease"
            watch.watcher.close()
            watch.request.reply(self._frame(watch, [], step.position, end))
            return True
        return False

    @staticmethod
    def _frame(watch: _Watch, events: list[Any], position: int, end: str) -> dict[str, Any]:
        """A reply frame; the watch's first carries where the held history starts, when
        it asked for a time before it."""
        frame: dict[str, Any] = {"events": events, "position": position, "end": end}
        return {**frame, **watch.held} if watch.frames == 0 else frame

    def _send(self, watch: _Watch, step: Step) -> None:
        """The events in frames of ``batch``; the first pump of a watch sends a frame even
        without events: the watch is open, from that position."""
        events: tuple[ClusterEvent, ...] = step.events
        if not events and watch.frames == 0 and not step.done:
            watch.request.reply(self._frame(watch, [], step.position, ""), more=True)
            watch.frames += 1
            return
        for start in range(0, len(events), self._batch):
            chunk = events[start : start + self._batch]
            rest = events[start + self._batch :]
            # the entry of the first unsent event may not be whole yet in this frame
            position = rest[0].position - 1 if rest else step.position
            wire = [e.to_wire() for e in chunk]
            watch.request.reply(self._frame(watch, wire, position, ""), more=True)
            watch.frames += 1

    def _drop(self, key: int) -> None:
        with self._lock:
            watch = self._watches.pop(key, None)
        if watch is not None:
            watch.watcher.close()


class EventStreamsActor(PeriodicActor):
    """Runs `EventStreams`; ends every watch when it stops."""

    def __init__(self, ctx: Any, streams: EventStreams) -> None:
        super().__init__(ctx, streams, first_delay=0.0)
        self.streams = streams

    def on_start(self) -> None:
        self.streams.bind(self.poke)  # poke is thread-safe: it tells this actor
        super().on_start()

    def on_stop(self) -> None:
        self.streams.bind(None)
        super().on_stop()
        self.streams.close_all("closed")


def _kinds(filters: EventFilters) -> frozenset[ObjectKind] | None:
    """The store kinds the type filter names (a type with no kind in this store, such as
    one added later, matches nothing yet)."""
    if not filters.types:
        return None
    known = {k.value: k for k in ObjectKind}
    return frozenset(known[t] for t in filters.types if t in known)


def _stopping() -> ControlError:
    return ControlError(
        ControlCode.UNAVAILABLE, "this manager is stopping: watch events on another manager"
    )


def _gone(what: str, floor: int) -> ControlError:
    return ControlError(
        ControlCode.GONE,
        f"{what} are gone: this manager holds changes after position {floor} only (its "
        "event history is bounded, and a Raft snapshot replaces it); read the current "
        f"state (node ls, service ls) and watch again with --since @{floor}",
    )


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
