"""``Batch``: many small write transactions, proposed together (``MemoryStore.batch``).

Each ``update`` runs one sub-transaction, atomic on its own, that sees the writes of the
earlier ones; up to ``max_ops_per_proposal`` operations (and the entry's byte budget)
share one proposal. A full proposal is sent and the next one fills at once: up to
``max_in_flight`` proposals await their verdicts meanwhile, taken oldest first
(pipeline.py has the rules, among them what a write of an object that a proposal in
flight wrote expects). ``finish`` takes the verdicts of the rest. A proposal that fails
(not leader, dropped, timed out) gives its error as the outcome of each of its writes,
and is raised where its verdict was taken, as before when a batch waited for each
proposal in turn.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

from actors.store.budget import EncodedGroup, encode_group
from actors.store.entry import CHAINED, ENTRY_OVERHEAD, Op
from actors.store.errors import StoreError, TooLarge
from actors.store.pipeline import Pipeline
from actors.store.task_rows import SpecTable
from actors.store.tx import WriteTx
from api.objects import Object, ObjectKind

if TYPE_CHECKING:
    from actors.store.memory import MemoryStore

__all__ = ["DEFAULT_IN_FLIGHT", "WRITES_TOGETHER", "Batch"]

T = TypeVar("T")
_Key = tuple[ObjectKind, str]
DEFAULT_IN_FLIGHT = 2  # proposals of one batch awaiting their verdicts at once (more only delay
# other writers, whose proposals queue behind them, for little more overlap)
# writes a caller puts in one update_together: from about 10 on, a sub-transaction's own
# cost is spread thin; a write that conflicts at commit fails no more than this many
WRITES_TOGETHER = 32


class Batch:
    """Handed to the function given to ``MemoryStore.batch``."""

    def __init__(
        self,
        store: MemoryStore,
        timeout: float | None,
        max_in_flight: int = DEFAULT_IN_FLIGHT,
        stop_waiting: Future[Any] | None = None,
    ) -> None:
        self._store = store
        self._timeout = timeout
        self._stop_waiting = stop_waiting  # done: the verdicts are no longer waited for
        self._groups: list[EncodedGroup] = []
        self._specs = SpecTable()  # the task specs of the proposal being filled
        self._slots: list[int] = []  # the outcome index of each of _groups
        # the writes of the proposal being filled and of those in flight (None: deleted)
        self._overlay: dict[_Key, Object | None] = {}
        self._pipeline: Pipeline[_Key] = Pipeline(max_in_flight)
        self._sent: dict[int, tuple[Future[Any], list[int]]] = {}  # in flight: verdict, slots
        self._ops = 0
        self._bytes = 0
        self.outcomes: list[StoreError | None] = []
        self.proposals = 0

    def update(self, fn: Callable[[WriteTx], T]) -> T:
        """Run one sub-transaction; its changes join the current proposal. One over its
        byte budget is not proposed: its outcome is the TooLarge error."""
        store = self._store
        budgets = store._budgets
        if self._bytes > budgets.entry - budgets.write - ENTRY_OVERHEAD:
            self.flush()  # keep room for a whole write: an entry never exceeds its budget
        with store._lock:
            tx = WriteTx(store._tables, store._version, self._overlay)
            try:
                value = fn(tx)
            finally:
                tx.close()
        ops = tx.ops
        if ops:
            ops = self._after_in_flight(ops)
            try:
                group = encode_group(ops, budgets, self._specs)
            except TooLarge as exc:
                self.outcomes.append(exc.with_traceback(None))  # see update_together
                return value
            self._groups.append(group)
            self._slots.append(len(self.outcomes))
            writes = tx.writes
            self._overlay.update(writes)
            self._pipeline.wrote(writes)
            self._ops += len(ops)
            self._bytes += group.size
            self.outcomes.append(None)
        if self._ops >= store._max_ops:
            self.flush()
        return value

    def update_together(
        self, fns: Sequence[Callable[[WriteTx], object]]
    ) -> list[int | StoreError | None]:
        """Run ``fns`` as one sub-transaction: they are proposed, and commit or fail,
        together. A sub-transaction costs the leader ~9 us of CPU beyond its writes, and
        a follower ~4 us; a thousand tasks placed or created at once are a thousand
        writes of one operation each. Each ``fn`` writes objects no other one writes, and
        raises StoreError only before it writes: its error is its outcome, and the others
        go on. Over the write budget together, each ``fn`` runs again as its own
        sub-transaction.

        Per ``fn``: the index of its outcome in ``outcomes``, the StoreError it raised, or
        None when it wrote nothing. An earlier proposal's error raised before the group
        joined the batch propagates, as from ``update``; one raised after it is already
        the outcome of that proposal's writes, and the group's comes with its own."""
        results: list[int | StoreError | None] = [None] * len(fns)
        wrote: list[int] = []

        def write(tx: WriteTx) -> None:
            for i, fn in enumerate(fns):
                count = tx.op_count
                try:
                    fn(tx)
                except StoreError as exc:
                    # kept without its traceback, whose frames hold ``results`` and so the
                    # error (a cycle) with the batch, until a rare full collection
                    results[i] = exc.with_traceback(None)
                    continue
                if tx.op_count != count:
                    wrote.append(i)

        before = len(self.outcomes)
        try:
            self.update(write)
        except StoreError:
            if len(self.outcomes) == before:
                raise
        if len(self.outcomes) == before:
            return results  # nothing written: every result is its error or None
        if len(wrote) > 1 and isinstance(self.outcomes[before], TooLarge):
            for i in wrote:  # the group's refusal stays in outcomes, referenced by no one
                results[i] = self.update_together((fns[i],))[0]
            return results
        for i in wrote:
            results[i] = before
        return results

    def update_groups(
        self,
        groups: Iterable[Sequence[T]],
        writer: Callable[[T], Callable[[WriteTx], object]],
    ) -> tuple[list[tuple[T, int]], list[T], list[T]]:
        """Each group's items' writers through ``update_together``. Returns the items
        written, each with the index of its outcome in ``outcomes``; those refused (their
        own StoreError, or every item of a group that an earlier proposal's error kept
        out); and those that wrote nothing."""
        written: list[tuple[T, int]] = []
        refused: list[T] = []
        unwritten: list[T] = []
        for group in groups:
            try:
                results = self.update_together([writer(item) for item in group])
            except StoreError:  # an earlier proposal failed before the group joined
                refused.extend(group)
                continue
            for item, result in zip(group, results, strict=True):
                if isinstance(result, int):
                    written.append((item, result))
                elif result is None:
                    unwritten.append(item)
                else:
                    refused.append(item)
        return written, refused, unwritten

    def _after_in_flight(self, ops: tuple[Op, ...]) -> tuple[Op, ...]:
        """``ops``, where one changes an object a proposal in flight wrote last, once that
        proposal is settled and expecting the index it committed at (pipeline.py)."""
        owners = self._pipeline.owners_in_flight((op.kind, op.id) for op in ops)
        if not owners:
            return ops
        self._settle_through(max(owners.values()))
        fixed = []
        for op in ops:
            owner = owners.get((op.kind, op.id))
            if owner is not None and op.expected == CHAINED:
                op = dataclasses.replace(op, expected=self._pipeline.index_of(owner))
            fixed.append(op)
        return tuple(fixed)

    def flush(self) -> None:
        """Propose the collected sub-transactions now; take the verdicts of the oldest
        proposals while more than ``max_in_flight`` await theirs."""
        if self._groups:
            groups, slots, specs = tuple(self._groups), self._slots, self._specs
            self._groups, self._slots, self._specs = [], [], SpecTable()
            self._ops = self._bytes = 0
            self.proposals += 1
            future = self._store._propose(groups, specs)
            self._sent[self._pipeline.send()] = (future, slots)
        while self._pipeline.over_limit():
            self._settle_oldest()

    def finish(self) -> None:
        """Propose what is collected and take every verdict; the first proposal error
        met is raised once all are taken."""
        first: StoreError | None = None
        try:
            self.flush()
        except StoreError as exc:
            first = exc
        while self._pipeline.oldest() is not None:
            try:
                self._settle_oldest()
            except StoreError as exc:
                first = first or exc
        if first is not None:
            raise first

    def _settle_through(self, seq: int) -> None:
        oldest = self._pipeline.oldest()
        while oldest is not None and oldest <= seq:
            self._settle_oldest()
            oldest = self._pipeline.oldest()

    def _settle_oldest(self) -> None:
        seq = self._pipeline.oldest()
        assert seq is not None
        future, slots = self._sent.pop(seq)
        try:
            index, verdicts = self._store._wait(future, self._timeout, self._stop_waiting)
        except StoreError as exc:
            for slot in slots:
                self.outcomes[slot] = exc
            self._forget(self._pipeline.settle(seq, None))
            raise
        for slot, verdict in zip(slots, verdicts, strict=True):
            self.outcomes[slot] = verdict.error
        self._forget(self._pipeline.settle(seq, index))

    def _forget(self, keys: list[_Key]) -> None:
        for key in keys:  # the store holds them now (or their refusal)
            self._overlay.pop(key, None)
