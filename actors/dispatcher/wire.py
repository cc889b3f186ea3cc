"""The dispatcher's messages (declared in ``api.schema.dispatcher``): their names, and the
session frame's body (``SessionFrame``: encoded, split by its secrets and configs and
parsed here; packed, and cut to the frame budget, by frame_packing.py). The other
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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from actors.dispatcher.ingress import IngressPort, encode_table, parse_table
from actors.dispatcher.ingress_changes import TableChange, parse_change
from actors.dispatcher.networks_and_auth import ServiceAuth
from actors.dispatcher.session_request import (
    SET_IN_PARTS,
    SHARED_SPECS,
    encode_session_request,
    parse_session_request,
    reads_shared_specs,
    session_addr,
    takes_sets_in_parts,
)
from actors.dispatcher.spec_tables import HeldSpecs
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
from api.limits import MAX_FRAME_BYTES
from api.objects import Config, Network, RegistryAuth, Secret, Task
from api.specs import TaskSpec

# with the session request's and the status batch's names (the docstring)
__all__ = [
    "ASSIGNMENT_BYTES_PER_FRAME",
    "DEPENDENCY_BYTES_PER_FRAME",
    "MAX_SET_PARTS",
    "SESSION",
    "SESSION_HEARTBEAT",
    "SESSION_STATUS",
    "SET_IN_PARTS",
    "SHARED_SPECS",
    "ManagerAddress",
    "SessionFrame",
    "SpecEncodings",
    "encode_frame",
    "encode_session_request",
    "encode_status_updates",
    "frame_body",
    "parse_frame",
    "parse_session_request",
    "parse_status_updates",
    "reads_shared_specs",
    "session_addr",
    "split_frame",
    "takes_sets_in_parts",
]

# the secret and config data one session frame carries at most: half a frame (the 16 MiB
# frame limit of api.schema.frame), leaving room for the tasks
DEPENDENCY_BYTES_PER_FRAME = 8 * 1024 * 1024
# what one session frame's body holds at most, as the manager cuts it (frame_packing.py):
# half a frame, so that a lone item bigger than what is left of a part (a task of at
# most 512 KiB with its spec and networks) or a head of DEPENDENCY_BYTES_PER_FRAME of
# secrets and configs still leaves the frame within the limit
ASSIGNMENT_BYTES_PER_FRAME: Final = MAX_FRAME_BYTES // 2
# the parts a node's full set may come in (a node of this version: SET_IN_PARTS), so what
# a node holds while it assembles one is at most this many frames of MAX_FRAME_BYTES (the
# transport refuses a bigger frame before decoding it): 256 MiB; the manager sends a set
# in at most this many parts of ASSIGNMENT_BYTES_PER_FRAME, 128 MiB (about 340,000 tasks
# of 390 bytes with shared specs), and refuses a bigger one
MAX_SET_PARTS: Final = 16

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
    # a full set in several frames (frame_packing.py), to a node that takes one so
    # (SET_IN_PARTS): this frame is part ``part`` (from 0) of ``parts``; a set the node
    # assembled (actors/worker/set_assembly.py) says how many frames it came in
    part: int = 0
    parts: int = 1


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


class SpecEncodings:
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


_encode_task = encoder_with(Task, spec=SpecEncodings().encode)


def encode_frame(frame: SessionFrame) -> dict[str, Any]:
    body = frame_body(frame)
    body["tasks"] = [_encode_task(t) for t in frame.tasks]
    return body


def frame_body(frame: SessionFrame) -> dict[str, Any]:
    """The frame's map but its tasks (frame_packing.py packs those)."""
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
    if frame.parts > 1:
        body["part"] = frame.part
        body["parts"] = frame.parts
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
        part=int(body.get("part", 0)),
        parts=int(body.get("parts", 1)),
    )
