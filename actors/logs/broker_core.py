"""The log broker's pure core: subscriptions, the nodes they concern, what nodes publish,
and what readers are given.

Rules (SwarmKit's log broker, DESIGN.md §10):
- A subscription concerns nodes: the one node whose log it reads (``node`` kind), or the
  nodes that hold its tasks (``tasks`` kind: the shell reads them from the store). A
  follow also takes in nodes that later get one of its tasks (``task_seen``).
- A node hears of a subscription on its listen stream: at once when it listens, else
  when it starts listening. A node that does not listen is skipped with a notice,
  unless the subscription follows (it then waits for the node).
- Only the nodes a subscription was sent to may publish to it, and only records of their
  own tasks that the subscription selects (``lookup``: where the store says a task is),
  or, for a node's log, only that node's events. Other records are refused and counted.
- A node's ``close`` ends its part. A subscription that does not follow is complete when
  every node's part has ended: closed, gone (its listener went away) or silent for
  ``node_timeout`` (each with a notice). A reader is told ``done`` once it has every
  record of a complete subscription.
- Records wait in the subscription's buffer, numbered in arrival order, until the reader
  reads past them. Each publish is answered with the buffer's backlog, so a node holds
  back while its reader is behind (publishing.py). The buffer is bounded per subscription
  and for all of them together; past a bound the oldest records are dropped and the
  reader is told how many.
- A subscription nobody read for ``idle_timeout`` (its reader is gone), one told
  ``done`` ``done_grace`` ago, and one its reader closed (``close``) are dropped; its
  nodes are told to close it.
- Subscriptions are a subscriber's own (``owner``): reading another's is as if it did
  not exist. A new leader knows none: the client subscribes again.
"""

from __future__ import annotations

import collections
import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

from actors.logs.broker_types import (
    TOO_MANY,
    UNKNOWN_SUBSCRIPTION,
    BrokerError,
    BrokerLimits,
    Delivery,
    Effects,
    PublishResult,
    TaskPlace,
)
from actors.logs.wire import (
    EVENT,
    MAX_NOTICE_CHARS,
    Kind,
    LogOptions,
    LogRecord,
    PublishBatch,
    ReadBatch,
    SubscriptionMessage,
)

__all__ = [
    "UNKNOWN_SUBSCRIPTION",
    "BrokerCore",
    "BrokerError",
    "BrokerLimits",
    "Delivery",
    "Effects",
    "PublishResult",
    "TaskPlace",
]

MAX_NOTICES: Final = 64  # waiting for the reader, per subscription


class _Part(enum.Enum):
    WAITING = "waiting"  # the node does not listen yet (a follow waits for it)
    SENT = "sent"
    CLOSED = "closed"


@dataclass(slots=True, eq=False)
class _Subscription:
    id: str
    owner: str
    kind: Kind
    options: LogOptions
    service_ids: frozenset[str]
    task_ids: frozenset[str]
    node_id: str  # the node kind's node
    last_read: float
    parts: dict[str, _Part] = field(default_factory=dict)
    heard: dict[str, float] = field(default_factory=dict)  # node -> last sign of life
    buffer: collections.deque[tuple[int, LogRecord]] = field(default_factory=collections.deque)
    buffered: int = 0  # bytes
    next_seq: int = 1
    dropped: int = 0
    notices: list[str] = field(default_factory=list)
    ended: bool = False  # complete whatever the parts say (its service was removed)
    told_done: float | None = None

    def message(self) -> SubscriptionMessage:
        return SubscriptionMessage(
            self.id, self.kind, self.options, self.service_ids, self.task_ids
        )

    @property
    def complete(self) -> bool:
        if self.ended:
            return True
        return not self.options.follow and all(p is _Part.CLOSED for p in self.parts.values())

    def selects(self, place: TaskPlace, task_id: str) -> bool:
        return place.service_id in self.service_ids or task_id in self.task_ids


class BrokerCore:
    def __init__(self, limits: BrokerLimits | None = None) -> None:
        self.limits = limits or BrokerLimits()
        self._subs: dict[str, _Subscription] = {}
        self._listening: set[str] = set()
        self._names: dict[str, str] = {}
        self._total = 0  # bytes buffered by every subscription

    def __len__(self) -> int:
        return len(self._subs)

    def set_node_name(self, node_id: str, name: str) -> None:
        """The hostname notices name a node by."""
        self._names[node_id] = name

    def _name(self, node_id: str) -> str:
        return self._names.get(node_id) or node_id

    # --- subscribers ---------------------------------------------------------------------

    def subscribe(
        self,
        now: float,
        sub_id: str,
        owner: str,
        options: LogOptions,
        *,
        node_id: str = "",
        service_ids: Iterable[str] = (),
        task_ids: Iterable[str] = (),
        task_nodes: Iterable[str] = (),
    ) -> Effects:
        """Open a subscription to ``node_id``'s log, or to the tasks of ``service_ids`` and
        ``task_ids``, which the store places on ``task_nodes``."""
        if len(self._subs) >= self.limits.max_subscriptions:
            raise BrokerError(
                TOO_MANY, f"the leader holds {len(self._subs)} log subscriptions: try later"
            )
        sub = _Subscription(
            id=sub_id,
            owner=owner,
            kind=Kind.NODE if node_id else Kind.TASKS,
            options=options,
            service_ids=frozenset(service_ids),
            task_ids=frozenset(task_ids),
            node_id=node_id,
            last_read=now,
        )
        self._subs[sub_id] = sub
        effects = Effects()
        for node in sorted({node_id} if node_id else set(task_nodes)):
            self._add_node(now, sub, node, effects)
        if sub.complete:
            effects.wake.add(sub_id)
        return effects

    def _add_node(self, now: float, sub: _Subscription, node: str, effects: Effects) -> None:
        if node in self._listening:
            sub.parts[node] = _Part.SENT
            sub.heard[node] = now
            effects.send(node, sub.message())
        elif sub.options.follow:
            sub.parts[node] = _Part.WAITING
        else:
            sub.parts[node] = _Part.CLOSED
            self._notice(sub, f"node {self._name(node)} is not connected: its lines are missing")

    def read(self, now: float, sub_id: str, owner: str, after: int) -> ReadBatch | None:
        """The records after ``after`` (and notices, drops, done), or None when there is
        nothing to tell yet (the shell waits). BrokerError when the subscription is
        unknown to ``owner``."""
        sub = self._subs.get(sub_id)
        if sub is None or sub.owner != owner:
            raise BrokerError(UNKNOWN_SUBSCRIPTION, f"no log subscription {sub_id[:64]!r} here")
        sub.last_read = now
        while sub.buffer and sub.buffer[0][0] <= after:
            self._release(sub, sub.buffer.popleft()[1])
        records: list[LogRecord] = []
        size = 0
        seq = max(after, 0)
        for number, record in sub.buffer:
            if len(records) >= self.limits.read_records or (
                records and size + record.size > self.limits.read_bytes
            ):
                break
            records.append(record)
            size += record.size
            seq = number
        every = len(records) == len(sub.buffer)
        done = sub.complete and every
        if not records and not sub.notices and not sub.dropped and not done:
            return None
        batch = ReadBatch(
            seq=seq,
            records=tuple(records),
            notices=tuple(sub.notices),
            dropped=sub.dropped,
            done=done,
        )
        sub.notices.clear()
        sub.dropped = 0
        if done and sub.told_done is None:
            sub.told_done = now
        return batch

    def end(self, sub_id: str, notice: str) -> Effects:
        """End a follow (what it followed was removed): complete once its records are read."""
        effects = Effects()
        sub = self._subs.get(sub_id)
        if sub is not None and not sub.ended:
            sub.ended = True
            self._notice(sub, notice)
            effects.wake.add(sub_id)
        return effects

    # --- nodes ---------------------------------------------------------------------------

    def listen(self, now: float, node_id: str) -> list[SubscriptionMessage]:
        """``node_id`` listens (again): every open subscription that concerns it."""
        self._listening.add(node_id)
        messages = []
        for sub in self._subs.values():
            part = sub.parts.get(node_id)
            if part is None or part is _Part.CLOSED:
                continue
            sub.parts[node_id] = _Part.SENT
            sub.heard[node_id] = now
            messages.append(sub.message())
        return messages

    def unlisten(self, node_id: str, reason: str) -> Effects:
        """``node_id`` no longer listens (its stream was replaced, it went down, it was
        removed): parts it had not finished lose their tail."""
        self._listening.discard(node_id)
        effects = Effects()
        for sub in self._subs.values():
            if sub.parts.get(node_id) is not _Part.SENT:
                continue
            if sub.options.follow:
                sub.parts[node_id] = _Part.WAITING
                self._notice(
                    sub, f"node {self._name(node_id)} {reason}: lines may have been missed"
                )
            else:
                sub.parts[node_id] = _Part.CLOSED
                self._notice(sub, f"node {self._name(node_id)} {reason}: lines may be missing")
            effects.wake.add(sub.id)
        return effects

    def listening(self, node_id: str) -> bool:
        return node_id in self._listening

    def task_seen(self, now: float, task_id: str, place: TaskPlace) -> Effects:
        """A task is on ``place.node_id`` now: follows that select it take in the node."""
        effects = Effects()
        if not place.node_id:
            return effects
        for sub in self._subs.values():
            if (
                sub.kind is Kind.TASKS
                and sub.options.follow
                and not sub.ended
                and place.node_id not in sub.parts
                and sub.selects(place, task_id)
            ):
                self._add_node(now, sub, place.node_id, effects)
        return effects

    def publish(
        self,
        now: float,
        node_id: str,
        batch: PublishBatch,
        lookup: Callable[[str], TaskPlace | None],
    ) -> tuple[PublishResult, Effects]:
        """Take what ``node_id`` (the caller's certificate's node) publishes."""
        effects = Effects()
        sub = self._subs.get(batch.subscription_id)
        part = sub.parts.get(node_id) if sub is not None else None
        if sub is None or part is None or sub.ended:
            return PublishResult(0, len(batch.records), stop=True), effects
        if part is _Part.CLOSED:
            return PublishResult(0, len(batch.records), stop=True), effects
        sub.heard[node_id] = now
        accepted = refused = 0
        places: dict[str, TaskPlace | None] = {}
        for record in batch.records:
            if self._allowed(sub, node_id, record, places, lookup):
                self._append(sub, record)
                accepted += 1
            else:
                refused += 1
        for notice in batch.notices:
            self._notice(sub, f"node {self._name(node_id)}: {notice}")
        if batch.close:
            sub.parts[node_id] = _Part.CLOSED
        if accepted or batch.notices or batch.close:
            effects.wake.add(sub.id)
        return PublishResult(accepted, refused, batch.close, len(sub.buffer)), effects

    def _allowed(
        self,
        sub: _Subscription,
        node_id: str,
        record: LogRecord,
        places: dict[str, TaskPlace | None],
        lookup: Callable[[str], TaskPlace | None],
    ) -> bool:
        if sub.kind is Kind.NODE:
            return record.stream == EVENT and not record.task_id and node_id == sub.node_id
        if record.stream == EVENT or not record.task_id:
            return False
        if record.task_id not in places:
            places[record.task_id] = lookup(record.task_id)
        place = places[record.task_id]
        return place is not None and place.node_id == node_id and sub.selects(place, record.task_id)

    def close(self, sub_id: str, owner: str) -> tuple[bool, Effects]:
        """The reader is done: drop the subscription (False: none of ``owner``'s)."""
        effects = Effects()
        sub = self._subs.get(sub_id)
        if sub is None or sub.owner != owner:
            return False, effects
        self._drop(sub, effects)
        return True, effects

    # --- time ----------------------------------------------------------------------------

    def tick(self, now: float) -> Effects:
        effects = Effects()
        limits = self.limits
        for sub in list(self._subs.values()):
            gone = now - sub.last_read > limits.idle_timeout
            finished = sub.told_done is not None and now - sub.told_done > limits.done_grace
            if gone or finished:
                self._drop(sub, effects)
                effects.expired.append((sub.id, "done" if finished else "idle"))
                continue
            if sub.options.follow:
                continue
            for node, part in sub.parts.items():
                if part is _Part.SENT and now - sub.heard.get(node, now) > limits.node_timeout:
                    sub.parts[node] = _Part.CLOSED
                    self._notice(
                        sub,
                        f"node {self._name(node)} did not answer within "
                        f"{limits.node_timeout:g}s: its lines are missing",
                    )
                    effects.wake.add(sub.id)
        return effects

    def subscription_ids(self) -> list[str]:
        return list(self._subs)

    def follows_of(self, service_id: str) -> list[str]:
        """Follows that select the service (the shell ends them when it is removed)."""
        return [
            s.id
            for s in self._subs.values()
            if s.options.follow and service_id in s.service_ids and not s.ended
        ]

    def follows_of_task(self, task_id: str) -> list[str]:
        return [
            s.id
            for s in self._subs.values()
            if s.options.follow and task_id in s.task_ids and not s.service_ids and not s.ended
        ]

    def follows_of_node(self, node_id: str) -> list[str]:
        return [
            s.id
            for s in self._subs.values()
            if s.options.follow and s.kind is Kind.NODE and s.node_id == node_id
        ]

    # --- buffers -------------------------------------------------------------------------

    def _append(self, sub: _Subscription, record: LogRecord) -> None:
        sub.buffer.append((sub.next_seq, record))
        sub.next_seq += 1
        sub.buffered += record.size
        self._total += record.size
        limits = self.limits
        while sub.buffer and (
            len(sub.buffer) > limits.buffer_records
            or sub.buffered > limits.buffer_bytes
            or self._total > limits.total_bytes
        ):
            self._release(sub, sub.buffer.popleft()[1])
            sub.dropped += 1

    def _release(self, sub: _Subscription, record: LogRecord) -> None:
        sub.buffered -= record.size
        self._total -= record.size

    def _notice(self, sub: _Subscription, text: str) -> None:
        if len(sub.notices) < MAX_NOTICES:
            sub.notices.append(text[:MAX_NOTICE_CHARS])

    def _drop(self, sub: _Subscription, effects: Effects) -> None:
        del self._subs[sub.id]
        self._total -= sub.buffered
        closing = sub.message().closing()
        for node, part in sub.parts.items():
            if part is _Part.SENT and node in self._listening:
                effects.send(node, closing)
