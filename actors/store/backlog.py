"""A follower's task writes, held as they came and stored later, each task once.

A follower stores every write the leader commits. In a create of 100,000 tasks each task
is written three times or more (created, assigned, running), and the follower decoded
and built every version: ~90% of its CPU, and the two followers' share of a two-core
machine is what the leader lacks. Nobody reads a follower's tasks between those writes,
so it holds them instead: ``TaskBacklog.hold`` takes each group's verdict at once, from
the versions alone (the same rules as ``MemoryStore._apply_group``: a task table has no
unique index, so existence and version decide), and remembers for each task only its
last whole row and the patches since, merged. ``MemoryStore`` stores the held tasks
(``take``), each decoded and built once, before a transaction first reads the task
table and before it applies an entry that writes tasks and cannot be held; and the
oldest of them (``take_oldest``) once the backlog holds more than ``limit`` writes or
``HELD_BYTES`` of entries. A snapshot builds the held tasks into its own copy, on its
encoding thread (``build_held_into``). Nothing else stores them all at once: it would
stall the Raft loop of both followers together (they hold the same entries), and the
leader steps down when no follower answers for an election timeout.

Only entries this reader can take without decoding are held (``held_entry``): format 3,
this reader's own row layout, task writes alone, each op of the right shape. Anything
else is applied the usual way, after the backlog is stored, and so meets the same errors
as before.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgpack

from actors.store.entry import CHAINED
from actors.store.patch import decode_changes, patchable_fields
from actors.store.sharing import SpecSharing, share_patched_parts
from actors.store.task_rows import TASK_ROWS, BadRow, decode_spec, decode_task_row
from api.codec_objects import ObjectDecodeError
from api.objects import Meta, Object, ObjectKind, Task
from api.objects_copy import copy_object

__all__ = ["HeldEntry", "HeldTask", "TaskBacklog", "build_held_into", "build_task", "held_entry"]

_TASK = ObjectKind.TASK.value
_ROW_FIELDS = len(TASK_ROWS.layout["Task"])
_ID = TASK_ROWS.layout["Task"].index("id")
_SPEC = TASK_ROWS.layout["Task"].index("spec")
_PATCHABLE = patchable_fields(ObjectKind.TASK)
_HELD_FORMAT = 3
# the bytes of the entries held before the backlog is stored: the bound that acts in a big
# create (~27,000 task writes; a third of them rewrite a task held already). What stays in
# memory is the last row or patches of each held task, unpacked; refused groups count too
HELD_BYTES = 64 * 1024 * 1024


@dataclass(slots=True)
class HeldEntry:
    """An entry held: its groups of ops ``[action, kind, id, expected, row or patch]``
    and its spec table (the rows of its tasks name their specs by position in it)."""

    timestamp: float
    groups: list[list[list[Any]]]
    raw_specs: list[Any]
    size: int  # its bytes
    decoded: list[Any] | None = None  # its specs, decoded for the first row decoded


def held_entry(data: bytes) -> HeldEntry | None:
    """``data`` as an entry to hold, or None when it is not one (see the module doc)."""
    try:
        raw = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception:  # not msgpack: decode_entry names what is wrong
        return None
    if type(raw) is not dict or raw.get("v") != _HELD_FORMAT:
        return None
    timestamp, groups, raw_specs = raw.get("t"), raw.get("g"), raw.get("s", [])
    if (
        type(raw.get("p")) is not str
        or not isinstance(timestamp, (int, float))
        or type(groups) is not list
        or type(raw_specs) is not list
        or raw.get("r") != TASK_ROWS.layout
    ):
        return None
    specs = len(raw_specs)
    for group in groups:
        if type(group) is not list:
            return None
        for op in group:
            if not _holdable(op, specs):
                return None
    return HeldEntry(float(timestamp), groups, raw_specs, len(data))


def _holdable(op: Any, specs: int) -> bool:
    if type(op) is not list or len(op) != 5:
        return False
    action, kind, id_, expected, payload = op
    if kind != _TASK or type(id_) is not str:
        return False
    if action == "patch":
        return (
            type(expected) is int
            and type(payload) is dict
            and all(type(name) is str and name in _PATCHABLE for name in payload)
        )
    if not (expected is None or type(expected) is int):
        return False
    if action == "delete":
        return True
    if action not in ("create", "update"):
        return False
    if type(payload) is not list or len(payload) != _ROW_FIELDS or payload[_ID] != id_:
        return False
    ref = payload[_SPEC]
    return type(ref) is int and 0 <= ref < specs


@dataclass(slots=True)
class HeldTask:
    """A task after the writes held: absent (deleted), or at ``version``, built from
    ``row`` (the last whole row written, of ``entry``; None: the stored task) with
    ``changes`` (the raw fields patched since, the later winning). ``writes``: how many
    writes it folds in; ``size``: their share of their entries' bytes."""

    exists: bool
    version: int
    created_at: float = 0.0
    updated_at: float = 0.0
    row: list[Any] | None = None
    entry: HeldEntry | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    writes: int = 0
    size: int = 0


class TaskBacklog:
    """The held task writes of the entries after the stored tables, in index order.

    Held tasks are kept in the order they were first held. Once the backlog holds more
    than ``limit`` writes or ``HELD_BYTES``, ``take_oldest`` gives the first held until
    it holds no more: about as many as the entry just held wrote. A follower so stores
    about one entry's worth after each entry, as it did before it held any; storing the
    whole backlog at once stalled both followers together (they hold the same entries)
    for longer than the leader's quorum check, and the leader stepped down."""

    __slots__ = ("bytes", "last_index", "limit", "tasks", "writes")

    def __init__(self, limit: int) -> None:
        self.limit = limit  # writes held before they are stored; 0: hold none
        self.tasks: OrderedDict[str, HeldTask] = OrderedDict()
        self.writes = 0  # the writes the held tasks fold in
        self.bytes = 0  # and their share of their entries' bytes
        self.last_index = 0

    @property
    def full(self) -> bool:
        return self.writes > self.limit or self.bytes > HELD_BYTES

    def hold(self, index: int, entry: HeldEntry, stored: Mapping[str, Object]) -> tuple[int, int]:
        """Take the verdict of each group of ``entry`` (committed at ``index``) against
        the ``stored`` tasks and those held; (groups applied, groups rejected)."""
        applied = rejected = 0
        timestamp = entry.timestamp
        tasks = self.tasks
        share = entry.size // max(1, sum(len(group) for group in entry.groups))
        for group in entry.groups:
            before: dict[str, HeldTask | None] = {}  # to undo a rejected group
            ok = True
            for action, _, id_, expected, payload in group:
                prior = tasks.get(id_)
                held = prior
                if held is None:
                    current = stored.get(id_)
                    if current is not None:
                        meta = current.meta
                        held = HeldTask(True, meta.version, meta.created_at, meta.updated_at)
                if action == "create":
                    if held is not None and held.exists:
                        ok = False  # AlreadyExists
                        break
                    new = HeldTask(True, index, timestamp, timestamp, payload, entry)
                else:
                    if held is None or not held.exists:
                        ok = False  # NotFound
                        break
                    if expected == CHAINED:
                        if held.version != index:
                            ok = False
                            break
                    elif expected is not None and expected != held.version:
                        ok = False  # ConflictError
                        break
                    if action == "delete":
                        new = HeldTask(False, index)
                    elif action == "update":
                        new = HeldTask(True, index, held.created_at, timestamp, payload, entry)
                    else:  # a patch of the task as held
                        changes = {**held.changes, **payload}
                        new = HeldTask(
                            True, index, held.created_at, timestamp, held.row, held.entry, changes
                        )
                if prior is not None:
                    new.writes, new.size = prior.writes, prior.size
                new.writes += 1
                new.size += share
                if id_ not in before:
                    before[id_] = prior
                tasks[id_] = new
            if ok:
                applied += 1
                self.writes += len(group)
                self.bytes += share * len(group)
            else:
                rejected += 1
                for id_, previous in before.items():
                    if previous is None:
                        del tasks[id_]
                    else:
                        tasks[id_] = previous
        self.last_index = index
        entry.groups = []  # the held tasks keep their own rows and patches, not the rest
        return applied, rejected

    def take(self) -> OrderedDict[str, HeldTask]:
        """Every held task, to store; the backlog is empty after."""
        tasks, self.tasks, self.writes, self.bytes = self.tasks, OrderedDict(), 0, 0
        return tasks

    def take_oldest(self) -> OrderedDict[str, HeldTask]:
        """The first held tasks, to store, until the backlog is no longer ``full``."""
        out: OrderedDict[str, HeldTask] = OrderedDict()
        tasks = self.tasks
        while tasks and self.full:
            id_, held = tasks.popitem(last=False)
            self.writes -= held.writes
            self.bytes -= held.size
            out[id_] = held
        return out


def build_task(
    held: HeldTask,
    current: Object | None,
    sharing: SpecSharing,
    services: Mapping[str, Object],
    nodes: Mapping[str, Object],
) -> Task:
    """The task ``held`` (present) stands for, in place of ``current`` (the stored one):
    what applying its writes one by one stores, decoded and built once. Raises
    ObjectDecodeError or BadRow for a row or patch this reader cannot decode."""
    meta = Meta(held.version, held.created_at, held.updated_at)
    if held.row is not None:
        entry = held.entry
        assert entry is not None
        if entry.decoded is None:
            entry.decoded = [decode_spec(s, f"s[{i}]") for i, s in enumerate(entry.raw_specs)]
        base = decode_task_row(held.row, entry.decoded, entry.raw_specs, TASK_ROWS.layout, True)
        sharing.share(base, current)
        if not held.changes:
            object.__setattr__(base, "meta", meta)  # fresh: nobody else holds it yet
            return base
    else:
        assert type(current) is Task, "a held patch applies to a stored task"
        base = current
    changes = decode_changes(ObjectKind.TASK, held.changes)
    new = copy_object(base, meta, changes)
    share_patched_parts(new, changes, base, services, nodes)
    return new


def build_held_into(
    tasks: dict[str, Object],
    held: Mapping[str, HeldTask],
    services: Mapping[str, Object],
    nodes: Mapping[str, Object],
) -> None:
    """Build the ``held`` tasks into ``tasks``, a copy of the task table (a snapshot's,
    on its encoding thread); a task that does not decode stays as it was stored, as
    ``MemoryStore`` leaves it (and logs it) when it stores the held tasks."""
    sharing = SpecSharing(services, nodes)
    for id_, task in held.items():
        if not task.exists:
            tasks.pop(id_, None)
            continue
        try:
            tasks[id_] = build_task(task, tasks.get(id_), sharing, services, nodes)
        except (ObjectDecodeError, BadRow):
            continue
