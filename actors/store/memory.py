"""``MemoryStore``: the replicated in-memory store of one manager.

Writes go through a ``Proposer`` (Raft, or ``LocalProposer``) and take effect only when
the committed entry comes back through ``apply(index, data)``, which every manager calls
for every entry in log order. ``apply`` is deterministic: it uses only the entry and the
current state (the timestamp travels in the entry), so every manager stores identical
objects and reaches the same verdict on every write. The store that proposed an entry
applies the operations it encoded instead of decoding them again (the same content: it
saves the leader, which proposes most entries, decoding every object it writes).
``meta.version`` of a written object becomes the entry's index; the store's ``version`` is the
last applied index.

Locking: one re-entrant lock guards the tables. ``view`` and the read part of ``update``
hold it while the caller's function runs; ``apply`` holds it while it changes tables.
Nothing blocking happens under it: proposals are made and awaited, futures completed and
watchers woken, after it is released.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures import wait as wait_first
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from actors.store import clusters, configs, networks, nodes, secrets, services, tasks
from actors.store.batch import DEFAULT_IN_FLIGHT, Batch
from actors.store.budget import Budgets, EncodedGroup, encode_group
from actors.store.entry import (
    CHAINED,
    Action,
    Op,
    assemble_entry,
    decode_entry,
    entry_proposal_id,
    has_rows,
)
from actors.store.errors import (
    AlreadyExists,
    ConflictError,
    EntryDecodeError,
    NameConflict,
    NoProposer,
    NotFound,
    ProposalAbandoned,
    ProposalDropped,
    ProposalTimeout,
    StoreError,
    TooLarge,
)
from actors.store.gc_pause import gc_paused, to_oldest_generation
from actors.store.proposer import LocalProposer, Proposer
from actors.store.sharing import (
    SpecSharing,
    share_patched_parts,
    share_task_parts,
    share_written_parts,
)
from actors.store.snapshot_codec import StoreView, decode_snapshot, encode_snapshot
from actors.store.table import Table, TableSchema
from actors.store.task_rows import SpecTable
from actors.store.tx import ReadTx, WriteTx
from actors.store.watch import Event, EventFilter, Watcher, WatchHub
from api.ids import RandomBits, new_id
from api.objects import Meta, Object, ObjectKind, Task
from api.objects_copy import copy_object

__all__ = ["SCHEMAS", "ApplyResult", "Batch", "BatchResult", "Committed", "MemoryStore"]

T = TypeVar("T")

SCHEMAS: tuple[TableSchema, ...] = (
    nodes.SCHEMA,
    services.SCHEMA,
    tasks.SCHEMA,
    clusters.SCHEMA,
    networks.SCHEMA,
    secrets.SCHEMA,
    configs.SCHEMA,
)
_Key = tuple[ObjectKind, str]
_set_field = object.__setattr__


@dataclass(frozen=True, slots=True)
class Committed(Generic[T]):
    """The outcome of ``update``: the function's return value, the Raft index the
    change was applied at, and the objects as stored (created or updated, in order)."""

    value: T
    version: int
    objects: tuple[Object, ...] = ()


@dataclass(frozen=True, slots=True)
class BatchResult:
    """One outcome per ``Batch.update`` call, in order: ``None`` when applied, else the
    error (ConflictError, NotFound, ...) that rejected that sub-transaction."""

    outcomes: tuple[StoreError | None, ...]
    proposals: int

    @property
    def applied(self) -> int:
        return sum(1 for o in self.outcomes if o is None)

    @property
    def errors(self) -> list[tuple[int, StoreError]]:
        return [(i, o) for i, o in enumerate(self.outcomes) if o is not None]


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What ``apply`` did with one entry (for the caller's logs)."""

    index: int
    groups_applied: int = 0
    groups_rejected: int = 0
    skipped: str = ""  # why the entry was ignored, if it was


@dataclass(slots=True)
class _GroupVerdict:
    error: StoreError | None
    objects: tuple[Object, ...] = ()


@dataclass(slots=True)
class _Pending:
    """A proposal of this store's, awaiting its entry: what it proposed, as objects."""

    groups: tuple[tuple[Op, ...], ...]
    timestamp: float
    future: Future[tuple[int, list[_GroupVerdict]]] = field(default_factory=Future)


class MemoryStore:
    def __init__(
        self,
        proposer: Proposer | None = None,
        *,
        clock: Callable[[], float],
        rng: RandomBits | None = None,
        history_size: int = 4096,
        watch_queue_size: int = 10_000,
        max_ops_per_proposal: int = 500,
        max_proposals_in_flight: int = DEFAULT_IN_FLIGHT,
        proposal_timeout: float | None = 30.0,
        budgets: Budgets | None = None,
    ) -> None:
        self._proposer = proposer
        self._clock = clock
        self._rng = rng
        self._tables: dict[ObjectKind, Table] = {s.kind: Table(s) for s in SCHEMAS}
        self._services = self._tables[ObjectKind.SERVICE]
        self._nodes = self._tables[ObjectKind.NODE]
        self._version = 0
        self._lock = threading.RLock()
        self._hub = WatchHub(history_size, lock=self._lock)
        self._watch_queue_size = watch_queue_size
        self._max_ops = max_ops_per_proposal
        self._max_in_flight = max_proposals_in_flight
        self._budgets = budgets or Budgets()
        self._timeout = proposal_timeout
        self._pending: dict[str, _Pending] = {}

    @classmethod
    def local(cls, *, clock: Callable[[], float], **kwargs: Any) -> MemoryStore:
        """A store without Raft: writes commit at once through a ``LocalProposer``."""
        store = cls(clock=clock, **kwargs)
        store.attach_proposer(LocalProposer(store.apply, start_index=store.version))
        return store

    def attach_proposer(self, proposer: Proposer | None) -> None:
        self._proposer = proposer

    @property
    def version(self) -> int:
        """The index of the last applied entry."""
        return self._version

    @property
    def oldest_resumable(self) -> int:
        """The oldest version a watch may resume from (``since``): the watch ring holds
        every change after it. Read it inside ``view`` to watch from it atomically."""
        with self._lock:
            return self._hub.oldest_resumable

    # --- reads ---------------------------------------------------------------------

    def view(self, fn: Callable[[ReadTx], T]) -> T:
        """Run ``fn`` on a consistent read-only view and return its result."""
        with self.read() as tx:
            return fn(tx)

    @contextmanager
    def read(self) -> Iterator[ReadTx]:
        """``with store.read() as tx:`` — the same as ``view``, as a context manager."""
        with self._lock:
            tx = ReadTx(self._tables, self._version)
            try:
                yield tx
            finally:
                tx.close()

    # --- writes --------------------------------------------------------------------

    def update(self, fn: Callable[[WriteTx], T], *, timeout: float | None = None) -> Committed[T]:
        """Run ``fn`` in a write transaction, propose its changes as one atomic group and
        wait until the entry is applied here. Raises the write's verdict (ConflictError,
        AlreadyExists, NameConflict, NotFound) or a ProposalError."""
        return self._wait(self.update_async(fn), timeout)

    def update_async(self, fn: Callable[[WriteTx], T]) -> Future[Committed[T]]:
        """Like ``update`` but returns at once; errors raised by ``fn``, by the early
        version checks or by the byte budgets (TooLarge) propagate immediately, the
        verdict arrives through the future."""
        with self._lock:
            tx = WriteTx(self._tables, self._version)
            try:
                value = fn(tx)
            finally:
                tx.close()
            ops = tx.ops
            version = self._version
        result: Future[Committed[T]] = Future()
        if not ops:
            result.set_result(Committed(value, version))
            return result
        specs = SpecTable()
        inner = self._propose((encode_group(ops, self._budgets, specs),), specs)

        def done(f: Future[tuple[int, list[_GroupVerdict]]]) -> None:
            exc = f.exception()
            if exc is not None:
                result.set_exception(exc)
                return
            index, verdicts = f.result()
            verdict = verdicts[0]
            if verdict.error is not None:
                result.set_exception(verdict.error)
            else:
                result.set_result(Committed(value, index, verdict.objects))

        inner.add_done_callback(done)
        return result

    def batch(
        self,
        fn: Callable[[Batch], None],
        *,
        timeout: float | None = None,
        stop_waiting: Future[Any] | None = None,
    ) -> BatchResult:
        """Many small write transactions, proposed together (SwarmKit's ``Batch``).

        ``fn`` calls ``batch.update(cb)`` once per sub-transaction; each is atomic on its
        own, and sees the writes of earlier ones. Up to ``max_ops_per_proposal``
        operations share one proposal; up to ``max_proposals_in_flight`` full ones await
        their verdicts while the next fills (batch.py). The batch as a whole is not
        atomic. Every proposal's verdict is taken before this returns or raises, unless
        ``stop_waiting`` is done first (its writer stops): the verdicts not in yet are
        then `ProposalAbandoned`, and the proposals may still commit.
        """
        batch = Batch(self, timeout, self._max_in_flight, stop_waiting)
        try:
            fn(batch)
        except BaseException:
            with contextlib.suppress(StoreError):
                batch.finish()  # none left in flight; the first error is the one raised
            raise
        batch.finish()
        return BatchResult(tuple(batch.outcomes), batch.proposals)

    def _wait(
        self, future: Future[T], timeout: float | None, stop_waiting: Future[Any] | None = None
    ) -> T:
        limit = timeout if timeout is not None else self._timeout
        if stop_waiting is not None:
            wait_first((future, stop_waiting), limit, return_when=FIRST_COMPLETED)
            if not future.done() and stop_waiting.done():
                raise ProposalAbandoned(
                    "its writer stopped waiting for the verdict; the write may or may not "
                    "be committed"
                )
        try:
            return future.result(limit if stop_waiting is None else 0)
        except FutureTimeout:
            raise ProposalTimeout(
                f"no verdict within {limit} s; the write may or may not be committed"
            ) from None

    def _propose(
        self, groups: tuple[EncodedGroup, ...], specs: SpecTable
    ) -> Future[tuple[int, list[_GroupVerdict]]]:
        proposer = self._proposer
        if proposer is None:
            raise NoProposer()
        proposal_id = new_id(self._rng) if self._rng is not None else new_id()
        timestamp = self._clock()
        rows = has_rows(op for g in groups for op in g.source)
        data = assemble_entry(
            proposal_id, timestamp, [g.ops for g in groups], specs.packed, rows=rows
        )
        if len(data) > self._budgets.entry:  # Batch keeps room; checked as Raft will
            raise TooLarge(
                f"a proposal of {len(groups)} writes", len(data), self._budgets.entry, "one entry"
            )
        pending = _Pending(tuple(g.source for g in groups), timestamp)
        with self._lock:
            self._pending[proposal_id] = pending
        try:
            proposed = proposer.propose(data)
        except BaseException:
            with self._lock:
                self._pending.pop(proposal_id, None)
            raise

        def on_proposed(f: Future[Any]) -> None:
            exc = f.exception()
            if exc is None:
                return  # the verdict comes from apply
            with self._lock:
                gone = self._pending.pop(proposal_id, None)
            if gone is not None and not gone.future.done():
                gone.future.set_exception(exc)

        proposed.add_done_callback(on_proposed)
        return pending.future

    # --- apply (called by the proposer for every committed entry, in order) ---------

    def apply(self, index: int, data: bytes) -> ApplyResult:
        """Apply the committed entry at ``index``. Entries at or below ``version``
        are ignored (already in a restored snapshot); empty data is a no-op entry."""
        to_complete: list[tuple[_Pending, tuple[int, list[_GroupVerdict]] | StoreError]] = []
        with self._lock:
            if index <= self._version:
                return ApplyResult(index, skipped="already applied")
            if not data:
                self._version = index
                return ApplyResult(index, skipped="empty entry")
            # an entry this store proposed applies as the operations it built (SwarmKit's
            # leader commits its own transaction in memory); any other is decoded
            # a follower proposes nothing: no id to read
            proposal_id = entry_proposal_id(data) if self._pending else None
            pending = self._pending.pop(proposal_id, None) if proposal_id is not None else None
            sharing: SpecSharing | None = None
            if pending is not None:
                groups, timestamp = pending.groups, pending.timestamp
            else:
                try:
                    entry = decode_entry(data)
                except EntryDecodeError as exc:
                    self._version = index
                    return ApplyResult(index, skipped=str(exc))
                groups, timestamp = entry.groups, entry.timestamp
                # the entry's tasks share its few decoded specs: each is compared once
                sharing = SpecSharing(self._services.objects, self._nodes.objects)
            events: list[Event] = []
            verdicts = [self._apply_group(g, index, timestamp, events, sharing) for g in groups]
            self._version = index
            to_wake = self._hub.publish(events, self._objects())
            if pending is not None:
                to_complete.append((pending, (index, verdicts)))
        for p, outcome in to_complete:
            if not p.future.done() and not isinstance(outcome, StoreError):
                p.future.set_result(outcome)
        for watcher in to_wake:
            watcher._wake()
        rejected = sum(1 for v in verdicts if v.error is not None)
        return ApplyResult(index, len(verdicts) - rejected, rejected)

    def _apply_group(
        self,
        ops: tuple[Op, ...],
        index: int,
        timestamp: float,
        events: list[Event],
        sharing: SpecSharing | None,
    ) -> _GroupVerdict:
        fresh = sharing is not None  # decoded objects: nobody else holds them
        services, nodes = self._services.objects, self._nodes.objects
        undo: list[tuple[ObjectKind, str, Object | None]] = []
        group_events: list[Event] = []
        stored: list[Object] = []
        try:
            for op in ops:
                table = self._tables[op.kind]
                current = table.objects.get(op.id)
                if op.action is Action.CREATE:
                    assert op.obj is not None
                    if current is not None:
                        raise AlreadyExists(op.kind.value, op.id)
                    new = self._stored(
                        op.obj, Meta(index, timestamp, timestamp), fresh or op.handed_over
                    )
                else:
                    if current is None:
                        raise NotFound(op.kind.value, op.id)
                    if op.expected == CHAINED:
                        if current.meta.version != index:
                            raise ConflictError(op.kind.value, op.id, index, current.meta.version)
                    elif op.expected is not None and op.expected != current.meta.version:
                        raise ConflictError(op.kind.value, op.id, op.expected, current.meta.version)
                    if op.action is Action.DELETE:
                        undo.append((op.kind, op.id, current))
                        table.remove(op.id)
                        group_events.append(
                            Event(op.kind, Action.DELETE, current, index, current, timestamp)
                        )
                        continue
                    meta = Meta(index, current.meta.created_at, timestamp)
                    if op.changes is not None:  # a patch: the changes to the current version
                        new = copy_object(current, meta, op.changes)
                    else:
                        assert op.obj is not None
                        new = self._stored(op.obj, meta, fresh or op.handed_over)
                if type(new) is Task:
                    if op.changes is not None:
                        assert type(current) is Task
                        share_patched_parts(new, op.changes, current, services, nodes)
                    elif sharing is not None:
                        sharing.share(new, current)
                    elif op.base is current and type(current) is Task:
                        share_written_parts(new, current, services, nodes)
                    else:
                        share_task_parts(new, current, services, nodes)
                holder = table.unique_holder(new)
                if holder is not None:
                    raise NameConflict(op.kind.value, str(holder[1]), holder[0], holder[2].what)
                undo.append((op.kind, op.id, current))
                table.put(new)
                group_events.append(Event(op.kind, op.action, new, index, current, timestamp))
                stored.append(new)
        except StoreError as exc:
            for kind, id, previous in reversed(undo):
                if previous is None:
                    self._tables[kind].remove(id)
                else:
                    self._tables[kind].put(previous)
            # without its traceback: that held this frame and, through each caller's,
            # the verdicts list holding the error (a cycle) and the whole Raft batch being
            # applied, until a full collection (rare: actors/heap.py); a routine conflict
            # of a status write kept megabytes a minute on every manager
            return _GroupVerdict(exc.with_traceback(None))
        events.extend(group_events)
        return _GroupVerdict(None, tuple(stored))

    @staticmethod
    def _stored(obj: Object, meta: Meta, fresh: bool) -> Object:
        """``obj`` as stored, with ``meta``: itself when it is ``fresh`` (decoded from the
        entry, or handed over by its writer: Op.handed_over), else a copy (the writer
        holds the object it proposed)."""
        if fresh:
            _set_field(obj, "meta", meta)
            return obj
        return copy_object(obj, meta)

    # --- watch ---------------------------------------------------------------------

    def watch(
        self,
        *,
        kinds: set[ObjectKind] | frozenset[ObjectKind] | None = None,
        actions: set[Action] | frozenset[Action] | None = None,
        predicate: Callable[[Event], bool] | None = None,
        since: int | None = None,
        queue_size: int | None = None,
        notify: Callable[[], None] | None = None,
        grows: bool = False,
    ) -> Watcher:
        """Watch committed changes. ``since``: resume after that version (events with a
        greater version are delivered first). ``predicate`` runs under the store's
        lock: keep it cheap and don't touch the store from it. ``grows``: the queue holds
        at least as many events as the store holds objects (the leader's consumers, which
        re-read the whole store when they fall behind: Watcher)."""
        event_filter = EventFilter(
            frozenset(kinds) if kinds is not None else None,
            frozenset(actions) if actions is not None else None,
            predicate,
        )
        with self._lock:
            return self._hub.add(
                event_filter,
                since=since,
                max_queue=queue_size or self._watch_queue_size,
                notify=notify,
                grows=grows,
            )

    def _objects(self) -> int:
        return sum(len(table.objects) for table in self._tables.values())

    def view_and_watch(self, fn: Callable[[ReadTx], T], **watch_args: Any) -> tuple[T, Watcher]:
        """Read and start watching atomically: the watcher gets exactly the changes
        after the view."""
        with self._lock:
            value = self.view(fn)
            return value, self.watch(since=self._version, **watch_args)

    # --- snapshot / restore --------------------------------------------------------

    def snapshot(self) -> bytes:
        """The whole store as bytes (snapshot_codec.py: two stores with the same content
        give the same bytes)."""
        return encode_snapshot(self.snapshot_view())

    @staticmethod
    def encode_snapshot(view: StoreView) -> bytes:
        """``snapshot()``'s bytes for a view taken earlier; any thread, no lock."""
        return encode_snapshot(view)

    def snapshot_view(self) -> StoreView:
        """The store at its current version, to encode later or on another thread
        (``encode_snapshot``): a copy of each table's map, made under the lock."""
        with self._lock:
            tables = {kind: dict(table.objects) for kind, table in self._tables.items()}
            return StoreView(self._version, tables)

    def restore(self, data: bytes) -> None:
        """Replace the whole content with a snapshot. Every watcher is closed with
        ``WatchClosed(reset=True)``; pending local proposals fail with ProposalDropped."""
        with gc_paused():
            self._restore(data)
            to_oldest_generation()

    def _restore(self, data: bytes) -> None:
        version, objects = decode_snapshot(data)
        with self._lock:
            for table in self._tables.values():
                table.clear()
            for kind, table in self._tables.items():  # the tasks share already (decoded so)
                table.load(objects.get(kind, []))
            self._version = version
            closed = self._hub.reset(
                version,
                f"store restored from a snapshot at version {version}; "
                "re-read the store and watch again",
            )
            pending = list(self._pending.values())
            self._pending.clear()
        for p in pending:
            if not p.future.done():
                p.future.set_exception(
                    ProposalDropped("store restored from a snapshot; outcome unknown")
                )
        for watcher in closed:
            watcher._wake()
