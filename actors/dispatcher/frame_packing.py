"""Session frames packed for the wire, and cut to the frame budget (the frame's body and
fields: wire.py; where the cuts fall: frame_parts.py).

Packing a frame walked each task's spec, for every task sent; here each spec is packed
once (wire.py ``SpecEncodings``) and each task's map is packed with its spec's bytes put
in, or its index in the node's table (spec_tables.py).

Rules (``pack_parts``):
- A frame whose body fits ``budget`` (nearly every one) goes as it is, one frame.
- A bigger one goes as several, in order, each within the budget (frame_parts.py): its
  removed ids, then its tasks, cut apart; the specs its tasks bring to the node's table
  each in the part of the first task that needs it (``specs_base`` of a part is where the
  node's table stands after the parts before: only the first part may start the table
  again); the networks and credentials in each part whose tasks need them; the rest of
  the frame (the manager list, the role, the routing mesh, secrets and configs) in the
  first part.
- Changes (``full`` false) are cut so for every node: each part is a frame of changes an
  earlier version applies as it comes, and a task and a removed id are never the same
  task (assignments.py), so their order across parts does not matter.
- A full set is cut only for a node that assembles one (``in_parts``: its session request
  names ``parts``): each part says which it is of how many, and the node acts on none
  before it holds them all (actors/worker/set_assembly.py), so tasks missing from the
  first part are not shut down. A full set needing more than ``MAX_SET_PARTS`` parts is
  refused (`FrameTooLarge`), as the node would refuse it; to a node of an earlier version
  the set goes whole, and one over the frame limit is refused by the transport.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any, Final

import msgpack

from actors.dispatcher.frame_parts import Item, PartPlan, plan_parts
from actors.dispatcher.networks_and_auth import needs_resources
from actors.dispatcher.spec_tables import SentSpecs
from actors.dispatcher.wire import (
    ASSIGNMENT_BYTES_PER_FRAME,
    MAX_SET_PARTS,
    SessionFrame,
    SpecEncodings,
    frame_body,
)
from api.codec_objects import encode, encode_object, encoder_with
from api.codec_pack import Packed, give_back, packb, take_packer
from api.errors import FrameTooLarge
from api.limits import format_bytes
from api.objects import Task

__all__ = ["PART_ROOM", "pack_frame", "pack_parts"]

# bytes of a part's budget kept for what the plan does not count: its map's keys and the
# headers of its arrays, and a later part's own session id, period and flags
PART_ROOM: Final = 512

# a task's map with its spec already packed (bytes, under "spec": taken out before packing)
_packed_spec = SpecEncodings(packb).encode
_encode_task_spec_packed = encoder_with(Task, spec=_packed_spec)
_SPEC_KEY = msgpack.packb("spec")
_SPECS_KEY = msgpack.packb("specs")
_SPECS_BASE_KEY = msgpack.packb("specs_base")
_TASKS_KEY = msgpack.packb("tasks")
_REMOVED_KEY = msgpack.packb("removed")
_NETWORKS_KEY = msgpack.packb("networks")
_AUTHS_KEY = msgpack.packb("registry_auths")


def _map_header_size(entries: int) -> int:
    return 1 if entries < 16 else 3 if entries < 2**16 else 5


def _entries_first(
    pack: msgpack.Packer, first: Sequence[tuple[bytes, Iterable[bytes]]], rest: dict[str, Any]
) -> list[bytes | memoryview]:
    """The parts of a map packed as ``rest`` with some entries put first: each a key and
    a value, both packed already."""
    packed: bytes = pack.pack(rest)
    entries = len(rest)
    parts: list[bytes | memoryview] = [pack.pack_map_header(entries + len(first))]
    for key, value in first:
        parts.append(key)
        parts.extend(value)
    parts.append(memoryview(packed)[_map_header_size(entries) :])
    return parts


def _pack_task(task: Task, pack: msgpack.Packer, spec: bytes | None = None) -> bytes:
    """The task's map packed, its spec's bytes packed once for every task of it; ``spec``:
    what to write as its spec instead (packed: its index in the node's table)."""
    encoded = _encode_task_spec_packed(task)
    own: bytes = encoded.pop("spec")
    value = own if spec is None else spec
    return b"".join(_entries_first(pack, ((_SPEC_KEY, (value,)),), encoded))


def pack_frame(frame: SessionFrame, sent: SentSpecs | None = None) -> Packed:
    """``encode_frame(frame)`` packed (the same map, its keys in another order), whole: a
    body for ``codec.encode`` to send as it is. ``sent``: the specs the node holds (a node
    whose session request names ``SHARED_SPECS``): the frame carries those its tasks need
    that the node lacks, in ``specs`` from ``specs_base`` on, and each task's ``spec`` is
    its index in the node's table."""
    pack = take_packer()
    try:
        return Packed(b"".join(_PackedTasks(frame.tasks, sent, pack).whole(frame, pack)))
    finally:
        give_back(pack)


def pack_parts(
    frame: SessionFrame,
    sent: SentSpecs | None = None,
    budget: int = ASSIGNMENT_BYTES_PER_FRAME,
    *,
    in_parts: bool = False,
) -> list[Packed]:
    """``frame`` packed as one body, or as several of at most ``budget`` bytes each (the
    module's rules); ``in_parts``: the node assembles a full set sent in parts."""
    pack = take_packer()
    try:
        tasks = _PackedTasks(frame.tasks, sent, pack)
        whole = tasks.whole(frame, pack)
        if sum(len(p) for p in whole) <= budget or (frame.full and not in_parts):
            return [Packed(b"".join(whole))]
        return _Cut(frame, tasks, pack).parts(budget - PART_ROOM, in_parts=in_parts)
    finally:
        give_back(pack)


class _PackedTasks:
    """A frame's tasks packed one by one, and the specs they bring to the node's table
    (``sent``), each beside the first task that needs it."""

    def __init__(self, tasks: Sequence[Task], sent: SentSpecs | None, pack: msgpack.Packer):
        self.shared = sent is not None and bool(tasks)
        self.base = 0
        self.packed: list[bytes] = []
        self.brings: list[bytes | None] = []  # the spec each task brings to the table
        if sent is None or not tasks:
            self.packed = [_pack_task(t, pack) for t in tasks]
            self.brings = [None] * len(tasks)
            return
        base, new, refs = sent.refer([t.spec for t in tasks])
        self.base = base
        self.packed = [_pack_task(t, pack, pack.pack(i)) for t, i in zip(tasks, refs, strict=True)]
        # new specs are listed as their tasks first need them, from index base on
        following = base
        for ref in refs:
            if ref == following:
                self.brings.append(_packed_spec(new[ref - base]))
                following += 1
            else:
                self.brings.append(None)

    def whole(self, frame: SessionFrame, pack: msgpack.Packer) -> list[bytes | memoryview]:
        """The frame's body, whole, as the pieces to join."""
        first: list[tuple[bytes, list[bytes]]] = [
            (_TASKS_KEY, [pack.pack_array_header(len(self.packed)), *self.packed])
        ]
        if self.shared:
            new = [spec for spec in self.brings if spec is not None]
            first += [
                (_SPECS_KEY, [pack.pack_array_header(len(new)), *new]),
                (_SPECS_BASE_KEY, [pack.pack(self.base)]),
            ]
        return _entries_first(pack, first, frame_body(frame))


class _Cut:
    """A frame over the budget, cut into parts (the module's rules)."""

    def __init__(self, frame: SessionFrame, tasks: _PackedTasks, pack: msgpack.Packer) -> None:
        self._frame = frame
        self._tasks = tasks
        self._pack = pack
        self._removed = [pack.pack(r) for r in frame.removed]
        # the shared pieces, packed: networks by ("n", id), credentials by ("a", service)
        self._networks: dict[Hashable, bytes] = {
            ("n", n.id): pack.pack(encode_object(n)) for n in frame.networks
        }
        self._auths: dict[Hashable, bytes] = {
            ("a", a.service_id): pack.pack({"service_id": a.service_id, "auth": encode(a.auth)})
            for a in frame.registry_auths
        }
        self._shared = {**self._networks, **self._auths}
        head = frame_body(frame)
        for key in ("removed", "networks", "registry_auths"):
            head.pop(key, None)
        self._head = head

    def _items(self) -> list[Item]:
        items = [Item(len(r)) for r in self._removed]
        shared = self._shared
        for task, packed, brings in zip(
            self._frame.tasks, self._tasks.packed, self._tasks.brings, strict=True
        ):
            size = len(packed) + (len(brings) if brings is not None else 0)
            needs: dict[Hashable, None] = {}
            if shared and needs_resources(task):
                for attachment in task.spec.networks:
                    needs[("n", attachment.target)] = None
                needs[("a", task.service_id)] = None
            items.append(Item(size, tuple(k for k in needs if k in shared)))
        return items

    def parts(self, budget: int, *, in_parts: bool) -> list[Packed]:
        pack = self._pack
        head_size = len(pack.pack(self._head))
        shared_sizes = {key: len(value) for key, value in self._shared.items()}
        plans = plan_parts(head_size, self._items(), shared_sizes, budget)
        frame = self._frame
        count = len(plans)
        if frame.full and count > MAX_SET_PARTS:
            planned = sum(p.size for p in plans)
            raise FrameTooLarge(
                f"the node's full assignment set of {len(frame.tasks)} tasks "
                f"({format_bytes(planned)}) needs {count} frames; a node takes a set in "
                f"at most {MAX_SET_PARTS} frames of {format_bytes(budget + PART_ROOM)}"
            )
        out = []
        table = self._tasks.base  # where the node's table stands before each part
        for index, plan in enumerate(plans):
            rest: dict[str, Any]
            if index == 0:
                rest = dict(self._head)
            else:
                rest = {
                    "session_id": frame.session_id,
                    "heartbeat_period": frame.heartbeat_period,
                    "managers": [],
                    "full": frame.full,
                }
            if frame.full and in_parts and count > 1:
                rest["part"] = index
                rest["parts"] = count
            first, table = self._entries(plan, table)
            out.append(Packed(b"".join(_entries_first(pack, first, rest))))
        return out

    def _entries(self, plan: PartPlan, table: int) -> tuple[list[tuple[bytes, list[bytes]]], int]:
        """A part's packed entries, and where the node's table stands after it."""
        pack = self._pack
        removed_count = len(self._removed)
        removed = self._removed[plan.start : min(plan.stop, removed_count)]
        first_task = max(plan.start - removed_count, 0)
        stop_task = max(plan.stop - removed_count, 0)
        tasks = self._tasks.packed[first_task:stop_task]
        entries: list[tuple[bytes, list[bytes]]] = [
            (_TASKS_KEY, [pack.pack_array_header(len(tasks)), *tasks]),
            (_REMOVED_KEY, [pack.pack_array_header(len(removed)), *removed]),
        ]
        if self._tasks.shared and tasks:
            new = [s for s in self._tasks.brings[first_task:stop_task] if s is not None]
            entries += [
                (_SPECS_KEY, [pack.pack_array_header(len(new)), *new]),
                (_SPECS_BASE_KEY, [pack.pack(table)]),
            ]
            table += len(new)
        networks = [self._networks[k] for k in plan.shared if k in self._networks]
        auths = [self._auths[k] for k in plan.shared if k in self._auths]
        if networks:
            entries.append((_NETWORKS_KEY, [pack.pack_array_header(len(networks)), *networks]))
        if auths:
            entries.append((_AUTHS_KEY, [pack.pack_array_header(len(auths)), *auths]))
        return entries, table
