"""Bodies of the log messages (declared in ``api.schema.logs``) as objects, both ways, and
the bounds every peer-controlled size and count is held to.

The transport has already checked each body's shape against its declaration; this module
checks the values (a stream name, a level, a count) and raises ``ValueError`` naming the
field that is wrong. Pure: no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "EVENT",
    "LEVELS",
    "MAX_NOTICE_CHARS",
    "MAX_PUBLISH_BYTES",
    "MAX_PUBLISH_NOTICES",
    "MAX_PUBLISH_RECORDS",
    "MAX_READ_WAIT",
    "MAX_RECORD_BYTES",
    "MAX_SELECTOR_REFS",
    "MAX_SUBSYSTEMS",
    "STREAMS",
    "Kind",
    "LogOptions",
    "LogRecord",
    "LogSelector",
    "PublishBatch",
    "ReadBatch",
    "SubscriptionMessage",
    "TaskContext",
    "encode_records",
    "level_rank",
    "parse_options",
    "parse_publish",
    "parse_records",
    "parse_selector",
]

EVENT: Final = "event"  # a node log event: data is its JSON object
STREAMS: Final = frozenset({"stdout", "stderr", EVENT})
LEVELS: Final = ("debug", "info", "warning", "error", "critical")

MAX_SELECTOR_REFS: Final = 64  # services and tasks a subscription names
MAX_SUBSYSTEMS: Final = 32
MAX_NAME_CHARS: Final = 256
MAX_RECORD_BYTES: Final = 64 * 1024  # a task line is at most 16 KiB; a node event more
MAX_PUBLISH_RECORDS: Final = 1000
MAX_PUBLISH_BYTES: Final = 4 * 1024 * 1024
MAX_PUBLISH_NOTICES: Final = 16
MAX_NOTICE_CHARS: Final = 512
MAX_READ_WAIT: Final = 5.0  # seconds a read may wait for records


class Kind(enum.StrEnum):
    TASKS = "tasks"  # tasks' output
    NODE = "node"  # a node's own structured log


def level_rank(level: str) -> int:
    """The order of a level name (``warn`` is ``warning``); ValueError for another name."""
    name = "warning" if level.lower() == "warn" else level.lower()
    if name not in LEVELS:
        raise ValueError(f"invalid log level {level!r} (expected one of: {', '.join(LEVELS)})")
    return LEVELS.index(name)


@dataclass(frozen=True, slots=True)
class LogRecord:
    task_id: str  # "" for a node event
    ts: int  # nanoseconds since the epoch
    stream: str  # stdout | stderr | event
    data: bytes
    # what the record costs a buffer (its data, plus a little for the rest); computed once,
    # as buffers and reads weigh every record several times
    size: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", len(self.data) + 64)

    def encode(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "ts": self.ts, "stream": self.stream, "data": self.data}


def encode_records(records: Iterable[LogRecord]) -> list[dict[str, Any]]:
    return [r.encode() for r in records]


def parse_records(items: Sequence[Mapping[str, Any]]) -> list[LogRecord]:
    if len(items) > MAX_PUBLISH_RECORDS:
        raise ValueError(f"records: at most {MAX_PUBLISH_RECORDS} per batch, got {len(items)}")
    records = []
    for i, item in enumerate(items):
        stream, data = str(item["stream"]), bytes(item["data"])
        if stream not in STREAMS:
            raise ValueError(
                f"records[{i}].stream: {stream[:32]!r} is not one of stdout, stderr, event"
            )
        if len(data) > MAX_RECORD_BYTES:
            raise ValueError(f"records[{i}].data: {len(data)} bytes, at most {MAX_RECORD_BYTES}")
        ts = int(item["ts"])
        if ts < 0:
            raise ValueError(f"records[{i}].ts: must be >= 0")
        records.append(LogRecord(str(item["task_id"])[:MAX_NAME_CHARS], ts, stream, data))
    return records


@dataclass(frozen=True, slots=True)
class LogSelector:
    """What a subscriber names: service and task references (ids, names, prefixes), or
    one node (``node``): its own log."""

    services: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    node: str = ""

    @property
    def kind(self) -> Kind:
        return Kind.NODE if self.node else Kind.TASKS

    def encode(self) -> dict[str, Any]:
        body: dict[str, Any] = {"services": list(self.services), "tasks": list(self.tasks)}
        if self.node:
            body["node"] = self.node
        return body


def _names(items: Sequence[Any], what: str) -> tuple[str, ...]:
    names = tuple(str(i) for i in items)
    if any(not n or len(n) > MAX_NAME_CHARS for n in names):
        raise ValueError(f"{what}: names must be 1 to {MAX_NAME_CHARS} characters")
    return names


def parse_selector(body: Mapping[str, Any]) -> LogSelector:
    services = _names(body.get("services") or (), "selector.services")
    tasks = _names(body.get("tasks") or (), "selector.tasks")
    node = str(body.get("node") or "")
    if len(services) + len(tasks) > MAX_SELECTOR_REFS:
        raise ValueError(f"selector: at most {MAX_SELECTOR_REFS} services and tasks")
    if len(node) > MAX_NAME_CHARS:
        raise ValueError(f"selector.node: at most {MAX_NAME_CHARS} characters")
    if node and (services or tasks):
        raise ValueError("selector: a node's log or tasks' output, not both")
    if not node and not services and not tasks:
        raise ValueError("selector: name a service, a task or a node")
    return LogSelector(services, tasks, node)


@dataclass(frozen=True, slots=True)
class LogOptions:
    follow: bool = False
    tail: int = -1  # the last N lines of each task (or events of the node); -1: all
    since: int = 0  # nanoseconds since the epoch
    min_level: str = ""  # node logs: events at this level or above ("": all)
    subsystems: tuple[str, ...] = ()  # node logs: only these subsystems (empty: all)

    def encode(self) -> dict[str, Any]:
        body: dict[str, Any] = {"follow": self.follow, "tail": self.tail, "since": self.since}
        if self.min_level:
            body["min_level"] = self.min_level
        if self.subsystems:
            body["subsystems"] = list(self.subsystems)
        return body


def parse_options(body: Mapping[str, Any]) -> LogOptions:
    tail, since = int(body["tail"]), int(body["since"])
    if tail < -1:
        raise ValueError(f"options.tail: must be -1 (all) or >= 0, got {tail}")
    if since < 0:
        raise ValueError(f"options.since: must be >= 0, got {since}")
    level = str(body.get("min_level") or "")
    if level:
        level = LEVELS[level_rank(level)]
    subsystems = _names(body.get("subsystems") or (), "options.subsystems")
    if len(subsystems) > MAX_SUBSYSTEMS:
        raise ValueError(f"options.subsystems: at most {MAX_SUBSYSTEMS}")
    return LogOptions(bool(body["follow"]), tail, since, level, subsystems)


@dataclass(frozen=True, slots=True)
class SubscriptionMessage:
    """What a node learns of a subscription on its listen stream."""

    id: str
    kind: Kind
    options: LogOptions
    service_ids: frozenset[str] = frozenset()
    task_ids: frozenset[str] = frozenset()
    close: bool = False

    def encode(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "close": self.close,
            "kind": self.kind.value,
            "service_ids": sorted(self.service_ids),
            "task_ids": sorted(self.task_ids),
            "options": self.options.encode(),
        }

    def closing(self) -> SubscriptionMessage:
        return SubscriptionMessage(self.id, self.kind, self.options, close=True)

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> SubscriptionMessage:
        return cls(
            id=str(body["id"]),
            kind=Kind(str(body["kind"])),
            options=parse_options(body["options"]),
            service_ids=frozenset(str(s) for s in body["service_ids"]),
            task_ids=frozenset(str(t) for t in body["task_ids"]),
            close=bool(body["close"]),
        )


@dataclass(frozen=True, slots=True)
class PublishBatch:
    subscription_id: str
    records: tuple[LogRecord, ...]
    close: bool = False
    notices: tuple[str, ...] = ()

    def encode(self, node_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "node_id": node_id,
            "subscription_id": self.subscription_id,
            "records": encode_records(self.records),
            "close": self.close,
        }
        if self.notices:
            body["notices"] = list(self.notices)
        return body


def parse_publish(body: Mapping[str, Any]) -> PublishBatch:
    notices = tuple(str(n)[:MAX_NOTICE_CHARS] for n in body.get("notices") or ())
    if len(notices) > MAX_PUBLISH_NOTICES:
        raise ValueError(f"notices: at most {MAX_PUBLISH_NOTICES} per batch")
    records = tuple(parse_records(body["records"]))
    if sum(r.size for r in records) > MAX_PUBLISH_BYTES:
        raise ValueError(f"records: at most {MAX_PUBLISH_BYTES} bytes per batch")
    return PublishBatch(str(body["subscription_id"]), records, bool(body["close"]), notices)


@dataclass(frozen=True, slots=True)
class TaskContext:
    """What prefixes a task's lines: ``service.slot.task@node``."""

    id: str
    service: str
    slot: int
    node_id: str
    node: str  # the node's hostname

    def encode(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "service": self.service,
            "slot": self.slot,
            "node_id": self.node_id,
            "node": self.node,
        }


@dataclass(frozen=True, slots=True)
class ReadBatch:
    seq: int  # the sequence number of the last record (the read's position if none)
    records: tuple[LogRecord, ...] = ()
    tasks: tuple[TaskContext, ...] = ()
    notices: tuple[str, ...] = ()
    dropped: int = 0
    done: bool = False

    @property
    def empty(self) -> bool:
        return not self.records and not self.notices and not self.dropped and not self.done

    def encode(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "records": encode_records(self.records),
            "tasks": [t.encode() for t in self.tasks],
            "notices": list(self.notices),
            "dropped": self.dropped,
            "done": self.done,
        }
