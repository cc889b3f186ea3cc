"""The dispatcher's messages (declared in ``api.schema.dispatcher``): their names, and the
session frame's body (``SessionFrame``: encoded, packed, split and parsed here). The other
bodies have modules of their own: the session request's (session_request.py) and the
status batch's (status_updates.py), whose names are importable from here too, as most of
their callers do, and the TLS report's (tls_report.py).

The transport has already validated each body against its declaration; this module turns
the validated maps into objects and back with the object codec (``api.codec_objects``), so
the dispatcher and the agent agree on one shape. Decoding errors are ``ObjectDecodeError``
(a ``ValueError``) naming the field. The objects are the cluster's data, decoded tolerant
(``strict=False``): the fields a newer manager or worker adds are skipped, so the two
versions of a rolling upgrade keep their sessions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import msgpack

from actors.dispatcher.ingress import IngressPort, encode_table, parse_table
from actors.dispatcher.ingress_changes import TableChange, parse_change
from actors.dispatcher.networks_and_auth import ServiceAuth
from actors.dispatcher.session_request import (
    SHARED_SPECS,
    encode_session_request,
    parse_session_request,
    reads_shared_specs,
    session_addr,
)
from actors.dispatcher.spec_tables import HeldSpecs, SentSpecs
from actors.dispatcher.status_updates import encode_status_updates, parse_status_updates
from api.codec_fast import Invalid, referencing_decoder
from api.codec_objects import (
    ObjectDecodeError,
    decode,
    decode_all,
    encode,
    encode_object,
    encoder_for,
    encoder_with,
)
from api.codec_pack import Packed, give_back, packb, take_packer
from api.objects import Config, Network, RegistryAuth, Secret, Task
from api.specs import TaskSpec

# with the session request's and the status batch's names (the docstring)
__all__ = [
    "DEPENDENCY_BYTES_PER_FRAME",
    "SESSION",
    "SESSION_HEARTBEAT",
    "SESSION_STATUS",
    "SHARED_SPECS",
    "ManagerAddress",
    "SessionFrame",
    "encode_frame",
    "encode_session_request",
    "encode_status_updates",
    "pack_frame",
    "parse_frame",
    "parse_session_request",
    "parse_status_updates",
    "reads_shared_specs",
    "session_addr",
    "split_frame",
]

# the secret and config data one session frame carries at most: half a frame (the 16 MiB
# frame limit of api.schema.frame), leaving room for the tasks
DEPENDENCY_BYTES_PER_FRAME = 8 * 1024 * 1024

SESSION = "dispatcher.session"
SESSION_HEARTBEAT = "dispatcher.heartbeat"
SESSION_STATUS = "dispatcher.status"


@dataclass(frozen=True, slots=True)
class ManagerAddress:
    """Where a worker can reach a manager's dispatcher: ``tcp://host:port`` and the
    manager's CURVE public key (Z85)."""

    addr: str
    server_key: bytes

    def encode(self) -> dict[str, str]:
        return {"addr": self.addr, "server_key": self.server_key.decode("ascii")}


@dataclass(frozen=True, slots=True)
class SessionFrame:
    session_id: str
    heartbeat_period: float
    managers: tuple[ManagerAddress, ...]
    full: bool
    tasks: tuple[Task, ...]
    removed: tuple[str, ...]
    closed: str | None = None  # set on the final frame: why the manager ended the session
    # what the tasks of this frame need (actors/dispatcher/networks_and_auth.py)
    networks: tuple[Network, ...] = ()
    registry_auths: tuple[ServiceAuth, ...] = ()
    # the secrets and configs the node's tasks need, with their data (on a full frame:
    # all of them), and the ids of those no task of the node needs any more
    secrets: tuple[Secret, ...] = ()
    secrets_removed: tuple[str, ...] = ()
    configs: tuple[Config, ...] = ()
    configs_removed: tuple[str, ...] = ()
    # the routing mesh's table when it changed since the session's last frame: whole, for
    # a node of the earlier version, or as a change (actors/dispatcher/ingress_changes.py);
    # None: unchanged
    ingress: tuple[IngressPort, ...] | None = None
    mesh: TableChange | None = None
    # the node's role in the store on the session's first frame and when it changed since
    # the session's last frame (None: unchanged): the agent's cue to renew its certificate
    # at once after a promotion or demotion, not at its next heartbeat
    role: str | None = None


def split_frame(
    frame: SessionFrame, budget: int = DEPENDENCY_BYTES_PER_FRAME
) -> list[SessionFrame]:
    """``frame`` as frames whose secret and config data fit ``budget`` each: the first
    carries the tasks, the removals and what fits; the next ones (not ``full``, no tasks)
    the rest. The worker waits for an object a task needs that has not arrived yet
    (actors/worker/dependencies.py), so tasks may come before their objects."""
    if not frame.secrets and not frame.configs:  # nearly every frame
        return [frame]
    objects: list[Secret | Config] = [*frame.secrets, *frame.configs]
    chunks: list[list[Secret | Config]] = [[]]
    used = 0
    for obj in objects:
        size = len(obj.spec.data)
        if chunks[-1] and used + size > budget:
            chunks.append([])
            used = 0
        chunks[-1].append(obj)
        used += size
    if len(chunks) == 1:
        return [frame]

    def part(chunk: list[Secret | Config]) -> dict[str, Any]:
        return {
            "secrets": tuple(o for o in chunk if isinstance(o, Secret)),
            "configs": tuple(o for o in chunk if isinstance(o, Config)),
        }

    first = replace(frame, **part(chunks[0]))
    rest = [
        replace(
            frame,
            full=False,
            tasks=(),
            removed=(),
            secrets_removed=(),
            configs_removed=(),
            networks=(),
            registry_auths=(),
            ingress=None,
            mesh=None,
            role=None,
            **part(chunk),
        )
        for chunk in chunks[1:]
    ]
    return [first, *rest]


class _SpecEncodings:
    """The encodings of the task specs frames carry, by identity: a service's tasks share
    one spec object in the store (actors/store/sharing.py), and encoding it was two
    thirds of encoding a task, once for every task sent. It holds each spec it encoded
    (so no other object takes its id) and forgets them all past ``size``. An encoding is
    shared by the frames that carry it: nothing changes a frame's body once built.
    ``packed``: the same spec's msgpack bytes (held the same way), for ``pack_frame``."""

    def __init__(self, convert: Callable[[Any], Any] | None = None, size: int = 256) -> None:
        self._size = size
        self._held: dict[int, tuple[TaskSpec, Any]] = {}
        self._encode = encoder_for(TaskSpec)
        self._convert = convert

    def encode(self, spec: TaskSpec) -> Any:
        held = self._held.get(id(spec))
        if held is not None and held[0] is spec:
            return held[1]
        encoded = self._encode(spec)
        if self._convert is not None:
            encoded = self._convert(encoded)
        if len(self._held) >= self._size:
            self._held.clear()
        self._held[id(spec)] = (spec, encoded)
        return encoded


_encode_task = encoder_with(Task, spec=_SpecEncodings().encode)


# a task's map with its spec already packed (bytes, under "spec": taken out before packing)
_packed_spec = _SpecEncodings(packb).encode
_encode_task_spec_packed = encoder_with(Task, spec=_packed_spec)
_SPEC_KEY = msgpack.packb("spec")
_SPECS_KEY = msgpack.packb("specs")
_SPECS_BASE_KEY = msgpack.packb("specs_base")
_TASKS_KEY = msgpack.packb("tasks")


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
    """``_encode_task(task)`` packed, its spec's bytes packed once for every task of it;
    ``spec``: what to write as its spec instead (packed: its index in the node's table)."""
    encoded = _encode_task_spec_packed(task)
    own: bytes = encoded.pop("spec")
    value = own if spec is None else spec
    return b"".join(_entries_first(pack, ((_SPEC_KEY, (value,)),), encoded))


def pack_frame(frame: SessionFrame, sent: SentSpecs | None = None) -> Packed:
    """``encode_frame(frame)`` packed (the same map, its keys in another order): a body
    for ``codec.encode`` to send as it is. Packing a frame walked each task's spec, for
    every task sent; here each spec is packed once (``_SpecEncodings``). ``sent``: the
    specs the node holds (a node whose session request names ``SHARED_SPECS``): the frame
    carries those its tasks need that the node lacks, in ``specs`` from ``specs_base``
    on, and each task's ``spec`` is its index in the node's table."""
    pack = take_packer()
    try:
        tasks = [pack.pack_array_header(len(frame.tasks))]
        first = [(_TASKS_KEY, tasks)]
        if sent is None or not frame.tasks:
            tasks.extend(_pack_task(t, pack) for t in frame.tasks)
        else:
            base, new, refs = sent.refer([t.spec for t in frame.tasks])
            tasks.extend(
                _pack_task(t, pack, pack.pack(i)) for t, i in zip(frame.tasks, refs, strict=True)
            )
            specs = [pack.pack_array_header(len(new)), *(_packed_spec(s) for s in new)]
            first += [(_SPECS_KEY, specs), (_SPECS_BASE_KEY, [pack.pack(base)])]
        parts = _entries_first(pack, first, _frame_body(frame))
    finally:
        give_back(pack)
    return Packed(b"".join(parts))


def encode_frame(frame: SessionFrame) -> dict[str, Any]:
    body = _frame_body(frame)
    body["tasks"] = [_encode_task(t) for t in frame.tasks]
    return body


def _frame_body(frame: SessionFrame) -> dict[str, Any]:
    """The frame's map but its tasks."""
    body: dict[str, Any] = {
        "session_id": frame.session_id,
        "heartbeat_period": frame.heartbeat_period,
        "managers": [m.encode() for m in frame.managers],
        "full": frame.full,
        "removed": list(frame.removed),
    }
    if frame.closed is not None:
        body["closed"] = frame.closed
    if frame.networks:
        body["networks"] = [encode_object(n) for n in frame.networks]
    if frame.registry_auths:
        body["registry_auths"] = [
            {"service_id": a.service_id, "auth": encode(a.auth)} for a in frame.registry_auths
        ]
    if frame.ingress is not None:
        body["ingress"] = encode_table(frame.ingress)
    if frame.mesh is not None:
        body["mesh"] = frame.mesh.encoded
    if frame.role is not None:
        body["role"] = frame.role
    for key in ("secrets", "configs"):  # absent when empty: the frames of before
        objects = getattr(frame, key)
        if objects:
            body[key] = [encode_object(o) for o in objects]
        removed = getattr(frame, f"{key}_removed")
        if removed:
            body[f"{key}_removed"] = list(removed)
    return body


_task_by_spec_index = referencing_decoder(Task, "spec", strict=False)


def _parse_tasks(body: Mapping[str, Any], held: HeldSpecs | None) -> tuple[Task, ...]:
    """The frame's tasks. With ``specs_base``, each names its spec by index in the node's
    table (``held``, which takes the frame's specs first; a new one for a frame read
    alone)."""
    if "specs_base" not in body:
        return decode_all(Task, body["tasks"], "tasks", strict=False)
    table = held if held is not None else HeldSpecs()
    table.take(
        body["specs_base"], decode_all(TaskSpec, body.get("specs", ()), "specs", strict=False)
    )
    specs = table.specs
    items = body["tasks"]
    try:
        return tuple([_task_by_spec_index(item, specs) for item in items])
    except Invalid:
        pass
    # something wrong (the referencing decoder takes defaults and a newer version's
    # fields): each task decoded with its spec's map in place, which names what
    tasks = []
    for i, item in enumerate(items):
        if isinstance(item, dict):
            ref = item.get("spec")
            if not (type(ref) is int and 0 <= ref < len(specs)):
                raise ObjectDecodeError(
                    f"tasks[{i}].spec",
                    f"expected an index into the node's {len(specs)} specs, got {ref!r}",
                )
            item = {**item, "spec": encode(specs[ref])}
        tasks.append(decode(Task, item, f"tasks[{i}]", strict=False))
    return tuple(tasks)


def parse_frame(body: Mapping[str, Any], held: HeldSpecs | None = None) -> SessionFrame:
    """The frame in ``body``; ``held``: the specs this node's session holds (a node whose
    session request names ``SHARED_SPECS``)."""
    tasks = _parse_tasks(body, held)
    managers = tuple(
        ManagerAddress(str(m["addr"]), str(m["server_key"]).encode("ascii"))
        for m in body["managers"]
    )
    closed = body.get("closed")
    networks = decode_all(Network, body.get("networks", ()), "networks", strict=False)
    auths = tuple(
        ServiceAuth(
            str(a["service_id"]),
            decode(RegistryAuth, a["auth"], f"registry_auths[{i}]", strict=False),
        )
        for i, a in enumerate(body.get("registry_auths", ()))
    )
    secrets = decode_all(Secret, body.get("secrets", ()), "secrets", strict=False)
    configs = decode_all(Config, body.get("configs", ()), "configs", strict=False)
    return SessionFrame(
        session_id=str(body["session_id"]),
        heartbeat_period=float(body["heartbeat_period"]),
        managers=managers,
        full=bool(body["full"]),
        tasks=tasks,
        removed=tuple(str(r) for r in body["removed"]),
        closed=str(closed) if closed is not None else None,
        networks=networks,
        registry_auths=auths,
        secrets=secrets,
        secrets_removed=tuple(str(r) for r in body.get("secrets_removed", ())),
        configs=configs,
        configs_removed=tuple(str(r) for r in body.get("configs_removed", ())),
        ingress=parse_table(body["ingress"]) if "ingress" in body else None,
        mesh=parse_change(body["mesh"]) if "mesh" in body else None,
        role=str(body["role"]) if "role" in body else None,
    )
